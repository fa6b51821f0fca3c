"""feed: streams both ways (a server's async generator read with ``async for``, an upload
from the client, and a chat streaming both ways in one call)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pbtyped as pb
from gen.feed import REGISTRY, FeedClient, FeedServer, Tick


class Feed(FeedServer):
    """Made-up trades; stores nothing it is sent."""

    async def remote_ticks(self, symbol: str, count: int) -> AsyncIterator[Tick]:
        for i in range(count):
            yield Tick(symbol=symbol, price_cents=10_000 + i)

    async def remote_upload(self, chunks: AsyncIterator[bytes]) -> int:
        return sum([len(chunk) async for chunk in chunks])

    async def remote_chat(self, outgoing: AsyncIterator[str]) -> AsyncIterator[str]:
        async def replies() -> AsyncIterator[str]:
            async for line in outgoing:
                yield f"you said {line!r}"

        return replies()


async def chunks() -> AsyncIterator[bytes]:
    """Three chunks of 64 KiB."""
    for _ in range(3):
        yield b"\0" * 65536


async def lines() -> AsyncIterator[str]:
    """What the client says in the chat."""
    for line in ("hello", "bye"):
        yield line


async def client(port: int) -> None:
    """Read five ticks, upload three chunks, chat."""
    async with pb.connect("127.0.0.1", port, registry=REGISTRY) as conn:
        feed = await conn.root(FeedClient)
        async for tick in feed.ticks("ACME", 5):
            print(f"{tick.symbol} at {tick.price_cents / 100:.2f}")
        print("uploaded", await feed.upload(chunks()), "bytes")
        async for reply in feed.chat(lines()):
            print(reply)


async def main() -> None:
    """Serve a Feed on a free port and run the client against it."""
    async with pb.serve(Feed(), registry=REGISTRY) as server:
        await client(server.port)


if __name__ == "__main__":
    asyncio.run(main())
