"""The CPU cost of one call, measured in one process (no cross-process scheduling noise).

    python bench/roundtrip.py [--at HEAD] [--calls 20000] [--rounds 3]

For the bare asyncio+cbor2 floor, pbtyped through the runtime API and pbtyped through the stubs
``pbtyped generate`` makes from ``bench/schemas``, two figures:

- **round trip**: client and server on one asyncio loop over 127.0.0.1, sequential echo
  calls, the median round trip. Both sides' CPU plus two loopback sends, but no waking of
  another process: the part of run.py's latency that the framework controls.
- **server path**: the server protocol's ``data_received`` for one call frame on a stand-in
  transport, answer encoded and written: what one call costs a server (best of 10 batches).

Run it pinned (``taskset -c 1 python bench/roundtrip.py``) for steadier figures. Not a test:
it prints figures. It uses pbtyped's private ``Connection`` class, which may change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from procs import HERE

SMALL = "hello network"


class StandInTransport:
    """Enough of a transport for a protocol's data_received: writes are counted, not sent."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 0) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


async def median_round_trip(call: Callable[[str], Awaitable[Any]], calls: int) -> float:
    for _ in range(500):
        await call(SMALL)
    times = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        await call(SMALL)
        times.append(clock() - start)
    return statistics.median(times) / 1000


def systems() -> dict[str, tuple[Any, Any]]:
    """name -> (round-trip coroutine function, server-path function)."""
    import sys_bare
    import sys_pbtyped

    import pbtyped as pb
    from pbtyped.protocol.broker import Broker
    from pbtyped.runtime.connection import Connection

    gen = sys_pbtyped.generated()

    async def bare_trip(calls: int) -> float:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(sys_bare.ServerSide, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, conn = await loop.create_connection(sys_bare.ClientSide, "127.0.0.1", port)
        conn.transport = transport
        try:
            return await median_round_trip(lambda x: conn.call("echo", x), calls)
        finally:
            transport.close()
            server.close()

    async def pb_trip(calls: int, stubs: bool) -> float:
        root, registry = sys_pbtyped.server_parts("stubs" if stubs else "runtime")
        async with (
            pb.serve(root, "127.0.0.1", 0, registry=registry) as server,
            pb.connect("127.0.0.1", server.port, registry=registry) as client,
        ):
            if stubs:
                stub = await client.root(gen.BenchClient)
                return await median_round_trip(stub.echo, calls)
            ref = await client.root()
            return await median_round_trip(lambda x: ref.call_remote("echo", x), calls)

    def parts(stubs: bool) -> tuple[pb.Root, pb.Registry]:
        return sys_pbtyped.server_parts("stubs" if stubs else "runtime")

    def bare_server(batch: int) -> float:
        protocol = sys_bare.ServerSide()
        protocol.connection_made(StandInTransport())  # type: ignore[arg-type]
        frames = iter([sys_bare.frame([i, "echo", SMALL]) for i in range(batch * 11)])
        return best_per_call(lambda: protocol.data_received(next(frames)), batch)

    def pb_server(batch: int, stubs: bool) -> float:
        async def inner() -> float:
            root, registry = sys_pbtyped.server_parts("stubs" if stubs else "runtime")
            try:  # Connection takes one Options value since issue 11; --at may be older
                from pbtyped.runtime.options import Options
            except ImportError:
                conn = Connection(registry=registry, limits=pb.Limits(), root=root)
            else:
                conn = Connection(Options(registry=registry, limits=pb.Limits(), root=root))
            conn.connection_made(StandInTransport())  # type: ignore[arg-type]
            client = Broker(registry=registry)
            conn.data_received(client.initiate())
            client.receive_data(conn.broker.initiate())
            ref = client.root_reference()
            frames = iter(
                [client.send_call(ref, "echo", (SMALL,), {})[1] for _ in range(batch * 11)]
            )
            return best_per_call(lambda: conn.data_received(next(frames)), batch)

        return asyncio.run(inner())

    return {
        "bare asyncio+cbor2": (bare_trip, bare_server),
        "pbtyped, runtime API": (
            lambda n: pb_trip(n, False),
            lambda b: pb_server(b, False),
        ),
        "pbtyped, generated stubs": (lambda n: pb_trip(n, True), lambda b: pb_server(b, True)),
    }


def best_per_call(fn: Callable[[], Any], batch: int) -> float:
    return min(timeit.repeat(fn, number=batch, repeat=10)) / batch * 1e6


def measure(calls: int, rounds: int) -> None:
    found = systems()
    trips: dict[str, list[float]] = {name: [] for name in found}
    servers: dict[str, list[float]] = {name: [] for name in found}
    for _ in range(rounds):  # interleaved, so drift hits every system alike
        for name, (trip, server) in found.items():
            trips[name].append(asyncio.run(trip(calls)))
            servers[name].append(server(calls // 10))
    floor = "bare asyncio+cbor2"
    print(
        f"| system | round trip p50 µs (median of {rounds}) | / floor "
        "| server path µs per call | / floor |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in found:
        trip, server = statistics.median(trips[name]), statistics.median(servers[name])
        ratio_trip = trip / statistics.median(trips[floor])
        ratio_server = server / statistics.median(servers[floor])
        print(f"| {name} | {trip:.1f} | {ratio_trip:.2f}x | {server:.2f} | {ratio_server:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--at", default="HEAD", help="git revision of pbtyped, or 'worktree'")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--calls", type=int, default=20000, help="round trips per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inner:
        measure(args.calls, args.rounds)
        return 0
    from procs import pbtyped_source
    from run import generate_stubs

    args.out.mkdir(parents=True, exist_ok=True)
    env, source = pbtyped_source(args.at, args.out)
    gen_dir, why = generate_stubs(args.out, env)
    if gen_dir is None:
        print(f"error: {why}", file=sys.stderr)
        return 2
    env["PBTYPED_BENCH_GENERATED"] = str(gen_dir)
    print(f"python bench/roundtrip.py --at {args.at}  (pbtyped from {source})", flush=True)
    cmd = [sys.executable, str(HERE / "roundtrip.py"), "--inner"]
    cmd += ["--calls", str(args.calls), "--rounds", str(args.rounds)]
    return subprocess.run(cmd, env=env, check=False, cwd=os.fspath(HERE)).returncode


if __name__ == "__main__":
    sys.exit(main())
