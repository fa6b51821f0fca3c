"""pbtyped under the bench: the runtime API (``call_remote``), or generated typed stubs.

``--api runtime``: a ``pb.Root`` with ``remote_*`` methods and ``Record`` registered by hand;
no schema validation. ``--api stubs``: the module ``pbtyped generate`` made from
``bench/schemas/benchsvc.py`` (its directory in ``PBTYPED_BENCH_GENERATED``): the server
subclasses the generated skeleton and the client calls through the generated stub, so every
argument and result is checked against the schema.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from typing import Any

from common import (
    ECHO,
    ECHO_BYTES,
    ECHO_RECORDS,
    Config,
    Record,
    Target,
    announce_port,
    emit_result,
    on_stdin_closed,
    pin,
    profiled,
    run_workloads,
    worker_args,
)

import pbtyped as pb

API_RUNTIME = "runtime API (call_remote, Record registered by hand, no schema checks)"
API_STUBS = "generated stubs (pbtyped generate, schema checks on)"


def local_limits() -> pb.Limits:
    """Default limits, but every bench client connects from 127.0.0.1 and may sit idle while
    others are measured: no per-address share, no pre-login idle limit (when the pbtyped under
    test has them: ``--at`` may name an older revision)."""
    known = set(pb.Limits.__dataclass_fields__)
    wanted: dict[str, Any] = {
        "max_connections_per_address": pb.Limits().max_connections,
        "prelogin_idle_timeout": None,
    }
    return pb.Limits(**{k: v for k, v in wanted.items() if k in known})


def runtime_registry() -> pb.Registry:
    registry = pb.Registry()
    registry.register_type(Record, "bench.Record")
    return registry


class Echoes:
    """The three echo methods, for the runtime API's root and the generated skeleton alike."""

    def remote_echo(self, st: str) -> str:
        return st

    def remote_echo_bytes(self, data: bytes) -> bytes:
        return data

    def remote_echo_records(self, records: list[Any]) -> list[Any]:
        return records


class Echoer(Echoes, pb.Root):
    def remote_make_refs(self, n: int) -> list[pb.Referenceable]:
        """``n`` new objects passed by reference (scale.py: memory per exported reference)."""
        return [pb.Referenceable() for _ in range(n)]


def generated() -> Any:
    """The generated module of bench/schemas/benchsvc.py (run.py generates it)."""
    where = os.environ.get("PBTYPED_BENCH_GENERATED")
    if not where:
        raise SystemExit("--api stubs needs PBTYPED_BENCH_GENERATED (run.py sets it)")
    sys.path.insert(0, where)
    return importlib.import_module("benchsvc")


def server_parts(api: str) -> tuple[pb.Root, pb.Registry]:
    if api == "runtime":
        return Echoer(), runtime_registry()
    gen = generated()

    class Server(Echoes, gen.BenchServer):  # type: ignore[misc, name-defined]
        pass

    return Server(), gen.REGISTRY


async def serve(port: int, api: str) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    root, registry = server_parts(api)
    limits = local_limits()
    async with pb.serve(root, "127.0.0.1", port, registry=registry, limits=limits) as server:
        announce_port(server.port)
        on_stdin_closed(lambda: loop.call_soon_threadsafe(stop.set_result, None))
        await stop


async def gather(coros: list[Any]) -> Any:
    return await asyncio.gather(*coros)


async def client(port: int, api: str, config: str, server_pid: int) -> dict[str, Any]:
    cfg = Config.from_json(config)
    if api == "runtime":
        async with pb.connect("127.0.0.1", port, registry=runtime_registry()) as conn:
            root = await conn.root()
            target = Target(
                echo=lambda x: root.call_remote(ECHO, x),
                echo_bytes=lambda x: root.call_remote(ECHO_BYTES, x),
                echo_records=lambda x: root.call_remote(ECHO_RECORDS, x),
                gather=gather,
                server_pid=server_pid,
            )
            return await run_workloads(target, cfg)
    gen = generated()
    async with pb.connect("127.0.0.1", port, registry=gen.REGISTRY) as conn:
        stub = await conn.root(gen.BenchClient)
        target = Target(
            echo=stub.echo,
            echo_bytes=stub.echo_bytes,
            echo_records=stub.echo_records,
            gather=gather,
            record_cls=gen.Record,
            server_pid=server_pid,
        )
        return await run_workloads(target, cfg)


def main() -> None:
    args = worker_args()
    pin(args.cpu)
    # The user's one setting for the fast path: pbtyped.run(main, use_uvloop=True).
    uv = args.loop == "uvloop"
    if args.role == "server":
        profiled("server", lambda: pb.run(serve(args.port, args.api), use_uvloop=uv))
        return
    result = profiled(
        "client",
        lambda: pb.run(client(args.port, args.api, args.config, args.server_pid), use_uvloop=uv),
    )
    emit_result({"api": API_RUNTIME if args.api == "runtime" else API_STUBS, **result})


if __name__ == "__main__":
    main()
