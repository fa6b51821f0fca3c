"""One client process of scale.py: many connections making calls, or many held references.

Talks to scale.py over stdin/stdout, one line at a time:

- ``--conns N``: open N connections (to pbtyped's server, or the bare floor's with ``--system
  bare``), one call each, print ``READY``; on ``GO`` every connection makes sequential echo
  calls for ``--duration`` seconds, then ``RESULT <json>`` (the latency samples); the
  connections stay open until stdin closes. ``--client lean`` (the default) calls through a
  lean load generator that speaks the server's wire by hand (pbtyped's frames, or the floor's)
  with one callback per answer and no future or task per call, so that both servers get the
  same cheap client and the server's cost is what limits calls/s; ``--client own`` calls
  through each system's own client (pbtyped's ``call_remote``, the floor's future per call).
- ``--refs N``: on one connection, fetch N references to new server objects and hold them;
  print ``RESULT <json>`` (this process's own RSS growth), hold them until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import cbor2
from common import ECHO, SMALL, Call, pin, rss_kib, run_asyncio

import pbtyped as pb

CONNECT_BATCH = 50  # connects in flight at once: keeps within the server's listen backlog


async def read_line() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


def say(line: str) -> None:
    print(line, flush=True)


async def many_connections(port: int, conns: int, duration: float, system: str) -> None:
    if system == "bare":
        opener: Callable[[int], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]]
        opener = _open_bare
    else:
        opener = _open_pbtyped
    calls: list[Call] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        for start in range(0, conns, CONNECT_BATCH):
            batch = range(start, min(conns, start + CONNECT_BATCH))
            opened = await asyncio.gather(*(opener(port) for _ in batch))
            calls.extend(c for c, _ in opened)
            closers.extend(close for _, close in opened)
        await asyncio.gather(*(call(SMALL) for call in calls))
        say("READY")
        if await read_line() != "GO":
            return
        samples: list[int] = []
        perf = time.perf_counter_ns
        stop_at = perf() + int(duration * 1e9)

        async def load(call: Call) -> None:
            while perf() < stop_at:
                t0 = perf()
                await call(SMALL)
                samples.append(perf() - t0)

        t0 = perf()
        await asyncio.gather(*(load(c) for c in calls))
        elapsed = (perf() - t0) / 1e9
        say("RESULT " + json.dumps({"samples_ns": samples, "seconds": elapsed}))
        await read_line()  # hold the connections open until scale.py has read the server's RSS
    finally:
        await asyncio.gather(*(close() for close in closers))


async def _open_pbtyped(port: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
    limits = pb.Limits(handshake_timeout=120.0)
    client = await pb.connect("127.0.0.1", port, limits=limits, timeout=120.0)
    root = await client.root()

    async def close() -> None:
        client.connection.close(grace=1.0)
        await client.connection.wait_closed()

    return (lambda x: root.call_remote("echo", x)), close


async def _open_bare(port: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from sys_bare import ClientSide

    loop = asyncio.get_running_loop()
    transport, conn = await loop.create_connection(ClientSide, "127.0.0.1", port)
    conn.transport = transport

    async def close() -> None:
        transport.close()

    return (lambda x: conn.call("echo", x)), close


# -- the lean load generator -------------------------------------------------------------


def _pb_frame(body: bytes) -> bytes:
    return struct.pack(">II", len(body), 0) + body


class PbtypedWire:
    """pbtyped's wire as docs/protocol.md gives it: an 8-byte header (body and attachment
    lengths), a CBOR body; a Hello each way first; CALL ``[1, id, [0, 0], "echo", [arg]]``
    on the root, RETURN ``[2, id, value]``."""

    header = 8
    greeting = _pb_frame(
        cbor2.dumps([0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20}])
    )

    @staticmethod
    def call(qid: int) -> bytes:
        return _pb_frame(cbor2.dumps([1, qid, [0, 0], ECHO, [SMALL]]))

    @staticmethod
    def size(buf: bytearray) -> int:
        body, attachments = struct.unpack_from(">II", buf)
        return int(body + attachments)

    @staticmethod
    def answer(message: Any, qid: int) -> bool:
        """True for the RETURN of call ``qid`` with the echo in it, False for the Hello."""
        if message[0] == 0 and qid == 0:
            return False
        if message != [2, qid, SMALL]:
            raise SystemExit(f"lean client: unexpected answer {message!r}")
        return True


class BareWire:
    """The floor's wire (sys_bare.py): a 4-byte length, then ``[id, method, arg]``; answers
    ``[id, result]``; no greeting."""

    header = 4
    greeting = b""

    @staticmethod
    def call(qid: int) -> bytes:
        body = cbor2.dumps([qid, ECHO, SMALL])
        return len(body).to_bytes(4, "big") + body

    @staticmethod
    def size(buf: bytearray) -> int:
        return int.from_bytes(buf[:4], "big")

    @staticmethod
    def answer(message: Any, qid: int) -> bool:
        if message != [qid, SMALL]:
            raise SystemExit(f"lean client: unexpected answer {message!r}")
        return True


class LeanCaller(asyncio.Protocol):
    """One connection of the lean generator: a call, its answer, the next call, all from
    ``data_received``: what the client spends per call is one encode, one decode, one write."""

    def __init__(self, wire: type[PbtypedWire] | type[BareWire], load: LeanLoad) -> None:
        self.wire = wire
        self.load = load
        self.buf = bytearray()
        self.qid = 0
        self.sent_at = 0
        self.transport: asyncio.Transport | None = None
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.wire.greeting:
            self.transport.write(self.wire.greeting)  # the first call once the peer's came
        else:
            self.send()

    def send(self) -> None:
        assert self.transport is not None
        self.qid += 1
        self.sent_at = time.perf_counter_ns()
        self.transport.write(self.wire.call(self.qid))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        header = self.wire.header
        while len(buf) >= header:
            end = header + self.wire.size(buf)
            if len(buf) < end:
                break
            message = cbor2.loads(bytes(buf[header:end]))
            del buf[:end]
            if self.wire.answer(message, self.qid):
                self.answer()
            else:
                self.send()  # the server's Hello: calls may flow

    def answer(self) -> None:
        load = self.load
        now = time.perf_counter_ns()
        if not load.running:  # the call made at connect time
            if not self.answered.done():
                self.answered.set_result(None)
            return
        load.samples.append(now - self.sent_at)
        if now < load.stop_at:
            self.send()
        else:
            load.finished(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_exception(ConnectionError(f"connection lost: {exc}"))


class LeanLoad:
    """What the lean connections share: the samples, the end time, who has finished."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self.running = False
        self.stop_at = 0
        self.waiting = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def start(self, callers: list[LeanCaller], duration: float) -> None:
        self.running = True
        self.waiting = len(callers)
        self.stop_at = time.perf_counter_ns() + int(duration * 1e9)
        for caller in callers:
            caller.send()

    def finished(self, caller: LeanCaller) -> None:
        self.waiting -= 1
        if not self.waiting:
            self.done.set_result(None)


