"""References name their interfaces (docs/protocol.md 5.5), in the sans-IO broker: which
SENDER_REF carries the names, what the importer keeps, the root's names in the Hello, an older
peer, and hostile names refused as values at bounded cost."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import cbor2
import pytest

from pbtyped import (
    FrameTooLarge,
    InsecureTypeError,
    LimitExceeded,
    Limits,
    Referenceable,
    Registry,
    RemoteProtocolError,
)
from pbtyped.protocol import interfaces
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import CallReceived, HandshakeComplete
from pbtyped.protocol.interfaces import MAX_SETS, NameSets
from pbtyped.wire import tags

from ..costs import assert_linear_cpu, peak_memory
from .wiring import Echoer, Pair, Thing, decode_frames, hello, msg, open_broker

INTERFACES = {"features": ["interfaces"]}


class Watcher(Referenceable):
    """What a generated skeleton of ``shop.Watcher`` declares."""

    pb_interface = "shop.Watcher"

    def remote_on_price(self, price: int) -> None:
        pass


class LoudWatcher(Watcher):
    """An interface extending ``shop.Watcher``."""

    pb_interface = "shop.LoudWatcher"


class MyWatcher(LoudWatcher):
    """An application's subclass of the skeleton: it names no interface of its own."""


class ShopRoot(Echoer):
    pb_interface = "shop.Shop"


def ref_tag(message: Any) -> Any:
    """The SENDER_REF of a one-argument CALL or of a RETURN, as plain cbor2 decodes it."""
    value = message[4][0] if message[0] == 1 else message[2]
    assert isinstance(value, cbor2.CBORTag)
    assert value.tag == tags.SENDER_REF
    return value.value


# -- what the names are ------------------------------------------------------------------------


def test_an_object_implements_its_interfaces_along_its_mro() -> None:
    assert interfaces.implemented_by(MyWatcher) == ("shop.LoudWatcher", "shop.Watcher")
    assert interfaces.implemented_by(Watcher) == ("shop.Watcher",)
    assert interfaces.implemented_by(Thing) == ()


def test_a_class_whose_names_a_peer_would_refuse_is_refused_at_the_sender() -> None:
    class Odd(Referenceable):
        pb_interface = "not a name"

    pair = Pair()
    with pytest.raises(InsecureTypeError) as info:
        pair.a.send_call(pair.root_ref(), "keep", (Odd(),), {})
    assert str(info.value) == (
        "test_a_class_whose_names_a_peer_would_refuse_is_refused_at_the_sender.<locals>.Odd "
        "cannot be sent by reference: an interface name must be a dotted identifier of at "
        "most 200 characters"
    )
    assert pair.a.export_count == 0  # nothing was sent, nothing is exported


# -- the sender: names with the first reference, and again after a release --------------------


def test_the_first_reference_names_the_interfaces_and_later_ones_do_not() -> None:
    pair = Pair()
    watcher = MyWatcher()
    first = decode_frames(pair.a.send_call(pair.root_ref(), "keep", (watcher,), {})[1])
    again = decode_frames(pair.a.send_call(pair.root_ref(), "keep", (watcher,), {})[1])
    assert ref_tag(first[0]) == (1, ("shop.LoudWatcher", "shop.Watcher"))
    assert ref_tag(again[0]) == 1
    untyped = decode_frames(pair.a.send_call(pair.root_ref(), "keep", (Thing(),), {})[1])
    assert ref_tag(untyped[0]) == (2, ())


def test_a_release_that_leaves_the_object_exported_makes_the_next_reference_name_it() -> None:
    pair = Pair()
    watcher = Watcher()
    pair.a.send_call(pair.root_ref(), "keep", (watcher,), {})
    pair.a.send_call(pair.root_ref(), "keep", (watcher,), {})  # count 2
    pair.a.receive_data(msg(5, 1, 1))  # the peer released one receipt: it forgot the names
    assert pair.a.exports.counts()[1] == 1
    again = decode_frames(pair.a.send_call(pair.root_ref(), "keep", (watcher,), {})[1])
    assert ref_tag(again[0]) == (1, ("shop.Watcher",))


def test_a_message_that_cannot_be_sent_leaves_the_names_unsent() -> None:
    pair = Pair(b_limits=Limits(max_frame_size=4096))
    watcher = Watcher()
    with pytest.raises(FrameTooLarge):
        pair.a.send_call(pair.root_ref(), "echo", (watcher, "x" * 5000), {})
    sent = decode_frames(pair.a.send_call(pair.root_ref(), "keep", (watcher,), {})[1])
    assert ref_tag(sent[0]) == (2, ("shop.Watcher",))  # ids are never reused, even so
    # An object already named: a failed message does not make the next one name it again.
    with pytest.raises(FrameTooLarge):
        pair.a.send_call(pair.root_ref(), "echo", (watcher, "x" * 5000), {})
    sent = decode_frames(pair.a.send_call(pair.root_ref(), "keep", (watcher,), {})[1])
    assert ref_tag(sent[0]) == 2


# -- the receiver: names kept with the import ---------------------------------------------------


