"""Promise pipelining on a slow link: chains of 1, 3 and 10 dependent calls, in round trips.

    python bench/pipeline.py [--tiny] [--delay MS] [--reps N] [--out DIR]

A loopback proxy (127.0.0.1, a process of its own) holds every chunk for ``--delay`` ms each
way, so one round trip costs 2 x delay. Each chain is ``root.node().node()...`` (each call
needs the object the one before returned): pbtyped pipelined (one await on the last promise),
pbtyped awaited one by one, and Twisted PB (which can only await each step). The table gives
the median time of a chain divided by the round trip; the goal is a 10-call chain pipelined
within 1.3 round trips. The row "link alone" is a one-byte ping-pong through the same proxy:
what the emulated link itself costs. Servers run in processes of their own; the pbtyped
client runs in this one, the Twisted client in its own (pipeline_twisted.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHAINS = (1, 3, 10)


# -- the delaying link ------------------------------------------------------------------------


class SlowLink:
    """A TCP proxy on 127.0.0.1, in a process of its own, that delivers each chunk ``delay``
    seconds after it read it, in order, each way.

    Each direction of each connection has a reading thread and a writing thread that sleeps
    until the chunk is due (``time.sleep``: tens of microseconds late). An asyncio proxy wakes
    up to a millisecond late on every hop (epoll's timeout is whole milliseconds, rounded up)
    and shares its process with a client: it added ~1.7 ms to each 10 ms round trip, which the
    table then charged to the systems measured. ``--link`` in the table times a bare
    ping-pong through the same proxy: what the link itself costs.
    """

    def __init__(self, server_port: int, delay: float) -> None:
        self._args = [__file__, "--link", str(server_port), repr(delay)]
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> SlowLink:
        self._proc, self.port = _start(self._args)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        _stop(self._proc)


def _run_link(server_port: int, delay: float) -> None:
    """The proxy process: accept, then two threads per direction; ends when stdin closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    threading.Thread(target=_accept, args=(listener, server_port, delay), daemon=True).start()
    sys.stdin.buffer.read()


def _accept(listener: socket.socket, server_port: int, delay: float) -> None:
    while True:
        down, _ = listener.accept()
        up = socket.create_connection(("127.0.0.1", server_port))
        for sock in (down, up):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for src, dst in ((down, up), (up, down)):
            chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
            threading.Thread(target=_read, args=(src, chunks, delay), daemon=True).start()
            threading.Thread(target=_deliver, args=(dst, chunks), daemon=True).start()


def _read(src: socket.socket, chunks: queue.SimpleQueue[tuple[float, bytes]], delay: float) -> None:
    try:
        while data := src.recv(65536):
            chunks.put((time.monotonic() + delay, data))
    except OSError:
        pass
    chunks.put((time.monotonic() + delay, b""))


def _deliver(dst: socket.socket, chunks: queue.SimpleQueue[tuple[float, bytes]]) -> None:
    while True:
        due, data = chunks.get()
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            if not data:
                dst.shutdown(socket.SHUT_WR)
                return
            dst.sendall(data)
        except OSError:
            return


# -- the link alone --------------------------------------------------------------------------


async def _serve_echo() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.set_write_buffer_limits(0)
        while data := await reader.read(65536):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


async def _time_link(port: int, reps: int) -> dict[int, list[float]]:
    """A one-byte ping-pong through the link: one round trip, whatever the chain's length
    (what a call that costs nothing but the link would take)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    runs: list[float] = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        writer.write(b"x")
        await reader.readexactly(1)
        runs.append(time.perf_counter() - start)
    writer.close()
    del runs[0]
    return {n: runs for n in CHAINS}


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
    server, port = _start([__file__, "--serve-echo"])
    try:
        with SlowLink(port, delay) as link:
            results["link alone (one byte each way)"] = await _time_link(link.port, reps)
    finally:
        _stop(server)
    server, port = _start([__file__, "--serve"])
    try:
        with SlowLink(port, delay) as link:
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
            with SlowLink(port, delay) as link:
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
    p.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--link", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--tiny", action="store_true", help="tiny counts: proves the bench runs")
    p.add_argument("--delay", type=float, default=5.0, help="ms added each way (default 5)")
    p.add_argument("--reps", type=int, default=20, help="chains timed per cell (default 20)")
    p.add_argument("--no-twisted", action="store_true", help="pbtyped alone")
    p.add_argument("--out", type=Path, default=HERE / "results", help="where results go")
    args = p.parse_args(argv)
    if args.serve:
        asyncio.run(_serve_pbtyped())
        return 0
    if args.serve_echo:
        asyncio.run(_serve_echo())
        return 0
    if args.link:
        _run_link(int(args.link[0]), float(args.link[1]))
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
