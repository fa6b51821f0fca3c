"""Connections that are gone must leave nothing behind in the server (issue 4, items 2-4)."""

from __future__ import annotations

import asyncio
import gc
import struct
import weakref

import pbtyped as pb
from pbtyped.protocol.broker import Broker

from .harness import BOUND, HELLO, GoodClient, Service, registry, server_settles


def test_closed_connections_are_freed(run) -> None:
    async def body() -> None:
        async with pb.serve(Service(), registry=registry()) as server:
            seen: list[weakref.ref[pb.Connection]] = []
            for _ in range(20):
                async with pb.connect("127.0.0.1", server.port, registry=registry()) as client:
                    assert await (await client.root()).call("echo", [1], timeout=BOUND) == 1
                    seen += [weakref.ref(c) for c in server.connections]
                    del client
            await server_settles(server, 0)
        gc.collect()
        alive = sum(ref() is not None for ref in seen)
        assert alive == 0, f"{alive} of {len(seen)} closed server connections are still alive"

    run(body)


def test_peers_that_leave_mid_frame_leave_no_buffer_behind(run) -> None:
    async def body() -> None:
        async with (
            pb.serve(Service(), registry=registry()) as server,
            GoodClient(server.port) as good,
        ):
            gc.collect()
            before = _buffered_in_closed_brokers()
            chunk = b"\x00" * (1 << 20)
            for _ in range(8):
                _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                # A 3.5 MiB body announced (under max_body_size), 3 MiB sent, then gone.
                writer.write(HELLO + struct.pack(">II", 3_500_000, 0) + chunk * 3)
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.transport.abort()
            await server_settles(server)
            await good.check()
        gc.collect()
        leaked = _buffered_in_closed_brokers() - before
        assert leaked == 0, f"{leaked / 2**20:.1f} MiB of partial frames held by closed brokers"

    run(body)


def _buffered_in_closed_brokers() -> int:
    return sum(
        obj._reader.buffered
        for obj in gc.get_objects()
        if isinstance(obj, Broker) and not obj.is_open
    )
