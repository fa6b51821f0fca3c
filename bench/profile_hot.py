"""Where pbtyped's time goes: cProfile of the server and the client on one workload at a time.

    python bench/profile_hot.py [--workloads latency,throughput,records] [--api stubs|runtime]
                                [--top 15] [--loop uvloop] [--system bare]

Runs sys_pbtyped.py's (or, with ``--system bare``, the floor's) server and client (separate
processes, pinned as in run.py) with cProfile on, one workload per pair, and prints the Python
function calls each side makes per call, then the top functions by own time and by cumulative
time for each side. cProfile roughly doubles the cost of every Python call, so read the shares,
not the absolute times. Stats are kept in ``<out>/profile-<system>-<workload>-<role>.pstats``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import pstats
import sys
from pathlib import Path

from common import Config
from procs import HERE, pbtyped_source, run_client, start_server, stop
from run import generate_stubs

COUNTS = {
    "latency": Config(latency_warmup=200, latency_calls=5000, workloads=("latency",)),
    "throughput": Config(tput_calls=20000, workloads=("throughput",)),
    "records": Config(records_calls=30, records_cap_s=30.0, workloads=("records",)),
    "bytes": Config(big_calls=30, big_sizes=(1024 * 1024,), workloads=("bytes",)),
}


# Calls each workload makes (with its warm-up), to turn profile totals into per-call figures.
CALLS = {
    "latency": lambda c: c.latency_warmup + c.latency_calls + 1,
    "throughput": lambda c: 2 * (c.tput_calls // c.tput_inflight) * c.tput_inflight + 1,
    "records": lambda c: c.records_calls + 2,
    "bytes": lambda c: c.big_calls + 2,
}


def top(path: Path, key: str, n: int) -> str:
    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    stats.strip_dirs().sort_stats(key).print_stats(n)
    lines = buf.getvalue().splitlines()
    # Keep pstats' column header and rows, drop its preamble.
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(ln.rstrip() for ln in lines[start:] if ln.strip())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workloads", default="latency,throughput,records")
    p.add_argument("--system", choices=["pbtyped", "bare"], default="pbtyped")
    p.add_argument("--api", choices=["stubs", "runtime"], default="stubs")
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--at", default="HEAD", help="git revision of pbtyped, or 'worktree'")
    args = p.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    env, source = pbtyped_source(args.at, out)
    print(f"pbtyped from {source}")
    script = f"sys_{args.system}.py"
    if args.system == "bare":
        args.api = "runtime"
    if args.api == "stubs":
        gen_dir, why = generate_stubs(out, env)
        if gen_dir is None:
            print(f"error: {why}", file=sys.stderr)
            return 2
        env["PBTYPED_BENCH_GENERATED"] = str(gen_dir)
    flags: tuple[str, ...] = ()
    common = ["--loop", args.loop, "--api", args.api]
    for workload in args.workloads.split(","):
        cfg = COUNTS[workload]
        prefix = out / f"profile-{args.system}-{workload}"
        env["PBTYPED_BENCH_PROFILE"] = str(prefix)
        log = out / "logs" / f"profile-{workload}"
        server = start_server(
            script, ["--cpu", "0", *common], log.with_suffix(".server.log"), env, flags
        )
        try:
            client_args = ["--cpu", "1", "--port", str(server.port), *common]
            client_args += ["--server-pid", str(server.pid)]
            client_args += ["--config", json.dumps(dataclasses.asdict(cfg))]
            result = run_client(
                script, client_args, 600.0, log.with_suffix(".client.log"), env, flags
            )
        finally:
            stop(server.proc)
        result.pop("api", None)
        what = f"{args.system}, {args.api}, {args.loop}"
        print(f"\n#### {workload} ({what}), under cProfile: {json.dumps(result)}")
        calls = CALLS[workload](cfg)
        for role in ("server", "client"):
            path = Path(f"{prefix}-{role}.pstats")
            with contextlib.suppress(OSError):
                total = pstats.Stats(str(path)).total_calls  # type: ignore[attr-defined]
                print(f"{role}: {total / calls:,.0f} Python function calls per {workload} call")
            for key, what in (("tottime", "own time"), ("cumulative", "cumulative time")):
                print(f"\n{workload} · {role} · top {args.top} by {what}\n")
                with contextlib.suppress(OSError):
                    print(top(path, key, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
