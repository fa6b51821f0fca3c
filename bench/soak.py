"""Soak: many clients against one server for a fixed time; nothing may leak or go wrong.

    python bench/soak.py                    # 60 s, 32 clients in 2 client processes
    python bench/soak.py --seconds 600 --clients 64 --procs 2 --json

The server runs in its own process. The clients (asyncio tasks, split over ``--procs``
processes) call in a loop: echoes of nested values, references created, called and dropped,
callbacks into a reference the client passes, copies of registered dataclasses and enums,
registered and unregistered errors, calls to missing methods, calls cut short by a timeout
(the server cancels them), and connections dropped with references still held and opened
again. Every answer is checked.

At the end the clients drop everything, and the server's ``remote_stats`` must show every
connection's export table back to the root alone and its import table empty, while still
connected; then, once they have gone, a single connection left. Reported: calls completed,
errors by kind (expected ones, and unexpected ones that fail the run), server RSS from
/proc at start, after warm-up, peak and end, the server's log record count, and how many
closed connections the server still holds in memory (``--strict`` makes that fatal too).
Exit status 0 only if nothing unexpected happened and the tables came back to empty.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import enum
import gc
import json
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sys_pbtyped import local_limits

import pbtyped as pb

# -- what travels --------------------------------------------------------------------------


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    qty: int


@dataclasses.dataclass(frozen=True)
class Order:
    id: int
    lines: list[Line]
    status: Status
    note: str | None = None


class SoakError(pb.Error):
    """An expected, registered error."""


def registry() -> pb.Registry:
    reg = pb.Registry()
    reg.register_type(Status, "soak.Status")
    reg.register_type(Line, "soak.Line")
    reg.register_type(Order, "soak.Order")
    reg.register_error(SoakError, "soak.SoakError")
    return reg


# -- the server ----------------------------------------------------------------------------


class Counter(pb.Referenceable):
    def __init__(self) -> None:
        self.value = 0

    def remote_incr(self, n: int) -> int:
        self.value += n
        return self.value


class SoakRoot(pb.Root):
    server: pb.Server | None = None

    def remote_echo(self, value: Any) -> Any:
        return value

    def remote_counter(self) -> Counter:
        return Counter()

    def remote_counters(self, n: int) -> list[Counter]:
        return [Counter() for _ in range(n)]

    async def remote_callback(self, ref: pb.RemoteReference, text: str) -> str:
        return str(await ref.call("shout", [text], timeout=10))

    def remote_pay(self, order: Order) -> Order:
        return dataclasses.replace(order, status=Status.PAID, note=f"{len(order.lines)} lines")

    def remote_fail(self, registered: bool) -> None:
        if registered:
            raise SoakError("as expected")
        raise ValueError("unregistered on purpose")

    async def remote_slow(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "slept"

    def remote_stats(self) -> dict[str, Any]:
        assert self.server is not None
        conns = list(self.server.connections)
        gc.collect()
        return {
            # Connection objects still in memory, open or not: beyond the open ones, a leak.
            "connection_objects": sum(isinstance(o, pb.Connection) for o in gc.get_objects()),
            "connections": len(conns),
            "exports": [c.broker.export_count for c in conns],
            "imports": [c.broker.import_count for c in conns],
            "running": sum(len(c._calls.running or ()) for c in conns),
            "pending": sum(len(c._pending or ()) for c in conns),
        }


async def serve_main() -> None:
    # One marker per record so the conductor can count records, not traceback lines.
    logging.basicConfig(format="LOG %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    root = SoakRoot()
    async with pb.serve(root, "127.0.0.1", 0, registry=registry(), limits=local_limits()) as server:
        root.server = server
        print(server.port, flush=True)
        await asyncio.Event().wait()


# -- the clients ---------------------------------------------------------------------------


class Shouter(pb.Referenceable):
    def remote_shout(self, text: str) -> str:
        return text.upper()


OPS = [
    ("echo", 35),
    ("refs", 15),
    ("callback", 10),
    ("copy", 15),
    ("registered_error", 6),
    ("remote_error", 4),
    ("no_such_method", 3),
    ("timeout", 3),
    ("hold_and_reconnect", 2),
]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.randrange(-(2**40), 2**40)
    if kind == 1:
        return "".join(rng.choice("abcdéλ中 ") for _ in range(rng.randrange(40)))
    if kind == 2:
        return rng.randbytes(rng.randrange(64))
    if kind == 3:
        return rng.random()
    if kind == 4:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    if kind == 5:
        return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randrange(5))}
    return (1, "tuple", None, True)


class Tally:
    def __init__(self) -> None:
        self.calls = 0
        self.expected: collections.Counter[str] = collections.Counter()
        self.unexpected: collections.Counter[str] = collections.Counter()
        self.examples: list[str] = []

    def bad(self, kind: str, detail: str) -> None:
        self.unexpected[kind] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{kind}: {detail}")


async def client_loop(port: int, seed: int, stop: asyncio.Event, tally: Tally) -> None:
    rng = random.Random(seed)
    names = [name for name, _ in OPS]
    weights = [w for _, w in OPS]
    client = await pb.connect("127.0.0.1", port, registry=registry())
    root = await client.root()
    held: list[Any] = []
    try:
        while not stop.is_set():
            op = rng.choices(names, weights)[0]
            try:
                await _one(op, rng, root, held, tally)
            except (AssertionError, pb.PbtypedError, pb.Error, TimeoutError) as exc:
                tally.bad(op, repr(exc)[:200])
            if op == "hold_and_reconnect":
                # Drop the line with references still held; the server must free them.
                held.append(await root.call("counter", timeout=10))
                await client.aclose()
                held.clear()
                client = await pb.connect("127.0.0.1", port, registry=registry())
                root = await client.root()
                tally.expected["reconnects"] += 1
    finally:
        held.clear()
        gc.collect()
        await asyncio.sleep(0)
        stop_client.append(client)


stop_client: list[pb.Client] = []


def check(condition: bool, detail: str) -> None:
    if not condition:
        raise AssertionError(detail)


async def _one(op: str, rng: random.Random, root: Any, held: list[Any], tally: Tally) -> None:
    t = 10.0
    if op == "echo":
        value = _value(rng)
        got = await root.call("echo", [value], timeout=t)
        assert got == value, f"echo mismatch: {got!r} != {value!r}"
        tally.calls += 1
    elif op == "refs":
        counters = await root.call("counters", [rng.randint(1, 5)], timeout=t)
        tally.calls += 1
        for c in counters:
            assert await c.call("incr", [2], timeout=t) == 2
            assert await c.call("incr", [3], timeout=t) == 5
            tally.calls += 2
        if rng.random() < 0.3:
            held.extend(counters)  # keep some for a while
        if len(held) > 20 or rng.random() < 0.2:
            held.clear()
    elif op == "callback":
        text = f"hi {rng.random()}"
        assert await root.call("callback", [Shouter(), text], timeout=t) == text.upper()
        tally.calls += 1
    elif op == "copy":
        lines = [Line(sku=f"s{i}", qty=i) for i in range(rng.randrange(6))]
        order = Order(id=rng.randrange(10**9), lines=lines, status=Status.NEW)
        paid = await root.call("pay", [order], timeout=t)
        assert paid == dataclasses.replace(order, status=Status.PAID, note=f"{len(lines)} lines"), (
            paid
        )
        tally.calls += 1
    elif op == "registered_error":
        try:
            await root.call("fail", [True], timeout=t)
        except SoakError as exc:
            check(str(exc) == "as expected", repr(exc))
            tally.expected["SoakError"] += 1
            tally.calls += 1
        else:
            raise AssertionError("fail(True) returned")
    elif op == "remote_error":
        try:
            await root.call("fail", [False], timeout=t)
        except pb.RemoteError as exc:
            check(exc.remote_type == "builtins.ValueError", exc.remote_type)
            check(exc.remote_traceback is None, "server frames leaked")
            tally.expected["RemoteError"] += 1
            tally.calls += 1
        else:
            raise AssertionError("fail(False) returned")
    elif op == "no_such_method":
        try:
            await root.call("missing", timeout=t)
        except pb.NoSuchMethod:
            tally.expected["NoSuchMethod"] += 1
            tally.calls += 1
    elif op == "timeout":
        try:
            await root.call("slow", [5.0], timeout=0.02)
        except TimeoutError:
            tally.expected["TimeoutError (cancelled remotely)"] += 1
        else:
            raise AssertionError("slow(5) returned within 0.02 s")


async def clients_main(port: int, count: int, seconds: float, seed: int) -> None:
    stop = asyncio.Event()
    tally = Tally()
    tasks = [
        asyncio.ensure_future(client_loop(port, seed * 1000 + i, stop, tally)) for i in range(count)
    ]
    await asyncio.sleep(seconds)
    stop.set()
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(result, BaseException):
            tally.bad("client crashed", repr(result)[:200])
    gc.collect()
    await asyncio.sleep(0.5)  # let Release messages go out
    print("QUIET", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for client in stop_client:
        await client.aclose()
    print(
        json.dumps(
            {
                "calls": tally.calls,
                "expected": dict(tally.expected),
                "unexpected": dict(tally.unexpected),
                "examples": tally.examples,
            }
        ),
        flush=True,
    )


# -- the conductor -------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def stats(port: int) -> dict[str, Any]:
    async with pb.connect("127.0.0.1", port, registry=registry()) as conn:
        root = await conn.root()
        result: dict[str, Any] = await root.call("stats", timeout=10)
        return result


HERE = str(Path(__file__).resolve())


async def conduct(args: argparse.Namespace) -> dict[str, Any]:
    me = [sys.executable, HERE]
    log = tempfile.TemporaryFile(mode="w+")
    server = await asyncio.create_subprocess_exec(
        *me, "--serve", stdout=asyncio.subprocess.PIPE, stderr=log
    )
    procs: list[asyncio.subprocess.Process] = []
    try:
        assert server.stdout is not None
        port = int(await asyncio.wait_for(server.stdout.readline(), 30))
        rss_start = rss_kib(server.pid)
        per = [
            args.clients // args.procs + (i < args.clients % args.procs) for i in range(args.procs)
        ]
        for i, count in enumerate(per):
            procs.append(
                await asyncio.create_subprocess_exec(
                    *me,
                    "--client",
                    "--port",
                    str(port),
                    "--clients",
                    str(count),
                    "--seconds",
                    str(args.seconds),
                    "--seed",
                    str(i + 1),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        started = time.monotonic()
        warm = min(10.0, args.seconds / 6)
        rss_warm = rss_peak = rss_start
        samples = []
        while time.monotonic() - started < args.seconds:
            await asyncio.sleep(min(1.0, args.seconds / 10))
            rss = rss_kib(server.pid)
            rss_peak = max(rss_peak, rss)
            samples.append(rss)
            if time.monotonic() - started < warm:
                rss_warm = rss
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line.strip() == b"QUIET", line
        # The clients hold nothing now: every connection must be back to its root alone.
        deadline = time.monotonic() + 10
        while True:
            during = await stats(port)
            others = during["connections"] - 1
            clean = (
                others == args.clients
                and all(n == 1 for n in during["exports"])
                and not any(during["imports"])
                and during["running"] == 0
            )
            if clean or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        results = []
        for proc in procs:
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(b"EXIT\n")
            await proc.stdin.drain()
            results.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 60)))
            await asyncio.wait_for(proc.wait(), 30)
        deadline = time.monotonic() + 10
        while True:
            after = await stats(port)
            gone = after["connections"] == 1 and after["exports"] == [1] and not after["imports"][0]
            if gone or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        gc.collect()
        rss_end = rss_kib(server.pid)
        leaked = after["connection_objects"] - after["connections"]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        server.kill()  # our own child, by its handle
        await server.wait()
    log.seek(0)
    log_records = [line for line in log.read().splitlines() if line.startswith("LOG ")]
    log.close()
    expected: collections.Counter[str] = collections.Counter()
    unexpected: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    for r in results:
        expected.update(r["expected"])
        unexpected.update(r["unexpected"])
        examples += r["examples"]
    calls = sum(r["calls"] for r in results)
    return {
        "seconds": args.seconds,
        "clients": args.clients,
        "client_processes": args.procs,
        "calls_completed": calls,
        "calls_per_second": round(calls / args.seconds),
        "expected_errors": dict(sorted(expected.items())),
        "unexpected_errors": dict(sorted(unexpected.items())),
        "unexpected_examples": examples,
        "tables_empty_while_connected": clean,
        "tables_after_disconnect": after,
        "tables_empty_after_disconnect": gone,
        "server_rss_kib": {
            "start": rss_start,
            "after_warmup": rss_warm,
            "peak": rss_peak,
            "end": rss_end,
        },
        "server_log_records": len(log_records),
        "server_log_by_level": dict(collections.Counter(r.split()[1] for r in log_records)),
        "closed_connections_in_memory": after["connection_objects"] - after["connections"],
        "ok": clean and gone and not unexpected and (not args.strict or not leaked),
    }


def report(result: dict[str, Any]) -> str:
    rss = result["server_rss_kib"]
    lines = [
        f"soak: {result['seconds']:g} s, {result['clients']} clients in "
        f"{result['client_processes']} processes",
        f"calls completed: {result['calls_completed']} ({result['calls_per_second']}/s)",
        "expected errors: " + ", ".join(f"{k} {v}" for k, v in result["expected_errors"].items()),
        f"unexpected errors: {result['unexpected_errors'] or 'none'}",
        *[f"  {e}" for e in result["unexpected_examples"]],
        f"server RSS (MiB): start {rss['start'] / 1024:.1f}, after warm-up "
        f"{rss['after_warmup'] / 1024:.1f}, peak {rss['peak'] / 1024:.1f}, "
        f"end {rss['end'] / 1024:.1f}",
        f"export/import tables back to the root alone while connected: "
        f"{result['tables_empty_while_connected']}",
        f"after the clients left: {result['tables_after_disconnect']}",
        f"closed connections still in memory (a leak if > 0): "
        f"{result['closed_connections_in_memory']}",
        f"server log records: {result['server_log_records']} "
        f"{result['server_log_by_level']} (rate-limited: Limits.log_rate_per_minute)",
        "OK" if result["ok"] else "FAILED",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--strict", action="store_true", help="also fail if closed connections stay in memory"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_main())
        return
    if args.client:
        asyncio.run(clients_main(args.port, args.clients, args.seconds, args.seed))
        return
    args.procs = max(1, min(args.procs, args.clients))
    result = asyncio.run(conduct(args))
    print(json.dumps(result) if args.json else report(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
