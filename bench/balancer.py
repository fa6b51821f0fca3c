"""Calls/s with one ``pbtyped serve`` instance and with two behind HAProxy, in one run; the
latency HAProxy's hop adds; the CPU each process spends per call.

Uses scripts/balancer_check.py's instances (one worker each here, so that each figure is one
process's) and HAProxy (the tested configuration, PROXY protocol on). Load comes from
``--load-procs`` client processes, each with ``--conns`` connections and ``--inflight``
calls in flight on each. On a 2-core machine the clients, HAProxy and the workers share two
cores: the calls/s of two instances cannot double there; the CPU per call of each process is
the figure from which a larger machine's capacity follows.

    python bench/balancer.py [--seconds 5] [--tiny]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from common import cpu_seconds, latency_summary  # noqa: E402

import pbtyped as pb  # noqa: E402
from scripts.balancer_check import HAProxy, Instance, children, ensure_haproxy  # noqa: E402


async def load(port: int, seconds: float, conns: int, inflight: int) -> int:
    """Calls completed in ``seconds`` by ``conns`` connections x ``inflight`` loops."""
    clients = [await pb.connect("127.0.0.1", port) for _ in range(conns)]
    roots = [await client.root() for client in clients]
    done = 0
    end = time.monotonic() + seconds

    async def loop(root: Any) -> None:
        nonlocal done
        while time.monotonic() < end:
            await root.call_remote("who")
            done += 1

    await asyncio.gather(*(loop(root) for root in roots for _ in range(inflight)))
    for client in clients:
        await client.aclose()
    return done


async def latency(port: int, calls: int) -> dict[str, float]:
    """Sequential calls on one connection: microseconds per round trip."""
    async with pb.connect("127.0.0.1", port) as client:
        root = await client.root()
        for _ in range(50):
            await root.call_remote("who")
        samples = []
        for _ in range(calls):
            began = time.perf_counter_ns()
            await root.call_remote("who")
            samples.append(time.perf_counter_ns() - began)
    return latency_summary(samples)


def run_load(port: int, args: argparse.Namespace) -> tuple[int, float]:
    """Start the load processes against ``port``: calls done, their CPU seconds."""
    argv = [sys.executable, __file__, "--load", str(port), "--seconds", str(args.seconds)]
    argv += ["--conns", str(args.conns), "--inflight", str(args.inflight)]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(args.load_procs)
    ]
    calls, cpu = 0, 0.0
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=args.seconds + 60)
            result = json.loads(out)
            calls += result["calls"]
            cpu += result["cpu"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return calls, cpu


async def scenario(
    name: str, port: int, args: argparse.Namespace, processes: dict[str, int]
) -> dict[str, Any]:
    before = {role: cpu_seconds(pid) for role, pid in processes.items()}
    began = time.monotonic()
    calls, client_cpu = await asyncio.to_thread(run_load, port, args)
    elapsed = time.monotonic() - began
    after = {role: cpu_seconds(pid) for role, pid in processes.items()}
    per_call = {role: (after[role] - before[role]) / calls * 1e6 for role in processes}
    per_call["clients"] = client_cpu / calls * 1e6
    return {
        "name": name,
        "calls": calls,
        "rate": calls / args.seconds,
        "per_call": per_call,
        "elapsed": elapsed,
    }


async def measure(args: argparse.Namespace, folder: Path, binary: str) -> list[str]:
    clients = args.conns * args.load_procs
    instances = [Instance(n, folder, clients, worker_count=1) for n in ("a", "b")]
    alone = Instance("c", folder, clients, worker_count=1, proxied=False)
    haproxy = HAProxy(binary, folder, instances)
    try:
        for instance in [*instances, alone]:
            instance.start()
        for instance in [*instances, alone]:
            await instance.serving()
        haproxy.start()
        for instance in instances:
            await haproxy.wait_status(instance.name, "UP")
        workers = {
            i.name: children(i.proc.pid)[0] for i in [*instances, alone] if i.proc is not None
        }
        assert haproxy.proc is not None
        direct = await latency(alone.port, args.latency_calls)
        hop = await latency(haproxy.port, args.latency_calls)
        roles = {f"worker {name}": pid for name, pid in workers.items()}
        roles["haproxy"] = haproxy.proc.pid
        rounds: list[list[dict[str, Any]]] = []
        for _ in range(args.runs):  # the three loads in turn, so that noise hits each alike
            rows = [await scenario("1 instance (c), direct", alone.port, args, roles)]
            await haproxy.command("disable server pbtyped_servers/b")
            rows.append(await scenario("1 instance, through HAProxy", haproxy.port, args, roles))
            await haproxy.command("enable server pbtyped_servers/b")
            await haproxy.wait_status("b", "UP")
            rows.append(await scenario("2 instances, through HAProxy", haproxy.port, args, roles))
            rounds.append(rows)
        return table(args, direct, hop, [median_row(same) for same in zip(*rounds, strict=True)])
    finally:
        haproxy.kill()
        for instance in [*instances, alone]:
            instance.kill()


def median_row(rows: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """Each figure's median over the runs of one load."""
    return {
        "name": rows[0]["name"],
        "rate": statistics.median(row["rate"] for row in rows),
        "per_call": {
            role: statistics.median(row["per_call"][role] for row in rows)
            for role in rows[0]["per_call"]
        },
    }


def table(
    args: argparse.Namespace, direct: dict[str, float], hop: dict[str, float], rows: list[Any]
) -> list[str]:
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"Command: `python bench/balancer.py --seconds {args.seconds} --runs {args.runs}` "
        f"(medians of {args.runs}); machine: nproc "
        f"{os.cpu_count()}, load average {load_avg} at the end; {args.load_procs} load "
        f"processes x {args.conns} connections x {args.inflight} calls in flight",
        "",
        "| round trip, one connection, sequential | p50 µs | p90 µs | p99 µs |",
        "|---|---:|---:|---:|",
        f"| direct | {direct['p50']:.0f} | {direct['p90']:.0f} | {direct['p99']:.0f} |",
        f"| through HAProxy | {hop['p50']:.0f} | {hop['p90']:.0f} | {hop['p99']:.0f} |",
        f"| added by the hop | {hop['p50'] - direct['p50']:.0f} | "
        f"{hop['p90'] - direct['p90']:.0f} | {hop['p99'] - direct['p99']:.0f} |",
        "",
        "| load | calls/s | CPU µs per call: worker c | worker a | worker b | HAProxy | clients |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cpu = row["per_call"]
        figures = " | ".join(
            f"{cpu[role]:.1f}" for role in ("worker c", "worker a", "worker b", "haproxy")
        )
        lines.append(f"| {row['name']} | {row['rate']:,.0f} | {figures} | {cpu['clients']:.1f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3, help="medians of this many runs (3)")
    parser.add_argument("--load-procs", type=int, default=2)
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--latency-calls", type=int, default=2000)
    parser.add_argument("--tiny", action="store_true", help="1 s per load, 200 latency calls")
    parser.add_argument("--load", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load is not None:
        calls = asyncio.run(load(args.load, args.seconds, args.conns, args.inflight))
        print(json.dumps({"calls": calls, "cpu": cpu_seconds()}))
        return 0
    if args.tiny:
        args.seconds, args.latency_calls, args.runs = 1.0, 200, 1
    binary = ensure_haproxy()
    with tempfile.TemporaryDirectory(prefix="pbtyped-bench-balancer-") as folder:
        lines = asyncio.run(measure(args, Path(folder), binary))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
