"""Limits with safe defaults: each one reached gives a clear error or a clean close."""

from __future__ import annotations

import asyncio
import logging
import struct

import cbor2
import pytest

import pbtyped as pb
from pbtyped.runtime.endpoints import Server
from pbtyped.runtime.logs import LogLimiter
from pbtyped.runtime.options import Options

from .conftest import eventually
from .fakes import FakeTransport


class Worker(pb.Referenceable):
    pass


class Busy(pb.Root):
    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.gate = asyncio.Event()
        self.kept: list[object] = []

    async def remote_work(self, n: int) -> int:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        return n

    def remote_echo(self, value: object) -> object:
        return value

    def remote_workers(self, n: int) -> list[Worker]:
        return [Worker() for _ in range(n)]

    def remote_keep(self, refs: list[object]) -> int:
        self.kept.extend(refs)
        return len(refs)


def frame(obj: object) -> bytes:
    body = cbor2.dumps(obj)
    return struct.pack(">II", len(body), 0) + body


async def _closed_by_server(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


def test_limits_validate_their_values() -> None:
    with pytest.raises(ValueError, match="max_frame_size"):
        pb.Limits(max_frame_size=10)
    with pytest.raises(ValueError, match="max_calls_in_flight must be at least 1"):
        pb.Limits(max_calls_in_flight=0)
    with pytest.raises(ValueError, match="log_rate_per_peer must be at least 1"):
        pb.Limits(log_rate_per_peer=0)
    with pytest.raises(ValueError, match="handshake_timeout must be positive"):
        pb.Limits(handshake_timeout=0)
    with pytest.raises(ValueError, match="attachment_threshold"):
        pb.Limits(attachment_threshold=10)


def test_handshake_timeout_closes_a_silent_peer(run, caplog) -> None:
    async def body() -> None:
        async with pb.serve(Busy(), limits=pb.Limits(handshake_timeout=0.2)) as server:
            data = await _closed_by_server(server.port, b"")
            assert data.startswith(b"\x00\x00")  # our Hello, then the Abort, then EOF
            assert server.connections == set()

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    assert any("no handshake within 0.2 s" in r.getMessage() for r in caplog.records)


def test_slow_drip_frame_is_cut_off(run, caplog) -> None:
    async def body() -> None:
        limits = pb.Limits(frame_timeout=0.2)
        async with pb.serve(Busy(), limits=limits) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            hello = frame([0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20}])
            writer.write(hello)
            call = frame([1, 1, [0, 0], "echo", ["x" * 100], {}])
            writer.write(call[:20])  # a frame that never completes
            async with asyncio.timeout(5):
                rest = await reader.read()
                while rest:
                    rest = await reader.read()
            writer.close()
            assert server.connections == set()

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    assert any("took longer than 0.2 s" in r.getMessage() for r in caplog.records)


def test_idle_timeout_closes_idle_connections_only(run) -> None:
    async def body() -> None:
        async with pb.serve(Busy(), limits=pb.Limits(idle_timeout=0.3)) as server:
            client = await pb.connect("127.0.0.1", server.port)
            root = await client.root()
            assert await root.call_remote("echo", 1) == 1
            async with asyncio.timeout(5):
                await client.connection.wait_closed()
            with pytest.raises(pb.DeadReferenceError):
                await root.call_remote("echo", 2)

    run(body)


def test_max_connections_refuses_extra_clients(run) -> None:
    async def body() -> None:
        async with pb.serve(Busy(), limits=pb.Limits(max_connections=1)) as server:
            async with pb.connect("127.0.0.1", server.port) as first:
                with pytest.raises(pb.ConnectionLost, match=r"by the peer: server full \(1 conn"):
                    await pb.connect("127.0.0.1", server.port)
                root = await first.root()
                assert await root.call_remote("echo", "still served") == "still served"
            # Once the first left, a new client is welcome again.
            async with pb.connect("127.0.0.1", server.port) as again:
                assert await (await again.root()).call_remote("echo", 1) == 1

    run(body)


