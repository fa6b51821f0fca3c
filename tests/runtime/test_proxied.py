"""serve(proxy_protocol_from=...): behind a balancer, the connection's peer is the client the
PROXY v2 header names; a header from anyone else, or none from a balancer, closes the line.
Real sockets on 127.0.0.1; the "balancer" is a relay in the test that prepends a header."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.runtime.connection import current_connection

from ..support import bounded_run
from ..wire.test_proxy import LOCAL, PROXY, TCP4, UNSPEC, header, ipv4
from .conftest import eventually, silent_peer


class Service(pb.Root):
    def remote_peer(self) -> list[Any]:
        conn = current_connection()
        return list(conn.peer)[:2]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def relay(port: int, first: bytes) -> AsyncIterator[int]:
    """A balancer on 127.0.0.1: each connection to it is relayed to ``port``, ``first``
    written before the client's bytes."""
    tasks: set[asyncio.Task[None]] = set()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        up_writer.write(first)
        for task in (_pipe(reader, up_writer), _pipe(up_reader, writer)):
            tasks.add(asyncio.ensure_future(task))

    server = await asyncio.start_server(accepted, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_the_header_names_the_peer(run: Any) -> None:
    """Calls, the per-address share and logs see the client the header names."""

    async def body() -> None:
        limits = pb.Limits(max_connections_per_address=1)
        first = header(PROXY, TCP4, ipv4("203.0.113.9", 40000, "127.0.0.1", 1))
        async with (
            pb.serve(Service(), proxy_protocol_from=["127.0.0.0/8"], limits=limits) as server,
            relay(server.port, first) as port,
            pb.connect("127.0.0.1", port) as client,
        ):
            root = await client.root()
            assert await root.call_remote("peer") == ["203.0.113.9", 40000]
            # The share is counted for 203.0.113.9: a second such client is refused.
            with pytest.raises(
                pb.ConnectionLost, match=r"too many connections from 203\.0\.113\.9"
            ):
                async with pb.connect("127.0.0.1", port) as second:
                    await (await second.root()).call_remote("peer")

    run(body)


def test_local_and_unspec_keep_the_socket_address(run: Any) -> None:
    async def body() -> None:
        for first in (header(LOCAL, UNSPEC, b""), header(PROXY, UNSPEC, b"")):
            async with (
                pb.serve(Service(), proxy_protocol_from=["127.0.0.1/32"]) as server,
                relay(server.port, first) as port,
                pb.connect("127.0.0.1", port) as client,
            ):
                host, _ = await (await client.root()).call_remote("peer")
                assert host == "127.0.0.1"

    run(body)


def test_a_client_not_behind_the_balancer_connects_as_before(run: Any) -> None:
    async def body() -> None:
        async with (
            pb.serve(Service(), proxy_protocol_from=["10.0.0.0/8"]) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            host, _ = await (await client.root()).call_remote("peer")
            assert host == "127.0.0.1"

    run(body)


def closed_at_once(trusted: str, first: bytes, limits: pb.Limits | None = None) -> str:
    """Serve trusting ``trusted``, send ``first`` from 127.0.0.1 and nothing more; check the
    server closes the line and frees its slot; the log lines it wrote."""

    async def body() -> None:
        async with pb.serve(Service(), proxy_protocol_from=[trusted], limits=limits) as server:
            peer = await silent_peer(server.port, first)
            assert await asyncio.wait_for(peer, 5) == b""
            await eventually(lambda: server.slots_in_use == 0)

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("pbtyped")
    logger.addHandler(handler)
    try:
        bounded_run(body)
    finally:
        logger.removeHandler(handler)
    return "\n".join(records)


def test_a_header_from_an_unlisted_address_closes_the_line() -> None:
    first = header(PROXY, TCP4, ipv4("198.51.100.1", 1, "127.0.0.1", 2))
    text = closed_at_once("10.0.0.0/8", first)
    assert "closing connection from 127.0.0.1:" in text
    assert "a PROXY header from an address not configured as a balancer" in text


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (b"\x00\x00\x00\x20\x00\x00\x00\x00", "no PROXY protocol v2 signature"),
        (header(0x11, TCP4, bytes(12)), "PROXY protocol version 1, not 2"),
    ],
)
def test_a_balancer_without_a_valid_header_is_closed(first: bytes, reason: str) -> None:
    text = closed_at_once("127.0.0.1", first)
    assert "closing connection from 127.0.0.1:" in text
    assert reason in text


def test_a_silent_balancer_connection_is_cut_at_the_handshake_timeout() -> None:
    text = closed_at_once("127.0.0.1", b"\r\n\r\n\x00", pb.Limits(handshake_timeout=0.2))
    assert "no PROXY header within 0.2 s" in text


def test_proxy_protocol_is_refused_with_tls() -> None:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(ValueError, match="terminate TLS at the balancer"):
        pb.serve(Service(), proxy_protocol_from=["127.0.0.1"], ssl=context)
