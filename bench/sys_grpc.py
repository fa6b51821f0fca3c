"""gRPC aio under the bench, as gRPC's users use it (optional: runs when grpcio is installed).

The service is ``bench/grpc/bench.proto``, compiled with grpcio-tools (run.py does it at bench
start and passes the directory in ``PBTYPED_BENCH_GRPC_GENERATED``; run alone, this script
compiles it into a temporary directory). The server is a ``BenchServicer`` subclass registered
with ``add_BenchServicer_to_server``; the client calls through ``BenchStub``; requests and
answers are the generated protobuf messages, serialized by the stubs' own serializers.

Records are the generated ``Record`` message, built from the workload's fields on the client
and read back as a list of messages: protobuf messages are the typed objects a gRPC program
holds, as the generated dataclass is pbtyped's and the rebuilt ``Record`` the floor's, so no
system converts to or from ``common.Record`` around its calls. Each echo answers with the
request message it was given, as the other servers return the value they decoded.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc
from common import (
    Config,
    Target,
    announce_port,
    emit_result,
    on_stdin_closed,
    pin,
    profiled,
    run_asyncio,
    run_workloads,
    worker_args,
)
from procs import compile_proto

OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


def generated() -> tuple[Any, Any]:
    """The modules grpcio-tools made from bench/grpc/bench.proto: ``bench_pb2``, ``_pb2_grpc``."""
    where = os.environ.get("PBTYPED_BENCH_GRPC_GENERATED")
    if where:
        return _import_from(where)
    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp:  # run alone: compile here
        out, why = compile_proto(Path(tmp))
        if out is None:
            raise SystemExit(why)
        return _import_from(str(out))


def _import_from(where: str) -> tuple[Any, Any]:
    sys.path.insert(0, where)
    try:
        return importlib.import_module("bench_pb2"), importlib.import_module("bench_pb2_grpc")
    finally:
        sys.path.remove(where)


async def serve_with(port: int, register: Callable[[Any], None]) -> None:
    """A ``grpc.aio`` server on ``port`` with what ``register`` adds, until stdin closes."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    server = grpc.aio.server(options=OPTIONS)
    register(server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    announce_port(bound)
    on_stdin_closed(lambda: loop.call_soon_threadsafe(stop.set_result, None))
    await stop
    await server.stop(grace=1.0)


async def serve(port: int) -> None:
    _, pb2_grpc = generated()

    class Bench(pb2_grpc.BenchServicer):  # type: ignore[misc, name-defined]
        async def Echo(self, request: Any, context: Any) -> Any:  # the proto's names
            return request

        async def EchoBytes(self, request: Any, context: Any) -> Any:
            return request

        async def EchoRecords(self, request: Any, context: Any) -> Any:
            return request

    await serve_with(port, lambda server: pb2_grpc.add_BenchServicer_to_server(Bench(), server))


async def client(port: int, config: str, server_pid: int) -> dict[str, Any]:
    pb2, pb2_grpc = generated()
    Text, Blob, Records, Record = pb2.Text, pb2.Blob, pb2.Records, pb2.Record

    def record(id: int, name: str, score: float, values: list[int]) -> Any:
        return Record(id=id, name=name, score=score, values=values)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=OPTIONS) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        stub = pb2_grpc.BenchStub(channel)

        async def echo(text: str) -> str:
            return (await stub.Echo(Text(text=text))).text  # type: ignore[no-any-return]

        async def echo_bytes(data: bytes) -> bytes:
            return (await stub.EchoBytes(Blob(data=data))).data  # type: ignore[no-any-return]

        async def echo_records(records: list[Any]) -> list[Any]:
            # A list of the answer's Record messages, as every other system returns a list.
            return list((await stub.EchoRecords(Records(records=records))).records)

        async def gather(coros: list[Any]) -> Any:
            return await asyncio.gather(*coros)

        target = Target(
            echo=echo,
            echo_bytes=echo_bytes,
            echo_records=echo_records,
            gather=gather,
            record_cls=record,  # type: ignore[arg-type]
            server_pid=server_pid,
        )
        return await run_workloads(target, Config.from_json(config))


def run_worker(
    serve: Callable[[int], Coroutine[Any, Any, None]],
    client: Callable[[int, str, int], Coroutine[Any, Any, dict[str, Any]]],
    api: Callable[[], str],
) -> None:
    """A gRPC worker's main: serve, or run the client and print its RESULT labelled ``api()``."""
    args = worker_args()
    pin(args.cpu)
    if args.role == "server":
        profiled("server", lambda: run_asyncio(lambda: serve(args.port), args.loop))
    else:
        result = profiled(
            "client",
            lambda: run_asyncio(lambda: client(args.port, args.config, args.server_pid), args.loop),
        )
        emit_result({"api": api(), **result})


def api() -> str:
    from google.protobuf.internal import api_implementation

    return (
        f"grpc.aio {grpc.__version__}, unary, stubs and messages generated from bench.proto"
        f" (protobuf {api_implementation.Type()} backend)"
    )


if __name__ == "__main__":
    run_worker(serve, client, api)
