"""No peer can flood the server's log (issue 4, items 1 and 3), whatever it sends."""

from __future__ import annotations

import asyncio
import logging
import struct

import cbor2

import pbtyped as pb

from .harness import BOUND, HELLO, GoodClient, Service, registry, server_settles

# An unknown message kind too long to print: the broker raises ValueError (a bug of its own,
# pinned in tests/fuzz/test_broker_fuzz.py), which the runtime reports as an internal error.
_BODY = cbor2.dumps([10**5000])
HUGE_KIND = struct.pack(">II", len(_BODY), 0) + _BODY


async def _hit(port: int, data: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        async with asyncio.timeout(BOUND):
            while await reader.read(1 << 16):
                pass
    finally:
        writer.transport.abort()


def test_internal_errors_caused_by_peers_are_rate_limited(run, caplog) -> None:
    async def body() -> None:
        limits = pb.Limits(log_rate_per_minute=5)
        async with (
            pb.serve(Service(), registry=registry(), limits=limits) as server,
            GoodClient(server.port) as good,
        ):
            for _ in range(30):
                await _hit(server.port, HELLO + HUGE_KIND)
            await server_settles(server)
            await good.check()

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    lines = [r for r in caplog.records if r.name == "pbtyped"]
    assert len(lines) <= 5 + 1, f"{len(lines)} log lines from 30 bad connections"


def test_bad_frames_from_many_peers_are_rate_limited(run, caplog) -> None:
    """Protocol errors of every kind, 60 connections: at most the configured lines."""

    async def body() -> None:
        limits = pb.Limits(log_rate_per_minute=5, handshake_timeout=0.2, frame_timeout=0.2)
        async with (
            pb.serve(Service(), registry=registry(), limits=limits) as server,
            GoodClient(server.port) as good,
        ):
            bad = [
                b"\xff" * 8,  # oversized header
                HELLO + struct.pack(">II", 3, 0) + b"\xff\xff\xff",  # garbage body
                HELLO + struct.pack(">II", 2, 0) + b"\x81\x07",  # unknown kind
                HELLO + struct.pack(">II", 100, 0) + b"\x00",  # frame never completes
                b"",  # never says hello
            ]
            await asyncio.gather(*(_hit(server.port, bad[i % len(bad)]) for i in range(60)))
            await server_settles(server)
            await good.check()

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    lines = [r for r in caplog.records if r.name == "pbtyped"]
    assert 1 <= len(lines) <= 5
