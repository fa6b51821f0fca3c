"""Issue 10, item 2: nothing but the Hello is decoded before the handshake, on either side.

Until the peer's Hello has arrived, a frame header announcing more than
``MAX_GREETING_SIZE`` bytes closes the connection before any byte of its body is buffered,
and the first frame is decoded as plain CBOR with no tag admitted at all.
"""

from __future__ import annotations

import cbor2
import pytest

from pbtyped import FrameTooLarge, Limits, Registry, RemoteProtocolError
from pbtyped.protocol import messages as m
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import CallReceived, HandshakeComplete, PeerAborted
from pbtyped.protocol.state import ConnectionState

from ..costs import assert_linear_cpu, peak_memory
from .wiring import Echoer, attachment_bomb, decimal_bomb, exactly, frame, hello, msg

INFO = {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20}


def server() -> Broker:
    return Broker(registry=Registry(), root=Echoer())


def client() -> Broker:
    return Broker(registry=Registry())


SIDES = pytest.mark.parametrize("make", [server, client], ids=["server", "client"])


@SIDES
@pytest.mark.parametrize("bomb", [attachment_bomb, decimal_bomb], ids=["attachments", "decimal"])
def test_a_big_first_frame_closes_at_its_header(make, bomb) -> None:
    """Attack: issue 10 rows 1-3, the 220 KiB attachment frame and the 512 KiB decimal frame
    sent instead of a Hello, to a server or (by a hostile server) to a client. Refused from
    the 8 header bytes alone: no body byte is buffered, nothing is decoded."""
    broker = make()
    broker.initiate()
    header = bomb()[:8]
    with pytest.raises(FrameTooLarge, match=r"before its Hello has arrived a frame may hold at"):
        broker.receive_data(header)


@SIDES
def test_the_greeting_limit_is_exact(make) -> None:
    """Attack: any first frame over 4 KiB, whatever it holds (here a well-formed Hello padded
    with unknown keys), is refused; one of exactly 4 KiB is read."""

    def padded_hello(size: int) -> bytes:
        base = len(cbor2.dumps([0, {**INFO, "pad": ""}]))
        # A text of 256..65535 bytes takes a 3-byte head: 2 more than the empty text's.
        body = cbor2.dumps([0, {**INFO, "pad": "x" * (size - base - 2)}])
        assert len(body) == size
        return frame(body)

    broker = make()
    assert broker.receive_data(padded_hello(m.MAX_GREETING_SIZE)) == [HandshakeComplete()]
    with pytest.raises(FrameTooLarge, match="first frame of 4097 bytes"):
        make().receive_data(padded_hello(m.MAX_GREETING_SIZE + 1))


def test_a_side_with_the_smallest_limits_reads_a_hello_larger_than_them() -> None:
    """A peer sends its Hello before it knows our limits, so the first frame is bounded by the
    greeting size alone. Before: a side at ``max_frame_size=64`` (allowed) refused every
    default Hello (86 bytes) and could talk to no one."""
    tiny = Limits(max_frame_size=64, max_body_size=64)
    small = Broker(registry=Registry(), root=Echoer(), limits=tiny)
    peer = Broker(registry=Registry())
    hello_small, hello_peer = small.initiate(), peer.initiate()
    assert len(hello_peer) - 8 > 64
    assert small.receive_data(hello_peer) == [HandshakeComplete()]
    assert peer.receive_data(hello_small) == [HandshakeComplete()]
    _, call = peer.send_call(peer.root_reference(), "echo", ("hi",), {})
    [event] = small.receive_data(call)
    assert isinstance(event, CallReceived)
    # After the Hello, our own limit holds.
    with pytest.raises(FrameTooLarge, match=r"frame of 65 bytes; the limit is 64 \(Limits"):
        small.receive_data(frame(b"\x00" * 65))


TAGGED = {
    "bignum": [0, {**INFO, "max_frame_size": cbor2.CBORTag(2, b"\x01" + b"\x00" * 8)}],
    "decimal": cbor2.CBORTag(4, [0, cbor2.CBORTag(2, b"\xff" * 3000)]),
    "sender reference": [0, {**INFO, "x": cbor2.CBORTag(41003, 7)}],
    "attachment": [0, {**INFO, "x": cbor2.CBORTag(41006, 1)}],
    "date": [0, {**INFO, "x": cbor2.CBORTag(1, 0)}],
    "tagged kind": [cbor2.CBORTag(2, b"\x00"), INFO],
}


