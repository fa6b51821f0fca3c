"""In-process microbenchmarks of the pieces the profiles point at (evidence for optimisations).

    python bench/micro.py [--at HEAD] [--memory 500 | --memory-profile 1000 | --server-path 1000
                           | --round-trip | --client-path [--conns 1000]]

Times, as the best of several repeats (the minimum is the figure least disturbed by a busy
machine): encoding one small CALL message; a 1,000-record list through pbtyped's codec, through the
bare floor's tag hooks, and as plain CBOR rows; and the schema check of ``list[Record]`` that
generated skeletons and stubs run (valid, refused, converted), against a hand-written
identity-preserving check; and the per-call work of generated code around a small call (dispatch,
invoke on our own and on a peer's object). ``--memory N`` instead breaks a server's memory per
connection down by source line; ``--memory-profile N`` charges each allocation to the innermost
line of pbtyped that led to it, as the Markdown table of bench/RESULTS.md. ``--server-path N``
instead times the server's work per echo call, one call per read, with ``N`` connections served in
turn (their state competing for the caches as in ``scale.py``), layer by layer: the floor's
protocol; pbtyped's whole ``Connection``; its broker alone (frames in, events, the method lookup,
the answer out); its codec alone (frames cut, decoded, answer encoded); cbor2 alone (the same body
decoded and the answer encoded). The differences say where each microsecond goes, with no kernel
and no event loop in the figures. ``--round-trip`` instead times whole calls through a client and a
server ``Connection`` in one process, joined by in-memory transports (CPU per call, sequential and
100 in flight): with the server path at one connection, what pbtyped's client costs per call.
``--client-path`` times a client alone, every call answered by a canned server that does no work
(answers made beforehand): pbtyped's ``call_remote``, a typed stub's method (``typed/support.py``'s
``invoke``) and the floor's client, with the event loop's turns in all three; with ``--conns N``,
N connections of each, each making one call at a time (as ``scale_client.py --client own``: the
connections' state competes for the caches). Not a test: it prints figures. It imports pbtyped's
private modules, which may change.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from procs import HERE
from roundtrip import StandInTransport


def best_us(fn: Callable[[], Any], number: int, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def measure() -> None:
    import cbor2
    from common import Record, make_records
    from sys_bare import _DECODERS, _default

    import pbtyped as pb
    from pbtyped.protocol.broker import Broker
    from pbtyped.typed.checks import checker_for
    from pbtyped.wire.columns import Columns

    registry = pb.Registry()
    registry.register_type(Record, "bench.Record")
    codec = Broker(registry=registry)._codec
    rows: list[tuple[str, float]] = []

    call = [1, 12345, [0, 0], "echo", ["hello network"], {}]
    rows.append(("small CALL: cbor2.dumps(msg)", best_us(lambda: cbor2.dumps(call), 20000)))
    codec.encode(call)  # the encoder table fills with the types it meets
    enc, dflt = codec._encoders, codec._default
    rows.append(
        (
            f"small CALL: cbor2.dumps(msg, encoders=<{len(enc)} entries>, default=...)",
            best_us(lambda: cbor2.dumps(call, encoders=enc, default=dflt), 20000),
        )
    )
    rows.append(
        (
            "small CALL: pbtyped Codec.encode (whole frame)",
            best_us(lambda: codec.encode(call), 20000),
        )
    )
    frame = codec.encode(call)
    body = frame[8:]
    rows.append(("small CALL: pbtyped Codec.decode", best_us(lambda: codec.decode(body), 20000)))
    rows.append(("small CALL: cbor2.loads", best_us(lambda: cbor2.loads(body), 20000)))

    records = make_records(1000)
    msg = [2, 7, records]
    rows.append(("1,000 records: pbtyped Codec.encode", best_us(lambda: codec.encode(msg), 20)))
    rec_body = codec.encode(msg)[8:]
    rows.append(
        ("1,000 records: pbtyped Codec.decode", best_us(lambda: codec.decode(rec_body), 20))
    )
    # What generated stubs and skeletons send for list[Record] to a peer that takes columns.
    codec.peer_takes_columns = True
    col_msg = [2, 7, Columns(records)]
    rows.append(
        (
            "1,000 records in columns: pbtyped Codec.encode",
            best_us(lambda: codec.encode(col_msg), 20),
        )
    )
    col_body = codec.encode(col_msg)[8:]
    rows.append(
        (
            "1,000 records in columns: pbtyped Codec.decode",
            best_us(lambda: codec.decode(col_body), 20),
        )
    )
    rows.append(
        (
            "1,000 records: bare tag hook dumps",
            best_us(lambda: cbor2.dumps(msg, default=_default), 20),
        )
    )
    bare_body = cbor2.dumps(msg, default=_default)
    rows.append(
        (
            "1,000 records: bare tag hook loads",
            best_us(lambda: cbor2.loads(bare_body, semantic_decoders=_DECODERS), 20),
        )
    )

    def to_rows() -> bytes:
        return cbor2.dumps([2, 7, [[r.id, r.name, r.score, r.values] for r in records]])

    rows_body = to_rows()

    def from_rows() -> list[Record]:
        out = []
        for i, n, s, v in cbor2.loads(rows_body)[2]:
            if type(i) is not int or type(n) is not str or type(s) is not float:
                raise TypeError("bad record")
            if type(v) is not list or any(type(x) is not int for x in v):
                raise TypeError("bad values")
            out.append(Record(i, n, s, v))
        return out

    rows.append(("1,000 records: plain rows dumps (schema-directed encode)", best_us(to_rows, 20)))
    rows.append(("1,000 records: plain rows loads + checked rebuild", best_us(from_rows, 20)))
    print(
        f"wire size of 1,000 records: pbtyped {len(rec_body):,} B (columns "
        f"{len(col_body):,} B), "
        f"bare tags {len(bare_body):,} B, rows {len(rows_body):,} B"
    )

    check = checker_for(list[Record])
    rows.append(
        ("check list[Record] (pbtyped.typed.checks)", best_us(lambda: check(records, "$"), 20))
    )
    # The slower ways through the same check: a refusal that must name its path, and records
    # that all need converting (an int where the float score is declared).
    bad = [*records[:-1], Record(-1, "bad", 0.5, [1, "2"])]

    def refuse() -> None:
        try:
            check(bad, "$")
        except pb.ValidationError:
            return
        raise AssertionError("the bad record was accepted")

    rows.append(("check list[Record], the last one refused (with its path)", best_us(refuse, 20)))
    ints = [Record(r.id, r.name, int(r.score), r.values) for r in records]
    rows.append(
        (
            "check list[Record], every score an int (converted)",
            best_us(lambda: check(ints, "$"), 20),
        )
    )

    def lean(value: Any) -> Any:
        # The same checks, keeping objects that pass and building paths only on failure.
        if type(value) is not list:
            raise TypeError("$: expected list")
        for r in value:
            if type(r) is not Record:
                raise TypeError("expected Record")
            if type(r.id) is not int or type(r.name) is not str or type(r.score) is not float:
                raise TypeError("bad field")
            v = r.values
            if type(v) is not list or any(type(x) is not int for x in v):
                raise TypeError("bad values")
        return value

    rows.append(
        ("check list[Record], identity-preserving, lazy paths", best_us(lambda: lean(records), 20))
    )
    rows.extend(call_path_rows())
    width = max(len(name) for name, _ in rows)
    for name, us in rows:
        print(f"{name:<{width}}  {us:>10,.1f} µs")


def call_path_rows() -> list[tuple[str, float]]:
    """What generated code runs around each call (``pbtyped.typed.support``): a skeleton's
    dispatch (find the method, bind and check the arguments, run it, check the result), and a
    stub's invoke of an object of ours that came home (the same dispatch, behind the stub), and
    of a peer's object (what the stub does before and after the round trip)."""
    import asyncio

    import pbtyped as pb
    from pbtyped.typed import support

    spec = support.interface(
        "bench.Echo",
        echo=support.method(support.param("text", str), returns=str),
        tagged=support.method(
            support.param("text", str),
            support.param("tag", str, kw_only=True, default=""),
            returns=str,
        ),
    )

    class Echo(pb.Root):
        def remote_echo(self, text: str) -> str:
            return text

        def remote_tagged(self, text: str, *, tag: str = "") -> str:
            return tag + text

        def pb_dispatch(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
            return support.dispatch(spec, self, method, args, kwargs)

    echo = Echo()
    rows = [
        (
            "dispatch echo(str), positional (bind, run, check)",
            best_us(lambda: support.dispatch(spec, echo, "echo", ["hi"], {}), 20000),
        ),
        (
            "dispatch tagged(str, *, tag=str), one by keyword",
            best_us(lambda: support.dispatch(spec, echo, "tagged", ["hi"], {"tag": "t"}), 20000),
        ),
    ]
    home: Any = echo  # a stub wraps our own object when a reference to it comes home
    stub = pb.Stub(home)
    loop = asyncio.new_event_loop()
    n = 1000

    async def calls() -> None:
        for _ in range(n):
            await support.invoke(spec, stub, "echo", ("hi",), {}, None, pb.Promise)

    class Answering(pb.RemoteReference):
        """A peer's object that answers every call at once: the stub's own work, no I/O
        (its calls go through ``call``, as a reference that routes its calls does)."""

        __slots__ = ()
        pb_pipelines = False

        def __init__(self) -> None:
            pass

        async def call(self, name: str, args: Any = (), kwargs: Any = None, **_: Any) -> Any:
            return args[0]

    remote = pb.Stub(Answering())

    async def remote_calls() -> None:
        for _ in range(n):
            await support.invoke(spec, remote, "echo", ("hi",), {}, None, pb.Promise)

    try:
        us = best_us(lambda: loop.run_until_complete(calls()), 20) / n
        remote_us = best_us(lambda: loop.run_until_complete(remote_calls()), 20) / n
    finally:
        loop.close()
    rows.append(("invoke echo(str) on a stub of a local object (stub, dispatch)", us))
    rows.append(("invoke echo(str) on a stub of a remote object (stub, checks; no I/O)", remote_us))
    return rows


def server_snapshots(n: int, frames: int) -> tuple[Any, Any]:
    """tracemalloc snapshots of a server before and after ``n`` connections, opened by a
    scale_client.py process, each made one call (``frames``: traceback depth kept)."""
    import asyncio
    import tracemalloc

    from sys_pbtyped import Echoer, local_limits, runtime_registry

    import pbtyped as pb

    async def run() -> tuple[Any, Any]:
        tracemalloc.start(frames)
        async with pb.serve(
            Echoer(), "127.0.0.1", 0, registry=runtime_registry(), limits=local_limits()
        ) as server:
            cmd = [sys.executable, str(HERE / "scale_client.py"), "--port", str(server.port)]
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                "--conns",
                str(n),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert proc.stdin is not None
            assert proc.stdout is not None
            try:
                before = tracemalloc.take_snapshot()
                line = await asyncio.wait_for(proc.stdout.readline(), 120)
                if line.strip() != b"READY":
                    raise SystemExit(f"scale_client.py did not get ready: {line!r}")
                after = tracemalloc.take_snapshot()
            finally:
                proc.stdin.close()
                await asyncio.wait_for(proc.wait(), 60)
        return before, after

    return asyncio.run(run())


def memory(n: int) -> None:
    """Server-side allocations per connection, by source line (tracemalloc), ``n`` connections
    opened by a scale_client.py process."""
    before, after = server_snapshots(n, 1)
    stats = after.compare_to(before, "lineno")
    total = sum(st.size_diff for st in stats)
    print(
        f"server-side allocations per connection ({n} connections, tracemalloc): "
        f"{total / n / 1024:,.1f} KiB in all; by the code that allocated it:"
    )
    layers: dict[str, int] = {}
    for st in stats:
        path = Path(st.traceback[0].filename).as_posix()
        part = path.split("/pbtyped/")[-1].split("/")[0] if "/pbtyped/" in path else None
        name = f"pbtyped/{part}" if part else "the event loop, sockets, the rest (stdlib)"
        layers[name] = layers.get(name, 0) + st.size_diff
    for name, size in sorted(layers.items(), key=lambda kv: -kv[1]):
        print(f"  {size / n:>9,.0f} B  {name}")
    print("the largest sites:")
    for st in stats[:15]:
        frame = st.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {st.size_diff / n:>9,.0f} B  {st.count_diff / n:>6.1f} blocks  {where}")


def memory_profile(n: int) -> None:
    """Where each byte of an open server connection goes: every allocation the ``n``
    connections made (tracemalloc, whole tracebacks), charged to the innermost line of
    pbtyped that led to it (or, for what asyncio does by itself, to asyncio's line), as a
    Markdown table for bench/RESULTS.md."""
    import linecache

    import pbtyped

    package = Path(pbtyped.__file__).parent
    before, after = server_snapshots(n, 32)
    sites: dict[tuple[str, str], list[float]] = {}
    for st in after.compare_to(before, "traceback"):
        frames = list(reversed(st.traceback))  # innermost first
        ours = [f for f in frames if Path(f.filename).is_relative_to(package)]
        frame = ours[0] if ours else frames[0]
        path = Path(frame.filename)
        name = path.relative_to(package).as_posix() if ours else path.name
        where = f"{name}:{frame.lineno}"
        code = linecache.getline(frame.filename, frame.lineno).strip().replace("|", "\\|")
        layer = "pbtyped/" + where.split("/")[0] if ours else "asyncio, sockets (stdlib)"
        site = sites.setdefault((layer, f"`{where}` `{code[:60]}`"), [0.0, 0.0])
        site[0] += st.size_diff / n
        site[1] += st.count_diff / n
    total = sum(size for size, _ in sites.values())
    print(f"Server allocations per open connection, {n:,} connections each made one call")
    print(f"(tracemalloc): {total:,.0f} B in all.\n")
    print("| bytes | blocks | layer | made by |")
    print("|---:|---:|---|---|")
    shown = sorted(sites.items(), key=lambda kv: -kv[1][0])
    rest = [0.0, 0.0]
    for (layer, made_by), (size, count) in shown:
        if abs(size) < 16:
            rest[0] += size
            rest[1] += count
            continue
        print(f"| {size:,.0f} | {count:.1f} | {layer} | {made_by} |")
    print(f"| {rest[0]:,.0f} | {rest[1]:.1f} | | the rest, under 16 B each |")
    layers: dict[str, float] = {}
    for (layer, _), (size, _) in sites.items():
        layers[layer] = layers.get(layer, 0.0) + size
    print()
    print(", ".join(f"{layer} {size:,.0f} B" for layer, size in sorted(layers.items())))


class _Pipe(StandInTransport):
    """One direction of an in-memory connection: each write reaches ``peer`` one loop turn
    later, as bytes from a socket would."""

    def __init__(self, loop: Any) -> None:
        self._loop = loop
        self.peer: Any = None

    def write(self, data: bytes) -> None:
        self._loop.call_soon(self.peer.data_received, bytes(data))


def round_trip(repeats: int = 7, calls: int = 2000) -> None:
    """CPU per call of pbtyped's client and server together, in one process."""
    import asyncio
    import time

    from common import SMALL
    from sys_pbtyped import Echoer, runtime_registry

    import pbtyped as pb
    from pbtyped.runtime.connection import Connection

    def connection(root: Any) -> Connection:
        try:  # one Options value since issue 11; --at may name an older revision
            from pbtyped.runtime.options import Options
        except ImportError:
            return Connection(registry=runtime_registry(), limits=pb.Limits(), root=root)  # type: ignore[call-arg]
        return Connection(Options(registry=runtime_registry(), limits=pb.Limits(), root=root))

    async def run() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        server, client = connection(Echoer()), connection(None)
        to_server, to_client = _Pipe(loop), _Pipe(loop)
        to_server.peer, to_client.peer = server, client
        client.connection_made(to_server)  # type: ignore[arg-type]
        server.connection_made(to_client)  # type: ignore[arg-type]
        await client.handshake
        call = client.broker.root_reference().call_remote  # type: ignore[attr-defined]
        sequential = in_flight = float("inf")
        for _ in range(repeats):
            t0 = time.process_time()
            for _ in range(calls):
                await call("echo", SMALL)
            sequential = min(sequential, (time.process_time() - t0) / calls * 1e6)
            t0 = time.process_time()
            for _ in range(calls // 100):
                await asyncio.gather(*(call("echo", SMALL) for _ in range(100)))
            in_flight = min(in_flight, (time.process_time() - t0) / calls * 1e6)
        return sequential, in_flight

    sequential, in_flight = asyncio.run(run())
    print("client + server Connection in one process, in-memory transports (CPU time, best")
    print(f"of {repeats} x {calls:,} calls):")
    print(f"  one call at a time   {sequential:6.2f} µs per call")
    print(f"  100 in flight        {in_flight:6.2f} µs per call")


class _Canned(StandInTransport):
    """A server that is no work: each call frame written to it is answered with a RETURN
    made beforehand, one loop turn later, so that what is timed is the client's work (and
    the event loop's). Frames are cut by their header (``header`` bytes, the body length
    first); ``answers[k]`` answers the k-th call, ``greeting`` the first write (a Hello)."""

    def __init__(
        self, loop: Any, header: int, answers: list[bytes], greeting: bytes | None
    ) -> None:
        self._loop = loop
        self._header = header
        self._answers = answers
        self._greeting = greeting
        self._next = 0
        self.peer: Any = None

    def write(self, data: bytes) -> None:
        if self._greeting is not None:  # the client's Hello
            greeting, self._greeting = self._greeting, None
            self._loop.call_soon(self.peer.data_received, greeting)
            return
        header, answers = self._header, []
        pos, size = 0, len(data)
        while pos < size:
            body = pos + header
            end = body + int.from_bytes(data[pos : pos + 4], "big")
            if header == 8:
                end += int.from_bytes(data[pos + 4 : body], "big")
                if data[body + 1] != 1:  # not a CALL (pbtyped: [kind, ...])
                    pos = end
                    continue
            answers.append(self._answers[self._next])
            self._next += 1
            pos = end
        if answers:
            self._loop.call_soon(self.peer.data_received, b"".join(answers))


def client_path(repeats: int = 7, calls: int = 2000, conns: int = 1) -> None:
    """CPU per call of a client alone: pbtyped's (runtime API and a typed stub) and the
    floor's, each answered by a ``_Canned`` server on an in-memory transport; with ``conns``
    above 1, that many connections of each, each making one call at a time (their state
    competing for the caches, as in ``scale_client.py --client own``)."""
    import asyncio
    import time

    import cbor2
    import sys_bare
    from common import SMALL
    from sys_pbtyped import runtime_registry

    import pbtyped as pb
    from pbtyped.protocol.broker import Broker
    from pbtyped.runtime.connection import Connection
    from pbtyped.runtime.options import Options
    from pbtyped.typed import support

    rounds = calls if conns == 1 else max(5, 20_000 // conns)  # calls per connection
    total = 2 * repeats * rounds + 10
    registry = runtime_registry()
    spec = support.interface(
        "bench.Echo", echo=support.method(support.param("st", str), returns=str)
    )

    class EchoClient(pb.Stub):
        __slots__ = ()

        def echo(self, st: str, *, pb_timeout: float | None = None) -> Any:
            return support.invoke(spec, self, "echo", (st,), {}, pb_timeout, pb.Promise)

    async def pbtyped_roots(loop: Any) -> list[Any]:
        answers = [
            (b := cbor2.dumps([2, q, SMALL])) and len(b).to_bytes(4, "big") + bytes(4) + b
            for q in range(1, total + 1)
        ]
        hello = Broker(registry=registry).initiate()
        roots = []
        for _ in range(conns):
            conn = Connection(Options(registry=registry, limits=pb.Limits(), root=None))
            server = _Canned(loop, 8, answers, hello)
            server.peer = conn
            conn.connection_made(server)  # type: ignore[arg-type]
            await conn.handshake
            roots.append(conn.broker.root_reference())
        return roots

    def floor_clients(loop: Any) -> list[Any]:
        answers = [sys_bare.frame([q, SMALL]) for q in range(1, total + 1)]
        clients = []
        for _ in range(conns):
            client = sys_bare.ClientSide()
            server = _Canned(loop, 4, answers, None)
            server.peer = client
            client.connection_made(server)  # type: ignore[arg-type]
            clients.append(client)
        return clients

    async def one_at_a_time(call: Callable[[], Any]) -> None:
        for _ in range(rounds):
            await call()

    async def timed(each: list[Callable[[], Any]]) -> tuple[float, float]:
        sequential = in_flight = float("inf")
        for _ in range(repeats):
            t0 = time.process_time()
            if conns == 1:
                await one_at_a_time(each[0])
            else:
                await asyncio.gather(*map(one_at_a_time, each))
            sequential = min(sequential, (time.process_time() - t0) / rounds / conns * 1e6)
            if conns > 1:
                continue
            t0 = time.process_time()
            for _ in range(calls // 100):
                await asyncio.gather(*(each[0]() for _ in range(100)))
            in_flight = min(in_flight, (time.process_time() - t0) / calls * 1e6)
        return sequential, in_flight

    async def run() -> list[tuple[str, tuple[float, float]]]:
        loop = asyncio.get_running_loop()
        floors = floor_clients(loop)
        rows = [
            (
                "the floor: sys_bare.ClientSide.call",
                await timed([lambda c=c: c.call("echo", SMALL) for c in floors]),
            )
        ]
        del floors
        roots = await pbtyped_roots(loop)
        calls = [lambda r=r: r.call_remote("echo", SMALL) for r in roots]
        rows.append(("pbtyped: root.call_remote", await timed(calls)))
        stubs = [EchoClient(r) for r in await pbtyped_roots(loop)]
        stub_calls = [lambda s=s: s.echo(SMALL) for s in stubs]
        rows.append(("pbtyped: a typed stub's echo()", await timed(stub_calls)))
        return rows

    rows = asyncio.run(run())
    print("a client alone, answered by a canned server on an in-memory transport (CPU time,")
    if conns == 1:
        print(f"best of {repeats} x {calls:,} calls; the event loop's turns included):")
        width = max(len(name) for name, _ in rows)
        print(f"  {'':<{width}}  one at a time  100 in flight")
        for name, (one, many) in rows:
            print(f"  {name:<{width}}  {one:10.2f} µs  {many:10.2f} µs")
        return
    print(f"{conns:,} connections, each making {rounds} calls one at a time; best of {repeats}):")
    width = max(len(name) for name, _ in rows)
    for name, (one, _) in rows:
        print(f"  {name:<{width}}  {one:10.2f} µs per call")


def server_path(n: int, rounds: int = 40) -> None:
    """Microseconds of server work per echo call, ``n`` connections served in turn."""
    import asyncio
    import time

    import cbor2
    import sys_bare
    from common import SMALL
    from sys_pbtyped import Echoer, runtime_registry

    import pbtyped as pb
    from pbtyped.protocol.broker import Broker
    from pbtyped.protocol.events import CallReceived
    from pbtyped.runtime.connection import Connection

    registry = runtime_registry()

    def connection() -> Connection:
        try:  # one Options value since issue 11; --at may name an older revision
            from pbtyped.runtime.options import Options
        except ImportError:
            return Connection(registry=registry, limits=pb.Limits(), root=Echoer())  # type: ignore[call-arg]
        return Connection(Options(registry=registry, limits=pb.Limits(), root=Echoer()))

    def calls_to(server: Broker) -> list[bytes]:
        """The server's Hello answered, and ``rounds`` echo CALL frames for it."""
        client = Broker(registry=registry)
        client.receive_data(server.initiate())
        ref = client.root_reference()
        return [client.send_call(ref, "echo", (SMALL,), {})[1] for _ in range(rounds)]

    def timed(feeds: list[Callable[[int], Any]]) -> float:
        """Best time per call of one round: every feed given its next frame once."""
        best = float("inf")
        for k in range(rounds):
            t0 = time.process_time()
            for feed in feeds:
                feed(k)
            best = min(best, time.process_time() - t0)
        return best / len(feeds) * 1e6

    def floor_feed() -> Callable[[int], Any]:
        proto = sys_bare.ServerSide()
        proto.connection_made(StandInTransport())  # type: ignore[arg-type]
        frames = [sys_bare.frame([k, "echo", SMALL]) for k in range(rounds)]
        return lambda k: proto.data_received(frames[k])

    def connection_feed() -> Callable[[int], Any]:
        conn = connection()
        conn.connection_made(StandInTransport())  # type: ignore[arg-type]
        client = Broker(registry=registry)
        conn.data_received(client.initiate())
        frames = calls_to(conn.broker)
        return lambda k: conn.data_received(frames[k])

    def broker_feed() -> Callable[[int], Any]:
        server = Broker(registry=registry, root=Echoer())
        server.receive_data(Broker(registry=registry).initiate())
        frames = calls_to(server)

        def feed(k: int) -> None:
            for event in server.receive_data(frames[k]):
                assert type(event) is CallReceived
                target: Any = event.target
                result = target.pb_dispatch(event.method, event.args, event.kwargs)
                server.send_return(event.question_id, result)
            server.take_pending()

        return feed

    def codec_feed() -> Callable[[int], Any]:
        server = Broker(registry=registry, root=Echoer())
        server.receive_data(Broker(registry=registry).initiate())
        frames = calls_to(server)
        reader, codec = server._reader, server._codec

        def feed(k: int) -> None:
            for body, attachments in reader.frames(frames[k]):
                message, _ = codec.decode(body, attachments)
                codec.encode([2, message[1], message[4][0]])

        return feed

    def cbor2_feed() -> Callable[[int], Any]:
        server = Broker(registry=registry, root=Echoer())
        server.receive_data(Broker(registry=registry).initiate())
        bodies = [frame[8:] for frame in calls_to(server)]

        def feed(k: int) -> None:
            message = cbor2.loads(bodies[k])
            cbor2.dumps([2, message[1], message[4][0]])

        return feed

    async def run() -> list[tuple[str, float]]:
        rows = []
        for name, make in (
            ("the floor: sys_bare.ServerSide.data_received", floor_feed),
            ("pbtyped: Connection.data_received (all of it)", connection_feed),
            ("  its broker: frames in, events, method lookup, answer out", broker_feed),
            ("    its codec: frames cut, decoded, answer encoded", codec_feed),
            ("      cbor2 alone: the body decoded, the answer encoded", cbor2_feed),
        ):
            feeds = [make() for _ in range(n)]
            rows.append((name, timed(feeds)))
            del feeds
        return rows

    rows = asyncio.run(run())
    print(f"server work per echo call, one call per read, {n:,} connections in turn (best of")
    print(f"{rounds} rounds, CPU time, no kernel): the differences between rows are the layers")
    width = max(len(name) for name, _ in rows)
    for name, us in rows:
        print(f"  {name:<{width}}  {us:>6.2f} µs")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--at", default="HEAD", help="git revision of pbtyped, or 'worktree'")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--memory", type=int, default=0, help="connections for the memory section")
    p.add_argument(
        "--memory-profile", type=int, default=0, help="where each byte of a connection goes"
    )
    p.add_argument(
        "--server-path", type=int, default=0, help="connections for the server-path section"
    )
    p.add_argument("--round-trip", action="store_true", help="client + server in one process")
    p.add_argument("--client-path", action="store_true", help="a client alone, canned answers")
    p.add_argument("--conns", type=int, default=1, help="connections for --client-path")
    p.add_argument("--tiny", action="store_true", help="few calls (a smoke test's run)")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inner:
        if args.memory:
            memory(args.memory)
        elif args.memory_profile:
            memory_profile(args.memory_profile)
        elif args.server_path:
            server_path(args.server_path)
        elif args.round_trip:
            round_trip(*((1, 200) if args.tiny else ()))
        elif args.client_path:
            client_path(*((1, 200) if args.tiny else (7, 2000)), args.conns)
        else:
            measure()
        return 0
    from procs import pbtyped_source

    env, source = pbtyped_source(args.at, args.out)
    print(f"python bench/micro.py --at {args.at}  (pbtyped from {source})", flush=True)
    cmd = [sys.executable, str(HERE / "micro.py"), "--inner"]
    cmd += ["--memory", str(args.memory)] if args.memory else []
    cmd += ["--memory-profile", str(args.memory_profile)] if args.memory_profile else []
    cmd += ["--server-path", str(args.server_path)] if args.server_path else []
    cmd += ["--round-trip"] if args.round_trip else []
    cmd += ["--client-path"] if args.client_path else []
    cmd += ["--tiny"] if args.tiny else []
    cmd += ["--conns", str(args.conns)]
    return subprocess.run(cmd, env=env, check=False, cwd=os.fspath(HERE)).returncode


if __name__ == "__main__":
    sys.exit(main())
