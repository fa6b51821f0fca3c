"""Issue 10, items 2 and 3, over real sockets on 127.0.0.1: a peer that sends a big or
tagged first frame instead of its Hello is closed at once, whichever side it is on; a client
facing a hostile server fails promptly and clearly, and its per-call timeouts hold."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import cbor2
import pytest

import pbtyped as pb

from ..protocol.wiring import attachment_bomb, decimal_bomb, frame, hello, msg
from .conftest import eventually

BOMBS = {"attachments": attachment_bomb, "decimal": decimal_bomb}


class Echoer(pb.Root):
    def remote_echo(self, value: object) -> object:
        return value


async def _read_frames(reader: asyncio.StreamReader) -> list[object]:
    """Every frame the other side sends until it closes (decoded by plain cbor2)."""
    out = []
    async with asyncio.timeout(5):
        while True:
            try:
                size, att = struct.unpack(">II", await reader.readexactly(8))
                out.append(cbor2.loads(await reader.readexactly(size + att)))
            except asyncio.IncompleteReadError:
                return out


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_a_server_closes_a_big_first_frame_at_once(run, case: str) -> None:
    """Attack: issue 10 rows 1-2 as the first frame from a raw TCP peer (no Hello): the
    server answers with an Abort and closes without reading the body; another client
    calling meanwhile is served throughout."""

    async def body() -> None:
        async with (
            pb.serve(Echoer()) as server,
            pb.connect("127.0.0.1", server.port) as good,
        ):
            root = await good.root()
            # The header alone is refused: the server says why, and closes.
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(BOMBS[case]()[:8])
            frames = await _read_frames(reader)
            writer.close()
            assert frames[0][0] == 0  # the server's Hello, sent as the socket opened
            kind, reason = frames[-1]
            assert kind == 6
            assert "before its Hello has arrived a frame may hold at most 4096 bytes" in reason
            # The whole frame sent at once: closed too (unread bytes may turn the close into
            # a reset), while the other client is served.
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(BOMBS[case]())
            calls = asyncio.gather(*(root.call_remote("echo", i) for i in range(20)))
            with contextlib.suppress(ConnectionResetError):
                await _read_frames(reader)
            writer.close()
            assert await calls == list(range(20))
            assert await root.call_remote("echo", "after") == "after"
            await eventually(lambda: len(server.connections) == 1)

    run(body)


@asynccontextmanager
async def fake_server(
    talk: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    """A raw TCP server on 127.0.0.1 that runs ``talk`` with each client; yields its port."""
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await talk(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the line: the end of every talk
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_connect_fails_promptly_against_a_server_sending_a_big_first_frame(run, case: str) -> None:
    """Attack: issue 10 row 3, a hostile server sends the frames of rows 1-2 instead of its
    Hello (and keeps the line open): connect() fails well within its timeout, saying why."""

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BOMBS[case]())
        await reader.read()  # never closes by itself: waits for the client to go

    async def body() -> None:
        async with fake_server(talk) as port:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(pb.ConnectionLost, match="before its Hello has arrived"):
                await pb.connect("127.0.0.1", port, timeout=10)
            assert loop.time() - start < 10 / 4

    run(body)


def test_connect_refuses_a_tagged_hello(run) -> None:
    """Attack: a small Hello carrying a bignum (a tag cbor2 builds itself), to a client."""
    tagged = cbor2.CBORTag(2, b"\xff" * 3000)

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(msg(0, {"protocol": "pbtyped", "version": 1, "max_frame_size": tagged}))
        await reader.read()

    async def body() -> None:
        async with fake_server(talk) as port:
            with pytest.raises(pb.ConnectionLost, match="CBOR tag 2 is not allowed before"):
                await pb.connect("127.0.0.1", port, timeout=10)

    run(body)


async def _answer_first_call(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: Callable[[int], bytes]
) -> None:
    """Greet properly, then answer the client's first call with ``answer(question_id)`` and
    every later one correctly."""
    writer.write(hello())
    size, _ = struct.unpack(">II", await reader.readexactly(8))
    await reader.readexactly(size)  # the client's Hello
    first = True
    while True:
        size, att = struct.unpack(">II", await reader.readexactly(8))
        call = cbor2.loads(await reader.readexactly(size + att))
        if call[0] != 1:
            continue
        writer.write(answer(call[1]) if first else msg(2, call[1], call[4][0]))
        first = False


def test_a_bad_answer_fails_only_that_call(run) -> None:
    """Attack: after a proper Hello, a server answers with a value holding a tag we refuse.
    (A guard: this held before issue 10 too; it pins item 3 for the client side.)"""

    def bad(qid: int) -> bytes:
        return msg(2, qid, cbor2.CBORTag(35, "(a+)+$"))  # a regexp: never compiled

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _answer_first_call(reader, writer, bad)

    async def body() -> None:
        async with fake_server(talk) as port, pb.connect("127.0.0.1", port, timeout=5) as c:
            root = await c.root()
            with pytest.raises(pb.InsecureTypeError, match="CBOR tag 35 is not allowed"):
                await root.call("echo", ["x"], timeout=5)
            assert await root.call("echo", ["still"], timeout=5) == "still"

    run(body)


def test_an_oversized_answer_fails_the_call_at_its_header(run) -> None:
    """Attack: a server announces an answer bigger than the client's max_frame_size and
    sends it slowly: the call fails at the header, the connection closes, nothing waits."""

    def huge(qid: int) -> bytes:
        return struct.pack(">II", 1 << 30, 0) + cbor2.dumps([2, qid])

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _answer_first_call(reader, writer, huge)

    async def body() -> None:
        async with fake_server(talk) as port, pb.connect("127.0.0.1", port, timeout=5) as c:
            root = await c.root()
            with pytest.raises(pb.ConnectionLost, match=r"Limits\.max_frame_size"):
                await root.call("echo", ["x"], timeout=5)

    run(body)


@pytest.mark.parametrize("stall", ["silent", "partial frame"])
def test_per_call_timeouts_hold_against_a_stalling_server(run, stall: str) -> None:
    """Attack: a server that never answers, or sends the start of an answer and stops:
    the call's own timeout ends it (TimeoutError). (A guard: this held before issue 10 too;
    it pins item 3's per-call timeouts.)"""

    def stalled(qid: int) -> bytes:
        if stall == "silent":
            return b""
        return frame(cbor2.dumps([2, qid, "x" * 1000]))[:100]

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _answer_first_call(reader, writer, stalled)

    async def body() -> None:
        async with fake_server(talk) as port, pb.connect("127.0.0.1", port, timeout=5) as c:
            root = await c.root()
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(TimeoutError):
                await root.call("echo", ["x"], timeout=0.3)
            assert loop.time() - start < 3 * 0.3

    run(body)
