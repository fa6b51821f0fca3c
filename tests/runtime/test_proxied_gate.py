"""The PROXY gate alone, on a stand-in transport: however TCP splits the header and what
follows, the connection gets the client's address and exactly the bytes after the header;
and a header dripped a byte at a time costs linear CPU."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pbtyped.runtime.logs import LogLimiter
from pbtyped.runtime.proxied import ProxyGate
from pbtyped.wire.proxy import ProxyPolicy

from ..costs import assert_linear_cpu
from ..wire.test_proxy import PROXY, TCP4, header, ipv4, tlv


class StandInTransport:
    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer
        self.protocol: Any = None
        self.aborted = False

    def get_extra_info(self, name: str) -> Any:
        return self.peer if name == "peername" else None

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


class StandInConnection:
    """What the gate hands over to: records the peer it was given and the bytes."""

    def __init__(self) -> None:
        self.peer: Any = None
        self.made_with: Any = None
        self.received = bytearray()

    def connection_made(self, transport: Any) -> None:
        self.made_with = transport

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        pass


def feed(chunks: list[bytes]) -> tuple[StandInConnection, StandInTransport]:
    """Accept a socket from a balancer and feed it ``chunks`` (in a running loop)."""
    conn = StandInConnection()
    transport = StandInTransport(("127.0.0.1", 5555))
    gate = ProxyGate(conn, ProxyPolicy(["127.0.0.1"]), LogLimiter(30))  # type: ignore[arg-type]
    gate.connection_made(transport)  # type: ignore[arg-type]
    for chunk in chunks:
        (transport.protocol or gate).data_received(chunk)
    gate.connection_lost(None)
    return conn, transport


def deliver(chunks: list[bytes]) -> tuple[StandInConnection, StandInTransport]:
    async def body() -> tuple[StandInConnection, StandInTransport]:
        return feed(chunks)

    return asyncio.run(body())


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=12), st.binary(max_size=64))
def test_any_split_hands_over_the_client_and_the_rest(cuts: list[int], after: bytes) -> None:
    first = header(PROXY, TCP4, ipv4("203.0.113.5", 4242, "10.0.0.1", 8750) + tlv(0x05, b"x"))
    conn, transport = deliver(split(first + after, cuts))
    assert not transport.aborted
    assert conn.made_with is transport
    assert transport.protocol is conn
    assert conn.peer == ("203.0.113.5", 4242)
    assert bytes(conn.received) == after


def test_a_header_dripped_a_byte_at_a_time_costs_linear_cpu() -> None:
    def make(n: int) -> tuple[Any, int]:
        data = header(PROXY, TCP4, ipv4("203.0.113.5", 1, "10.0.0.1", 2) + tlv(0x04, bytes(n)))
        chunks = [data[i : i + 1] for i in range(len(data))]
        return (lambda: feed(chunks)), len(data)

    async def measure() -> None:  # one loop for every run: only the gate's work is timed
        assert_linear_cpu(make, 100, 1_900)

    asyncio.run(measure())