def test_the_importer_keeps_the_names_with_the_import() -> None:
    pair = Pair()
    watcher = MyWatcher()
    pair.value(pair.root_ref(), "keep", watcher)
    kept = pair.root.kept
    assert kept.pb_interfaces == ("shop.LoudWatcher", "shop.Watcher")
    pair.value(pair.root_ref(), "keep", watcher)  # a bare SENDER_REF now
    assert pair.root.kept is kept
    assert kept.pb_interfaces == ("shop.LoudWatcher", "shop.Watcher")


def test_names_outlive_a_dead_proxy_until_its_release_is_sent() -> None:
    # The proxy dies, and the same id arrives (bare) before the Release has been sent: the
    # new proxy gets the names the import kept.
    broker = named_broker()
    [call] = broker.receive_data(msg(1, 1, [0, 0], "keep", [_named(7, ["a.B"])]))
    assert isinstance(call, CallReceived)
    [ref] = call.args
    assert ref.pb_interfaces == ("a.B",)
    del call, ref  # the proxy dies; its Release is queued, not sent
    [call] = broker.receive_data(msg(1, 2, [0, 0], "keep", [_bare(7)]))
    assert isinstance(call, CallReceived)
    assert call.args[0].pb_interfaces == ("a.B",)
    # Once the Release is sent, the names go with the import.
    del call
    broker.take_pending()
    [call] = broker.receive_data(msg(1, 3, [0, 0], "keep", [_bare(7)]))
    assert isinstance(call, CallReceived)
    assert call.args[0].pb_interfaces is None


def test_a_bare_reference_of_an_id_never_named_is_of_unknown_interfaces() -> None:
    broker = named_broker()
    [call] = broker.receive_data(msg(1, 1, [0, 0], "keep", [_bare(9)]))
    assert isinstance(call, CallReceived)
    assert call.args[0].pb_interfaces is None


def test_names_of_many_references_are_kept_once() -> None:
    broker = named_broker(limits=Limits(max_imports=10_000))
    refs = [_named(i, ["shop.Watcher", "shop.Base"]) for i in range(1, 1001)]
    [call] = broker.receive_data(msg(1, 1, [0, 0], "echo", [refs]))
    assert isinstance(call, CallReceived)
    proxies = call.args[0]
    assert len({id(p.pb_interfaces) for p in proxies}) == 1
    assert broker._name_sets is not None
    assert len(broker._name_sets) == 1


# -- the root ----------------------------------------------------------------------------------


def test_the_hello_names_the_roots_interfaces() -> None:
    pair = Pair(root=ShopRoot())
    assert pair.root_ref().pb_interfaces == ("shop.Shop",)
    untyped = Pair(root=Echoer())
    assert untyped.root_ref().pb_interfaces == ()
    assert b"root_interfaces" not in Broker(registry=Registry()).initiate()


def test_a_malformed_root_interfaces_closes_the_connection() -> None:
    cases: dict[str, Any] = {
        "not an array": "shop.Shop",
        "17 names": ["a.B"] * 17,
        "not a wire name": ["shop Shop"],
        "not text": [7],
    }
    for name, value in cases.items():
        broker = Broker(registry=Registry(), root=Echoer())
        with pytest.raises(RemoteProtocolError) as info:
            broker.receive_data(hello(root_interfaces=value, **INTERFACES))
        assert str(info.value).startswith("malformed hello root_interfaces: "), name


# -- an older peer -----------------------------------------------------------------------------


def test_without_the_feature_references_are_bare_and_names_are_refused() -> None:
    broker = open_broker(root=Echoer())  # the peer's Hello lists no feature
    assert broker.interfaces is False
    _, data = broker.send_call(broker.root_reference(), "keep", (Watcher(),), {})
    assert ref_tag(decode_frames(data)[0]) == 1
    assert broker.root_reference().pb_interfaces is None
    assert broker.receive_data(msg(1, 1, [0, 0], "keep", [_named(3, [])])) == []
    [fail] = [m for m in decode_frames(broker.take_pending()) if m[0] == 3]
    assert fail[2]["message"] == "arguments refused: malformed reference id [3, []]"


# -- hostile names -----------------------------------------------------------------------------

