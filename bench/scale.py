"""How pbtyped's latency and server memory grow with concurrent connections (issue 5, item 3).

    python bench/scale.py [--quick | --tiny] [--levels 1,10,100,1000] [--loop uvloop]
                          [--clients lean,own]

For each level, client kind and system (pbtyped, and the bare asyncio+cbor2 floor for
reference) a fresh server process (pinned to core 0) gets that many client connections,
spread over up to ``--procs`` client processes (pinned to core 1). The server's RSS is read from
/proc before any connection, once all are open and have made one call, and after a closed-loop
load in which every connection makes sequential echo calls for ``--duration`` seconds; the CPU
time of the server and of the clients during the load says which side was busy (the side
near 100% is the one that limits calls/s). Then one connection fetches ``--refs`` references
to new server objects and holds them: RSS growth per exported reference on the server, per
imported reference on the client. Prints a table, writes ``<out>/scale-<stamp>.{json,md}``;
``--publish`` puts the table in bench/RESULTS.md.

``--clients``: ``lean`` (the default) is a load generator that speaks each server's wire by hand,
one callback per answer and no task or future per call, the same for both systems, so that
calls/s measures the server; ``own`` calls through each system's own client (pbtyped's
``call_remote``; the floor's future-per-call client), as this script did before: pbtyped's
client needs more CPU per call than its server (bench/RESULTS.md), so at many connections
calls/s then measures pbtyped's client.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pstats
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import latency_summary, rss_kib
from procs import HERE, BenchError, pbtyped_source, read_line, start_server, stop, worker_cmd


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far, from /proc (10 ms ticks)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan, math.nan
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def spawn_client(
    args: list[str], log: Path, flags: tuple[str, ...], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as err:
        return subprocess.Popen(
            worker_cmd("scale_client.py", *args, flags=flags),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
        )


def expect(proc: subprocess.Popen[bytes], prefix: str, timeout: float, log: Path) -> str:
    assert proc.stdout is not None
    line = read_line(proc.stdout, timeout).decode(errors="replace").strip()
    if not line.startswith(prefix):
        raise BenchError(f"scale client: expected {prefix!r}, got {line[:80]!r} ({log})")
    return line


def tell(proc: subprocess.Popen[bytes], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()


def one_level(
    system: str,
    client: str,
    n: int,
    procs: int,
    duration: float,
    loop: str,
    flags: tuple[str, ...],
    logs: Path,
    env: dict[str, str],
    profile: Path | None = None,
) -> dict[str, Any]:
    if profile is not None:  # the server runs under cProfile and dumps <profile>-server.pstats
        env = {**env, "PBTYPED_BENCH_PROFILE": str(profile)}
    server = start_server(
        f"sys_{system}.py",
        ["--cpu", "0", "--loop", loop],
        logs / f"scale-{system}-{n}-server.log",
        env=env,
        flags=flags,
    )
    clients: list[subprocess.Popen[bytes]] = []
    try:
        time.sleep(0.2)
        rss0 = rss_kib(server.pid)
        shares = [n // procs + (1 if i < n % procs else 0) for i in range(min(procs, n))]
        log = logs / f"scale-{system}-{n}-clients.log"
        for share in shares:
            args = ["--port", str(server.port), "--cpu", "1", "--loop", loop]
            args += ["--conns", str(share), "--duration", str(duration), "--system", system]
            args += ["--client", client]
            clients.append(spawn_client(args, log, flags, env))
        for c in clients:
            expect(c, "READY", 180.0, log)
        rss_open = rss_kib(server.pid)
        procs = (server.proc, *clients)
        cpu0 = [cpu_times(p.pid) for p in procs]
        wall0 = time.monotonic()
        for c in clients:
            tell(c, "GO")
        samples: list[int] = []
        seconds = 0.0
        for c in clients:
            data = json.loads(expect(c, "RESULT ", duration + 120.0, log)[len("RESULT ") :])
            samples.extend(data["samples_ns"])
            seconds = max(seconds, data["seconds"])
        wall = time.monotonic() - wall0
        cpu1 = [cpu_times(p.pid) for p in procs]
        rss_load = rss_kib(server.pid)
    finally:
        for c in clients:
            stop(c, grace=30.0)
        stop(server.proc)
    # User and system CPU seconds of the server, and of all clients, during the load.
    (server_user, server_sys), *client_times = (
        (u1 - u0, s1 - s0) for (u0, s0), (u1, s1) in zip(cpu0, cpu1, strict=True)
    )
    clients_cpu = sum(u + s for u, s in client_times)
    per_call = 1e6 / len(samples) if samples else math.nan
    lat = latency_summary(samples)
    found = where_time_goes(Path(f"{profile}-server.pstats"), len(samples) + n) if profile else None
    return {
        "system": system,
        "client": client,
        "connections": n,
        "client_procs": len(shares),
        "rss_kib": {"idle": rss0, "open": rss_open, "after_load": rss_load},
        "kib_per_connection": (rss_open - rss0) / n,
        "kib_per_connection_after_load": (rss_load - rss0) / n,
        "latency_us": lat,
        "calls_per_s": len(samples) / seconds if seconds else None,
        # Busy share of one core during the load: near 1.0 is the side that limits calls/s.
        "cpu_busy": {"server": (server_user + server_sys) / wall, "clients": clients_cpu / wall},
        # CPU time per call (from 10 ms ticks: read it at 1 s of load or more); the server's
        # split into user time (Python: the loop, pbtyped) and system time (the kernel: TCP).
        "cpu_us_per_call": {
            "server_user": server_user * per_call,
            "server_system": server_sys * per_call,
            "clients": clients_cpu * per_call,
        },
        "profile_us_per_call": found,
    }


def references(
    refs: int, loop: str, flags: tuple[str, ...], logs: Path, env: dict[str, str]
) -> dict[str, Any]:
    server = start_server(
        "sys_pbtyped.py",
        ["--cpu", "0", "--loop", loop],
        logs / "scale-refs-server.log",
        env=env,
        flags=flags,
    )
    log = logs / "scale-refs-client.log"
    client = None
    try:
        time.sleep(0.2)
        args = ["--port", str(server.port), "--cpu", "1", "--loop", loop, "--refs", str(refs)]
        client = spawn_client(args, log, flags, env)
        expect(client, "READY", 60.0, log)  # connected, one call made
        before = rss_kib(server.pid)
        tell(client, "GO")
        data = json.loads(expect(client, "RESULT ", 300.0, log)[len("RESULT ") :])
        after = rss_kib(server.pid)
    finally:
        if client is not None:
            stop(client, grace=30.0)
        stop(server.proc)
    cb, ca = data["client_rss_kib"]
    return {
        "refs": data["refs"],
        "server_rss_kib": [before, after],
        "server_bytes_per_ref": (after - before) * 1024 / data["refs"],
        "client_bytes_per_ref": (ca - cb) * 1024 / data["refs"],
    }


#: epoll's own time is mostly the loop waiting for sockets to be ready: not work.
IDLE = "waiting in epoll (idle; not in the total)"
#: Where a function's own time goes, by the file that defines it (the first that matches).
LAYERS = (
    ("/pbtyped/runtime/", "pbtyped runtime (asyncio adapter)"),
    ("/pbtyped/protocol/", "pbtyped protocol (broker, tables)"),
    ("/pbtyped/wire/", "pbtyped wire (codec, frames)"),
    ("/pbtyped/", "pbtyped, other"),
    ("cbor2", "cbor2 (native encode, decode)"),
    ("_socket.socket", "socket calls (recv, send)"),
    ("select.epoll", IDLE),
    ("/asyncio/", "asyncio event loop"),
    ("sys_", "the bench's server script"),
)


def layer_of(where: tuple[str, int, str]) -> str:
    filename, _, name = where
    text = f"{filename}:{name}"
    for needle, layer in LAYERS:
        if needle in text:
            return layer
    return "other built-ins and stdlib"


def where_time_goes(path: Path, calls: int) -> dict[str, float] | None:
    """Own time per call of each layer in a server's profile (µs; cProfile adds to each
    Python function call, so layers made of many small functions read high)."""
    try:
        stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    except OSError:
        return None
    found: dict[str, float] = {}
    for where, (_cc, _nc, own, _cum, _callers) in stats.items():
        layer = layer_of(where)
        found[layer] = found.get(layer, 0.0) + own
    return {k: v / calls * 1e6 for k, v in sorted(found.items(), key=lambda kv: -kv[1])}


def profile_table(levels: list[dict[str, Any]]) -> str:
    shown = [lv for lv in levels if lv.get("profile_us_per_call")]
    if not shown:
        return ""
    names = list(dict.fromkeys(k for lv in shown for k in lv["profile_us_per_call"]))
    head = "| layer (own time, µs per call, under cProfile) | " + " | ".join(
        f"{lv['system']}, {lv['client']}, {lv['connections']:,}" for lv in shown
    )
    lines = [head + " |", "|---|" + "---:|" * len(shown)]
    for name in [*names, "total"]:
        cells = []
        for lv in shown:
            found = lv["profile_us_per_call"]
            if name == "total":
                value = sum(v for k, v in found.items() if k != IDLE)
            else:
                value = found.get(name, 0.0)
            cells.append(f"{value:,.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n\n" + "\n".join(lines)


def table(levels: list[dict[str, Any]], refs: dict[str, Any] | None) -> str:
    head = (
        "| system | client | connections | echo p50 µs | echo p99 µs | calls/s (all connections) "
        "| CPU busy during load, server / clients "
        "| CPU µs per call: server user + system / clients | "
        "server RSS idle → open → after load, MiB | KiB per connection (open / after load) |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for lv in levels:
        r = lv["rss_kib"]
        busy, per_call = lv["cpu_busy"], lv["cpu_us_per_call"]
        lines.append(
            f"| {lv['system']} | {lv['client']} | {lv['connections']:,} | "
            f"{lv['latency_us']['p50']:,.0f} | {lv['latency_us']['p99']:,.0f} | "
            f"{lv['calls_per_s']:,.0f} | {busy['server']:.0%} / {busy['clients']:.0%} | "
            f"{per_call['server_user']:,.1f} + {per_call['server_system']:,.1f} / "
            f"{per_call['clients']:,.1f} | "
            f"{r['idle'] / 1024:.1f} → {r['open'] / 1024:.1f} → {r['after_load'] / 1024:.1f} | "
            f"{lv['kib_per_connection']:,.1f} / {lv['kib_per_connection_after_load']:,.1f} |"
        )
    out = "\n".join(lines)
    for system in dict.fromkeys(lv["system"] for lv in levels):
        # Memory does not depend on the client kind: the first kind's rows say it.
        mine = [
            lv for lv in levels if lv["system"] == system and lv["client"] == levels[0]["client"]
        ]
        if len(mine) < 2:
            continue
        a, b = mine[-2], mine[-1]
        marginal = (b["rss_kib"]["open"] - a["rss_kib"]["open"]) / (
            b["connections"] - a["connections"]
        )
        out += (
            f"\n\n{system}: marginal server memory per connection between {a['connections']:,} "
            f"and {b['connections']:,} connections (open, one call made): {marginal:,.1f} KiB."
        )
    out += profile_table(levels)
    if refs:
        out += (
            f"\n\nExported references: {refs['refs']:,} held by one client; server RSS grows "
            f"{refs['server_bytes_per_ref']:,.0f} bytes per exported reference, the client's "
            f"{refs['client_bytes_per_ref']:,.0f} bytes per imported reference (RemoteReference)."
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--tiny", action="store_true", help="proves the script runs")
    p.add_argument("--levels", default=None, help="connection counts (default 1,10,100,1000)")
    p.add_argument("--procs", type=int, default=2, help="client processes at most")
    p.add_argument("--systems", default="pbtyped,bare", help="pbtyped and/or bare (the floor)")
    p.add_argument(
        "--clients", default="lean", help="lean and/or own: who makes the calls (see above)"
    )
    p.add_argument("--duration", type=float, default=None, help="load seconds per level")
    p.add_argument("--refs", type=int, default=None, help="references for the per-ref figure")
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--publish", action="store_true")
    p.add_argument("--at", default="HEAD", help="git revision of pbtyped, or 'worktree'")
    p.add_argument(
        "--profile", action="store_true", help="run the servers under cProfile: time by layer"
    )
    args = p.parse_args(argv)
    default_levels = "1,10" if args.tiny else "1,10,100,1000"
    levels = [int(x) for x in (args.levels or default_levels).split(",")]
    duration = args.duration or (0.2 if args.tiny else 1.0 if args.quick else 3.0)
    nrefs = args.refs if args.refs is not None else 200 if args.tiny else 20_000
    flags = ("-O",) if args.loop == "uvloop" else ()  # see run.py's System.flags
    out: Path = args.out
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = "python bench/scale.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])
    )
    env, source = pbtyped_source(args.at, out)
    print(f"{command}\npbtyped from {source}", flush=True)
    results = []
    for client in args.clients.split(","):
        for n in levels:
            for system in args.systems.split(","):
                t0 = time.monotonic()
                prof = logs / f"scale-{system}-{client}-{n}" if args.profile else None
                results.append(
                    one_level(
                        system, client, n, args.procs, duration, args.loop, flags, logs, env, prof
                    )
                )
                took = time.monotonic() - t0
                print(f"  {system:<8} {client:<8} {n:>5} connections: {took:5.1f} s", flush=True)
    wanted = nrefs > 0 and "pbtyped" in args.systems.split(",")
    refs = references(nrefs, args.loop, flags, logs, env) if wanted else None
    md = (
        f"Command: `{command}` (pbtyped from {source}; loop {args.loop}; {duration:g} s of "
        f"closed-loop load per level, every connection one call at a time; client lean: "
        f"a load generator speaking the server's wire by hand; own: the system's own client)\n\n"
        f"{table(results, refs)}"
    )
    print()
    print(md)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    doc = {"command": command, "source": source, "levels": results, "refs": refs, "loop": args.loop}
    (out / f"scale-{stamp}.json").write_text(json.dumps(doc, indent=1))
    (out / f"scale-{stamp}.md").write_text(md + "\n")
    if args.publish:
        publish(md)
    return 0


def publish(md: str) -> None:
    results = HERE / "RESULTS.md"
    start, end = "<!-- bench:scale.py -->", "<!-- /bench:scale.py -->"
    text = results.read_text() if results.exists() else ""
    if start not in text or end not in text:
        text += f"\n{start}\n{end}\n"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    results.write_text(f"{before}{start}\n{md}\n{end}{after}")


if __name__ == "__main__":
    sys.exit(main())
