"""Issue 10, row 17: a server-wide budget (Limits.max_bytes_held) for the bytes held by partial
frames and by the arguments of calls in flight, across all connections. Beyond it the server
stops reading from the connections that hold any; reading resumes when it drops."""

from __future__ import annotations

import asyncio
import struct

import cbor2

import pbtyped as pb

from ..protocol.wiring import hello
from .conftest import eventually
from .test_limits import Busy

MIB = 1024 * 1024
#: What one read may bring in past the budget before a connection pauses (asyncio's largest
#: read on a socket transport is 256 KiB).
READ = 256 * 1024


class Service(Busy):
    async def remote_hold(self, data: bytes) -> int:
        await self.remote_work(0)  # waits on the gate, counted in running and peak
        return len(data)

    async def remote_ask(self, ref: pb.RemoteReference) -> object:
        return await ref.call_remote("value")


class Answer(pb.Referenceable):
    def remote_value(self) -> str:
        return "answered"


def almost_a_frame(size: int) -> bytes:
    """A CALL frame of ``size`` bytes (its argument an attachment) missing its last byte."""
    body = cbor2.dumps([1, 1, [0, 0], "hold", [cbor2.CBORTag(41006, [0, size - 64])]])
    att = size - len(body)
    return struct.pack(">II", len(body), att) + body + b"\0" * (att - 1)


def held(server: pb.Server) -> int:
    return sum(conn.broker.held_bytes for conn in server.connections)


def test_partial_frames_pause_reading_at_the_budget(run) -> None:
    """Attack: issue 10 row 17, many connections each sending a 4 MiB frame missing its last
    byte (100 of them held 421 MB before). What the server holds stays within the budget
    plus one read per connection; others are served meanwhile; the attackers' frames are cut
    at frame_timeout (a paused connection's clock runs on: nothing holds the budget longer),
    and a client paused mid-frame then completes its call."""

    async def body() -> None:
        limits = pb.Limits(max_bytes_held=8 * MIB, max_frame_size=8 * MIB, frame_timeout=3.0)
        service = Service()
        service.gate.set()
        loop = asyncio.get_running_loop()
        async with (
            pb.serve(service, limits=limits) as server,
            pb.connect("127.0.0.1", server.port, limits=limits) as good,
        ):
            root = await good.root()
            attackers = []
            start = loop.time()
            for _ in range(8):
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(hello() + almost_a_frame(4 * MIB))
                attackers.append(writer)
            await eventually(lambda: server.budget.waiting >= 5)
            await asyncio.sleep(0.2)  # more reads, if the server were still reading
            assert server.budget.used == held(server)
            assert held(server) <= limits.max_bytes_held + len(server.connections) * READ
            # Small calls from another client are still served (they hold nothing for long).
            assert await root.call_remote("echo", "served") == "served"
            # A big call now waits: the server holds too much to read it whole...
            await asyncio.sleep(max(0.0, start + 1.0 - loop.time()))
            big = asyncio.ensure_future(root.call_remote("hold", b"x" * (3 * MIB)))
            await asyncio.sleep(0.3)
            assert not big.done()
            # ... and completes once the attackers' frames have timed out.
            async with asyncio.timeout(10):
                assert await big == 3 * MIB
            await eventually(lambda: len(server.connections) == 1, limit=10)
            await eventually(lambda: server.budget.used == 0 and server.budget.waiting == 0)
            for writer in attackers:
                writer.close()

    run(body, limit=40)


def test_calls_held_by_a_waiting_method_pause_reading(run) -> None:
    """Attack: issue 10 row 17, calls whose large arguments a waiting method holds (256 x 4
    MiB held 1.09 GB before): the server stops reading the caller at the budget, serves
    others, and reads on once the calls finish."""

    async def body() -> None:
        limits = pb.Limits(max_bytes_held=8 * MIB, max_frame_size=8 * MIB)
        service = Service()
        async with (
            pb.serve(service, limits=limits) as server,
            pb.connect("127.0.0.1", server.port, limits=limits) as greedy,
            pb.connect("127.0.0.1", server.port) as other,
        ):
            root = await greedy.root()
            calls = [asyncio.ensure_future(root.call_remote("hold", b"y" * MIB)) for _ in range(24)]
            await eventually(lambda: server.budget.waiting == 1)
            await asyncio.sleep(0.3)  # more calls would run now, if the server still read
            assert server.budget.used <= limits.max_bytes_held + MIB + READ
            assert service.running <= 10
            assert await (await other.root()).call_remote("echo", 1) == 1
            service.gate.set()
            async with asyncio.timeout(10):
                assert await asyncio.gather(*calls) == [MIB] * 24
            assert service.peak <= 10
            await eventually(lambda: server.budget.used == 0)

    run(body, limit=40)


def test_a_connection_whose_answer_we_await_is_still_read(run) -> None:
    """No deadlock: with the budget spent by others, a method that calls back its caller
    gets the answer (the server reads a connection it awaits, whatever the budget)."""

    async def body() -> None:
        limits = pb.Limits(max_bytes_held=8 * MIB, max_frame_size=8 * MIB)
        async with (
            pb.serve(Service(), limits=limits) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            attackers = []
            for _ in range(3):
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(hello() + almost_a_frame(4 * MIB))
                attackers.append(writer)
            await eventually(lambda: server.budget.over)
            root = await client.root()
            async with asyncio.timeout(5):
                assert await root.call_remote("ask", Answer()) == "answered"
            for writer in attackers:
                writer.close()

    run(body)