async def lean_connections(port: int, conns: int, duration: float, system: str) -> None:
    loop = asyncio.get_running_loop()
    wire = BareWire if system == "bare" else PbtypedWire
    load = LeanLoad()
    callers: list[LeanCaller] = []
    try:
        for start in range(0, conns, CONNECT_BATCH):
            batch = range(start, min(conns, start + CONNECT_BATCH))
            opened = await asyncio.gather(
                *(
                    loop.create_connection(lambda: LeanCaller(wire, load), "127.0.0.1", port)
                    for _ in batch
                )
            )
            callers.extend(caller for _, caller in opened)
        await asyncio.gather(*(caller.answered for caller in callers))
        say("READY")
        if await read_line() != "GO":
            return
        t0 = time.perf_counter_ns()
        load.start(callers, duration)
        await load.done
        elapsed = (time.perf_counter_ns() - t0) / 1e9
        say("RESULT " + json.dumps({"samples_ns": load.samples, "seconds": elapsed}))
        await read_line()  # hold the connections open until scale.py has read the server's RSS
    finally:
        for caller in callers:
            if caller.transport is not None:
                caller.transport.close()


async def many_references(port: int, refs: int) -> None:
    async with pb.connect("127.0.0.1", port) as client:
        root = await client.root()
        await root.call_remote("echo", SMALL)
        say("READY")
        if await read_line() != "GO":
            return
        before = rss_kib()
        held: list[Any] = []
        chunk = 1000
        while len(held) < refs:
            held.extend(await root.call_remote("make_refs", min(chunk, refs - len(held))))
        after = rss_kib()
        say("RESULT " + json.dumps({"refs": len(held), "client_rss_kib": [before, after]}))
        await read_line()
        del held


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cpu", type=int, default=None)
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--conns", type=int, default=0)
    p.add_argument("--refs", type=int, default=0)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--system", choices=["pbtyped", "bare"], default="pbtyped")
    p.add_argument("--client", choices=["lean", "own"], default="lean")
    args = p.parse_args()
    pin(args.cpu)
    if args.refs:
        run_asyncio(lambda: many_references(args.port, args.refs), args.loop)
        return
    calls = lean_connections if args.client == "lean" else many_connections
    run_asyncio(lambda: calls(args.port, args.conns, args.duration, args.system), args.loop)


if __name__ == "__main__":
    main()
