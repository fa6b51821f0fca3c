"""One client process of scale.py: many pbtyped connections, or many held references.

Talks to scale.py over stdin/stdout, one line at a time:

- ``--conns N``: open N connections (pbtyped, or the bare floor's with ``--system bare``), one
  call each, print ``READY``; on ``GO`` every connection makes sequential echo calls for
  ``--duration`` seconds, then ``RESULT <json>`` (the latency samples); the connections stay
  open until stdin closes.
- ``--refs N``: on one connection, fetch N references to new server objects and hold them;
  print ``RESULT <json>`` (this process's own RSS growth), hold them until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from common import SMALL, Call, pin, rss_kib, run_asyncio

import pbtyped as pb

CONNECT_BATCH = 50  # connects in flight at once: keeps within the server's listen backlog


async def read_line() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


def say(line: str) -> None:
    print(line, flush=True)


async def many_connections(port: int, conns: int, duration: float, system: str) -> None:
    if system == "bare":
        opener: Callable[[], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]] = _open_bare
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
    args = p.parse_args()
    pin(args.cpu)
    if args.refs:
        run_asyncio(lambda: many_references(args.port, args.refs), args.loop)
    else:
        run_asyncio(
            lambda: many_connections(args.port, args.conns, args.duration, args.system), args.loop
        )


if __name__ == "__main__":
    main()
