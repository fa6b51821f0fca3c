"""References through the sans-IO core: per-connection ids, distributed refcounts, Release."""

from __future__ import annotations

import gc

import cbor2
import pytest

from pbtyped import (
    DeadReferenceError,
    InsecureTypeError,
    LimitExceeded,
    Limits,
    LocalProtocolError,
    Referenceable,
    RemoteProtocolError,
)
from pbtyped.protocol.broker import ImportedReference, PlainOwner
from pbtyped.protocol.events import CallReceived, FailureReceived
from pbtyped.wire import tags

from .wiring import Echoer, Pair, Thing, decode_frames, exactly, msg, open_broker


class Keeper(Echoer):
    """A root that hands out one and the same object each time."""

    def __init__(self) -> None:
        self.thing = Thing()

    def remote_same(self) -> Thing:
        return self.thing


def refused(qid: int, why: str) -> list[object]:
    return [
        3,
        qid,
        {
            "type": "pbtyped.InsecureTypeError",
            "message": f"arguments refused: {why}",
            "registered": True,
        },
    ]


# -- ids valid only where they were given --------------------------------------------------------


def test_receiver_ref_never_exported_refuses_that_call() -> None:
    broker = open_broker()
    body = msg(1, 1, [0, 0], "echo", [cbor2.CBORTag(tags.RECEIVER_REF, 5)], {})
    assert broker.receive_data(body) == []
    assert decode_frames(broker.take_pending()) == [
        refused(1, "reference #5 was never given on this connection or was released")
    ]
    [event] = broker.receive_data(msg(1, 2, [0, 0], "echo", ["ok"], {}))
    assert isinstance(event, CallReceived)


def test_receiver_ref_of_the_root_comes_home_as_the_root() -> None:
    root = Echoer()
    broker = open_broker(root=root)
    [event] = broker.receive_data(
        msg(1, 1, [0, 0], "echo", [cbor2.CBORTag(tags.RECEIVER_REF, 0)], {})
    )
    assert isinstance(event, CallReceived)
    assert event.args[0] is root


def test_reference_of_pair_a_cannot_be_sent_on_pair_b() -> None:
    pair_a, pair_b = Pair(), Pair()
    thing_on_a = pair_a.value(pair_a.root_ref(), "make")
    with pytest.raises(
        InsecureTypeError,
        match=exactly(
            "a RemoteReference is valid only on the connection it was received on; "
            "it cannot be passed to another peer"
        ),
    ):
        pair_b.a.send_call(pair_b.root_ref(), "echo", (thing_on_a,), {})
    assert pair_b.a.pending_questions == 0


def test_reference_of_pair_a_cannot_be_called_through_pair_b() -> None:
    pair_a, pair_b = Pair(), Pair()
    thing_on_a = pair_a.value(pair_a.root_ref(), "make")
    with pytest.raises(
        LocalProtocolError, match=exactly("reference used with a broker it does not belong to")
    ):
        pair_b.a.send_call(thing_on_a, "ping", (), {})
    assert pair_b.a.pending_questions == 0


def test_forged_id_from_another_connection_is_refused_on_decode() -> None:
    pair_a, pair_b = Pair(), Pair()
    thing_on_a = pair_a.value(pair_a.root_ref(), "make")
    export_id = thing_on_a.pb_export_id
    assert pair_a.b.export_count == 2  # the root and the thing, on pair A only
    # A peer on pair B names pair A's id as if it were its own to give back.
    qid, _ = pair_b.a.send_call(pair_b.root_ref(), "echo", ("placeholder",), {})
    forged = msg(1, qid, [0, 0], "echo", [cbor2.CBORTag(tags.RECEIVER_REF, export_id)], {})
    assert pair_b.b.receive_data(forged) == []
    assert decode_frames(pair_b.b.take_pending()) == [
        refused(qid, f"reference #{export_id} was never given on this connection or was released")
    ]


def test_forging_an_imported_reference_locally_is_refused_before_sending() -> None:
    pair = Pair()
    with pytest.raises(DeadReferenceError, match=exactly("this reference was already released")):
        pair.a.send_call(pair.root_ref(), "echo", (ImportedReference(pair.a, 7),), {})
    assert pair.a.pending_questions == 0


