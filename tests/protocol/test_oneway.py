"""One-way calls (issue 14 item 5, docs/protocol.md 3.6): SEND, kind 14, in the sans-IO broker.

A SEND has no question id: nothing is owed for it, nothing is ever sent back. It is used only
when both Hellos list "oneway"; otherwise a caller sends an ordinary CALL, and a receiver
closes on a SEND as on any unknown kind.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import cbor2
import pytest

from pbtyped import DeadReferenceError, Registry, RemoteProtocolError
from pbtyped.protocol import messages as m
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import (
    AnswerReceived,
    CallReceived,
    HandshakeComplete,
    SendDropped,
    SendReceived,
)
from tests.costs import assert_linear_cpu, peak_ratio

from .wiring import Echoer, Pair, decode_frames, exactly, hello, msg, open_broker

ONEWAY = {"features": ["oneway"]}


def oneway_broker() -> Broker:
    """A serving broker whose hand-made peer listed "oneway"."""
    broker = Broker(registry=Registry(), root=Echoer())
    broker.initiate()
    assert broker.receive_data(hello(**ONEWAY)) == [HandshakeComplete()]
    return broker


def test_send_wire_forms() -> None:
    assert m.send_wire(0, "echo", ["hi"], {}) == [14, [0, 0], "echo", ["hi"]]
    assert m.send_wire(3, "echo", [], {"value": 1}) == [14, [0, 3], "echo", [], {"value": 1}]


def test_a_pair_negotiates_oneway_and_sends_a_send() -> None:
    pair = Pair()
    assert pair.a.oneway
    assert pair.b.oneway
    data = pair.a.send_oneway(pair.root_ref(), "echo", ("hi",), {})
    assert decode_frames(data) == [[14, [0, 0], "echo", ["hi"]]]
    [event] = pair.b.receive_data(data)
    size = len(data) - 8  # the frame without its header
    assert event == SendReceived(target=pair.root, method="echo", args=["hi"], kwargs={}, size=size)
    # Nothing is owed for it: no answer, nothing pending on the caller. Its arguments are
    # held (and counted, as a call's are) until the runtime says it is done.
    assert pair.b.take_pending() == b""
    assert pair.a.pending_questions == 0
    assert pair.b.held_bytes == size
    pair.b.send_done(size)
    assert pair.b.held_bytes == 0


def test_keyword_arguments_travel_in_the_five_item_form() -> None:
    pair = Pair()
    data = pair.a.send_oneway(pair.root_ref(), "echo", (), {"value": "hi"})
    assert decode_frames(data) == [[14, [0, 0], "echo", [], {"value": "hi"}]]
    [event] = pair.b.receive_data(data)
    assert isinstance(event, SendReceived)
    assert event.kwargs == {"value": "hi"}


def test_sends_and_calls_arrive_in_the_order_they_were_sent() -> None:
    pair = Pair()
    root = pair.root_ref()
    _, first = pair.a.send_call(root, "echo", (1,), {})
    second = pair.a.send_oneway(root, "echo", (2,), {})
    _, third = pair.a.send_call(root, "echo", (3,), {})
    fourth = pair.a.send_oneway(root, "echo", (4,), {})
    events = pair.b.receive_data(first + second + third + fourth)
    assert [(type(e).__name__, e.args) for e in events] == [
        ("CallReceived", [1]),
        ("SendReceived", [2]),
        ("CallReceived", [3]),
        ("SendReceived", [4]),
    ]


def test_without_the_peers_oneway_a_call_goes_instead_and_its_answer_is_dropped() -> None:
    """The fallback: an older peer (no "oneway" in its Hello) runs an ordinary CALL; its
    answer arrives for a question nobody awaits, which the runtime drops."""
    old_peer = open_broker()  # its hand-made Hello lists no feature
    assert not old_peer.oneway
    pair = Pair()
    pair.a.oneway = False  # as if b's Hello had not listed it
    data = pair.a.send_oneway(pair.root_ref(), "echo", ("hi",), {})
    [message] = decode_frames(data)
    assert message[0] == 1  # a CALL
    [event] = pair.b.receive_data(data)
    assert isinstance(event, CallReceived)
    answer = pair.b.send_return(event.question_id, "hi")
    assert pair.a.receive_data(answer) == [AnswerReceived(question_id=message[1], value="hi")]
    assert pair.a.pending_questions == 0


def test_a_send_from_a_peer_that_did_not_list_oneway_closes() -> None:
    broker = open_broker()  # the peer's Hello did not list "oneway"
    with pytest.raises(RemoteProtocolError, match=exactly("unknown message kind 14")):
        broker.receive_data(msg(14, [0, 0], "echo", ["hi"]))


def test_a_send_to_a_peer_that_did_not_list_oneway_is_never_sent(monkeypatch) -> None:
    monkeypatch.setattr(m, "FEATURES", ("columns", "interfaces"))
    pair = Pair()
    assert not pair.a.oneway
    assert not pair.b.oneway
    [message] = decode_frames(pair.a.send_oneway(pair.root_ref(), "echo", ("hi",), {}))
    assert message[0] == 1


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ([14, [0, 0], "echo"], "malformed SEND message (3 items)"),
        ([14, [0, 0], "echo", [], {}, {}], "malformed SEND message (6 items)"),
        ([14, [0, 0], "echo", "x"], "call arguments must be an array"),
        ([14, [0, 0], "echo", [], {b"k": 2}], "call keyword arguments must be a map of strings"),
        ([14, [2, 0], "echo", []], "malformed call target [2, 0]"),
        ([14, [0, -1], "echo", []], "call target id must be a non-negative integer, got -1"),
        ([14, [0, 0], 5, []], "method name must be a string of at most 200 characters"),
        ([14, [0, 0], "x" * 201, []], "method name must be a string of at most 200 characters"),
    ],
)
def test_malformed_sends_close(items: list[Any], error: str) -> None:
    broker = oneway_broker()
    with pytest.raises(RemoteProtocolError, match=exactly(error)):
        broker.receive_data(msg(*items))


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        (
            [14, [0, 5], "echo", ["hi"]],
            "one-way call 'echo' dropped: no object #5 on this connection",
        ),
        (
            [14, [1, 3], "echo", ["hi"]],
            "one-way call 'echo' dropped: a one-way call cannot be addressed to an answer",
        ),
        (
            [14, [0, 0], "echo", [cbor2.CBORTag(35, "a+")]],
            "one-way call 'echo' dropped: arguments refused: CBOR tag 35 is not allowed",
        ),
    ],
    ids=["unknown target", "answer target", "refused argument"],
)
def test_an_undeliverable_send_is_dropped_and_nothing_is_sent(
    items: list[Any], reason: str
) -> None:
    broker = oneway_broker()
    assert broker.receive_data(msg(*items)) == [SendDropped(reason=reason)]
    assert broker.take_pending() == b""
    assert broker.held_bytes == 0
    # The connection goes on.
    [event] = broker.receive_data(msg(14, [0, 0], "echo", ["still here"]))
    assert isinstance(event, SendReceived)


def test_sending_on_a_released_reference_raises_before_anything_is_sent() -> None:
    pair = Pair()
    ref = pair.a.root_reference()
    pair.a.release(ref)
    with pytest.raises(DeadReferenceError, match=exactly("this reference was released")):
        pair.a.send_oneway(ref, "echo", (), {})


# -- what SENDs cost to receive --------------------------------------------------------------


def sends(n: int, target: int) -> bytes:
    """``n`` SEND frames of one small argument each, on ``target``."""
    return msg(14, [0, target], "echo", ["hi"]) * n


@pytest.mark.parametrize("target", [0, 5], ids=["delivered", "dropped"])
def test_sends_cost_linear_cpu_and_small_memory_per_byte(target: int) -> None:
    """Many SENDs in one read: each makes one event (delivered or dropped) and owes nothing,
    so memory per byte is a small constant and CPU grows linearly with their number."""

    def make(n: int) -> tuple[Any, int]:
        data = sends(n, target)
        broker = oneway_broker()
        return (lambda: broker.receive_data(data)), len(data)

    assert_linear_cpu(make, 50, 1600)
    for n in (100, 3200):
        data = sends(n, target)
        broker = oneway_broker()
        # Measured ~20 (delivered) and ~13 (dropped): per 22-byte frame, an event and the
        # decoded message it holds, kept until the runtime takes them.
        assert peak_ratio(partial(broker.receive_data, data), len(data)) < 30
        assert broker.held_bytes == (len(data) - 8 * n if target == 0 else 0)


def test_one_send_with_a_large_argument_costs_what_a_call_does() -> None:
    def make(n: int) -> tuple[Any, int]:
        data = msg(14, [0, 0], "echo", [list(range(n))])
        broker = oneway_broker()
        return (lambda: broker.receive_data(data)), len(data)

    assert_linear_cpu(make, 1000, 32_000)
