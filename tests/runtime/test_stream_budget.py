"""Stream items held count in the server-wide byte budget (issue 14 item 6, with issue 10 row
17): items received and not yet taken by their consumers are held bytes like the arguments of
calls in flight; beyond ``Limits.max_bytes_held`` the server stops reading the connections
that hold any, except one whose consumer waits for items (reading is how it goes on)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pbtyped as pb
from pbtyped.runtime.slots import Budget

from .conftest import eventually

KIB = 1024
#: What one read may bring in past the budget before a connection pauses (asyncio's largest
#: read on a socket transport is 256 KiB).
READ = 256 * KIB
CHUNK = 4 * KIB
LIMITS = pb.Limits(max_bytes_held=512 * KIB, max_frame_size=128 * KIB, stream_window=64 * KIB)


class Uploads(pb.Root):
    """Takes streams of chunks; a consumer named in ``gated`` starts only once the gate opens."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = 0

    async def remote_upload(self, chunks: AsyncIterator[bytes], gated: bool) -> int:
        self.started += 1
        if gated:
            await self.gate.wait()
        total = 0
        async for chunk in chunks:
            total += len(chunk)
        return total


async def chunks(count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"u" * CHUNK


def watch_peak(budget: Budget) -> list[int]:
    """The highest ``budget.used`` seen, updated on every change (``[peak]``)."""
    peak = [0]
    change = budget.change

    def changed(delta: int) -> None:
        change(delta)
        peak[0] = max(peak[0], budget.used)

    budget.change = changed  # type: ignore[method-assign]
    return peak


def buffered(server: pb.Server) -> int:
    """Bytes of the chunks the server's consumers have not taken yet, read off the streams."""
    return sum(
        len(item)
        for conn in server.connections
        if conn._streams is not None
        for stream in conn._streams._readers
        for items, _ in stream._frames
        for item in items
    )


def test_stream_windows_across_connections_stay_within_the_budget(run) -> None:
    """Four connections each open 16 streams whose consumers do not read yet: 4 MiB of
    windows would arrive; what the server holds stays within the budget plus one read per
    connection, and every upload completes once the consumers read."""
    connections, streams, count = 4, 16, 40  # 160 KiB a stream, a 64 KiB window each

    async def body() -> None:
        root = Uploads()
        async with pb.serve(root, limits=LIMITS) as server:
            budget = server.budget
            peak = watch_peak(budget)
            clients = [pb.connect("127.0.0.1", server.port) for _ in range(connections)]
            opened = [await client.__aenter__() for client in clients]
            try:
                roots = [await client.root() for client in opened]
                uploads = [
                    asyncio.ensure_future(ref.call_remote("upload", chunks(count), True))
                    for ref in roots
                    for _ in range(streams)
                ]
                await eventually(lambda: budget.waiting >= 2)
                await asyncio.sleep(0.3)  # more reads, if the server were still reading
                bound = LIMITS.max_bytes_held + connections * READ
                assert budget.used == sum(c.broker.held_bytes for c in server.connections)
                assert LIMITS.max_bytes_held < buffered(server) <= bound
                assert peak[0] <= bound
                root.gate.set()
                async with asyncio.timeout(20):
                    results = await asyncio.gather(*uploads)
                assert results == [count * CHUNK] * (connections * streams)
                assert peak[0] <= bound
                await eventually(lambda: budget.used == 0 and budget.waiting == 0)
            finally:
                for client in reversed(clients):
                    await client.__aexit__(None, None, None)

    run(body, limit=40)


def test_a_consumer_waiting_for_items_is_read_whatever_the_budget(run) -> None:
    """No deadlock: with the budget spent by streams whose consumers wait on the gate, a
    consumer that reads a 2 MiB stream on another connection is still fed to the end."""

    async def body() -> None:
        root = Uploads()
        async with (
            pb.serve(root, limits=LIMITS) as server,
            pb.connect("127.0.0.1", server.port) as holder,
            pb.connect("127.0.0.1", server.port) as reader,
        ):
            held = await holder.root()
            gated = [
                asyncio.ensure_future(held.call_remote("upload", chunks(40), True))
                for _ in range(16)
            ]
            await eventually(lambda: server.budget.over)
            ref = await reader.root()
            async with asyncio.timeout(10):
                assert await ref.call_remote("upload", chunks(512), False) == 512 * CHUNK
            assert server.budget.over  # still spent by the gated streams
            root.gate.set()
            async with asyncio.timeout(20):
                assert await asyncio.gather(*gated) == [40 * CHUNK] * 16
            await eventually(lambda: server.budget.used == 0)

    run(body, limit=40)


class Keeper(pb.Root):
    """Keeps the streams it is sent, to be read later, outside the call."""

    def __init__(self) -> None:
        self.kept: list[AsyncIterator[bytes]] = []

    def remote_keep(self, chunks: AsyncIterator[bytes]) -> None:
        self.kept.append(chunks)


async def read_all(stream: AsyncIterator[bytes]) -> int:
    taken = 0
    async for chunk in stream:
        taken += len(chunk)
    return taken


def test_items_taken_after_the_line_dropped_leave_the_budget_at_zero(run) -> None:
    """A consumer that takes the items of an ended stream after its peer left gives nothing
    back twice: the server's budget ends at zero, never below."""

    async def body() -> None:
        root = Keeper()
        async with pb.serve(root, limits=LIMITS) as server:
            async with pb.connect("127.0.0.1", server.port) as client:
                ref = await client.root()
                await ref.call_remote("keep", chunks(8))  # within the window: it ends
                await eventually(lambda: buffered(server) == 8 * CHUNK)
                assert server.budget.used > 0
            await eventually(lambda: not server.connections)
            assert server.budget.used == 0
            assert await read_all(root.kept[0]) == 8 * CHUNK
            assert server.budget.used == 0

    run(body)
