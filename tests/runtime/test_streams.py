"""Streams over a real connection (issue 14 items 2 and 3): the three shapes, credit that
holds the producer back, and every way a stream ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.runtime.streams import IncomingStream

from .conftest import eventually

MIB = 1024 * 1024


class Feed(pb.Root):
    """Streams out, in and both ways; records how its generators end."""

    def __init__(self) -> None:
        self.produced = 0
        self.finished: asyncio.Event = asyncio.Event()
        self.received: list[Any] = []

    async def remote_ticks(self, count: int, size: int = 1) -> AsyncIterator[bytes]:
        try:
            for i in range(count):
                self.produced = i + 1
                yield bytes([i % 256]) * size
        finally:
            self.finished.set()

    async def remote_forever(self) -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                self.produced = i = i + 1
                yield i
                await asyncio.sleep(0)
        finally:
            self.finished.set()

    async def remote_numbers(self) -> AsyncIterator[int]:
        i = 0
        while True:
            self.produced = i = i + 1
            yield i % 24  # one byte each

    async def remote_failing(self) -> AsyncIterator[int]:
        yield 1
        yield 2
        raise pb.LimitExceeded("out of ticks")

    async def remote_failing_at_length(self) -> AsyncIterator[int]:
        yield 1
        raise pb.LimitExceeded("x" * MIB)

    async def remote_upload(self, chunks: AsyncIterator[bytes]) -> int:
        total = 0
        async for chunk in chunks:
            total += len(chunk)
        return total

    async def remote_chat(self, incoming: AsyncIterator[str]) -> AsyncIterator[str]:
        async def replies() -> AsyncIterator[str]:
            async for text in incoming:
                yield text.upper()

        return replies()


@contextlib.asynccontextmanager
async def windowed(
    root: pb.Root, window: int
) -> AsyncIterator[tuple[pb.Server, pb.RemoteReference]]:
    """``root`` served to a client whose streams have ``window``-byte windows: the server,
    and the client's reference to ``root``."""
    limits = pb.Limits(stream_window=window)
    async with (
        pb.serve(root) as server,
        pb.connect("127.0.0.1", server.port, limits=limits) as client,
    ):
        yield server, await client.root()


async def words(*texts: str) -> AsyncIterator[str]:
    for text in texts:
        yield text


async def chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"c" * size


