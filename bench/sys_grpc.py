"""gRPC aio under the bench (optional: runs when grpcio is installed).

Unary-unary methods registered with a generic handler, so no protoc step: requests and answers
are CBOR bytes (cbor2, encoded and decoded around each call rather than through gRPC's
serializer hooks), records as the floor's tagged rows rebuilt as ``Record`` (see sys_bare.py).
This measures gRPC's transport and call machinery with the floor's payload codec, not protobuf
messages.
"""

from __future__ import annotations

import asyncio
from typing import Any

import cbor2
import grpc
from common import (
    ECHO,
    ECHO_BYTES,
    ECHO_RECORDS,
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
from sys_bare import _DECODERS, _default

SERVICE = "bench.Bench"
OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


def dumps(value: Any) -> bytes:
    return cbor2.dumps(value, default=_default)


def loads(data: bytes) -> Any:
    return cbor2.loads(data, semantic_decoders=_DECODERS)


async def _echo(request: bytes, context: Any) -> bytes:
    # Decoded and encoded again, as every system in the bench does with what it echoes.
    return dumps(loads(request))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    server = grpc.aio.server(options=OPTIONS)
    handler = grpc.unary_unary_rpc_method_handler(_echo)
    methods = {name: handler for name in (ECHO, ECHO_BYTES, ECHO_RECORDS)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, methods),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    announce_port(bound)
    on_stdin_closed(lambda: loop.call_soon_threadsafe(stop.set_result, None))
    await stop
    await server.stop(grace=1.0)


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


def main() -> None:
    args = worker_args()
    pin(args.cpu)
    if args.role == "server":
        profiled("server", lambda: run_asyncio(lambda: serve(args.port), args.loop))
    else:
        result = profiled(
            "client",
            lambda: run_asyncio(lambda: client(args.port, args.config, args.server_pid), args.loop),
        )
        emit_result({"api": f"grpc.aio {grpc.__version__}, unary, cbor2 payloads", **result})


if __name__ == "__main__":
    main()
