"""How pbtyped's latency and server memory grow with concurrent connections (issue 5, item 3).

    python bench/scale.py [--quick | --tiny] [--levels 1,10,100,1000] [--loop uvloop]

For each level and system (pbtyped, and the bare asyncio+cbor2 floor for reference) a fresh
server process (pinned to core 0) gets that many client connections,
spread over up to ``--procs`` client processes (pinned to core 1). The server's RSS is read from
/proc before any connection, once all are open and have made one call, and after a closed-loop
load in which every connection makes sequential echo calls for ``--duration`` seconds. Then one
connection fetches ``--refs`` references to new server objects and holds them: RSS growth per
exported reference on the server, per imported reference on the client. Prints a table, writes
``<out>/scale-<stamp>.{json,md}``; ``--publish`` puts the table in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import latency_summary, rss_kib
from procs import HERE, BenchError, pbtyped_source, read_line, start_server, stop, worker_cmd


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
    n: int,
    procs: int,
    duration: float,
    loop: str,
    flags: tuple[str, ...],
    logs: Path,
    env: dict[str, str],
) -> dict[str, Any]:
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
            clients.append(spawn_client(args, log, flags, env))
        for c in clients:
            expect(c, "READY", 180.0, log)
        rss_open = rss_kib(server.pid)
        for c in clients:
            tell(c, "GO")
        samples: list[int] = []
        seconds = 0.0
        for c in clients:
            data = json.loads(expect(c, "RESULT ", duration + 120.0, log)[len("RESULT ") :])
            samples.extend(data["samples_ns"])
            seconds = max(seconds, data["seconds"])
        rss_load = rss_kib(server.pid)
    finally:
        for c in clients:
            stop(c, grace=30.0)
        stop(server.proc)
    lat = latency_summary(samples)
    return {
        "system": system,
        "connections": n,
        "client_procs": len(shares),
        "rss_kib": {"idle": rss0, "open": rss_open, "after_load": rss_load},
        "kib_per_connection": (rss_open - rss0) / n,
        "kib_per_connection_after_load": (rss_load - rss0) / n,
        "latency_us": lat,
        "calls_per_s": len(samples) / seconds if seconds else None,
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


def table(levels: list[dict[str, Any]], refs: dict[str, Any] | None) -> str:
    head = (
        "| system | connections | echo p50 µs | echo p99 µs | calls/s (all connections) | "
        "server RSS idle → open → after load, MiB | KiB per connection (open / after load) |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---|---:|"]
    for lv in levels:
        r = lv["rss_kib"]
        lines.append(
            f"| {lv['system']} | {lv['connections']:,} | {lv['latency_us']['p50']:,.0f} | "
            f"{lv['latency_us']['p99']:,.0f} | {lv['calls_per_s']:,.0f} | "
            f"{r['idle'] / 1024:.1f} → {r['open'] / 1024:.1f} → {r['after_load'] / 1024:.1f} | "
            f"{lv['kib_per_connection']:,.1f} / {lv['kib_per_connection_after_load']:,.1f} |"
        )
    out = "\n".join(lines)
    for system in dict.fromkeys(lv["system"] for lv in levels):
        mine = [lv for lv in levels if lv["system"] == system]
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
    p.add_argument("--duration", type=float, default=None, help="load seconds per level")
    p.add_argument("--refs", type=int, default=None, help="references for the per-ref figure")
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--publish", action="store_true")
    p.add_argument("--at", default="HEAD", help="git revision of pbtyped, or 'worktree'")
    args = p.parse_args(argv)
    default_levels = "1,10" if args.tiny else "1,10,100,1000"
    levels = [int(x) for x in (args.levels or default_levels).split(",")]
    duration = args.duration or (0.2 if args.tiny else 1.0 if args.quick else 3.0)
    nrefs = args.refs or (200 if args.tiny else 20_000)
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
    for n in levels:
        for system in args.systems.split(","):
            t0 = time.monotonic()
            results.append(one_level(system, n, args.procs, duration, args.loop, flags, logs, env))
            print(f"  {system:<8} {n:>5} connections: {time.monotonic() - t0:5.1f} s", flush=True)
    wanted = nrefs > 0 and "pbtyped" in args.systems.split(",")
    refs = references(nrefs, args.loop, flags, logs, env) if wanted else None
    md = (
        f"Command: `{command}` (pbtyped from {source}; loop {args.loop}; {duration:g} s of "
        f"closed-loop load per level, every connection one call at a time)\n\n"
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
