"""What every bench worker shares: the record type, workloads, timing, CPU pinning, I/O with run.py.

A worker is one process: ``server`` prints ``PORT <n>`` and serves until its stdin closes;
``client`` runs the workloads against that port and prints one ``RESULT <json>`` line. The
workloads are written once, as coroutines over three ``call_*`` functions and a ``gather``, so
the asyncio systems and Twisted (through ``ensureDeferred``) run exactly the same loops.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

#: Method names every system serves.
ECHO, ECHO_BYTES, ECHO_RECORDS = "echo", "echo_bytes", "echo_records"
SMALL = "hello network"


@dataclass
class Record:
    """The typed record of workload 4 (int, str, float and list[int] fields)."""

    id: int
    name: str
    score: float
    values: list[int] = field(default_factory=list)


def make_records(n: int, cls: type[Any] = Record) -> list[Any]:
    """``n`` distinct records of ``cls`` (fields as in ``Record``), ~40 bytes of CBOR each."""
    return [cls(i, f"record-{i}", i * 0.5, [i, i + 1, i + 2, i + 3]) for i in range(n)]


@dataclass
class Config:
    """Counts and time caps of one client run (run.py picks them per mode)."""

    latency_warmup: int = 500
    latency_calls: int = 5000
    tput_calls: int = 20000
    tput_inflight: int = 100
    big_sizes: tuple[int, ...] = (1024 * 1024, 512 * 1024)
    big_calls: int = 40
    big_cap_s: float = 3.0
    records_n: int = 1000
    records_calls: int = 200
    records_cap_s: float = 3.0
    #: Which of the four run: latency, throughput, bytes, records (profile_hot.py picks one).
    workloads: tuple[str, ...] = ("latency", "throughput", "bytes", "records")

    @classmethod
    def from_json(cls, text: str) -> Config:
        data = json.loads(text)
        for key in ("big_sizes", "workloads"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


# -- process plumbing ----------------------------------------------------------------------


def pin(cpu: int | None) -> None:
    """Pin this process to one core (only when the machine has 2+ cores to spread over)."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


def worker_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Arguments every worker script takes."""
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cpu", type=int, default=None)
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--api", default="runtime")
    p.add_argument("--config", default="{}")
    p.add_argument("--server-pid", type=int, default=0, help="to read the server's CPU time")
    return p.parse_args(argv)


def announce_port(port: int) -> None:
    print(f"PORT {port}", flush=True)


def emit_result(result: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def on_stdin_closed(callback: Callable[[], None]) -> None:
    """Call ``callback`` (from a thread) when run.py closes our stdin: the server's stop signal."""

    def wait() -> None:
        try:
            sys.stdin.buffer.read()
        finally:
            callback()

    threading.Thread(target=wait, daemon=True).start()


def run_asyncio(main: Callable[[], Coroutine[Any, Any, Any]], loop: str) -> Any:
    """Run ``main()`` on a fresh asyncio loop, or on uvloop's loop when asked."""
    import asyncio

    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main())
    return asyncio.run(main())


