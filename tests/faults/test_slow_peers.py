"""Peers that stop reading (slow consumers) and peers that drip bytes (slowloris) (item 3).

Short ``Limits(handshake_timeout=..., frame_timeout=...)`` keep these fast. A well-behaved
client runs beside the bad peers in every test and each of its answers is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import pytest

import pbtyped as pb

from .harness import (
    BOUND,
    HELLO,
    GoodClient,
    Service,
    call_frame,
    eventually,
    frame,
    registry,
    server_settles,
)

# Every peer here is 127.0.0.1: the tests count one log line per peer cut off.
TIMEOUTS = pb.Limits(handshake_timeout=0.3, frame_timeout=0.3, log_rate_per_peer=30)


async def _raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.transport.abort()


# -- slow consumers ----------------------------------------------------------------------------


def test_a_peer_that_never_reads_costs_bounded_memory_and_nothing_else(run) -> None:
    """Echo calls whose answers are never read: the server stops reading from that peer, its
    output stays bounded, the good client is served, and all is freed when the peer leaves."""

    async def body() -> None:
        async with (
            pb.serve(Service(), registry=registry()) as server,
            GoodClient(server.port) as good,
        ):
            _reader, writer = await _raw(server.port)
            writer.transport.set_write_buffer_limits(high=1 << 26)  # we keep writing
            # Shrink our receive buffer so the server's answers back up quickly.
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            writer.write(HELLO)
            big = "z" * 100_000
            for i in range(1, 200):
                writer.write(call_frame(i, "echo", big))
            (conn,) = [c for c in server.connections if not good.is_mine(c)]
            await eventually(lambda: conn._flow.writing_paused, what="server write pause")
            await good.check(at_least=20)
            # What the server buffers for this peer stays around one read's worth of answers.
            assert conn._transport.get_write_buffer_size() < 4 * 1024 * 1024
            _close(writer)
            await server_settles(server)
            await good.check()

    run(body)


@pytest.mark.parametrize("method", ["blob", "ablob"])
def test_a_non_reading_peer_cannot_make_the_server_buffer_without_bound(run, method) -> None:
    async def body() -> None:
        limits = pb.Limits(max_calls_in_flight=4)
        async with (
            pb.serve(Service(), registry=registry(), limits=limits) as server,
            GoodClient(server.port) as good,
        ):
            _reader, writer = await _raw(server.port)
            # 500 calls of ~25 bytes each, all in one write: each answer is 100 kB.
            writer.write(HELLO + b"".join(call_frame(i, method, 100_000) for i in range(1, 501)))
            await writer.drain()
            await asyncio.sleep(0.5)
            (conn,) = [c for c in server.connections if not good.is_mine(c)]
            buffered = conn._transport.get_write_buffer_size()
            _close(writer)
            await server_settles(server)
            await good.check()
            # In flight: at most max_calls_in_flight answers (plus the transport's high-water).
            assert buffered <= 4 * 100_100 + 256 * 1024, f"{buffered} bytes buffered"

    run(body)


class DeafServer:
    """Sends its Hello, then never reads; ``hang_up()`` aborts every connection."""

    async def __aenter__(self) -> DeafServer:
        self.writers: list[asyncio.StreamWriter] = []
        self.gone = asyncio.Event()

        async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)
            writer.write(HELLO)
            await self.gone.wait()

        self.listener = await asyncio.start_server(deaf, "127.0.0.1", 0)
        self.port = self.listener.sockets[0].getsockname()[1]
        return self

    def hang_up(self) -> None:
        self.gone.set()
        for writer in self.writers:
            _close(writer)

    async def __aexit__(self, *exc: object) -> None:
        self.hang_up()
        self.listener.close()
        await self.listener.wait_closed()


def test_calls_to_a_server_that_stops_reading_end_when_it_hangs_up(run) -> None:
    """Our client's calls to a peer that never reads do not hang past the peer's hang-up."""

    async def body() -> None:
        async with DeafServer() as deaf:
            client = await pb.connect("127.0.0.1", deaf.port, timeout=BOUND)
            root = await client.root()
            calls = [asyncio.ensure_future(root.call("echo", ["x" * 1_000_000])) for _ in range(8)]
            await asyncio.sleep(0.3)
            assert not any(c.done() for c in calls)
            deaf.hang_up()
            done, _ = await asyncio.wait(calls, timeout=BOUND)
            assert len(done) == len(calls)
            for call in calls:
                assert isinstance(call.exception(), pb.ConnectionLost | pb.DeadReferenceError)
            await asyncio.wait_for(client.connection.wait_closed(), BOUND)

    run(body)


def test_per_call_timeout_holds_when_the_server_stops_reading(run) -> None:
    async def body() -> None:
        async with DeafServer() as deaf:
            client = await pb.connect("127.0.0.1", deaf.port, timeout=BOUND)
            root = await client.root()
            try:
                for _ in range(6):
                    # Each call gives up by its own 0.2 s timeout (CallTimeout), whatever the
                    # peer does: not by the outer bound (a plain TimeoutError), and without
                    # hanging on the write the peer does not read.
                    with pytest.raises(pb.CallTimeout):
                        await asyncio.wait_for(
                            root.call("echo", ["x" * 2_000_000], timeout=0.2), BOUND
                        )
            finally:
                deaf.hang_up()
                await asyncio.wait_for(client.connection.wait_closed(), BOUND)

    run(body)


# -- slowloris ---------------------------------------------------------------------------------


async def _drip(port: int, data: bytes, interval: float, *, hello: bool = False) -> float:
    """Send ``data`` one byte per ``interval`` (after a whole Hello and the server's reply if
    ``hello``); return how long after the first dripped byte the server closed."""
    reader, writer = await _raw(port)
    loop = asyncio.get_running_loop()
    try:
        if hello:
            writer.write(HELLO)
            await reader.readexactly(8)  # the server's Hello: the handshake is done
        start = loop.time()
        for byte in data:
            writer.write(bytes([byte]))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    while await reader.read(1 << 16):
                        pass
                    return loop.time() - start  # EOF: the server closed
        raise AssertionError("the server let a slow-drip peer finish")
    except ConnectionError:
        return loop.time() - start
    finally:
        _close(writer)


def test_slowloris_in_the_handshake_is_cut_off_and_others_are_served(run, caplog) -> None:
    """Ten peers drip their Hello one byte every 50 ms: each goes after handshake_timeout."""

    async def body() -> None:
        async with (
            pb.serve(Service(), registry=registry(), limits=TIMEOUTS) as server,
            GoodClient(server.port) as good,
        ):
            times = await asyncio.gather(*(_drip(server.port, HELLO, 0.05) for _ in range(10)))
            # Not before the 0.3 s limit; the log lines below say which limit closed them, and a
            # peer never cut off fails in _drip when its bytes run out.
            assert all(t > 0.15 for t in times), times
            await server_settles(server)
            await good.check()

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    closing = [r for r in caplog.records if "no handshake within 0.3 s" in r.getMessage()]
    assert len(closing) == 10


def test_slowloris_after_the_handshake_is_cut_off_by_frame_timeout(run, caplog) -> None:
    """Ten peers drip a call one byte every 20 ms: each goes after frame_timeout."""

    async def body() -> None:
        async with (
            pb.serve(Service(), registry=registry(), limits=TIMEOUTS) as server,
            GoodClient(server.port) as good,
        ):
            call = call_frame(1, "echo", "z" * 500)
            drips = (_drip(server.port, call, 0.02, hello=True) for _ in range(10))
            times = await asyncio.gather(*drips)
            # Not before the 0.3 s limit; the log lines below say which limit closed them, and a
            # peer never cut off fails in _drip when its bytes run out.
            assert all(t > 0.15 for t in times), times
            await server_settles(server)
            await good.check()

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    closing = [r for r in caplog.records if "took longer than 0.3 s" in r.getMessage()]
    assert len(closing) == 10


def test_frame_timeout_does_not_cut_a_fast_peer_whose_frames_straddle_reads(run) -> None:
    async def body() -> None:
        async with pb.serve(Service(), registry=registry(), limits=TIMEOUTS) as server:
            reader, writer = await _raw(server.port)
            try:
                writer.write(HELLO)
                await reader.readexactly(8)
                # Finish messages need no answer; each write ends half-way into the next frame.
                stream = b"".join(frame([4, i]) for i in range(1, 100))
                size = len(frame([4, 1]))
                pos = size + size // 2
                writer.write(stream[:pos])
                loop = asyncio.get_running_loop()
                end = loop.time() + 1.0  # > 3 x frame_timeout, each frame done in 20 ms
                while loop.time() < end and pos < len(stream):
                    await asyncio.sleep(0.02)
                    writer.write(stream[pos : pos + size])
                    pos += size
                await asyncio.sleep(0.05)
                assert len(server.connections) == 1, "the server cut a peer that kept up"
            finally:
                _close(writer)

    run(body)
