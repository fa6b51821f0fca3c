"""gRPC aio with the floor's cbor2 payloads: an experiment beside sys_grpc.py (``grpc-cbor``).

Unary-unary methods registered with a generic handler, so no protoc step: requests and answers
are CBOR bytes (cbor2, encoded and decoded around each call rather than through gRPC's
serializer hooks), records as the floor's tagged rows rebuilt as ``Record`` (see sys_bare.py).
This measures gRPC's transport and call machinery with the floor's payload codec, not protobuf
messages: set beside the ``grpc`` row (protobuf from bench/grpc/bench.proto), it tells how much
of gRPC's figures is its transport and how much its codec. It was the bench's gRPC row until
issue 11; it runs only when named (``--systems grpc,grpc-cbor``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import cbor2
import grpc
from common import ECHO, ECHO_BYTES, ECHO_RECORDS, Config, Target, run_workloads
from sys_bare import _DECODERS, _default
from sys_grpc import OPTIONS, run_worker, serve_with

SERVICE = "bench.Bench"


def dumps(value: Any) -> bytes:
    return cbor2.dumps(value, default=_default)


def loads(data: bytes) -> Any:
    return cbor2.loads(data, semantic_decoders=_DECODERS)


async def _echo(request: bytes, context: Any) -> bytes:
    # Decoded and encoded again, as every system in the bench does with what it echoes.
    return dumps(loads(request))


async def serve(port: int) -> None:
    handler = grpc.unary_unary_rpc_method_handler(_echo)
    methods = {name: handler for name in (ECHO, ECHO_BYTES, ECHO_RECORDS)}
    generic = grpc.method_handlers_generic_handler(SERVICE, methods)
    await serve_with(port, lambda server: server.add_generic_rpc_handlers((generic,)))


async def client(port: int, config: str, server_pid: int) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=OPTIONS) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)

        def method(name: str) -> Any:
            call = channel.unary_unary(f"/{SERVICE}/{name}")

            async def invoke(value: Any) -> Any:
                return loads(await call(dumps(value)))

            return invoke

        async def gather(coros: list[Any]) -> Any:
            return await asyncio.gather(*coros)

        target = Target(
            echo=method(ECHO),
            echo_bytes=method(ECHO_BYTES),
            echo_records=method(ECHO_RECORDS),
            gather=gather,
            server_pid=server_pid,
        )
        return await run_workloads(target, Config.from_json(config))


if __name__ == "__main__":
    run_worker(serve, client, lambda: f"grpc.aio {grpc.__version__}, unary, cbor2 payloads")
