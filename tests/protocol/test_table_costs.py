"""What the reference tables cost a peer's input: memory and CPU per byte, releases owed.

A SENDER_REF tag is 4 to 10 bytes on the wire (6 for ids from 256 to 65,535) and makes one
proxy and one table entry; a RECEIVER_REF or a Release makes nothing. Each test sends the
most expensive input of its kind, in both directions (a CALL to a server, a RETURN to a
client), at two sizes in one run.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import cbor2
import pytest

from pbtyped import Limits
from pbtyped.protocol.broker import Broker, ImportedReference, PlainOwner
from pbtyped.protocol.events import AnswerReceived, CallReceived, Event
from pbtyped.runtime.reference import RemoteReference
from pbtyped.wire import tags
from tests.costs import assert_linear_cpu, peak_ratio

from .wiring import Echoer, Thing, decode_frames, msg, open_broker

#: Peak memory per byte of SENDER_REF input: a proxy (56 B), its table entry (a weak
#: reference with its id and count, 96 B), the dict slot, the id's int and the list slot,
#: ~250 B, for a 6-byte tag. It was ~100x (a closure, a weak reference and two dict
#: entries per id). ``Limits.max_imports`` bounds how many a connection holds.
SENDER_REF_RATIO = 48

FIRST_ID = 256  # from here on a SENDER_REF is 6 bytes: the cheapest tag per proxy


def refs(n: int, first: int = FIRST_ID) -> list[cbor2.CBORTag]:
    return [cbor2.CBORTag(tags.SENDER_REF, first + i) for i in range(n)]


class Direction:
    """Feed ``n`` distinct SENDER_REFs to a broker as a CALL's argument or a RETURN's value."""

    def __init__(self, kind: str, limits: Limits | None = None) -> None:
        self.kind = kind
        self.broker = open_broker(limits=limits or Limits())
        self.root = self.broker.root_reference()  # held: the root's proxy is not released

    def frame(self, items: list[Any]) -> bytes:
        if self.kind == "call":
            return msg(1, 1, [0, 0], "echo", [items])
        qid, _ = self.broker.send_call(self.root, "echo", (), {})
        return msg(2, qid, items)

    def deliver(self, items: list[Any]) -> Any:
        [event] = self.broker.receive_data(self.frame(items))
        if isinstance(event, CallReceived):
            self.broker.send_return(event.question_id, None)
            return event.args[0]
        assert isinstance(event, AnswerReceived)
        return event.value


DIRECTIONS = ["call", "return"]


def answer_all(broker: Broker, events: list[Event]) -> None:
    for event in events:
        if isinstance(event, CallReceived):
            broker.send_return(event.question_id, None)


@pytest.mark.parametrize("kind", DIRECTIONS)
def test_many_distinct_sender_refs_cost_a_small_multiple_of_their_bytes(kind: str) -> None:
    """Attack (issue 10 row 15): 100k distinct SENDER_REF ids in one message made 125x their
    size in memory (a proxy, a weak reference with its own closure, and two dict entries per
    id). Now one slotted entry per proxy with a shared callback: a small, fixed multiple, and
    CPU linear in the number of references (then releasing them all, too)."""

    def peak(n: int) -> float:
        side = Direction(kind)
        data = side.frame(refs(n))
        return peak_ratio(lambda: side.broker.receive_data(data), len(data))

    for n in (6_000, 100_000):
        ratio = peak(n)
        assert ratio < SENDER_REF_RATIO, f"{n} references: {ratio:.0f}x their bytes"

    def make(n: int) -> tuple[Callable[[], Any], int]:
        side = Direction(kind)
        items = refs(n)

        def run() -> None:
            side.deliver(items)  # decoded, answered, then dropped: n releases owed
            side.broker.take_pending()

        return run, len(side.frame(items))

    assert_linear_cpu(make, 4_000, 64_000)


def test_the_runtime_proxy_costs_little_more_than_the_core_one() -> None:
    """The same attack against the runtime's proxy (``RemoteReference``: its connection and
    its disconnect callbacks beside the core's fields): 115x before, one entry less now."""

    class Owner(PlainOwner):
        def make_reference(self, broker: Broker, export_id: int) -> ImportedReference:
            return RemoteReference(broker, export_id, None)  # type: ignore[arg-type]

    broker = open_broker(owner=Owner())
    data = msg(1, 1, [0, 0], "echo", [refs(50_000)])
    ratio = peak_ratio(lambda: broker.receive_data(data), len(data))
    assert ratio < SENDER_REF_RATIO + 12, f"{ratio:.0f}x the bytes of the references"


@pytest.mark.parametrize("kind", DIRECTIONS)
def test_releases_owed_are_coalesced_per_reference(kind: str) -> None:
    """Attack: the same ids sent again and again, each time dropped, while the Releases are
    not sent (a peer that does not read makes us hold them): one Release per drop piled up,
    without bound. Releases owed to one id are now merged into one with the summed count."""
    side = Direction(kind)
    for _ in range(20):
        side.deliver(refs(500))
        gc.collect()
    owed = decode_frames(side.broker.take_pending())
    assert owed == [[5, FIRST_ID + i, 20] for i in range(500)]


