"""Promise pipelining meets one-way calls and other messages (docs/protocol.md 3.8, 3.9):
a SEND waits in its place behind the calls held on its target (E-order), and an
``ANSWER_REF`` belongs to the message that carried it (outside a CALL's arguments it is a
refused value, never left for the next call)."""

from __future__ import annotations

import random
from typing import Any

import cbor2
import pytest

import pbtyped as pb
from pbtyped import Registry, Root
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import (
    AnswerReceived,
    CallReceived,
    SendDropped,
    SendReceived,
    StreamEnded,
)
from pbtyped.wire import tags
from pbtyped.wire.limits import Limits

from .test_pipelining import RETAIN, answer, call, fail_of, pipelining_broker
from .wiring import decode_frames, hello, msg

ONEWAY = ("oneway",)


def answer_ref(qid: int, *path: str | int) -> cbor2.CBORTag:
    return cbor2.CBORTag(tags.ANSWER_REF, [qid, list(path)])


def send(export_id: int, method: str, *args: Any) -> bytes:
    return msg(14, [0, export_id], method, list(args))


def shape(event: Any) -> tuple[str, Any]:
    return type(event).__name__, event.args


def exported_two(broker: Broker) -> int:
    """Call 1 returns a ``Two``: the id the peer now holds it under."""
    [head] = broker.receive_data(call(1, [0, 0], "get_two"))
    assert isinstance(head, CallReceived)
    [(_, _, returned)] = decode_frames(answer(broker, head))
    export_id: int = returned.value
    return export_id


# -- a SEND behind calls held on its target ----------------------------------------------------


def test_a_send_waits_behind_a_call_held_on_its_target() -> None:
    """3.8: a SEND starts after the CALLs sent before it on its target. A CALL on the root
    waits for an answer it names; the SEND to the root sent after it waits too, and so does
    the CALL after that: all three go, in order, once the answer is known."""
    broker = pipelining_broker(features=ONEWAY)
    [head] = broker.receive_data(call(1, [0, 0], "point", options=RETAIN))
    note = msg(1, 2, [0, 0], "note", [answer_ref(1, "x")])
    held = note + send(0, "note", "one-way") + call(3, [0, 0], "add", 1, 2)
    assert broker.receive_data(held) == []
    assert broker.waiting_calls == 3
    held_before = broker.held_bytes
    assert isinstance(head, CallReceived)
    answer(broker, head)
    ready = list(broker.ready_calls())
    assert [shape(e) for e in ready] == [
        ("CallReceived", [1]),
        ("SendReceived", ["one-way"]),
        ("CallReceived", [1, 2]),
    ]
    assert broker.waiting_calls == 0
    # The SEND's frame stays counted until the runtime says it is done, as one never held.
    one_way = ready[1]
    assert isinstance(one_way, SendReceived)
    assert one_way.target is head.target
    assert one_way.size == len(send(0, "note", "one-way")) - 8
    broker.send_done(one_way.size)
    for event in (ready[0], ready[2]):
        assert isinstance(event, CallReceived)
        answer(broker, event)
    assert broker.held_bytes == 0
    assert held_before > one_way.size


def test_a_send_to_another_target_does_not_wait() -> None:
    broker = pipelining_broker(features=ONEWAY)
    export_id = exported_two(broker)
    broker.receive_data(call(2, [0, 0], "point", options=RETAIN))
    assert broker.receive_data(msg(1, 3, [0, export_id], "three", [answer_ref(2, "x")])) == []
    [event] = broker.receive_data(send(0, "note", "root"))  # the root's queue is empty
    assert shape(event) == ("SendReceived", ["root"])


def test_a_held_send_whose_target_is_released_is_dropped_in_its_turn() -> None:
    """The target of a held SEND is released before its turn: it is dropped (a SendDropped,
    as on arrival), nothing is sent for it, and its bytes are no longer held."""
    broker = pipelining_broker(features=ONEWAY)
    export_id = exported_two(broker)
    [head] = broker.receive_data(call(2, [0, 0], "point", options=RETAIN))
    held = msg(1, 3, [0, export_id], "three", [answer_ref(2, "x")]) + send(export_id, "n")
    assert broker.receive_data(held) == []
    assert broker.waiting_calls == 2
    broker.receive_data(msg(5, export_id, 1))  # RELEASE: the peer no longer holds it
    assert isinstance(head, CallReceived)
    data = answer(broker, head) + broker.take_pending()
    [dropped] = list(broker.ready_calls())
    assert dropped == SendDropped(
        reason=f"one-way call 'n' dropped: no object #{export_id} on this connection"
    )
    kinds = sorted((frame[0], frame[1]) for frame in decode_frames(data))
    assert kinds == [(2, 2), (3, 3)]  # 2's answer, and call 3 fails: its target is gone
    assert (broker.waiting_calls, broker.held_bytes) == (0, 0)


