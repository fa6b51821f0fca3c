"""Attack: a connection read whatever the budget, because one of its consumers waits.

A connection whose consumer waits for stream items is read even when the server-wide
``max_bytes_held`` is spent (reading it is how that consumer goes on). Before, it was read
whatever it held, so the same peer could fill every other stream it opened on that
connection, each with its window plus one frame (a single item goes alone in a frame as large
as ``max_frame_size`` while any credit is left): with the defaults 256 streams x (256 KiB +
16 MiB), ~4 GiB on one connection, from the ordinary client API. At the small limits below,
8 streams held 7.8 MiB and 64 streams 62.5 MiB of a 1 MiB budget. Now the exemption lasts
while the connection holds at most one frame and one window.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pbtyped as pb

from .test_stream_budget import READ, Uploads, buffered, watch_peak

KIB = 1024
LIMITS = pb.Limits(
    max_bytes_held=1024 * KIB, max_frame_size=1024 * KIB, stream_window=64 * KIB, max_streams=64
)
ITEM = 1000 * KIB


async def large_items() -> AsyncIterator[bytes]:
    for _ in range(2):
        yield b"x" * ITEM  # alone in its frame: 16 times the window


async def one_then_nothing(release: asyncio.Event) -> AsyncIterator[bytes]:
    yield b"s"
    await release.wait()  # the server's consumer waits for the next item meanwhile


def test_a_waiting_consumer_does_not_let_its_connection_hold_more_than_the_budget(run) -> None:
    """One consumer of the connection waits on a stream that sends nothing; 8 more streams,
    whose consumers have not started, each get a 1,000 KiB item. What the server holds must
    stay within the budget, plus one read and one frame (the frame that may always arrive);
    every upload completes once the consumers read."""
    streams = 8

    async def body() -> None:
        root = Uploads()
        release = asyncio.Event()
        async with (
            pb.serve(root, limits=LIMITS) as server,
            pb.connect("127.0.0.1", server.port, limits=LIMITS) as client,
        ):
            peak = watch_peak(server.budget)
            ref = await client.root()
            waiting = asyncio.ensure_future(
                ref.call_remote("upload", one_then_nothing(release), False)
            )
            gated = [
                asyncio.ensure_future(ref.call_remote("upload", large_items(), True))
                for _ in range(streams)
            ]
            try:
                bound = LIMITS.max_bytes_held + READ + LIMITS.max_frame_size
                for _ in range(100):  # until the server holds every window, or 2 s
                    if buffered(server) >= streams * ITEM:
                        break
                    await asyncio.sleep(0.02)
                assert peak[0] <= bound, f"{peak[0] / KIB:.0f} KiB held (bound {bound / KIB:.0f})"
            finally:
                release.set()
                root.gate.set()
                async with asyncio.timeout(20):
                    results = await asyncio.gather(waiting, *gated)
            assert results == [1, *[2 * ITEM] * streams]

    run(body, limit=40)