def test_reference_sent_back_to_its_owner_is_the_original_object() -> None:
    root = Keeper()
    pair = Pair(root=root)
    proxy = pair.value(pair.root_ref(), "same")
    assert isinstance(proxy, ImportedReference)
    pair.value(pair.root_ref(), "keep", proxy)
    assert root.kept is root.thing
    # And the answer carrying it back is the same proxy on our side (one proxy per id).
    assert pair.value(pair.root_ref(), "echo", proxy) is proxy


def test_references_flow_both_ways_and_calls_come_back() -> None:
    root = Echoer()
    pair = Pair(root=root)
    mine = Thing()
    pair.value(pair.root_ref(), "keep", mine)
    assert pair.a.export_count == 1
    assert isinstance(root.kept, ImportedReference)
    assert root.kept.pb_broker is pair.b
    assert pair.value(root.kept, "ping") == "pong"  # the server calls into the client


# -- reference counts and Release ---------------------------------------------------------------


def test_dropped_imported_reference_sends_release() -> None:
    pair = Pair()
    thing = pair.value(pair.root_ref(), "make")
    export_id = thing.pb_export_id
    assert pair.a.take_pending() == b""
    del thing
    gc.collect()
    assert decode_frames(pair.a.take_pending()) == [[5, export_id, 1]]
    assert pair.a.take_pending() == b""  # owed once


def test_release_returns_export_count_to_its_start_value() -> None:
    root = Keeper()
    pair = Pair(root=root)
    start = pair.b.export_count
    assert start == 1  # the root
    first = pair.value(pair.root_ref(), "same")
    second = pair.value(pair.root_ref(), "same")
    assert first is second
    assert pair.b.export_count == start + 1
    export_id = first.pb_export_id
    del first, second
    gc.collect()
    # Both receipts are released in one message with their count.
    data = pair.a.take_pending()
    assert decode_frames(data) == [[5, export_id, 2]]
    pair.send_to_b(data)
    pair.pump()
    assert pair.b.export_count == start
    assert pair.a.import_count == 1  # only the root proxy is left


def test_release_of_more_than_given_closes() -> None:
    pair = Pair()
    thing = pair.value(pair.root_ref(), "make")
    with pytest.raises(
        RemoteProtocolError,
        match=exactly(f"release of 2 references to #{thing.pb_export_id}; only 1 given"),
    ):
        pair.b.receive_data(msg(5, thing.pb_export_id, 2))


def test_release_of_a_reference_never_given_closes() -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError, match=exactly("release of reference #9, which is not held")
    ):
        broker.receive_data(msg(5, 9, 1))


def test_release_of_zero_references_closes() -> None:
    broker = open_broker()
    with pytest.raises(RemoteProtocolError, match=exactly("release count must be positive")):
        broker.receive_data(msg(5, 0, 0))


def test_root_is_pinned_whatever_the_release_count() -> None:
    broker = open_broker()
    assert broker.receive_data(msg(5, 0, 1000)) == []
    assert broker.export_count == 1
    [event] = broker.receive_data(msg(1, 1, [0, 0], "echo", ["x"], {}))
    assert isinstance(event, CallReceived)


def test_released_export_is_unreachable() -> None:
    pair = Pair()
    thing = pair.value(pair.root_ref(), "make")
    export_id = thing.pb_export_id
    pair.b.receive_data(msg(5, export_id, 1))
    body = msg(1, 1, [0, 0], "echo", [cbor2.CBORTag(tags.RECEIVER_REF, export_id)], {})
    assert pair.b.receive_data(body) == []
    assert decode_frames(pair.b.take_pending()) == [
        refused(1, f"reference #{export_id} was never given on this connection or was released")
    ]


def test_export_ids_are_never_reused() -> None:
    pair = Pair()
    first = pair.value(pair.root_ref(), "make")
    first_id = first.pb_export_id
    del first
    gc.collect()
    pair.pump()
    second = pair.value(pair.root_ref(), "make")
    assert second.pb_export_id > first_id


