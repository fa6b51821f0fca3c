"""What credit and fair output promise (issue 14 items 2 and 4), counted in bytes and frames,
never in seconds: a slow consumer keeps memory flat, and a call behind a big stream waits for
at most the stream's window."""

from __future__ import annotations

import asyncio
import struct
import tracemalloc
from collections.abc import AsyncIterator

import pbtyped as pb

from .conftest import eventually
from .test_streams import windowed

CHUNK = 64 * 1024


class Big(pb.Root):
    """An endless stream of fresh 64 KiB chunks, and a small call beside it."""

    def __init__(self) -> None:
        self.sent = 0

    async def remote_chunks(self, count: int) -> AsyncIterator[bytes]:
        for i in range(count):
            self.sent += 1
            yield bytes([i % 256]) * CHUNK  # a new object each time: nothing is shared

    async def remote_tiny(self) -> AsyncIterator[int]:
        while True:
            self.sent += 1
            yield self.sent % 24  # one byte each

    def remote_ping(self) -> str:
        return "pong"


def test_a_slow_consumer_keeps_memory_flat(run) -> None:
    """32 MiB read slowly through one connection (both ends in this process): the memory
    Python holds at its peak stays within a few windows, not the stream's size."""
    count = 512  # 32 MiB

    async def body() -> tuple[int, int]:
        root = Big()
        async with pb.serve(root) as server, pb.connect("127.0.0.1", server.port) as client:
            ref = await client.root()
            stream = await ref.call_remote("chunks", count)
            tracemalloc.start()
            try:
                taken = 0
                async for chunk in stream:
                    assert len(chunk) == CHUNK
                    taken += 1
                    if taken % 8 == 0:
                        await asyncio.sleep(0.001)  # slower than the producer
                        # never more than the window (4 chunks) and a frame ahead
                        assert root.sent - taken <= 6
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            return taken, peak

    taken, peak = run(body)
    assert taken == count
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes for a {count * CHUNK} byte stream"


def test_a_window_of_tiny_items_holds_a_bounded_multiple_of_its_bytes(run) -> None:
    """Attack: a peer filling a stream's window with one-byte items. What the reader holds
    (the decoded frames, nothing built per item) stays a small multiple of the window's
    bytes, as for a call's arguments (within max_decoded_ratio, 32x); both ends are in this
    process, so the writer's side counts too."""
    window = 64 * 1024

    async def body() -> tuple[int, int]:
        root = Big()
        async with windowed(root, window) as (server, ref):
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                stream = await ref.call_remote("tiny")
                [conn] = server.connections
                streams = conn.broker.streams
                assert streams is not None
                await eventually(lambda: all(w.credit <= 0 for w in streams.writers.values()))
                held = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
            await stream.aclose()
            return root.sent, held

    sent, held = run(body)
    assert sent > window // 2  # the window is full of one-byte items
    assert held < 32 * window, f"{held / window:.1f} bytes held per byte of window"


class FrameCounter(asyncio.Protocol):
    """Stands between a transport and its connection, counting the stream frames (kind 7)
    that arrive after ``mark()`` and before the next RETURN (kind 2): what was ahead of it."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner
        self.buffer = bytearray()
        self.counting: int | None = None  # stream frames seen since mark(), or None
        self.ahead: list[int] = []

    def mark(self) -> None:
        self.counting = 0

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 10:
            body, att = struct.unpack_from(">II", self.buffer)
            if len(self.buffer) < 8 + body + att:
                break
            kind = self.buffer[9]  # the body is an array (one byte) whose first item is it
            del self.buffer[: 8 + body + att]
            if self.counting is not None and kind == 7:
                self.counting += 1
            elif self.counting is not None and kind == 2:
                self.ahead.append(self.counting)
                self.counting = None
        self.inner.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()


def test_a_call_behind_a_big_stream_waits_for_at_most_the_window(run) -> None:
    """A small call made while a stream of 64 KiB frames flows to the same client: the
    stream frames that arrive ahead of its answer are bounded by the window (256 KiB, four
    frames) and the one frame being written, however long the stream runs."""
    window = pb.Limits().stream_window

    async def body() -> list[int]:
        async with pb.serve(Big()) as server, pb.connect("127.0.0.1", server.port) as client:
            transport = client.connection._transport
            assert transport is not None
            counter = FrameCounter(client.connection)
            transport.set_protocol(counter)
            ref = await client.root()
            stream = await ref.call_remote("chunks", 1_000_000)

            async def consume() -> None:
                async for _ in stream:
                    pass

            reader = asyncio.ensure_future(consume())
            try:
                for _ in range(20):
                    await asyncio.sleep(0.002)
                    counter.mark()
                    assert await ref.call_remote("ping") == "pong"
            finally:
                reader.cancel()
            return counter.ahead

    ahead = run(body)
    assert len(ahead) == 20
    assert max(ahead) <= window // CHUNK + 1, ahead
    assert sum(ahead) > 0  # the stream did flow during the calls