def test_held_sends_count_in_the_limit_of_waiting_calls() -> None:
    broker = pipelining_broker(features=ONEWAY, limits=Limits(max_calls_in_flight=2))
    broker.receive_data(call(1, [0, 0], "point", options=RETAIN))
    held = msg(1, 2, [0, 0], "note", [answer_ref(1)]) + send(0, "note", "kept")
    assert broker.receive_data(held) == []
    assert broker.waiting_calls == 2
    held_bytes = broker.held_bytes
    [dropped] = broker.receive_data(send(0, "note", "one too many"))
    assert dropped == SendDropped(
        reason="one-way call 'note' dropped: more than 2 calls waiting on answers "
        "(Limits.max_calls_in_flight)"
    )
    assert broker.held_bytes == held_bytes  # the dropped one holds nothing
    assert fail_of(broker.receive_data(call(3, [0, 0], "n")) or broker.take_pending())[1] == (
        "pbtyped.LimitExceeded"
    )


def test_a_lost_connection_drops_held_sends() -> None:
    broker = pipelining_broker(features=ONEWAY)
    broker.receive_data(call(1, [0, 0], "point", options=RETAIN))
    broker.receive_data(msg(1, 2, [0, 0], "note", [answer_ref(1)]) + send(0, "note", 1))
    assert broker.waiting_calls == 2
    broker.connection_lost()
    assert (broker.waiting_calls, broker.held_bytes) == (0, 0)


def test_calls_a_failure_lets_go_come_behind_those_released_before_it() -> None:
    """Answer 1 lets call 2 (it fails: its path leads nowhere) and call 3 go; call 2's
    failure then lets call 4 (it fails with it) and call 5 go. All five are on the root:
    call 3 is delivered before call 5, as it was sent."""
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))
    queued = (
        msg(1, 2, [0, 0], "note", [answer_ref(1, "nope")], {}, RETAIN)
        + call(3, [0, 0], "add", 1, 2)
        + msg(1, 4, [0, 0], "note", [answer_ref(2)])
        + call(5, [0, 0], "add", 3, 4)
    )
    assert broker.receive_data(queued) == []
    assert isinstance(head, CallReceived)
    data = answer(broker, head) + broker.take_pending()
    assert [(e.question_id, e.args) for e in list(broker.ready_calls())] == [
        (3, [1, 2]),
        (5, [3, 4]),
    ]
    assert sorted(f[1] for f in decode_frames(data) if f[0] == 3) == [2, 4]


class Recorder(Root):
    """Records the order in which calls and one-way calls are delivered."""

    def __init__(self) -> None:
        self.started: list[int] = []

    def remote_note(self, i: int, answer: Any = None) -> dict[str, int]:
        self.started.append(i)
        return {"i": i}


@pytest.mark.parametrize("seed", range(30))
def test_calls_and_sends_on_one_target_start_in_the_order_sent(seed: int) -> None:
    """E-order under seeded random programs: plain CALLs, CALLs that name answers (known or
    not yet), and SENDs, all on the root, with answers given in random order between them
    (as async methods end): every one starts in the order it was sent, nothing is failed,
    and nothing is held at the end."""
    rng = random.Random(seed)
    root = Recorder()
    broker = Broker(registry=Registry(), root=root)
    broker.initiate()
    broker.receive_data(hello(features=["pipelining", "oneway"]))
    running: list[tuple[int, Any]] = []  # delivered calls not answered yet, with their result
    kept: list[int] = []
    out: list[bytes] = []

    def deliver(events: list[Any]) -> None:
        for event in events:
            result = root.pb_dispatch(event.method, event.args, event.kwargs)
            if isinstance(event, SendReceived):
                broker.send_done(event.size)
            else:
                assert isinstance(event, CallReceived), event
                running.append((event.question_id, result))

    def answer_one(k: int) -> None:
        qid, result = running.pop(k)
        out.append(broker.send_return(qid, result))
        deliver(list(broker.ready_calls()))

    for i in range(1, 41):
        while running and rng.random() < 0.4:
            answer_one(rng.randrange(len(running)))
        move = rng.randrange(3)
        if move == 0:
            deliver(broker.receive_data(send(0, "note", i)))
            continue
        args: list[Any] = [i]
        if move == 1 and kept:
            args.append(answer_ref(rng.choice(kept)))
        retain = rng.random() < 0.5
        options = RETAIN if retain else None
        deliver(broker.receive_data(call(i, [0, 0], "note", *args, options=options)))
        if retain:
            kept.append(i)
    while running:
        answer_one(0)
    out.append(broker.take_pending())
    assert root.started == list(range(1, 41))
    assert {frame[0] for frame in decode_frames(b"".join(out))} <= {2}  # RETURNs only
    assert (broker.waiting_calls, broker.held_bytes) == (0, 0)