@pytest.mark.parametrize("kind", DIRECTIONS)
def test_releases_owed_count_against_max_imports(kind: str) -> None:
    """Attack: fresh ids in every message, each dropped at once, while the Releases are not
    sent: the table owed an ever longer list of Releases (memory, then bytes to a peer that
    may never read them). A reference whose release is not sent yet is still live for the
    peer, so it counts against ``Limits.max_imports``: what a peer can make us hold, or owe
    it, is bounded whatever it sends before our Releases go out."""
    side = Direction(kind, Limits(max_imports=1_000))
    for round_ in range(20):  # a sliding window: half the ids sent again, half fresh
        answer_all(side.broker, side.broker.receive_data(side.frame(refs(400, round_ * 200))))
        gc.collect()
    owed = [m for m in decode_frames(side.broker.take_pending()) if m[0] == 5]
    assert 0 < len(owed) <= 1_000
    assert len(side.broker.imports) == 1  # the root's proxy
    side.deliver(refs(400))  # once the Releases are out, references are welcome again


def test_release_output_answers_only_what_the_peer_sent() -> None:
    """Each Release we send answers SENDER_REFs the peer sent: its bytes are bounded by
    theirs (one 13-16 byte frame per distinct id, whatever the count) however the peer
    repeats and interleaves them."""
    side = Direction("call")
    sent = 0
    for _ in range(5):
        data = side.frame(refs(2_000) * 10)  # every id ten times in one message
        sent += len(data)
        [event] = side.broker.receive_data(data)
        side.broker.send_return(event.question_id, None)
        del event
    gc.collect()
    out = side.broker.take_pending()
    assert len(decode_frames(out)) == 2_000
    assert len(out) < sent / 10


# -- the export table -----------------------------------------------------------------------


class Exporter(Echoer):
    """A root that hands out ``n`` fresh objects at once (what the peer will then name)."""

    def remote_many(self, n: int) -> list[Thing]:
        return [Thing() for _ in range(n)]


def exporting(n: int) -> Broker:
    """A broker that exported ``n`` objects to the peer, as ids 1 to ``n``."""
    root = Exporter()
    broker = open_broker(root=root)
    [call] = broker.receive_data(msg(1, 1, [0, 0], "many", [n]))
    assert isinstance(call, CallReceived)
    broker.send_return(call.question_id, root.remote_many(n))
    assert broker.export_count == n + 1
    return broker


def test_receiver_refs_cost_no_more_than_plain_values() -> None:
    """A RECEIVER_REF is our own object coming home: a dict lookup, nothing built. A message
    naming many exported objects, each many times, costs memory and CPU like a list of ints."""

    def make(n: int) -> tuple[Callable[[], Any], int]:
        broker = exporting(1_000)
        items = [cbor2.CBORTag(tags.RECEIVER_REF, 1 + i % 1_000) for i in range(n)]
        data = msg(1, 1, [0, 0], "echo", [items])

        def run() -> None:
            [event] = broker.receive_data(data)
            assert isinstance(event, CallReceived)
            broker.send_return(event.question_id, None)

        return run, len(data)

    assert_linear_cpu(make, 4_000, 64_000)
    broker = exporting(1_000)
    items = [cbor2.CBORTag(tags.RECEIVER_REF, 1 + i % 1_000) for i in range(50_000)]
    data = msg(1, 1, [0, 0], "echo", [items])
    assert peak_ratio(lambda: broker.receive_data(data), len(data)) < 4


def test_many_releases_with_odd_counts_cost_linear_cpu_and_no_memory() -> None:
    """Releases of many exports, in small odd counts and any order: each is a dict lookup
    and a subtraction, and the last one of each frees its entry."""

    def make(n: int) -> tuple[Callable[[], Any], int]:
        data = b"".join(msg(5, i, c) for i in reversed(range(1, n + 1)) for c in (2, 1))

        def run() -> None:
            broker = exporting(n)
            for export_id in range(1, n + 1):  # two more references to each: counts of 3
                broker.exports.add(broker.exports.get(export_id))
                broker.exports.add(broker.exports.get(export_id))
            broker.receive_data(data)
            assert broker.export_count == 1

        return run, len(data)

    assert_linear_cpu(make, 500, 8_000)


def test_many_new_references_in_one_message_are_admitted() -> None:
    """References are bounded by ``max_imports``, not by the decoder's ratio: a proxy is more
    than 32 times its 6-byte tag, so a ratio would refuse an ordinary list of a few hundred
    references (a list of rooms). 5,000 new ones in one answer, under the default limits."""
    side = Direction("return", Limits())
    proxies = side.deliver(refs(5_000))
    assert len({id(proxy) for proxy in proxies}) == 5_000
    assert len(side.broker.imports) == 5_001  # and the root's
