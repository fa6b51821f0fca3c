"""Generated one-way methods (``@pb.oneway``, issue 14 item 5) over 127.0.0.1: the stub sends
and returns None at once, arguments are checked before sending, the skeleton's method may be
sync or async, and a stub for our own object runs it in place without waiting for it."""

from __future__ import annotations

import asyncio
import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import pbtyped as pb
from pbtyped import sync

from ..support import eventually


def alltypes(agen: Path) -> ModuleType:
    return importlib.import_module("agen.alltypes")


def board_class(mod: ModuleType) -> type[Any]:
    class Board(mod.BoardServer):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self.notes: list[str] = []
            self.pins: list[Any] = []

        def remote_post(self, text: str, *, pin: Any = None) -> None:
            if text == "boom":
                raise ValueError("the board fell down")
            self.notes.append(text)
            self.pins.append(pin)

        async def remote_clear(self) -> None:
            await asyncio.sleep(0)
            self.notes.append("cleared")

        def remote_notes(self) -> list[str]:
            return self.notes

    return Board


def test_stub_sends_in_order_and_returns_none(agen: Path) -> None:
    mod = alltypes(agen)
    board = board_class(mod)()

    class MySink(mod.SinkServer):  # type: ignore[name-defined,misc]
        def remote_feed(self, data: bytes) -> int:
            return len(data)

    async def body() -> None:
        async with (
            pb.serve(board, registry=mod.REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=mod.REGISTRY) as client,
        ):
            stub = await client.root(mod.BoardClient)
            assert stub.post("one") is None
            stub.post("two", pin=MySink())
            stub.post("boom")  # logged by the server, never sent back
            assert await stub.notes() == ["one", "two"]
            assert stub.clear() is None  # async on the server: runs as a task of its own
            await eventually(lambda: board.notes[-1:] == ["cleared"])
            [pin] = [p for p in board.pins if p is not None]
            assert isinstance(pin, mod.SinkClient)  # a reference, typed by the skeleton
            assert await pin.feed(b"abc") == 3

    asyncio.run(asyncio.wait_for(body(), 20))


def test_arguments_are_checked_before_anything_is_sent(agen: Path) -> None:
    mod = alltypes(agen)
    board = board_class(mod)()

    async def body() -> None:
        async with (
            pb.serve(board, registry=mod.REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=mod.REGISTRY) as client,
        ):
            stub = await client.root(mod.BoardClient)
            [conn] = server.connections
            before = conn.broker.frames_received
            with pytest.raises(pb.ValidationError, match=r"^post\(\): \$\.text: expected str"):
                stub.post(1)
            with pytest.raises(pb.ValidationError, match=r"^post\(\): \$\.pin: "):
                stub.post("x", pin="not a sink")
            assert await stub.notes() == []
            assert conn.broker.frames_received == before + 1  # the notes() call alone

    asyncio.run(asyncio.wait_for(body(), 20))


def test_a_stub_for_our_own_object_runs_it_in_place(agen: Path, caplog) -> None:
    mod = alltypes(agen)
    board = board_class(mod)()

    async def body() -> None:
        local = mod.BoardClient(board)
        local.post("here")
        assert board.notes == ["here"]  # a sync method ran before post() returned
        local.clear()
        assert board.notes == ["here"]  # an async one runs as a task of its own
        await eventually(lambda: board.notes == ["here", "cleared"])
        local.post("boom")  # logged, not raised: as on a peer
        with pytest.raises(pb.ValidationError):
            local.post(2)

    with caplog.at_level(logging.ERROR, logger="pbtyped"):
        asyncio.run(asyncio.wait_for(body(), 20))
    assert [r.getMessage() for r in caplog.records] == [
        "Board.remote_post raised ValueError('the board fell down') in a one-way call "
        "(nobody is told)"
    ]


def test_the_blocking_stub_sends_from_a_plain_thread(agen: Path) -> None:
    mod = alltypes(agen)
    board = board_class(mod)()
    with sync.EventLoopThread(name="test-server") as loop_thread:

        async def start() -> pb.Server:
            return await pb.serve(board, "127.0.0.1", 0, registry=mod.REGISTRY).start()

        server = loop_thread.run(start())
        try:
            with sync.connect("127.0.0.1", server.port, registry=mod.REGISTRY) as client:
                stub = client.root(mod.BoardSyncClient)
                assert stub.post("a") is None
                stub.post("b", pin=None)
                assert stub.notes() == ["a", "b"]
        finally:
            loop_thread.run(server.aclose())