def test_calls_in_flight_are_bounded_by_backpressure(run) -> None:
    async def body() -> None:
        busy = Busy()
        async with (
            pb.serve(busy, limits=pb.Limits(max_calls_in_flight=3)) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            calls = [asyncio.ensure_future(root.call_remote("work", i)) for i in range(20)]
            for _ in range(50):
                await asyncio.sleep(0.01)
            assert busy.running == 3  # the rest wait in TCP, not in our memory
            # Cancelled while it waits; its FINISH queues in TCP behind the paused reading, so the
            # server may still run it: either way its question id must be freed.
            calls[10].cancel()
            busy.gate.set()
            results = await asyncio.gather(*calls, return_exceptions=True)
            assert isinstance(results[10], asyncio.CancelledError)
            assert results[:10] + results[11:] == [i for i in range(20) if i != 10]
            assert busy.peak == 3
            assert client.connection.broker.pending_questions == 0

    run(body)


def test_max_exports_fails_the_call_not_the_connection(run) -> None:
    async def body() -> None:
        limits = pb.Limits(max_exports=5)  # the root counts as one
        async with (
            pb.serve(Busy(), limits=limits) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            first = await root.call_remote("workers", 4)
            assert len(first) == 4
            with pytest.raises(pb.LimitExceeded, match=r"Limits\.max_exports"):
                await root.call_remote("workers", 1)
            del first
            (conn,) = server.connections
            await eventually(lambda: conn.broker.export_count == 1)
            assert len(await root.call_remote("workers", 4)) == 4

    run(body)


def test_max_imports_refuses_that_call(run) -> None:
    async def body() -> None:
        limits = pb.Limits(max_imports=3)
        async with (
            pb.serve(Busy(), limits=limits) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            assert await root.call_remote("keep", [Worker(), Worker()]) == 2
            # The limit's own error (issue 11: it arrived as InsecureTypeError).
            with pytest.raises(pb.LimitExceeded, match=r"Limits\.max_imports"):
                await root.call_remote("keep", [Worker(), Worker()])

    run(body)


def test_a_peer_that_stops_reading_does_not_stall_others(run) -> None:
    async def body() -> None:
        async with pb.serve(Busy()) as server, pb.connect("127.0.0.1", server.port) as good:
            root = await good.root()
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            hello = frame([0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 24}])
            big = "z" * 500_000
            writer.write(
                hello + b"".join(frame([1, i, [0, 0], "echo", [big], {}]) for i in range(1, 40))
            )
            # The bad peer never reads its answers; the server stops reading from it instead
            # of buffering 20 MB of answers, and keeps serving the good client.
            for i in range(50):
                assert await root.call_remote("echo", i) == i
            (bad,) = [c for c in server.connections if c is not good.connection and c._flow.paused]
            assert bad._flow.writing_paused
            writer.close()

    run(body)


def test_log_limiter_drops_and_summarises(caplog) -> None:
    now = [0.0]
    limiter = LogLimiter(3, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        for i in range(10):
            limiter.warning("peer %d misbehaved", i)
        assert limiter.suppressed == 7
        now[0] = 61.0
        limiter.warning("peer %d misbehaved", 99)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "peer 0 misbehaved",
        "peer 1 misbehaved",
        "peer 2 misbehaved",
        "7 similar warnings were suppressed in the last minute",
        "peer 99 misbehaved",
    ]


def test_flood_of_bad_connections_is_rate_limited(run, caplog) -> None:
    async def body() -> None:
        async with pb.serve(Busy(), limits=pb.Limits(log_rate_per_minute=5)) as server:
            for _ in range(20):
                await _closed_by_server(server.port, b"\xff" * 8)

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    assert len([r for r in caplog.records if "closing connection" in r.getMessage()]) == 5


def test_one_peer_cannot_spend_the_whole_log_budget(run, caplog) -> None:
    """A flood of bad connections from one address spends that address's share of the log
    budget (Limits.log_rate_per_peer), not all of it: a later misbehaving peer at another
    address is still logged, and the summary names the flooding one."""

    async def body() -> None:
        limits = pb.Limits(log_rate_per_minute=30, log_rate_per_peer=5)
        server = Server("127.0.0.1", 0, Options(root=Busy(), limits=limits))
        for peer in [("192.0.2.7", 40000 + k) for k in range(40)] + [("198.51.100.9", 5000)]:
            conn = server._protocol()
            conn.connection_made(FakeTransport(peer))  # type: ignore[arg-type]
            conn.data_received(b"\xff" * 8)  # a frame far larger than any limit
        server._side.logs._summarise()

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    closing = [r.getMessage() for r in caplog.records if "closing connection" in r.getMessage()]
    assert sum("192.0.2.7" in line for line in closing) == 5
    assert sum("198.51.100.9" in line for line in closing) == 1
    summary = caplog.records[-1].getMessage()
    assert "35 similar warnings were suppressed" in summary
    assert "over their share: 192.0.2.7 (35)" in summary


def test_cancelling_a_call_still_waiting_for_a_slot_answers_it_at_once(run) -> None:
    async def body() -> None:
        busy = Busy()
        async with pb.serve(busy, limits=pb.Limits(max_calls_in_flight=1)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            hello = frame([0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20}])
            calls = b"".join(frame([1, q, [0, 0], "work", [q], {}]) for q in (1, 2, 3))
            writer.write(hello + calls + frame([4, 3]))  # FINISH question 3, all in one write
            # Question 1 runs (and blocks); 2 and 3 wait for a slot; 3 is answered at once.
            answers = []
            async with asyncio.timeout(5):
                while not answers:
                    (size, att) = struct.unpack(">II", await reader.readexactly(8))
                    msg = cbor2.loads(await reader.readexactly(size + att))
                    if msg[0] == 3:
                        answers.append(msg)
            assert answers == [
                [
                    3,
                    3,
                    {
                        "type": "pbtyped.CallCancelled",
                        "message": "the caller cancelled the call",
                        "registered": True,
                    },
                ]
            ]
            assert busy.running == 1
            busy.gate.set()
            writer.close()

    run(body)
