"""Stream throughput: pbtyped streams against one call per item, Twisted PB's pagers, gRPC
server streaming and a raw socket, for small items (items/s) and 64 KiB chunks (MB/s).

Each server runs in a process of its own (``--serve SYSTEM`` prints its port); the client runs
here (Twisted PB's in a process of its own, on its reactor). Every figure is the best of
``--rounds`` runs. ``--memory MIB`` instead streams that many MiB read slowly and samples the
resident memory of both processes (issue 14 item 2). ``--tiny`` runs everything with tiny
counts (the smoke test).

    python bench/streams.py --out bench/out             # the table, JSON and chart
    python bench/streams.py --memory 1024 --out bench/out   # 1 GiB read slowly: RSS over time
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import rss_kib  # noqa: E402
from procs import compile_proto  # noqa: E402

CHUNK = 64 * 1024
ITEM = "tick 00000000"  # 13 characters, like a small record's text


# -- servers -----------------------------------------------------------------------------------


def serve_pbtyped() -> None:
    import pbtyped as pb

    class Feed(pb.Root):
        async def remote_texts(self, count: int) -> AsyncIterator[str]:
            for _ in range(count):
                yield ITEM

        async def remote_blobs(self, count: int) -> AsyncIterator[bytes]:
            for i in range(count):
                yield bytes([i % 256]) * CHUNK  # a fresh chunk each time

        def remote_text(self, i: int) -> str:
            return ITEM

        def remote_ping(self) -> str:
            return "pong"

    async def main() -> None:
        async with pb.serve(Feed()) as server:
            print(f"port {server.port}", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


def serve_grpc(generated: str) -> None:
    import grpc

    sys.path.insert(0, generated)
    import bench_pb2
    import bench_pb2_grpc

    class Bench(bench_pb2_grpc.BenchServicer):  # type: ignore[misc]
        async def StreamTexts(self, request: Any, context: Any) -> AsyncIterator[Any]:
            for _ in range(request.count):
                yield bench_pb2.Text(text=ITEM)

        async def StreamBlobs(self, request: Any, context: Any) -> AsyncIterator[Any]:
            for i in range(request.count):
                yield bench_pb2.Blob(data=bytes([i % 256]) * request.size)

    async def main() -> None:
        server = grpc.aio.server()
        bench_pb2_grpc.add_BenchServicer_to_server(Bench(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"port {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.stop(None)

    asyncio.run(main())


def serve_raw() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = int((await reader.readline()).decode())
        for i in range(count):
            writer.write(bytes([i % 256]) * CHUNK)
            await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


def serve_pb() -> None:
    from twisted.internet import reactor
    from twisted.spread import pb, util

    class ItemPager(util.Pager):  # type: ignore[misc]
        """PB's way to send many items: pages of them, each page a remote call."""

        def __init__(self, collector: Any, count: int) -> None:
            self.left = count
            util.Pager.__init__(self, collector)

        def nextPage(self) -> list[str]:
            n = min(self.left, 1000)
            self.left -= n
            if not self.left:
                self.stopPaging()
            return [ITEM] * n

    class Root(pb.Root):  # type: ignore[misc]
        def remote_texts(self, collector: Any, count: int) -> None:
            ItemPager(collector, count)

        def remote_blobs(self, collector: Any, count: int) -> None:
            util.StringPager(collector, b"\x01" * (CHUNK * count), chunkSize=CHUNK)

    port = reactor.listenTCP(0, pb.PBServerFactory(Root()), interface="127.0.0.1")
    print(f"port {port.getHost().port}", flush=True)
    reactor.callInThread(lambda: (sys.stdin.read(), reactor.callFromThread(reactor.stop)))
    reactor.run()


def client_pb(port: int, method: str, count: int) -> None:
    """Twisted PB's client: page ``method`` once; prints the seconds it took and the size."""
    from twisted.internet import reactor
    from twisted.spread import pb, util

    got: list[Any] = []

    def done(pages: list[Any], start: float) -> None:
        elapsed = time.perf_counter() - start
        size = sum(map(len, pages)) if method == "texts" else len(b"".join(pages))
        got.append({"seconds": elapsed, "size": size})
        reactor.stop()

    def start(root: Any) -> None:
        began = time.perf_counter()
        pages = util.getAllPages(root, method, count)
        pages.addCallback(done, began).addErrback(failed)

    def failed(failure: Any) -> None:
        got.append({"error": failure.getErrorMessage()})
        reactor.stop()

    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port, factory)
    factory.getRootObject().addCallback(start).addErrback(failed)
    reactor.run()
    print(json.dumps(got[0]))


# -- clients ------------------------------------------------------------------------------------


class Server:
    """A server process: its port, and stdin to end it."""

    def __init__(self, system: str, generated: str | None = None) -> None:
        args = [sys.executable, __file__, "--serve", system]
        if generated:
            args += ["--generated", generated]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"{system} server did not start: {line!r}")
        self.port = int(line.split()[1])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def best(rounds: int, once: Callable[[], Awaitable[float]]) -> float:
    return min([await once() for _ in range(rounds)])


