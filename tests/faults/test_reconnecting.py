"""pb.Reconnecting against a real server closed and served again on the same port (issue 15
item 4): the typed root is bound again, setup runs on each connection, a call in flight at
the loss fails with ConnectionLost and is never sent again, a call made while there is no
connection waits for the next one within its timeout, and a draining server's GoingAway
sends new calls to the next connection."""

from __future__ import annotations

import asyncio

import pytest

import pbtyped as pb
from gen.pbsimple import EchoerClient, EchoerServer
from pbtyped.runtime.reconnecting import Backoff

from ..support import eventually
from .harness import BOUND

QUICK = Backoff(initial=0.02, cap=0.1)


class Echoer(EchoerServer):
    """Records what it echoes; a text starting with "hold" is answered once ``release``
    is set."""

    def __init__(self) -> None:
        self.echoed: list[str] = []
        self.release = asyncio.Event()

    async def remote_echo(self, st: str) -> str:
        self.echoed.append(st)
        if st.startswith("hold"):
            await self.release.wait()
        return st


class Setups:
    """A setup coroutine that counts its runs and binds the server's root."""

    def __init__(self) -> None:
        self.clients: list[pb.Client] = []

    async def __call__(self, client: pb.Client) -> None:
        self.clients.append(client)
        assert await (await client.root()).call_remote("echo", "setup") == "setup"


async def serve_on(port: int) -> tuple[pb.Server, Echoer]:
    root = Echoer()
    return await pb.serve(root, port=port).start(), root


def test_the_typed_root_follows_the_server_across_a_restart(run) -> None:
    async def body() -> None:
        first, first_root = await serve_on(0)
        port = first.port
        setups = Setups()
        async with pb.Reconnecting(
            "127.0.0.1", port, EchoerClient, setup=setups, backoff=QUICK
        ) as rc:
            assert await rc.root.echo("one", pb_timeout=BOUND) == "one"
            held = asyncio.ensure_future(rc.root.echo("hold: in flight"))
            await asyncio.sleep(0.05)
            assert first_root.echoed == ["setup", "one", "hold: in flight"]
            await first.aclose()
            with pytest.raises(pb.ConnectionLost):
                await asyncio.wait_for(held, BOUND)
            # No server now: a new call waits for the next connection.
            waiting = asyncio.ensure_future(rc.root.echo("two", pb_timeout=BOUND))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            assert not rc.is_connected
            second, second_root = await serve_on(port)
            try:
                assert await waiting == "two"
                assert rc.is_connected
                assert rc.connections == 2
                assert len(setups.clients) == 2
                # The call in flight at the loss was never sent again.
                assert second_root.echoed == ["setup", "two"]
            finally:
                await second.aclose()

    run(body)


def test_a_call_waiting_for_a_connection_is_bounded_by_its_timeout(run) -> None:
    async def body() -> None:
        server, _ = await serve_on(0)
        port = server.port
        async with pb.Reconnecting("127.0.0.1", port, EchoerClient, backoff=QUICK) as rc:
            await rc.wait_connected(BOUND)
            await server.aclose()
            with pytest.raises(pb.CallTimeout, match="waiting for a connection included"):
                await rc.root.echo("nobody", pb_timeout=0.3)
        with pytest.raises(pb.DeadReferenceError, match="Reconnecting client is closed"):
            await rc.root.echo("closed", pb_timeout=BOUND)

    run(body)


def test_going_away_moves_new_calls_to_the_next_connection(run) -> None:
    async def body() -> None:
        first, first_root = await serve_on(0)
        port = first.port
        async with pb.Reconnecting("127.0.0.1", port, EchoerClient, backoff=QUICK) as rc:
            assert await rc.root.echo("before", pb_timeout=BOUND) == "before"
            held = asyncio.ensure_future(rc.root.echo("hold: kept"))
            await asyncio.sleep(0.05)
            drain = asyncio.ensure_future(first.drain(grace=BOUND, reason="rolling restart"))
            client = rc.client
            assert client is not None
            await eventually(lambda: client.connection.broker.peer_leaving is not None)
            # GoingAway (the call did not run): it waits for the next connection.
            after = asyncio.ensure_future(rc.root.echo("after", pb_timeout=BOUND))
            await asyncio.sleep(0.1)
            assert not after.done()
            first_root.release.set()
            assert await held == "hold: kept"  # the call in flight finished within the grace
            await asyncio.wait_for(drain, BOUND)
            second, second_root = await serve_on(port)
            try:
                assert await after == "after"
                assert first_root.echoed == ["before", "hold: kept"]
                assert second_root.echoed == ["after"]
            finally:
                await second.aclose()

    run(body)


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    backoff = Backoff(initial=0.1, factor=2.0, cap=1.0, jitter=0.5)
    assert [backoff.delay(n, lambda: 0.0) for n in (1, 2, 3, 4, 5, 100)] == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]
    assert backoff.delay(3, lambda: 1.0) == pytest.approx(0.2)  # jitter takes up to half
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.5)
    with pytest.raises(ValueError, match="initial <= cap"):
        Backoff(initial=2.0, cap=1.0)