def test_reference_dropped_and_received_again_before_release_is_sent() -> None:
    # The proxy died, its Release is not sent yet, and the same id arrives again: the old
    # count is released once, the new proxy starts a fresh count.
    root = Keeper()
    pair = Pair(root=root)
    start = pair.b.export_count
    first = pair.value(pair.root_ref(), "same")
    export_id = first.pb_export_id
    del first
    gc.collect()
    _, data = pair.a.send_call(pair.root_ref(), "same", (), {})
    [call] = pair.b.receive_data(data)
    answer = pair.b.send_return(call.question_id, root.thing)  # exporter's count is now 2
    [event] = pair.a.receive_data(answer)
    second = event.value
    assert decode_frames(pair.a.take_pending()) == [[5, export_id, 1]]
    pair.b.receive_data(msg(5, export_id, 1))
    assert pair.b.export_count == start + 1  # still held through `second`
    assert pair.value(second, "ping") == "pong"
    del second, event
    gc.collect()
    assert decode_frames(pair.a.take_pending()) == [[5, export_id, 1]]
    pair.b.receive_data(msg(5, export_id, 1))
    assert pair.b.export_count == start


def test_release_crossing_a_new_reference_on_the_wire() -> None:
    # The importer releases #n while the exporter sends #n again: the counts keep it alive.
    client_root = Echoer()
    root = Keeper()
    pair = Pair(root=root, a_root=client_root)
    start = pair.b.export_count
    thing = pair.value(pair.root_ref(), "same")
    export_id = thing.pb_export_id
    del thing
    gc.collect()
    release = pair.a.take_pending()  # in flight a -> b
    assert decode_frames(release) == [[5, export_id, 1]]
    client = pair.b.root_reference()
    _, call = pair.b.send_call(client, "keep", (root.thing,), {})  # in flight b -> a
    assert pair.b.receive_data(release) == []
    assert pair.b.export_count == start + 1  # the second receipt keeps it
    pair.send_to_a(call)
    pair.pump()
    assert isinstance(client_root.kept, ImportedReference)
    assert client_root.kept.pb_export_id == export_id
    assert pair.value(client_root.kept, "ping") == "pong"
    client_root.kept = None
    gc.collect()
    pair.pump()
    assert pair.b.export_count == start


def test_our_exports_released_by_the_peer() -> None:
    root = Echoer()
    pair = Pair(root=root)
    pair.value(pair.root_ref(), "keep", Thing())
    assert pair.a.export_count == 1
    pair.value(pair.root_ref(), "drop")
    gc.collect()
    pair.pump()
    assert pair.a.export_count == 0
    assert pair.b.import_count == 0


def test_refused_call_does_not_leak_the_references_decoded_with_it() -> None:
    broker = open_broker()
    args = [cbor2.CBORTag(tags.SENDER_REF, 7), cbor2.CBORTag(35, "x")]
    assert broker.receive_data(msg(1, 1, [0, 0], "echo", args, {})) == []
    gc.collect()
    assert decode_frames(broker.take_pending()) == [
        refused(1, "CBOR tag 35 is not allowed"),
        [5, 7, 1],
    ]
    assert broker.import_count == 0


def test_connection_lost_drops_every_table() -> None:
    pair = Pair()
    thing = pair.value(pair.root_ref(), "make")
    qid1, _ = pair.a.send_call(pair.root_ref(), "echo", (1,), {})
    qid2, _ = pair.a.send_call(thing, "ping", (), {})
    pair.a.send_call(pair.root_ref(), "keep", (Thing(),), {})
    assert pair.a.export_count == 1
    assert pair.a.connection_lost() == [qid1, qid2, qid2 + 1]
    assert (pair.a.pending_questions, pair.a.export_count, pair.a.import_count) == (0, 0, 0)
    with pytest.raises(
        DeadReferenceError, match=exactly("the connection of this reference is closed")
    ):
        pair.a.send_call(thing, "ping", (), {})
    del thing
    gc.collect()
    assert pair.a.take_pending() == b""  # no Release on a closed connection


def test_nothing_is_owed_after_connection_lost() -> None:
    broker = open_broker()
    assert broker.receive_data(msg(1, 1, [0, 9], "echo", [], {})) == []  # owes a Fail
    broker.connection_lost()
    assert broker.take_pending() == b""


