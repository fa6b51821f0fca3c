"""Streams through generated stubs and skeletons (issue 14 item 1): the three shapes typed end
to end, and items checked against the schema as they are taken."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import pbtyped as pb
from examples.typed.feed import Feed, chunks, lines
from gen.feed import REGISTRY, FeedClient, Tick


def test_the_three_shapes_through_generated_stubs(run) -> None:
    async def body() -> None:
        async with (
            pb.serve(Feed(), registry=REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=REGISTRY) as client,
        ):
            feed = await client.root(FeedClient)
            ticks = [tick async for tick in feed.ticks("ACME", 3)]
            assert ticks == [Tick("ACME", 10_000), Tick("ACME", 10_001), Tick("ACME", 10_002)]
            assert await feed.upload(chunks()) == 3 * 65536
            assert [r async for r in feed.chat(lines())] == ["you said 'hello'", "you said 'bye'"]

    run(body)


class Careless(Feed):
    """Yields what the schema refuses: items are checked where they are read, not written."""

    async def remote_ticks(self, symbol: str, count: int) -> AsyncIterator[Any]:
        yield Tick(symbol, 1)
        yield Tick(symbol, 2)
        yield Tick(symbol, "three")  # type: ignore[arg-type]
        yield Tick(symbol, 4)


async def refused_at_its_index(feed: FeedClient) -> None:
    """Read ``Careless``'s ticks: the third fails the stream, after the first two."""
    got: list[Tick] = []

    async def read() -> None:
        async for tick in feed.ticks("ACME", 4):
            got.append(tick)

    with pytest.raises(pb.ValidationError) as caught:
        await read()
    assert str(caught.value) == "$.items[2].price_cents: expected int, got text string"
    assert [t.price_cents for t in got] == [1, 2]


def test_a_bad_item_fails_the_stream_at_its_index(run) -> None:
    async def body() -> None:
        async with (
            pb.serve(Careless(), registry=REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=REGISTRY) as client,
        ):
            await refused_at_its_index(await client.root(FeedClient))
            [conn] = server.connections
            assert conn.broker.streams is not None
            assert not conn.broker.streams.writers  # the writer was told to stop, and ended

    run(body)


def test_the_three_shapes_on_our_own_object_called_in_place(run) -> None:
    """A stub of our own object (a reference come home) calls it in place, streams
    included: items are checked as they are taken, as they would be from a peer."""

    async def body() -> None:
        feed = FeedClient(Feed())  # type: ignore[arg-type]
        ticks = [tick async for tick in feed.ticks("ACME", 2)]
        assert ticks == [Tick("ACME", 10_000), Tick("ACME", 10_001)]
        assert await feed.upload(chunks()) == 3 * 65536
        assert [r async for r in feed.chat(lines())] == ["you said 'hello'", "you said 'bye'"]
        await refused_at_its_index(FeedClient(Careless()))  # type: ignore[arg-type]

    run(body)


class Counting(Feed):
    """Counts the items its upload took."""

    async def remote_upload(self, chunks: AsyncIterator[bytes]) -> int:
        self.taken: list[bytes] = []
        async for chunk in chunks:
            self.taken.append(chunk)
        return len(self.taken)


async def mixed() -> AsyncIterator[Any]:
    yield b"ok"
    yield "not bytes"


def test_a_bad_item_of_an_argument_stream_fails_the_call(run) -> None:
    async def body() -> None:
        server_root = Counting()
        async with (
            pb.serve(server_root, registry=REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=REGISTRY) as client,
        ):
            root = await client.root()
            with pytest.raises(pb.ValidationError, match=r"^\$\.items\[1\]: expected bytes"):
                await root.call_remote("upload", mixed())
            assert server_root.taken == [b"ok"]

    run(body)


def test_a_stream_where_none_is_declared_is_refused(run) -> None:
    async def body() -> None:
        async with (
            pb.serve(Feed(), registry=REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=REGISTRY) as client,
        ):
            root = await client.root()
            with pytest.raises(pb.ValidationError, match="expected int, got stream"):
                await root.call_remote("ticks", "ACME", mixed())

    run(body)


def test_the_blocking_stub_iterates_a_stream_and_closes_it_when_left() -> None:
    from gen.feed import FeedSyncClient
    from pbtyped import sync
    from tests.runtime.test_sync import serving

    feed = Feed()
    with serving(feed, REGISTRY) as port, sync.connect("127.0.0.1", port) as client:
        remote = client.root(FeedSyncClient)
        assert [t.price_cents for t in remote.ticks("ACME", 3)] == [10_000, 10_001, 10_002]
        for tick in remote.ticks("ACME", 1_000_000):
            if tick.price_cents == 10_005:
                break
        assert remote.upload(chunks()) == 3 * 65536
