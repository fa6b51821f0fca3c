"""A normal close is not a warning (docs/protocol.md, closing a connection; issue 11 item 4).

A peer may close with a bare end of stream or send ABORT first; either way the server logs no
warning. Before: a peer's ABORT was logged at WARNING, so a client in another language that
followed the old text of the spec (ABORT first) filled the server's log.
"""

from __future__ import annotations

import asyncio
import logging
import struct

import cbor2
import pytest

import pbtyped as pb

from ..support import eventually


class Echoer(pb.Root):
    def remote_echo(self, value: object) -> object:
        return value


def frame(message: list[object]) -> bytes:
    body = cbor2.dumps(message)
    return struct.pack(">II", len(body), 0) + body


HELLO = frame([0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20}])


async def _hello_then(server: pb.Server, last: bytes) -> None:
    """A peer that completes the handshake, sends ``last``, ends its stream and waits for the
    server's end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(HELLO + last)
        writer.write_eof()
        await writer.drain()
        async with asyncio.timeout(5):
            while await reader.read(4096):  # the server's Hello, then the end of its stream
                pass
    finally:
        writer.close()


@pytest.mark.parametrize(
    "how", ["abort", "end of stream", "python client"], ids=lambda how: how.replace(" ", "-")
)
def test_a_peer_closing_normally_logs_no_warning(run, caplog, how: str) -> None:
    async def body() -> None:
        async with pb.serve(Echoer()) as server:
            if how == "python client":
                async with pb.connect("127.0.0.1", server.port) as client:
                    root = await client.root()
                    assert await root.call_remote("echo", 1) == 1
            elif how == "abort":
                await _hello_then(server, frame([6, "done for today"]))
            else:
                await _hello_then(server, b"")
            await eventually(lambda: not server.connections)

    with caplog.at_level(logging.DEBUG, logger="pbtyped"):
        run(body)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    if how == "abort":
        [line] = [r for r in caplog.records if "closed the connection" in r.getMessage()]
        assert line.levelno == logging.INFO
        assert line.getMessage().endswith(": done for today")