async def pbtyped_rates(port: int, items: int, chunks: int, rounds: int) -> dict[str, float]:
    import pbtyped as pb

    async with pb.connect("127.0.0.1", port) as client:
        root = await client.root()

        async def stream_items() -> float:
            start = time.perf_counter()
            n = 0
            async for _ in await root.call_remote("texts", items):
                n += 1
            assert n == items
            return time.perf_counter() - start

        async def calls() -> float:
            start = time.perf_counter()
            for i in range(items // 10):
                await root.call_remote("text", i)
            return (time.perf_counter() - start) * 10  # for the same number of items

        async def blobs() -> float:
            start = time.perf_counter()
            size = 0
            async for chunk in await root.call_remote("blobs", chunks):
                size += len(chunk)
            assert size == chunks * CHUNK
            return time.perf_counter() - start

        return {
            "items": items / await best(rounds, stream_items),
            "calls": items / await best(rounds, calls),
            "chunks": chunks * CHUNK / 1e6 / await best(rounds, blobs),
        }


async def grpc_rates(
    port: int, generated: str, items: int, chunks: int, rounds: int
) -> dict[str, float]:
    import grpc

    sys.path.insert(0, generated)
    import bench_pb2
    import bench_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = bench_pb2_grpc.BenchStub(channel)

        async def texts() -> float:
            start = time.perf_counter()
            n = 0
            async for _ in stub.StreamTexts(bench_pb2.Count(count=items)):
                n += 1
            assert n == items
            return time.perf_counter() - start

        async def blobs() -> float:
            start = time.perf_counter()
            size = 0
            async for blob in stub.StreamBlobs(bench_pb2.Count(count=chunks, size=CHUNK)):
                size += len(blob.data)
            assert size == chunks * CHUNK
            return time.perf_counter() - start

        return {
            "items": items / await best(rounds, texts),
            "chunks": chunks * CHUNK / 1e6 / await best(rounds, blobs),
        }


async def raw_rate(port: int, chunks: int, rounds: int) -> dict[str, float]:
    async def once() -> float:
        start = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"{chunks}\n".encode())
        size = 0
        while data := await reader.read(1 << 20):
            size += len(data)
        writer.close()
        assert size == chunks * CHUNK
        return time.perf_counter() - start

    return {"chunks": chunks * CHUNK / 1e6 / await best(rounds, once)}


def pb_rates(port: int, items: int, chunks: int, rounds: int) -> dict[str, float]:
    def once(method: str, count: int) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, __file__, "--pb-client", str(port), method, str(count)],
            capture_output=True, text=True, timeout=600, check=True,
        )  # fmt: skip
        return dict(json.loads(out.stdout))

    item_s = min(once("texts", items)["seconds"] for _ in range(rounds))
    chunk_s = min(once("blobs", chunks)["seconds"] for _ in range(rounds))
    return {"items": items / item_s, "chunks": chunks * CHUNK / 1e6 / chunk_s}


async def fairness(port: int, calls: int) -> dict[str, float]:
    """The median round trip of a small call, alone and beside an endless 64 KiB stream."""
    import statistics

    import pbtyped as pb

    async with pb.connect("127.0.0.1", port) as client:
        root = await client.root()

        async def trips() -> float:
            samples = []
            for _ in range(calls):
                start = time.perf_counter()
                await root.call_remote("ping")
                samples.append(time.perf_counter() - start)
                await asyncio.sleep(0.001)
            return statistics.median(samples)

        alone = await trips()
        stream = await root.call_remote("blobs", 10**9)

        async def drain() -> None:
            async for _ in stream:
                pass

        task = asyncio.ensure_future(drain())
        beside = await trips()
        task.cancel()
        return {"alone_us": alone * 1e6, "beside_us": beside * 1e6}


# -- memory ---------------------------------------------------------------------------------------