HOSTILE: dict[str, tuple[Any, str]] = {
    "17 names": ([1, ["a.B"] * 17], "malformed reference: 17 interface names (at most 16)"),
    "a name of 201 characters": (
        [1, ["x" * 201]],
        "malformed reference: an interface name must be a dotted identifier of at most 200 "
        "characters",
    ),
    "not a wire name": (
        [1, ["shop..Cart"]],
        "malformed reference: an interface name must be a dotted identifier of at most 200 "
        "characters",
    ),
    "a name that is not text": (
        [1, [["a"]]],
        "malformed reference: an interface name must be a dotted identifier of at most 200 "
        "characters",
    ),
    "names not an array": ([1, "a.B"], "malformed reference: expected an array of interface names"),
    "three items": ([1, [], []], "malformed reference id [1, [], []]"),
    "an id that is not an integer": ([-1, []], "malformed reference id -1"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_names_refuse_the_call_and_the_connection_goes_on(case: str) -> None:
    content, why = HOSTILE[case]
    broker = named_broker()
    body = [1, 1, [0, 0], "keep", [cbor2.CBORTag(tags.SENDER_REF, content)]]
    assert broker.receive_data(msg(*body)) == []
    [fail] = decode_frames(broker.take_pending())
    assert fail == [
        3,
        1,
        {"type": "pbtyped.InsecureTypeError", "message": f"arguments refused: {why}",
         "registered": True},
    ]  # fmt: skip
    assert broker.import_count == 0
    assert broker.is_open


def test_more_distinct_name_sets_than_kept_are_refused_with_limit_exceeded() -> None:
    broker = named_broker(limits=Limits(max_imports=10_000))
    refs = [_named(i, [f"s.I{i}"]) for i in range(1, MAX_SETS + 1)]
    events = broker.receive_data(msg(1, 1, [0, 0], "echo", [refs]))
    broker.send_return(1, None)
    del events
    assert broker.receive_data(msg(1, 2, [0, 0], "echo", [_named(MAX_SETS + 1, ["s.Ov"])])) == []
    fails = [m for m in decode_frames(broker.take_pending()) if m[0] == 3]
    assert fails == [
        [3, 2, {"type": "pbtyped.LimitExceeded", "registered": True, "message":
            "arguments refused: the peer sent references of more than 128 distinct sets of "
            "interfaces on this connection"}],
    ]  # fmt: skip
    # A set already kept still comes in.
    [call] = broker.receive_data(msg(1, 3, [0, 0], "echo", [_named(999, ["s.I1"])]))
    assert isinstance(call, CallReceived)
    assert call.args[0].pb_interfaces == ("s.I1",)


def _kept_bytes(sets: int, names: int, length: int) -> int:
    """Memory NameSets keeps for ``sets`` distinct sets of ``names`` names of ``length``."""
    table = NameSets()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for s in range(sets):  # each list as the decoder builds it, then dropped
            table.intern([f"n{s}.i{i}".ljust(length, "x") for i in range(names)])
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_kept_names_grow_with_what_was_sent_and_stop_at_the_bound() -> None:
    # A set of 16 names of 200 characters is ~3.2 KB on the wire; kept, it costs about 1.3
    # times that (measured: ~4.2 KB), at 16 sets as at 128: linear, and MAX_SETS bounds it
    # (~0.5 MB a connection).
    wire_per_set = 16 * (200 + 2)
    small = _kept_bytes(16, 16, 200)
    large = _kept_bytes(MAX_SETS, 16, 200)
    assert small < 2 * wire_per_set * 16
    assert large < 2 * wire_per_set * MAX_SETS
    assert large < 9 * small  # 8 times the sets, 8 times the memory (and no more)
    table = NameSets()
    for n in range(MAX_SETS):
        table.intern([f"n{n}.x"])
    with pytest.raises(LimitExceeded):
        table.intern(["over.x"])


def _named_call(refs: int, name_sets: list[list[str]]) -> bytes:
    """A CALL whose one argument is ``refs`` new references, each naming a set of interfaces."""
    named = [_named(i + 1, name_sets[i % len(name_sets)]) for i in range(refs)]
    return msg(1, 3, [0, 0], "echo", [named])


@pytest.mark.parametrize(
    "name_sets",
    [[[f"s{k}.Interface{j}" for j in range(4)] for k in range(8)], [[]]],
    ids=["eight sets of four names", "no names (the fewest bytes per proxy)"],
)
def test_named_references_cost_what_bare_ones_do_per_byte(name_sets: list[list[str]]) -> None:
    """Attack: many references in the names form. Receiving them costs memory and CPU in
    proportion to the bytes sent, at two sizes 16x apart: within the ~40x of a reference's
    proxy (docs/security.md; references are bounded by Limits.max_imports, not the ratio),
    and the names, kept once per distinct set, add no more per byte than they take."""

    def receive(data: bytes) -> Callable[[], Any]:
        def run() -> None:
            named_broker().receive_data(data)

        return run

    for refs in (300, 4800):
        data = _named_call(refs, name_sets)
        ratio = peak_memory(receive(data)) / len(data)
        assert ratio < 40, f"{refs} references: {ratio:.1f}x the bytes sent"

    def make(refs: int) -> tuple[Callable[[], Any], int]:
        data = _named_call(refs, name_sets)
        return receive(data), len(data)

    assert_linear_cpu(make, 300, 4800)


# -- helpers -----------------------------------------------------------------------------------


def _named(export_id: int, names: list[str]) -> cbor2.CBORTag:
    return cbor2.CBORTag(tags.SENDER_REF, [export_id, names])


def _bare(export_id: int) -> cbor2.CBORTag:
    return cbor2.CBORTag(tags.SENDER_REF, export_id)


def named_broker(**kw: Any) -> Broker:
    """A serving broker whose hand-crafted peer's Hello listed "interfaces"."""
    broker = Broker(registry=Registry(), root=Echoer(), **kw)
    broker.initiate()
    assert broker.receive_data(hello(**INTERFACES)) == [HandshakeComplete()]
    assert broker.interfaces
    return broker
