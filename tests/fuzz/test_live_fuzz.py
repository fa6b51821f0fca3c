"""Hostile bytes against a live server on 127.0.0.1, and a hostile server against a client
(issue 4, item 2b).

One server runs for the whole module on its own event loop thread, with a well-behaved client
connected to it. Each example opens a raw socket, sends a hostile stream, half-closes, and
reads until the server closes. After every example the good client's call must come back
right, the hostile connection must be gone from the server, and nothing may have been logged
as an internal error (a bug of ours) or as an asyncio callback failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pbtyped as pb

from .cbor_gen import hostile_stream
from .peers import FuzzRoot, make_registry
from .profiles import fuzz_settings

T = TypeVar("T")

LIMITS = pb.Limits(
    max_exports=16,
    max_imports=16,
    max_frame_size=1 << 20,
    max_body_size=1 << 16,
    handshake_timeout=2.0,
    frame_timeout=2.0,
    log_rate_per_minute=1000,  # see every line while testing
)
BOUND = 5.0  # seconds any one step may take


class Recorder(logging.Handler):
    """Keeps the log records that mean a bug: internal errors and asyncio failures."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.bad: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == "asyncio" or "internal error" in message:
            self.bad.append(f"{record.name}: {message}")


class Live:
    """A server and a good client on an event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server, self.good, self.root = self.run(self._start())
        self.calls = 0
        self.recorder = Recorder()

    async def _start(self) -> tuple[pb.Server, pb.Client, pb.RemoteReference]:
        server = await pb.serve(
            FuzzRoot(), "127.0.0.1", 0, registry=make_registry(), limits=LIMITS
        ).start()
        good = await pb.connect("127.0.0.1", server.port, registry=make_registry())
        return server, good, await good.root()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(BOUND)

    def check(self) -> None:
        """After one hostile peer: the good client is served, the peer is gone, no bug logged."""
        self.check_good_client()
        self.wait_for_one_connection()
        assert self.recorder.bad == []

    def check_good_client(self) -> None:
        self.calls += 1
        token = ["good", self.calls, {"n": self.calls}]
        assert self.run(self.root.call("echo", [token], timeout=BOUND)) == token

    def wait_for_one_connection(self) -> None:
        deadline = time.monotonic() + BOUND
        while len(self.server.connections) != 1:
            assert time.monotonic() < deadline, "a hostile connection outlived its peer"
            time.sleep(0.005)
        (conn,) = self.server.connections
        assert conn.broker.export_count == 1  # only the root, for the good client

    def close(self) -> None:
        async def stop() -> None:
            await self.good.aclose()
            await self.server.aclose()

        try:
            self.run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(BOUND)
            self.loop.close()


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    loggers = [logging.getLogger("pbtyped"), logging.getLogger("asyncio")]
    server = Live()
    for logger in loggers:
        logger.addHandler(server.recorder)
    try:
        yield server
    finally:
        server.close()
        for logger in loggers:
            logger.removeHandler(server.recorder)
    assert server.recorder.bad == []


def talk(port: int, data: bytes) -> None:
    """Send ``data``, half-close, and read until the server closes; all within BOUND."""
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as sock:
        sock.setblocking(False)
        deadline = time.monotonic() + BOUND
        view = memoryview(data)
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while True:
                left = deadline - time.monotonic()
                assert left > 0, "the server neither read nor closed the connection in time"
                for _key, mask in sel.select(left):
                    if mask & selectors.EVENT_READ:
                        try:
                            if not sock.recv(1 << 16):
                                return  # the server closed: the expected end
                        except (ConnectionResetError, BrokenPipeError):
                            return
                    if mask & selectors.EVENT_WRITE:
                        try:
                            sent = sock.send(view[:65536]) if view else 0
                        except (ConnectionResetError, BrokenPipeError):
                            return
                        view = view[sent:]
                        if not view:
                            with contextlib.suppress(OSError):
                                sock.shutdown(socket.SHUT_WR)
                            sel.modify(sock, selectors.EVENT_READ)


@fuzz_settings(40)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_against_a_live_server(live: Live, data: bytes) -> None:
    talk(live.server.port, data)
    live.check()


@fuzz_settings(80)
@given(hostile_stream())
def test_mutated_frames_against_a_live_server(live: Live, data: bytes) -> None:
    talk(live.server.port, data)
    live.check()


# -- a hostile server against a real client ----------------------------------------------------

_HELLO = cbor2.dumps([0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20}])
HELLO = struct.pack(">II", len(_HELLO), 0) + _HELLO


@fuzz_settings(40)
@given(hostile_stream(answers=True, hello=False), st.integers(1, 4))
def test_a_hostile_server_never_hangs_a_client(data: bytes, calls: int) -> None:
    """The server answers with damaged frames then hangs up: every call ends, none hangs."""

    async def body() -> None:
        async def hostile(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(HELLO)
            with contextlib.suppress(TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                async with asyncio.timeout(BOUND):
                    # The client's Hello, then the header of its first call: calls are pending.
                    body_len, att_len = struct.unpack(">II", await reader.readexactly(8))
                    await reader.readexactly(body_len + att_len + 8)
                writer.write(data)
                await writer.drain()
            writer.close()

        listener = await asyncio.start_server(hostile, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            client = await pb.connect("127.0.0.1", port, registry=make_registry(), timeout=BOUND)
            root = await client.root()
            tasks = [
                asyncio.ensure_future(root.call("echo", [i], timeout=BOUND)) for i in range(calls)
            ]
            done, _ = await asyncio.wait(tasks, timeout=BOUND)
            for task in tasks:
                assert task in done, "a call outlived the connection"
                exc = task.exception()
                # An answer, a remote or framework error, or the lost line: never a hang.
                assert exc is None or isinstance(exc, pb.PbtypedError | pb.Error), repr(exc)
                if isinstance(exc, TimeoutError):  # pragma: no cover - the hang we rule out
                    raise exc
            await asyncio.wait_for(client.connection.wait_closed(), BOUND)
            assert client.connection.broker.pending_questions == 0
        finally:
            listener.close()
            await listener.wait_closed()

    asyncio.run(body())
