"""How calls leave: a lone call at once, in one write; many calls of one loop turn together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pbtyped as pb


class Echoer(pb.Root):
    def remote_echo(self, st: Any) -> Any:
        return st


async def with_spied_client(body: Callable[[pb.Client, Any, list[bytes]], Awaitable[None]]) -> None:
    """Run ``body(client, root, writes)`` against an Echoer, recording the client's writes."""
    async with pb.serve(Echoer()) as server, pb.connect("127.0.0.1", server.port) as client:
        root = await client.root()
        await body(client, root, spy_writes(client))


def spy_writes(client: pb.Client) -> list[bytes]:
    """Record every write the client's transport gets (and still send it)."""
    transport: Any = client.connection._transport
    writes: list[bytes] = []
    real = transport.write

    def write(data: bytes) -> None:
        writes.append(bytes(data))
        real(data)

    transport.write = write
    return writes


def test_a_lone_call_goes_out_at_once_and_schedules_nothing(run) -> None:
    async def body(client: pb.Client, root: Any, writes: list[bytes]) -> None:
        for i in range(20):
            call = asyncio.ensure_future(root.call_remote("echo", i))
            await asyncio.sleep(0)  # the task runs up to waiting for its answer
            assert len(writes) == i + 1  # written during the call itself
            assert not client.connection._outbox.burst_flush  # no end-of-turn write pending
            assert await call == i

    run(lambda: with_spied_client(body))


def test_calls_of_one_turn_leave_together_in_order(run) -> None:
    async def body(client: pb.Client, root: Any, writes: list[bytes]) -> None:
        results = await asyncio.gather(*(root.call_remote("echo", i) for i in range(300)))
        assert results == list(range(300))
        sent = b"".join(writes)
        # The first call went alone; the other 299 (~12 bytes each) in writes of ~1 KiB.
        assert len(writes[0]) < 32
        assert 2 <= len(writes) <= 2 + len(sent) // 1024
        # And a later lone call still goes out at once.
        call = asyncio.ensure_future(root.call_remote("echo", "late"))
        await asyncio.sleep(0)
        assert len(writes[-1]) < 32
        assert await call == "late"

    run(lambda: with_spied_client(body))
