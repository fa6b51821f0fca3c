"""The floor: bare asyncio + cbor2 with 4-byte length-prefixed frames. No framework, no checks.

Request ``[id, method, arg]``, answer ``[id, result]``. Records travel as CBOR tag 40000 around
``[id, name, score, values]`` and are rebuilt as ``Record`` on both sides, so both ends still
hold typed objects; nothing is validated. Large bytes go inside the CBOR body.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import cbor2
from common import (
    ECHO,
    ECHO_BYTES,
    ECHO_RECORDS,
    Record,
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

RECORD_TAG = 40000


def _default(encoder: Any, value: Any) -> None:
    if type(value) is Record:
        encoder.encode(cbor2.CBORTag(RECORD_TAG, [value.id, value.name, value.score, value.values]))
    else:
        raise TypeError(f"cannot encode {type(value).__name__}")


def _decode_record(value: Any, immutable: bool) -> Record:
    return Record(*value)


_DECODERS = {RECORD_TAG: _decode_record}


def frame(value: Any) -> bytes:
    body = cbor2.dumps(value, default=_default)
    return len(body).to_bytes(4, "big") + body


class Framed(asyncio.Protocol):
    """Splits the byte stream into frames; ``handle`` gets each decoded message."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= 4:
            end = 4 + int.from_bytes(buf[:4], "big")
            if len(buf) < end:
                break
            message = cbor2.loads(bytes(buf[4:end]), semantic_decoders=_DECODERS)
            del buf[:end]
            self.handle(message)

    def handle(self, message: Any) -> None:
        raise NotImplementedError


class ServerSide(Framed):
    def handle(self, message: Any) -> None:
        qid, _method, arg = message  # every method is an echo
        assert self.transport is not None
        self.transport.write(frame([qid, arg]))


class ClientSide(Framed):
    def __init__(self, coalesce: bool = False) -> None:
        super().__init__()
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.coalesce = coalesce
        self.out: list[bytes] = []

    def call(self, method: str, arg: Any) -> asyncio.Future[Any]:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        data = frame([self.next_id, method, arg])
        if self.coalesce:  # one write per loop turn for all calls made in it
            if not self.out:
                asyncio.get_running_loop().call_soon(self.flush)
            self.out.append(data)
        else:
            assert self.transport is not None
            self.transport.write(data)
        return fut

    def flush(self) -> None:
        assert self.transport is not None
        self.transport.write(b"".join(self.out))
        self.out.clear()

    def handle(self, message: Any) -> None:
        qid, result = message
        self.pending.pop(qid).set_result(result)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    server = await loop.create_server(ServerSide, "127.0.0.1", port)
    announce_port(server.sockets[0].getsockname()[1])
    on_stdin_closed(lambda: loop.call_soon_threadsafe(stop.set_result, None))
    async with server:
        await stop


async def client(port: int, config: str, server_pid: int, coalesce: bool) -> dict[str, Any]:
    from common import Config

    loop = asyncio.get_running_loop()
    transport, conn = await loop.create_connection(lambda: ClientSide(coalesce), "127.0.0.1", port)
    conn.transport = transport  # uvloop may call connection_made only after this returns

    async def gather(coros: list[Any]) -> Any:
        return await asyncio.gather(*coros)

    target = Target(
        echo=lambda x: conn.call(ECHO, x),
        echo_bytes=lambda x: conn.call(ECHO_BYTES, x),
        echo_records=lambda x: conn.call(ECHO_RECORDS, x),
        gather=gather,
        server_pid=server_pid,
    )
    result = await run_workloads(target, Config.from_json(config))
    assert conn.transport is not None
    conn.transport.close()
    return result


def main() -> None:
    args = worker_args()
    coalesce = args.api == "coalesce"  # an experiment: what batching the client's writes buys
    pin(args.cpu)
    if args.role == "server":
        profiled("server", lambda: run_asyncio(lambda: serve(args.port), args.loop))
    else:
        result = profiled(
            "client",
            lambda: run_asyncio(
                lambda: client(args.port, args.config, args.server_pid, coalesce), args.loop
            ),
        )
        api = "asyncio Protocol + cbor2, no checks"
        if coalesce:
            api += "; the client writes once per loop turn"
        emit_result({"api": api, **result})


if __name__ == "__main__":
    main()
