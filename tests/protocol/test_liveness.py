"""PING, PONG and GOODBYE in the sans-IO broker (docs/protocol.md, keepalive and GOODBYE).

Each is used only when both Hellos list its feature; a PING is answered with a PONG of its
nonce, with the next output; neither counts as activity; a peer's GOODBYE stops our new calls
(GoingAway, nothing sent), ours refuses the peer's later calls. What they cost to receive is
measured at two sizes.
"""

from __future__ import annotations

from collections.abc import Callable

import cbor2
import pytest

import pbtyped as pb
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import HandshakeComplete, PeerLeaving
from pbtyped.wire.registry import Registry
from tests.costs import assert_linear_cpu

from .wiring import Echoer, decode_frames, exactly, hello, msg


def opened(*features: str) -> Broker:
    """A serving broker whose peer's Hello listed ``features``."""
    broker = Broker(registry=Registry(), root=Echoer())
    broker.initiate()
    assert broker.receive_data(hello(features=list(features))) == [HandshakeComplete()]
    return broker


def test_a_ping_is_answered_with_a_pong_of_its_nonce_and_is_not_activity() -> None:
    broker = opened("keepalive")
    frames = broker.frames_received
    assert broker.receive_data(msg(11, 2**64 - 1) + msg(12, 5)) == []
    assert decode_frames(broker.take_pending()) == [[12, 2**64 - 1]]
    assert broker.frames_received == frames


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ([11, 1], "message of the 'keepalive' feature, which both Hellos did not list"),
        ([12, 1], "message of the 'keepalive' feature, which both Hellos did not list"),
        ([13, "bye", 0, 0], "message of the 'goodbye' feature, which both Hellos did not list"),
    ],
)
def test_a_kind_of_a_feature_not_negotiated_closes_the_connection(
    message: list[object], why: str
) -> None:
    broker = opened("columns")
    with pytest.raises(pb.RemoteProtocolError, match=exactly(why)):
        broker.receive_data(msg(*message))


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ([11], "malformed PING message (1 items)"),
        ([11, 2**64], "ping nonce must be a 64-bit unsigned integer, got <integer of 65 bits>"),
        ([12, "x"], 'ping nonce must be a 64-bit unsigned integer, got "x"'),
        ([13, "bye", 0], "malformed GOODBYE message (3 items)"),
        ([13, 1, 0, 0], "goodbye reason must be a string of at most 4096 characters"),
        ([13, "x" * 4097, 0, 0], "goodbye reason must be a string of at most 4096 characters"),
        ([13, "bye", -1, 0], "goodbye grace must be a non-negative integer, got -1"),
        ([13, "bye", 0, "7"], 'goodbye last question id must be a non-negative integer, got "7"'),
    ],
)
def test_malformed_liveness_messages_close_the_connection(message: list[object], why: str) -> None:
    broker = opened("keepalive", "goodbye")
    with pytest.raises(pb.RemoteProtocolError, match=exactly(why)):
        broker.receive_data(msg(*message))


def test_after_the_peers_goodbye_no_call_of_ours_is_sent() -> None:
    broker = opened("goodbye")
    root = broker.root_reference()
    events = broker.receive_data(msg(13, "restarting", 30_000, 0))
    assert events == [PeerLeaving(reason="restarting", grace_ms=30_000, last_question_id=0)]
    assert broker.peer_leaving == "restarting"
    with pytest.raises(pb.GoingAway, match="the peer is going away \\(restarting\\)"):
        broker.send_call(root, "echo", (1,), {})
    assert broker.pending_questions == 0
    # Our answers still go out: the peer may have calls of its own in flight.
    [event] = broker.receive_data(msg(1, 4, [0, 0], "echo", [1]))
    assert decode_frames(broker.send_return(event.question_id, 1)) == [[2, 4, 1]]


def test_our_goodbye_names_the_last_call_we_owe_and_refuses_later_ones() -> None:
    broker = opened("goodbye")
    assert len(broker.receive_data(msg(1, 3, [0, 0], "echo", [1]))) == 1
    assert len(broker.receive_data(msg(1, 9, [0, 0], "echo", [2]))) == 1
    broker.send_return(9, 2)  # answered before the GOODBYE: not among those it speaks for
    assert decode_frames(broker.send_goodbye("deploy", 1.5)) == [[13, "deploy", 1500, 3]]
    assert broker.leaving
    assert broker.send_goodbye("again", 1.0) == b""  # said once
    assert broker.receive_data(msg(1, 10, [0, 0], "echo", [3])) == []
    [refusal] = decode_frames(broker.take_pending())
    assert refusal == [
        3,
        10,
        {
            "type": "pbtyped.GoingAway",
            "message": "the peer is going away (deploy); this call did not run",
            "registered": True,
        },
    ]
    assert broker.owed_answers == 1  # call 3 is still owed


def test_after_our_goodbye_a_call_that_could_not_run_anyway_is_refused_as_going_away() -> None:
    """3.7: every CALL read after our GOODBYE fails with GoingAway, one on an object that
    is gone or with refused arguments included (the same rule as a pipelined call's)."""
    broker = opened("goodbye")
    broker.send_goodbye("deploy", 1.0)
    refused = msg(1, 1, [0, 0], "echo", [cbor2.CBORTag(35, "a+")]) + msg(1, 2, [0, 9], "echo", [])
    assert broker.receive_data(refused) == []
    fails = decode_frames(broker.take_pending())
    assert [(f[1], f[2]["type"]) for f in fails] == [
        (1, "pbtyped.GoingAway"),
        (2, "pbtyped.GoingAway"),
    ]


def test_no_goodbye_is_sent_to_a_peer_that_does_not_list_it_yet_calls_are_refused() -> None:
    broker = opened("keepalive")
    assert broker.send_goodbye("deploy", 1.0) == b""
    assert broker.receive_data(msg(1, 1, [0, 0], "echo", [3])) == []
    [refusal] = decode_frames(broker.take_pending())
    assert refusal[2]["type"] == "pbtyped.GoingAway"


def test_a_flood_of_pings_costs_linear_cpu_and_one_small_pong_each() -> None:
    def make(n: int) -> tuple[Callable[[], None], int]:
        data = msg(11, 2**63) * n

        def run() -> None:
            broker = opened("keepalive")
            broker.receive_data(data)
            assert len(broker.take_pending()) <= len(data)  # a PONG is no larger than its PING

        return run, len(data)

    assert_linear_cpu(make, 200, 3200)


def test_a_flood_of_goodbyes_costs_linear_cpu() -> None:
    def make(n: int) -> tuple[Callable[[], None], int]:
        data = msg(13, "x" * 4096, 2**63 - 1, 2**63 - 1) * n

        def run() -> None:
            broker = opened("goodbye")
            assert len(broker.receive_data(data)) == n

        return run, len(data)

    assert_linear_cpu(make, 20, 320)
