"""Connection: the futures that say how the handshake and the line ended, made only when asked."""

from __future__ import annotations

import asyncio

import pytest

import pbtyped as pb

from .conftest import eventually, silent_peer


class Echoer(pb.Root):
    def remote_echo(self, x: object) -> object:
        return x


def test_futures_asked_for_late_still_say_how_it_ended(run) -> None:
    async def body() -> None:
        async with pb.serve(Echoer()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            assert await (await client.root()).call_remote("echo", 1) == 1
            (conn,) = server.connections
            assert not conn.is_closed
            assert conn.handshake.done()  # asked for only now
            assert conn.handshake.exception() is None
            closed = conn.closed
            assert not closed.done()
            await client.aclose()
            await conn.wait_closed()
            assert closed.done()
            assert conn.is_closed
            assert conn.closed is closed

    run(body)


def test_a_handshake_that_failed_says_why_when_asked_afterwards(run) -> None:
    async def body() -> None:
        limits = pb.Limits(handshake_timeout=0.2)
        async with pb.serve(Echoer(), limits=limits) as server:
            peer = await silent_peer(server.port)
            await eventually(lambda: bool(server.connections))
            (conn,) = server.connections
            await conn.wait_closed()
            assert conn.closed.done()
            with pytest.raises(pb.ConnectionLost, match=r"no handshake within 0\.2 s"):
                conn.handshake.result()
            peer.cancel()
            await asyncio.gather(peer, return_exceptions=True)

    run(body)
