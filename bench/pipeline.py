"""Promise pipelining on a slow link: chains of 1, 3 and 10 dependent calls, in round trips.

    python bench/pipeline.py [--tiny] [--delay MS] [--reps N] [--out DIR]

A loopback proxy (asyncio, 127.0.0.1) holds every chunk for ``--delay`` ms each way, so one
round trip costs 2 x delay. Each chain is ``root.node().node()...`` (each call needs the
object the one before returned): pbtyped pipelined (one await on the last promise), pbtyped
awaited one by one, and Twisted PB (which can only await each step). The table gives the
median time of a chain divided by the round trip; the goal is a 10-call chain pipelined
within 1.3 round trips. Servers run in processes of their own; the proxy and the pbtyped
client share this one; the Twisted client runs in its own process (pipeline_twisted.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHAINS = (1, 3, 10)


# -- the delaying link ------------------------------------------------------------------------


class SlowLink:
    """A TCP proxy on 127.0.0.1 that delivers each chunk ``delay`` seconds after it read it,
    in order, each way."""

    def __init__(self, server_port: int, delay: float) -> None:
        self._server_port = server_port
        self._delay = delay
        self._listener: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> SlowLink:
        self._listener = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._listener is not None
        self._listener.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._server_port)
        for pipe in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            task = asyncio.ensure_future(pipe)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(65536):
                # The delay is the same for every chunk: the timers fire in reading order.
                loop.call_at(loop.time() + self._delay, _write, writer, data)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            loop.call_at(loop.time() + self._delay, writer.close)


def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    if not writer.is_closing():
        writer.write(data)


# -- pbtyped ---------------------------------------------------------------------------------


def _pbtyped_root() -> Any:
    import pbtyped as pb

    class Node(pb.Referenceable):
        def __init__(self, depth: int) -> None:
            self.depth = depth

        def remote_node(self) -> Node:
            return Node(self.depth + 1)

    class Root(pb.Root):
        def remote_node(self) -> Node:
            return Node(1)

    return Root()


async def _serve_pbtyped() -> None:
    import pbtyped as pb

    async with pb.serve(_pbtyped_root(), "127.0.0.1", 0) as server:
        print(f"PORT {server.port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


async def _time_pbtyped(port: int, reps: int) -> dict[str, dict[int, list[float]]]:
    import pbtyped as pb

    times: dict[str, dict[int, list[float]]] = {"pipelined": {}, "awaited": {}}
    async with pb.connect("127.0.0.1", port) as client:
        root = await client.root()
        for n in CHAINS:
            for mode in times:
                runs = times[mode].setdefault(n, [])
                for _ in range(reps + 1):  # the first is a warm-up
                    start = time.perf_counter()
                    if mode == "pipelined":
                        promise = root.call_remote("node")
                        for _ in range(n - 1):
                            promise = promise.call_remote("node")
                        await promise
                    else:
                        ref = await root.call_remote("node")
                        for _ in range(n - 1):
                            ref = await ref.call_remote("node")
                    runs.append(time.perf_counter() - start)
                del runs[0]
    return times


# -- the run ---------------------------------------------------------------------------------


def _start(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"server {args} did not start: {line!r}")
    return proc, int(line.split()[1])


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def _twisted(link_port: int, reps: int) -> dict[int, list[float]] | str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "pipeline_twisted.py"),
        "client",
        str(link_port),
        str(reps),
        ",".join(map(str, CHAINS)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    for line in out.decode().splitlines():
        if line.startswith("RESULT "):
            return {int(k): v for k, v in json.loads(line[7:]).items()}
    return f"failed: {err.decode()[-300:]}"


async def _measure(delay: float, reps: int, twisted: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    server, port = _start([__file__, "--serve"])
    try:
        async with SlowLink(port, delay) as link:
            timed = await _time_pbtyped(link.port, reps)
        results["pbtyped, pipelined"] = timed["pipelined"]
        results["pbtyped, awaited"] = timed["awaited"]
    finally:
        _stop(server)
    if twisted and importlib.util.find_spec("twisted") is None:
        results["Twisted PB"] = "skipped: twisted is not installed (pip install -e '.[bench]')"
    elif twisted:
        server, port = _start([str(HERE / "pipeline_twisted.py"), "server"])
        try:
            async with SlowLink(port, delay) as link:
                results["Twisted PB"] = await _twisted(link.port, reps)
        finally:
            _stop(server)
    return results


def table(results: dict[str, Any], delay: float) -> str:
    """The Markdown table: median time of each chain, in round trips (2 x delay)."""
    rtt = 2 * delay
    lines = [
        "| system | " + " | ".join(f"chain of {n}" for n in CHAINS) + " |",
        "|---|" + "---:|" * len(CHAINS),
    ]
    for system, by_chain in results.items():
        if isinstance(by_chain, str):
            lines.append(f"| {system} | " + " | ".join(["skipped"] * len(CHAINS)) + " |")
            continue
        cells = [f"{statistics.median(by_chain[n]) / rtt:.2f}" for n in CHAINS]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart(results: dict[str, Any], delay: float, path: Path) -> None:
    """Grouped bars: round trips per chain length, one bar per system (none without
    matplotlib, which the bench extra installs)."""
    if importlib.util.find_spec("matplotlib") is None:
        print("chart skipped: matplotlib is not installed (pip install -e '.[bench]')")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rtt = 2 * delay
    systems = [s for s, v in results.items() if not isinstance(v, str)]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / max(len(systems), 1)
    for i, system in enumerate(systems):
        xs = [c + (i - (len(systems) - 1) / 2) * width for c in range(len(CHAINS))]
        ys = [statistics.median(results[system][n]) / rtt for n in CHAINS]
        ax.bar(xs, ys, width, label=system)
    ax.set_xticks(range(len(CHAINS)), [f"chain of {n}" for n in CHAINS])
    ax.set_ylabel("round trips (median)")
    ax.set_title(f"Dependent calls over a link of {rtt * 1000:.0f} ms round trip")
    ax.axhline(1.3, color="grey", linewidth=0.8, linestyle="--")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tiny", action="store_true", help="tiny counts: proves the bench runs")
    p.add_argument("--delay", type=float, default=5.0, help="ms added each way (default 5)")
    p.add_argument("--reps", type=int, default=20, help="chains timed per cell (default 20)")
    p.add_argument("--no-twisted", action="store_true", help="pbtyped alone")
    p.add_argument("--out", type=Path, default=HERE / "results", help="where results go")
    args = p.parse_args(argv)
    if args.serve:
        asyncio.run(_serve_pbtyped())
        return 0
    delay, reps = (0.001, 2) if args.tiny else (args.delay / 1000, args.reps)
    results = asyncio.run(_measure(delay, reps, not args.no_twisted))
    md = table(results, delay)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pipeline.json").write_text(json.dumps({"delay": delay, "results": results}))
    (args.out / "pipeline.md").write_text(md + "\n")
    chart(results, delay, args.out / "pipeline.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