async def memory(port: int, server_pid: int, mib: int, out: Path) -> dict[str, Any]:
    """Stream ``mib`` MiB of 64 KiB chunks, read slowly; sample both processes' RSS."""
    import pbtyped as pb

    chunks = mib * 16
    samples: list[tuple[float, int, int]] = []
    async with pb.connect("127.0.0.1", port) as client:
        root = await client.root()
        start = time.perf_counter()
        n = 0
        async for _ in await root.call_remote("blobs", chunks):
            n += 1
            if n % 64 == 0:
                await asyncio.sleep(0.002)  # a consumer slower than the producer
                samples.append((time.perf_counter() - start, rss_kib(), rss_kib(server_pid)))
        assert n == chunks
    client_rss = [c for _, c, _ in samples]
    server_rss = [s for _, _, s in samples]
    tenth = max(1, len(samples) // 10)
    result = {
        "mib": mib,
        "seconds": samples[-1][0] if samples else 0.0,
        "client_kib": {"first_tenth_max": max(client_rss[:tenth]), "max": max(client_rss)},
        "server_kib": {"first_tenth_max": max(server_rss[:tenth]), "max": max(server_rss)},
    }
    (out / "streams-memory.json").write_text(json.dumps({"result": result, "samples": samples}))
    return result


# -- the run --------------------------------------------------------------------------------------


def table(results: dict[str, dict[str, float]], items: int, chunks: int) -> str:
    rows = [
        f"Small items ({items:,} strings of {len(ITEM)} characters) and 64 KiB chunks "
        f"({chunks * CHUNK // 2**20} MiB), best of the rounds:",
        "",
        "| system | small items, items/s | 64 KiB chunks, MB/s |",
        "|---|---:|---:|",
    ]
    names = {
        "pbtyped": "pbtyped stream",
        "calls": "pbtyped, one call per item",
        "grpc": "gRPC aio server streaming",
        "pb": "Twisted PB pagers (Pager of 1,000 items, StringPager 64 KiB)",
        "raw": "raw asyncio socket (the floor)",
    }
    for key, name in names.items():
        r = results.get(key)
        if r is None:  # its package is not installed: a row that says so
            rows.append(f"| {name} | skipped | skipped |")
            continue
        item = f"{r['items']:,.0f}" if "items" in r else "-"
        chunk = f"{r['chunks']:,.0f}" if "chunks" in r else "-"
        rows.append(f"| {name} | {item} | {chunk} |")
    ours, calls, floor = results["pbtyped"], results.get("calls"), results.get("raw")
    if calls:
        rows.append(f"\npbtyped stream / one call per item: {ours['items'] / calls['items']:.1f}x")
    if floor:
        rows.append(f"pbtyped 64 KiB chunks / raw floor: {ours['chunks'] / floor['chunks']:.2f}x")
    return "\n".join(rows)


def chart(results: dict[str, dict[str, float]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    items = {k: v["items"] for k, v in results.items() if "items" in v}
    chunks = {k: v["chunks"] for k, v in results.items() if "chunks" in v}
    left.barh(list(items), list(items.values()))
    left.set_title("small items, items/s")
    right.barh(list(chunks), list(chunks.values()))
    right.set_title("64 KiB chunks, MB/s")
    fig.tight_layout()
    fig.savefig(path)


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    items, chunks, rounds = (2_000, 16, 1) if args.tiny else (200_000, 512, 3)
    results: dict[str, dict[str, float]] = {}
    server = Server("pbtyped")
    try:
        if args.memory:
            return {"memory": await memory(server.port, server.proc.pid, args.memory, args.out)}
        rates = await pbtyped_rates(server.port, items, chunks, rounds)
        results["pbtyped"] = {"items": rates["items"], "chunks": rates["chunks"]}
        results["calls"] = {"items": rates["calls"]}
        fair = await fairness(server.port, 50 if args.tiny else 500)
    finally:
        server.close()
    generated, why = compile_proto(args.out / "grpc")
    if generated is not None:
        server = Server("grpc", str(generated))
        try:
            results["grpc"] = await grpc_rates(server.port, str(generated), items, chunks, rounds)
        finally:
            server.close()
    else:
        print(f"gRPC skipped: {why}")
    if importlib.util.find_spec("twisted") is None:
        print("Twisted PB skipped: twisted is not installed (pip install -e '.[bench]')")
    else:
        server = Server("pb")
        try:
            results["pb"] = pb_rates(server.port, items, chunks, rounds)
        finally:
            server.close()
    server = Server("raw")
    try:
        results["raw"] = await raw_rate(server.port, chunks, rounds)
    finally:
        server.close()
    return {"rates": results, "fairness": fair, "items": items, "chunks": chunks}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--out", type=Path, default=HERE / "out")
    p.add_argument("--memory", type=int, default=0, help="MiB to stream slowly (RSS run)")
    p.add_argument("--serve", default=None)
    p.add_argument("--generated", default=None)
    p.add_argument("--pb-client", nargs=3, default=None)
    args = p.parse_args()
    if args.serve:
        {
            "pbtyped": serve_pbtyped,
            "grpc": lambda: serve_grpc(args.generated),
            "raw": serve_raw,
            "pb": serve_pb,
        }[args.serve]()
        return 0
    if args.pb_client:
        port, method, count = args.pb_client
        client_pb(int(port), method, int(count))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    found = asyncio.run(run_all(args))
    if "memory" in found:
        print(json.dumps(found["memory"], indent=1))
        return 0
    text = table(found["rates"], found["items"], found["chunks"])
    fair = found["fairness"]
    text += (
        f"\nA small call's median round trip: {fair['alone_us']:.0f} us alone, "
        f"{fair['beside_us']:.0f} us beside an endless 64 KiB stream "
        f"({fair['beside_us'] / fair['alone_us']:.1f}x)"
    )
    print(text)
    (args.out / "streams.json").write_text(json.dumps(found, indent=1))
    (args.out / "streams.md").write_text(text + "\n")
    chart(found["rates"], args.out / "streams.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