@SIDES
@pytest.mark.parametrize("case", sorted(TAGGED))
def test_no_tag_is_admitted_in_the_greeting(make, case: str) -> None:
    """Attack: tags that cost to build (bignums, decimals) or touch state (references,
    attachments) hidden in a small first frame: every tag is refused before the Hello."""
    broker = make()
    with pytest.raises(RemoteProtocolError, match="is not allowed before the Hello"):
        broker.receive_data(frame(cbor2.dumps(TAGGED[case])))
    assert broker.import_count == 0


BAD_GREETINGS = {
    "attachments": (frame(cbor2.dumps([0, INFO]), b"\x00" * 16), "a Hello has no attachments"),
    "trailing bytes": (
        frame(cbor2.dumps([0, INFO]) + b"\x00"),
        "1 trailing bytes after the Hello",
    ),
    "deep": (
        frame(cbor2.dumps([0, {**INFO, "x": [[[1]]]}])),
        "malformed Hello: maximum container nesting depth (3) exceeded",
    ),
    "not CBOR": (frame(b"\xff\xff"), None),
}


@SIDES
@pytest.mark.parametrize("case", sorted(BAD_GREETINGS))
def test_a_first_frame_that_is_not_a_well_formed_hello_closes(make, case: str) -> None:
    """Attack: anything but one well-formed Hello (or Abort) as the first frame."""
    data, message = BAD_GREETINGS[case]
    with pytest.raises(RemoteProtocolError, match=exactly(message) if message else "Hello"):
        make().receive_data(data)


def test_the_limit_lifts_with_the_hello_even_in_the_same_read() -> None:
    """A guard of the fix, not an attack: a Hello followed at once by a large call (in one
    read) is not mistaken for an oversized first frame."""
    broker = server()
    big = "y" * 100_000
    events = broker.receive_data(hello() + msg(1, 1, [0, 0], "echo", [big]))
    assert events[0] == HandshakeComplete()
    assert isinstance(events[1], CallReceived)
    assert events[1].args == [big]


def test_nothing_after_an_abort_is_decoded() -> None:
    """Attack: an Abort first, then a frame that would be decoded by the full codec."""
    broker = server()
    data = msg(6, "bye") + decimal_bomb(64)
    assert broker.receive_data(data) == [PeerAborted(reason="bye")]
    assert broker.state is ConnectionState.CLOSED


def test_our_own_abort_fits_in_a_greeting() -> None:
    """A refusal sent before our Hello (server full) must be readable by the peer's greeting
    rule: reasons are cut so the Abort stays within MAX_GREETING_SIZE."""
    broker = server()
    data = broker.abort("\U0001f600" * 5000)
    assert len(data) - 8 <= m.MAX_GREETING_SIZE
    peer = client()
    (event,) = peer.receive_data(data)
    assert isinstance(event, PeerAborted)
    assert event.reason == "\U0001f600" * m.MAX_ABORT_REASON


def wide_greeting(size: int) -> bytes:
    """A Hello frame of at most ``size`` bytes built to cost the most to decode within the
    greeting's rules: a map of many short keys, each naming an empty array."""
    base = len(cbor2.dumps([0, INFO])) + 8 + 5  # header, and room for a longer map head
    count = (size - base) // 7  # a key takes 5 or 6 bytes, its empty array 1
    info: dict[str, object] = {**INFO, **{format(i, "04x"): [] for i in range(count)}}
    data = frame(cbor2.dumps([0, info]))
    assert len(data) <= size
    return data


def _receive(data: bytes) -> None:
    try:
        server().receive_data(data)
    except (FrameTooLarge, RemoteProtocolError):
        pass


@pytest.mark.parametrize("size", [4096, 64 * 1024, 1024 * 1024])
def test_what_a_peer_costs_before_its_hello_is_bounded_by_a_constant(size: int) -> None:
    """Attack: issue 10 row 16 and item 2, the most expensive first frame a peer can build
    (a wide map of empty arrays: ~70x its size once decoded), at any size. Before the Hello
    the peak memory is bounded by a constant (64x the 4 KiB greeting, 256 KiB), however much
    the peer sends."""
    data = wide_greeting(size)
    assert peak_memory(lambda: _receive(data)) < 64 * m.MAX_GREETING_SIZE


def test_decoding_a_greeting_costs_linear_cpu() -> None:
    """Attack: the same wide greeting at 256 bytes and 4 KiB: CPU per byte stays flat."""

    def make(size: int) -> tuple[object, int]:
        data = wide_greeting(size + 8)
        return (lambda: _receive(data)), len(data)

    assert_linear_cpu(make, 256, 4096)
