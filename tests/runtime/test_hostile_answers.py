"""A client facing a hostile server (issue 10, row 3): the server completes the handshake
properly, then answers a call with a frame built to be as expensive as possible to decode.
The client pays a small multiple of what it received, the call fails on its own, and the
client's per-call timeout still holds. The frames are the ones that, sent to a server, took
gigabytes or froze its loop before the decoder was bounded; the codec is the same object on
both sides, so the client is protected the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import cbor2
import pytest

import pbtyped as pb

from ..costs import peak_memory
from ..protocol.wiring import HEADER, frame, hello


def attachment_bomb(qid: int) -> bytes:
    """A 64 KiB attachment section named whole by 20,000 tags: 1.3 GB if each is copied."""
    names = [cbor2.CBORTag(41006, [1, 65535])] * 20_000
    return frame(cbor2.dumps([2, qid, names]), bytes(65536))


def decimal_bomb(qid: int) -> bytes:
    """A decimal whose mantissa is a 512 KiB bignum: Decimal(int) is quadratic in its digits."""
    value = cbor2.CBORTag(4, [0, cbor2.CBORTag(2, b"\xff" * (512 * 1024))])
    return frame(cbor2.dumps([2, qid, value]))


def nesting_bomb(qid: int) -> bytes:
    """Nested one-element arrays, 58 deep, repeated: ~100x their size once decoded."""
    one = b"\x81" * 58 + b"\x00"
    count = (1 << 20) // len(one)
    return frame(b"\x83\x02" + cbor2.dumps(qid) + b"\x99" + count.to_bytes(2, "big") + one * count)


async def _read_frame(reader: asyncio.StreamReader) -> object:
    body_len, att_len = HEADER.unpack(await reader.readexactly(8))
    body = await reader.readexactly(body_len)
    await reader.readexactly(att_len)
    return cbor2.loads(body)


async def _hostile_server(answer: Callable[[int], bytes]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(hello(max_frame_size=64 << 20))
            await _read_frame(reader)  # the client's Hello
            call = await _read_frame(reader)
            assert isinstance(call, list)
            writer.write(answer(call[1]))
            await writer.drain()
            await reader.read()  # hold the line until the client goes
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


BOMBS = {
    "attachments": (attachment_bomb, "a byte may be named only once"),
    "decimal": (decimal_bomb, r"raise Limits\.max_int_digits"),
    "nesting": (nesting_bomb, r"raise Limits\.max_decoded_ratio"),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_hostile_answer_costs_the_client_little(run, name: str) -> None:
    bomb, why = BOMBS[name]
    sent = len(bomb(1))

    async def body() -> None:
        server = await _hostile_server(bomb)
        port = server.sockets[0].getsockname()[1]
        try:
            async with pb.connect("127.0.0.1", port, timeout=5) as client:
                root = await client.root()
                # Refused within the call's timeout (a TimeoutError would fail the test),
                # that call only: the connection stays open.
                with pytest.raises(pb.InsecureTypeError, match=why):
                    await root.call("echo", ["x"], timeout=5)
                assert client.is_connected
        finally:
            server.close()
            await server.wait_closed()

    # Everything the client allocated while receiving and refusing the answer (the fake
    # server's own frame, built in this process, is included: that only makes it stricter).
    assert peak_memory(lambda: run(body)) < 40 * sent
