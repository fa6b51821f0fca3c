"""Tools for fault tests over real sockets on 127.0.0.1.

- ``Service``: the root the servers offer (echo, a call that runs until released, big replies).
- ``GoodClient``: a well-behaved client calling the server in a loop beside the bad peers;
  every answer is checked, every failure recorded.
- ``CutProxy``: forwards bytes between a client and the server and cuts the line at a chosen
  byte of a chosen frame, in either direction (FIN or RST).
- ``raw_peer`` helpers: a hand-driven socket that speaks just enough protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import struct
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import cbor2

import pbtyped as pb

HEADER = struct.Struct(">II")
BOUND = 5.0  # seconds any single wait in these tests may take


def frame(message: Any, attachments: bytes = b"") -> bytes:
    """A frame carrying ``message`` as a hostile or hand-driven peer writes it."""
    body = cbor2.dumps(message)
    return HEADER.pack(len(body), len(attachments)) + body + attachments


HELLO = frame([0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 24}])


def call_frame(qid: int, method: str, *args: Any) -> bytes:
    """A Call of ``method`` on the root."""
    return frame([1, qid, [0, 0], method, list(args)])  # as pbtyped sends it: no kwargs, no map


class Oops(pb.Error):
    """An expected application error."""


class Item(pb.Referenceable):
    """Something handed out by reference."""

    def remote_ping(self) -> str:
        return "pong"


class Service(pb.Root):
    """The root of the servers under test."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.holding = 0
        self.cancelled = 0

    def remote_echo(self, value: Any) -> Any:
        return value

    async def remote_hold(self, value: Any) -> Any:
        """Runs until the test releases it (or the call is cancelled)."""
        self.holding += 1
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.holding -= 1
        return value

    def remote_big(self, n: int) -> str:
        return "y" * n

    def remote_blob(self, n: int) -> bytes:
        return b"b" * n

    async def remote_ablob(self, n: int) -> bytes:
        await asyncio.sleep(0)
        return b"b" * n

    def remote_make(self) -> Item:
        return Item()

    def remote_fail(self) -> None:
        raise Oops("expected failure")


def registry() -> pb.Registry:
    reg = pb.Registry()
    reg.register_error(Oops, "faults.Oops")
    return reg


class GoodClient:
    """A client that keeps calling the server beside the bad peers and checks every answer.

    ``async with GoodClient(port) as good: ...`` runs the loop in the background; ``check()``
    stops it and asserts that it made progress and that every answer was right.
    """

    def __init__(self, port: int, *, interval: float = 0.005) -> None:
        self.port = port
        self.interval = interval
        self.ok = 0
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: pb.Client | None = None

    async def __aenter__(self) -> GoodClient:
        self._client = await pb.connect("127.0.0.1", self.port, registry=registry(), timeout=BOUND)
        self.root = await self._client.root()
        transport = self._client.connection._transport
        assert transport is not None
        self._sockname = transport.get_extra_info("sockname")
        self._task = asyncio.ensure_future(self._loop())
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, BOUND)
        if self._client is not None:
            await asyncio.wait_for(self._client.aclose(), BOUND)

    def is_mine(self, conn: pb.Connection) -> bool:
        """True for the server's side of this client's connection."""
        return bool(conn.peer == self._sockname)

    async def _loop(self) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            try:
                await self._one(i)
            except Exception as exc:
                self.failures.append(f"call {i}: {exc!r}")
            await asyncio.sleep(self.interval)

    async def _one(self, i: int) -> None:
        root = self.root
        if i % 10 == 0:
            item = await root.call("make", timeout=BOUND)
            assert await item.call("ping", timeout=BOUND) == "pong"
        elif i % 10 == 5:
            with contextlib.suppress(Oops):
                await root.call("fail", timeout=BOUND)
                raise AssertionError("fail() returned")
        else:
            value = ["good", i, {"n": i}]
            got = await root.call("echo", [value], timeout=BOUND)
            assert got == value, f"echo returned {got!r} for {value!r}"
        self.ok += 1

    async def check(self, at_least: int = 3) -> None:
        """Let a few more calls through, then assert that all answers were right."""
        start = self.ok
        await eventually(
            lambda: self.ok >= start + at_least or bool(self.failures), what="good calls"
        )
        assert self.failures == []
        assert self.ok >= at_least


async def eventually(predicate: Any, limit: float = BOUND, what: str = "condition") -> None:
    """Yield (and collect garbage) until ``predicate()`` holds; fail after ``limit`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {limit} s")
        gc.collect()
        await asyncio.sleep(0.01)


async def server_settles(server: pb.Server, connections: int = 1) -> None:
    """The server is back to ``connections`` connections, each holding only its root."""
    await eventually(lambda: len(server.connections) == connections, what="connection cleanup")
    for conn in server.connections:
        await eventually(lambda c=conn: c.broker.export_count == 1, what="export cleanup")


# -- the cutting proxy -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """Where to cut: in ``direction`` ("up" = client to server), at byte ``offset`` of frame
    number ``frame`` (0 is that side's Hello; the offset counts the 8-byte header)."""

    direction: Literal["up", "down"]
    frame: int
    offset: int
    how: Literal["close", "reset"] = "close"


class _FrameCounter:
    """Finds where frame ``n`` starts in a byte stream as it flows by."""

    def __init__(self) -> None:
        self.seen = bytearray()

    def start_of(self, n: int) -> int | None:
        pos = 0
        for _ in range(n):
            if len(self.seen) < pos + 8:
                return None
            body_len, att_len = HEADER.unpack_from(self.seen, pos)
            pos += 8 + body_len + att_len
        return pos


class CutProxy:
    """A TCP proxy on 127.0.0.1 that forwards to ``target_port`` and cuts as told."""

    def __init__(self, target_port: int, cut: Cut | None = None) -> None:
        self.target_port = target_port
        self.cut = cut
        self.cut_done = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> CutProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        s_reader, s_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [c_writer, s_writer]
        pair = (c_writer, s_writer)
        for direction, reader, writer in (("up", c_reader, s_writer), ("down", s_reader, c_writer)):
            task = asyncio.ensure_future(self._pump(direction, reader, writer, pair))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        direction: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        counter = _FrameCounter()
        cut = self.cut if self.cut is not None and self.cut.direction == direction else None
        try:
            while data := await reader.read(1 << 16):
                if cut is not None and not self.cut_done.is_set():
                    before = len(counter.seen)
                    counter.seen += data
                    start = counter.start_of(cut.frame)
                    if start is not None and len(counter.seen) > start + cut.offset:
                        writer.write(data[: max(0, start + cut.offset - before)])
                        await writer.drain()
                        self._cut(pair, cut)
                        return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if not self.cut_done.is_set():
                with contextlib.suppress(Exception):
                    writer.close()

    def cut_now(self, how: Literal["close", "reset"] = "reset") -> None:
        """Cut every line through the proxy at once."""
        self._cut(tuple(self._writers), Cut("up", 0, 0, how))

    def _cut(self, pair: tuple[asyncio.StreamWriter, ...], cut: Cut) -> None:
        self.cut_done.set()
        for writer in pair:
            if cut.how == "reset":
                writer.transport.abort()
            else:
                writer.close()