def test_server_to_client_stream(run) -> None:
    async def body() -> None:
        async with pb.serve(Feed()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            stream = await root.call_remote("ticks", 1000)
            assert isinstance(stream, IncomingStream)
            got = [tick async for tick in stream]
            assert got == [bytes([i % 256]) for i in range(1000)]

    run(body)


def test_client_to_server_stream(run) -> None:
    async def body() -> None:
        async with pb.serve(Feed()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            assert await root.call_remote("upload", chunks(300, 10_000)) == 3_000_000

    run(body)


def test_both_ways_in_one_call(run) -> None:
    async def body() -> None:
        async with pb.serve(Feed()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            replies = await root.call_remote("chat", words("hi", "there"))
            assert [r async for r in replies] == ["HI", "THERE"]

    run(body)


def test_a_consumer_that_stops_reading_stops_the_producer_within_the_window(run) -> None:
    """Issue 14 item 2: the producer is never more than the window ahead of the consumer."""
    window = 64 * 1024
    size = 1000

    async def body() -> None:
        feed = Feed()
        async with windowed(feed, window) as (_, root):
            stream = await root.call_remote("ticks", 10_000, size)
            taken = 0
            async for _ in stream:
                taken += 1
                if taken == 10:
                    break
            for _ in range(20):  # the producer would run on here if nothing held it back
                await asyncio.sleep(0.01)
            # window + one frame in flight (a frame's items are ~size + 5 bytes each)
            assert feed.produced <= taken + (window + 64 * 1024) // size + 1
            assert feed.produced < 10_000

    run(body)


def test_a_producer_of_small_items_runs_up_to_the_window(run) -> None:
    """Issue 14 item 2, the other way: a producer is held back only by the credit, not by a
    guess of its items' size. Items of one byte (a size guessed at 48) fill the window
    before the producer waits, and do not stall once a batch is guessed larger than the
    credit left."""
    window = 64 * 1024

    async def body() -> None:
        feed = Feed()
        async with windowed(feed, window) as (server, root):
            stream = await root.call_remote("numbers")
            [conn] = server.connections
            streams = conn.broker.streams
            assert streams is not None
            await eventually(lambda: all(w.credit <= 0 for w in streams.writers.values()))
            assert feed.produced > window // 2  # far beyond window / 48
            await stream.aclose()

    run(body)


@pytest.mark.parametrize("how", ["break", "aclose", "cancel", "timeout", "drop"])
def test_leaving_early_runs_the_remote_generators_finally(run, how: str) -> None:
    """Issue 14 item 3: break, aclose, a cancelled task, a timeout or a dropped iterator all
    stop the remote generator (its finally runs) and leave no stream in any table."""

    async def body() -> None:
        feed = Feed()
        async with pb.serve(feed) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            if how in ("break", "aclose", "drop"):
                stream = await root.call_remote("forever")
            if how == "break":
                async for i in stream:
                    if i == 3:
                        break
                del stream
            elif how == "aclose":
                assert await anext(stream) == 1
                await stream.aclose()
            elif how in ("cancel", "timeout"):

                async def consume() -> None:
                    # as users write it: the iterator lives in the consuming task's frame
                    async for _ in await root.call_remote("forever"):
                        await asyncio.sleep(0.001)

                if how == "cancel":
                    task = asyncio.ensure_future(consume())
                    await eventually(lambda: feed.produced > 3)
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task
                else:
                    with pytest.raises(TimeoutError):
                        async with asyncio.timeout(0.05):
                            await consume()
            else:
                del stream  # never iterated
            async with asyncio.timeout(5):
                await feed.finished.wait()
            [conn] = server.connections
            await eventually(
                lambda: conn.broker.streams is not None and not conn.broker.streams.writers
            )
            await eventually(lambda: not client.connection.broker.streams.readers)

    run(body)


def test_an_error_in_the_generator_reaches_the_consumer_at_its_item(run) -> None:
    async def body() -> None:
        async with pb.serve(Feed()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            stream = await root.call_remote("failing")
            got: list[int] = []

            async def collect() -> None:
                async for i in stream:
                    got.append(i)

            with pytest.raises(pb.LimitExceeded, match="out of ticks"):
                await collect()
            assert got == [1, 2]

    run(body)


def test_a_long_error_is_cut_to_fit_the_readers_frame_limit(run) -> None:
    """A producer's error whose message alone is 1 MiB (16 KiB of it sent, and a traceback)
    reaches a reader that takes 8 KiB frames as its registered class, cut as a FAIL would be
    (spec 6.6); the line stays up."""
    limits = pb.Limits(max_frame_size=8 * 1024, max_body_size=8 * 1024)

    async def body() -> None:
        async with (
            pb.serve(Feed(), send_tracebacks=True) as server,
            pb.connect("127.0.0.1", server.port, limits=limits) as client,
        ):
            root = await client.root()
            stream = await root.call_remote("failing_at_length")
            got: list[int] = []

            async def collect() -> None:
                async for i in stream:
                    got.append(i)

            with pytest.raises(pb.LimitExceeded) as caught:
                await asyncio.wait_for(collect(), 5)
            assert got == [1]
            assert str(caught.value) == "x" * 200 + " [cut: too long for the peer's limit]"
            assert [t async for t in await root.call_remote("ticks", 2)] == [b"\0", b"\1"]

    run(body)


def test_a_lost_connection_ends_streams_on_both_sides(run) -> None:
    async def body() -> None:
        feed = Feed()
        async with pb.serve(feed) as server:
            client = await pb.connect("127.0.0.1", server.port).__aenter__()
            root = await client.root()
            stream = await root.call_remote("forever")
            assert await anext(stream) == 1
            client.connection.close()
            with pytest.raises(pb.ConnectionLost):
                async for _ in stream:
                    pass
            async with asyncio.timeout(5):
                await feed.finished.wait()
            await client.aclose()

    run(body)


def test_a_wider_window_lets_the_producer_run_further_ahead(run) -> None:
    """Issue 14 item 2: the window may be set per stream."""

    async def ahead(window: int | None) -> int:
        feed = Feed()
        limits = pb.Limits(stream_window=16 * 1024)
        async with (
            pb.serve(feed) as server,
            pb.connect("127.0.0.1", server.port, limits=limits) as client,
        ):
            root = await client.root()
            stream = await root.call_remote("ticks", 100_000, 1000)
            if window is not None:
                stream.set_window(window)
            assert await anext(stream) == bytes(1000)
            for _ in range(20):
                await asyncio.sleep(0.01)
            await stream.aclose()
            return feed.produced

    async def body() -> None:
        narrow, wide = await ahead(None), await ahead(256 * 1024)
        assert narrow <= 16 + 2 * 16  # the window of ~16 items, and a frame
        assert 200 < wide <= 256 + 2 * 64

    run(body)