def test_referenceable_without_remote_methods_can_travel() -> None:
    class Token(Referenceable):
        __slots__ = ()

    pair = Pair()
    token = Token()
    assert pair.value(pair.root_ref(), "echo", token) is token


def test_sender_ref_wire_form() -> None:
    # Between peers that both offer "interfaces", the first reference to an object names its
    # interfaces (none for an untyped one); later ones are its bare id.
    pair = Pair()
    thing = Thing()
    _, first = pair.a.send_call(pair.root_ref(), "echo", (thing,), {})
    _, again = pair.a.send_call(pair.root_ref(), "echo", (thing,), {})
    assert decode_frames(first) == [
        [1, 1, [0, 0], "echo", [cbor2.CBORTag(tags.SENDER_REF, (1, ()))]]
    ]
    assert decode_frames(again) == [[1, 2, [0, 0], "echo", [cbor2.CBORTag(tags.SENDER_REF, 1)]]]


# -- limits on the tables ------------------------------------------------------------------------


def test_export_limit_fails_the_call_locally_and_leaks_nothing() -> None:
    pair = Pair(a_limits=Limits(max_exports=1))
    pair.value(pair.root_ref(), "keep", Thing())
    assert pair.a.export_count == 1
    with pytest.raises(
        LimitExceeded,
        match=exactly(
            "this connection already exports 1 objects (Limits.max_exports); the peer must "
            "release some first"
        ),
    ):
        pair.a.send_call(pair.root_ref(), "echo", (Thing(),), {})
    assert (pair.a.pending_questions, pair.a.export_count) == (0, 1)


def test_export_limit_on_a_result_fails_that_call() -> None:
    pair = Pair(b_limits=Limits(max_exports=1))  # the root alone fills it
    event = pair.call(pair.root_ref(), "make")
    assert isinstance(event, FailureReceived)
    assert type(event.error) is LimitExceeded
    assert str(event.error) == (
        "the result could not be sent: this connection already exports 1 objects "
        "(Limits.max_exports); the peer must release some first"
    )
    assert pair.b.export_count == 1


def test_import_limit_refuses_that_call() -> None:
    broker = open_broker(limits=Limits(max_imports=1))
    args = [cbor2.CBORTag(tags.SENDER_REF, 1), cbor2.CBORTag(tags.SENDER_REF, 2)]
    assert broker.receive_data(msg(1, 1, [0, 0], "echo", args, {})) == []
    gc.collect()
    why = "the peer sent more than 1 live references (Limits.max_imports)"
    assert decode_frames(broker.take_pending()) == [
        [3, 1, {"type": "pbtyped.LimitExceeded", "message": f"arguments refused: {why}",
                "registered": True}],
        [5, 1, 1],
    ]  # fmt: skip
    assert broker.import_count == 0


def test_import_limit_fails_an_answer_with_the_limits_own_error() -> None:
    """Issue 11: a max_imports breach reached the caller as InsecureTypeError, though
    LimitExceeded is the error that names a limit; an answer carrying one reference too many
    now fails with it, as a call's arguments do."""
    broker = open_broker(limits=Limits(max_imports=1))
    root = broker.root_reference()
    qid, _ = broker.send_call(root, "many", (), {})
    refs = [cbor2.CBORTag(tags.SENDER_REF, 1), cbor2.CBORTag(tags.SENDER_REF, 2)]
    [event] = broker.receive_data(msg(2, qid, refs))
    assert isinstance(event, FailureReceived)
    assert type(event.error) is LimitExceeded
    assert "Limits.max_imports" in str(event.error)


def test_unexported_hook_runs_on_release_and_on_close() -> None:
    gone: list[object] = []
    root = Keeper()

    class Owner(PlainOwner):
        def unexported(self, obj: object) -> None:
            gone.append(obj)

    pair = Pair(root=root, b_options={"owner": Owner()})
    thing = pair.value(pair.root_ref(), "same")
    del thing
    gc.collect()
    pair.pump()
    assert gone == [root.thing]
    pair.value(pair.root_ref(), "make")
    pair.b.connection_lost()
    assert len(gone) == 2  # the root is never detached
    assert isinstance(gone[1], Thing)