def test_after_our_goodbye_every_call_is_refused_and_its_references_go_with_it() -> None:
    """3.7: every CALL read after our GOODBYE fails with GoingAway, whatever it names (an
    answer, an object that is gone); the answer references it carried do not reach the
    next message (our own call's RETURN is taken as it is)."""
    broker = pipelining_broker(features=("goodbye",))
    broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))  # not answered yet
    root = broker.root_reference()
    qid, _ = broker.send_call(root, "n", (), {})
    broker.send_goodbye("deploy", 1.0)
    refused = (
        msg(1, 2, [0, 0], "note", [answer_ref(1)])
        + call(3, [1, 1], "n")
        + call(4, [0, 9], "n")
        + call(5, [0, 0], "n", options=RETAIN)
    )
    assert broker.receive_data(refused) == []
    fails = decode_frames(broker.take_pending())
    assert [(f[0], f[1], f[2]["type"]) for f in fails] == [
        (3, n, "pbtyped.GoingAway") for n in (2, 3, 4, 5)
    ]
    [returned] = broker.receive_data(msg(2, qid, 7))
    assert returned == AnswerReceived(question_id=qid, value=7)
    assert broker.kept_answers == 1  # call 1's, kept as asked before the GOODBYE


# -- an ANSWER_REF outside a CALL's arguments -------------------------------------------------


def test_an_answer_reference_in_a_send_drops_it_and_does_not_reach_the_next_call() -> None:
    broker = pipelining_broker(features=ONEWAY)
    [head] = broker.receive_data(call(1, [0, 0], "point", options=RETAIN))
    assert isinstance(head, CallReceived)
    answer(broker, head)  # answer 1 is kept: naming it in a call would be right
    [dropped] = broker.receive_data(send(0, "note", answer_ref(1)))
    assert dropped == SendDropped(
        reason="one-way call 'note' dropped: arguments refused: "
        f"tag {tags.ANSWER_REF} may only be an argument of a call"
    )
    [later] = broker.receive_data(call(2, [0, 0], "add", 1, 2))
    assert isinstance(later, CallReceived)
    assert (later.question_id, later.args) == (2, [1, 2])
    assert broker.take_pending() == b""


def test_an_answer_reference_in_a_stream_item_ends_the_stream() -> None:
    broker = pipelining_broker(features=("streams",))
    [head] = broker.receive_data(call(1, [0, 0], "point", options=RETAIN))
    assert isinstance(head, CallReceived)
    answer(broker, head)
    stream = cbor2.CBORTag(tags.STREAM, 1)
    [opened] = broker.receive_data(msg(1, 2, [0, 0], "note", [stream]))
    assert isinstance(opened, CallReceived)
    [ended] = broker.receive_data(msg(7, 1, [1, answer_ref(1)]))
    assert isinstance(ended, StreamEnded)
    assert type(ended.error) is pb.InsecureTypeError
    assert str(ended.error) == (
        f"a stream item was refused: tag {tags.ANSWER_REF} may only be an argument of a call"
    )
    assert decode_frames(broker.take_pending()) == [[10, 1]]  # STREAM_CANCEL
    [later] = broker.receive_data(call(3, [0, 0], "add", 1, 2))
    assert isinstance(later, CallReceived)
    assert later.args == [1, 2]


def test_an_answer_reference_in_a_fail_is_forgotten_with_it() -> None:
    broker = pipelining_broker()
    qid, _ = broker.send_call(broker.root_reference(), "n", (), {})
    error = {"type": "x.Y", "message": "no", "extra": answer_ref(1)}
    [failed] = broker.receive_data(msg(3, qid, error))
    assert failed.question_id == qid
    [later] = broker.receive_data(call(1, [0, 0], "add", 1, 2))
    assert isinstance(later, CallReceived)
    assert later.args == [1, 2]