def profiled(role: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn()``; under profile_hot.py (PBTYPED_BENCH_PROFILE=<prefix>) with cProfile on,
    dumping the stats to ``<prefix>-<role>.pstats``."""
    prefix = os.environ.get("PBTYPED_BENCH_PROFILE")
    if not prefix:
        return fn()
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return fn()
    finally:
        profiler.disable()
        profiler.dump_stats(f"{prefix}-{role}.pstats")


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of a process in KiB, from /proc (0 where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process, from /proc (10 ms ticks); NaN where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


# -- statistics ----------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(samples_ns: list[int]) -> dict[str, float]:
    """Percentiles in microseconds."""
    us = sorted(s / 1000 for s in samples_ns)
    return {
        "calls": len(us),
        "min": us[0],
        "p50": percentile(us, 50),
        "p90": percentile(us, 90),
        "p99": percentile(us, 99),
        "p99.9": percentile(us, 99.9),
        "mean": sum(us) / len(us),
    }


# -- the workloads -------------------------------------------------------------------------

Call = Callable[[Any], Awaitable[Any]]
Gather = Callable[[list[Coroutine[Any, Any, Any]]], Awaitable[Any]]


@dataclass
class Target:
    """How a client reaches one system: a call per method, and how to run coroutines at once."""

    echo: Call
    echo_bytes: Call
    echo_records: Call
    gather: Gather
    #: The class of the records sent (a generated module has its own ``Record``).
    record_cls: type[Any] = Record
    #: The server's PID, to read its CPU time (0: unknown).
    server_pid: int = 0


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


async def run_workloads(t: Target, cfg: Config) -> dict[str, Any]:
    """The four workloads, in order, against one connection. Every echo is checked once."""
    out: dict[str, Any] = {}

    if await t.echo(SMALL) != SMALL:
        raise AssertionError("echo returned something else")
    if "latency" in cfg.workloads:
        out["latency"] = await _latency(t, cfg)
    if "throughput" in cfg.workloads:
        out["throughput"] = await _throughput(t, cfg)
    if "bytes" in cfg.workloads:
        out["bytes"] = await _bytes(t, cfg)
    if "records" in cfg.workloads:
        records = make_records(cfg.records_n, t.record_cls)
        out["records"] = await _timed_loop(
            t.echo_records, records, cfg.records_calls, cfg.records_cap_s, t.server_pid
        )
    return out


async def _latency(t: Target, cfg: Config) -> dict[str, float]:
    """1. Sequential small echo: one call at a time."""
    perf = time.perf_counter_ns
    for _ in range(cfg.latency_warmup):
        await t.echo(SMALL)
    samples = []
    for _ in range(cfg.latency_calls):
        t0 = perf()
        await t.echo(SMALL)
        samples.append(perf() - t0)
    return latency_summary(samples)


async def _throughput(t: Target, cfg: Config) -> dict[str, float]:
    """2. Throughput: ``tput_inflight`` callers on the one connection, one call at a time each."""
    perf = time.perf_counter_ns
    per_caller = max(1, cfg.tput_calls // cfg.tput_inflight)

    async def caller() -> None:
        for _ in range(per_caller):
            await t.echo(SMALL)

    await t.gather([caller() for _ in range(cfg.tput_inflight)])  # warm-up round
    server = t.server_pid or "none"
    cpu0, scpu0 = time.process_time(), cpu_seconds(server)
    t0 = perf()
    await t.gather([caller() for _ in range(cfg.tput_inflight)])
    elapsed = (perf() - t0) / 1e9
    cpu, scpu = time.process_time() - cpu0, cpu_seconds(server) - scpu0
    total = per_caller * cfg.tput_inflight
    # CPU time per call is far less disturbed by a busy machine than wall-clock figures.
    return {
        "calls": total,
        "seconds": elapsed,
        "calls_per_s": total / elapsed,
        "client_cpu_us_per_call": cpu / total * 1e6,
        "server_cpu_us_per_call": scpu / total * 1e6,
    }


async def _bytes(t: Target, cfg: Config) -> dict[str, Any]:
    """3. Large bytes echo, one call at a time. MB/s counts the payload once (1 MB = 10**6 B)."""
    out = {}
    for size in cfg.big_sizes:
        payload = os.urandom(size)
        entry = await _timed_loop(t.echo_bytes, payload, cfg.big_calls, cfg.big_cap_s, t.server_pid)
        if entry["ok"]:
            entry["mb_s"] = size * entry["calls"] / entry["seconds"] / 1e6
        out[str(size)] = entry
    return out


async def _timed_loop(
    call: Call, payload: Any, calls: int, cap_s: float, server_pid: int
) -> dict[str, Any]:
    """Call until ``calls`` are done or ``cap_s`` has passed (at least 3 calls after warm-up)."""
    try:
        first = await call(payload)
    except Exception as exc:  # e.g. Twisted PB's 640 KiB limit: reported, not fatal
        return {"ok": False, "error": _describe(exc)}
    if first != payload:
        return {"ok": False, "error": "the echo came back different"}
    perf = time.perf_counter_ns
    cpu0, scpu0 = time.process_time(), cpu_seconds(server_pid or "none")
    t0 = perf()
    deadline = t0 + int(cap_s * 1e9)
    done = 0
    while done < calls and (done < 3 or perf() < deadline):
        await call(payload)
        done += 1
    elapsed = (perf() - t0) / 1e9
    cpu, scpu = time.process_time() - cpu0, cpu_seconds(server_pid or "none") - scpu0
    return {
        "ok": True,
        "calls": done,
        "seconds": elapsed,
        "calls_per_s": done / elapsed,
        "client_cpu_us_per_call": cpu / done * 1e6,
        "server_cpu_us_per_call": scpu / done * 1e6,
    }
