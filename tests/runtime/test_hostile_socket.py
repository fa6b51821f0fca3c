"""Item 9 over real sockets: bad frames cost only their own connection; big arguments fail
locally before anything is sent."""

from __future__ import annotations

import asyncio
import logging
import struct

import cbor2
import pytest

import pbtyped as pb


class Echoer(pb.Root):
    def remote_echo(self, value: object) -> object:
        return value


def frame(body: bytes, attachments: bytes = b"") -> bytes:
    return struct.pack(">II", len(body), len(attachments)) + body + attachments


HELLO = frame(cbor2.dumps([0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20}]))

BAD_INPUTS = {
    "oversized header": struct.pack(">II", 1 << 30, 0),
    "garbage body": frame(b"\xff\xff\xff"),
    "trailing bytes": HELLO + frame(cbor2.dumps([4, 1]) + b"\x00"),
    "unknown kind": HELLO + frame(cbor2.dumps([42, 1])),
    "call before hello": frame(cbor2.dumps([1, 1, [0, 0], "echo", ["x"], {}])),
    "deep nesting": HELLO + frame(b"\x81" * 500 + b"\x01"),
    "wrong version": frame(
        cbor2.dumps([0, {"protocol": "pbtyped", "version": 99, "max_frame_size": 1024}])
    ),
    "answer never asked": HELLO + frame(cbor2.dumps([2, 77, "surprise"])),
}


async def _talk(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()  # until the server closes
    finally:
        writer.close()


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_frames_close_only_that_connection(run, caplog, case: str) -> None:
    async def body() -> None:
        async with (
            pb.serve(Echoer(), limits=pb.Limits(max_frame_size=1 << 20)) as server,
            pb.connect("127.0.0.1", server.port) as good,
        ):
            root = await good.root()
            assert await root.call_remote("echo", "before") == "before"
            await _talk(server.port, BAD_INPUTS[case])
            # The well-behaved client never noticed.
            assert await root.call_remote("echo", "after") == "after"
            assert len(server.connections) == 1

    with caplog.at_level(logging.INFO, logger="pbtyped"):
        run(body)
    closing = [r for r in caplog.records if "closing connection" in r.getMessage()]
    assert len(closing) == 1, [r.getMessage() for r in caplog.records]


def test_oversized_argument_fails_locally_and_nothing_is_sent(run) -> None:
    async def body() -> None:
        limits = pb.Limits(max_frame_size=64 * 1024)
        async with (
            pb.serve(Echoer(), limits=limits) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            with pytest.raises(pb.FrameTooLarge, match="exceeds the peer's limit of 65536"):
                await root.call_remote("echo", "x" * 100_000)
            assert client.connection.broker.pending_questions == 0
            assert await root.call_remote("echo", "small") == "small"

    run(body)


def test_oversized_result_fails_only_that_call(run) -> None:
    class Big(pb.Root):
        def remote_big(self) -> str:
            return "y" * 200_000

        def remote_echo(self, value: object) -> object:
            return value

    async def body() -> None:
        async with (
            pb.serve(Big()) as server,
            pb.connect("127.0.0.1", server.port, limits=pb.Limits(max_frame_size=64 * 1024)) as c,
        ):
            root = await c.root()
            with pytest.raises(pb.LimitExceeded, match="the result could not be sent"):
                await root.call_remote("big")
            assert await root.call_remote("echo", 1) == 1

    run(body)
