"""Issue 10, row 4 and item 4: one peer cannot take every slot, idle connections that hold
nothing leave, and serve() fits max_connections to the file-descriptor limit. Real sockets on
127.0.0.1 with small limits."""

from __future__ import annotations

import asyncio
import logging
import resource

import pytest

import pbtyped as pb
from pbtyped.runtime import endpoints
from pbtyped.runtime.slots import FD_RESERVE, address_of, plan_descriptors

from ..protocol.wiring import hello
from .conftest import eventually, silent_peer


class Thing(pb.Referenceable):
    def remote_ping(self) -> str:
        return "pong"


class Service(pb.Root):
    def __init__(self) -> None:
        self.gate = asyncio.Event()

    def remote_echo(self, value: object) -> object:
        return value

    def remote_thing(self) -> Thing:
        return Thing()

    async def remote_wait(self) -> str:
        await self.gate.wait()
        return "done"


def test_limits_defaults_and_validation() -> None:
    """The new limits are on by default and validated."""
    limits = pb.Limits()
    assert limits.max_connections_per_address < limits.max_connections
    assert limits.prelogin_idle_timeout == 60.0
    assert limits.tls_handshake_timeout == 10.0
    with pytest.raises(ValueError, match="max_connections_per_address must be at least 1"):
        pb.Limits(max_connections_per_address=0)
    with pytest.raises(ValueError, match="prelogin_idle_timeout must be positive or None"):
        pb.Limits(prelogin_idle_timeout=0)
    with pytest.raises(ValueError, match="tls_handshake_timeout must be positive"):
        pb.Limits(tls_handshake_timeout=0)
    with pytest.raises(ValueError, match=r"max_bytes_held \(100\) must be at least max_frame"):
        pb.Limits(max_bytes_held=100)


def test_one_address_cannot_take_every_slot(run, caplog) -> None:
    """Attack: issue 10 row 4, one peer opens connections (here raw sockets that send a Hello
    and then nothing) until the server is full: it gets only its share of the slots."""

    async def body() -> None:
        limits = pb.Limits(max_connections=10, max_connections_per_address=3)
        async with pb.serve(Service(), limits=limits) as server:
            peers = [await silent_peer(server.port, hello()) for _ in range(3)]
            await eventually(lambda: len(server.connections) == 3)
            # The fourth from the same address is refused, saying which limit to raise.
            with pytest.raises(pb.ConnectionLost, match=r"Limits\.max_connections_per_address"):
                await pb.connect("127.0.0.1", server.port)
            assert server.slots_in_use == 3
            # A slot given back is free again, for this address too.
            peers[0].cancel()
            await eventually(lambda: server.slots_in_use == 2)
            async with pb.connect("127.0.0.1", server.port) as client:
                assert await (await client.root()).call_remote("echo", 1) == 1
            for task in peers:
                task.cancel()
            await asyncio.gather(*peers, return_exceptions=True)
            await eventually(lambda: server.slots_in_use == 0)

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)


def test_a_peer_address_is_an_ipv4_address_or_an_ipv6_network() -> None:
    """Attack: one IPv6 host holds a whole /64 and may connect from any address in it."""
    assert address_of(("192.0.2.7", 4000)) == "192.0.2.7"
    assert address_of(("2001:db8:1:2:aaaa::1", 4000, 0, 0)) == "2001:db8:1:2::/64"
    assert address_of(("2001:db8:1:2:ffff::9", 1, 0, 0)) == "2001:db8:1:2::/64"
    assert address_of(("::ffff:192.0.2.7", 4000, 0, 0)) == "192.0.2.7"
    assert address_of(("fe80::1%eth0", 4000, 0, 2)) == "fe80::/64"
    assert address_of("/tmp/socket") == "/tmp/socket"


def test_idle_connections_holding_nothing_are_closed(run, caplog) -> None:
    """Attack: issue 10 row 4, connections that send a Hello and then nothing stay forever
    (idle_timeout is off by default): they now leave after prelogin_idle_timeout, while a
    connection holding a reference of ours, or waiting on a call, stays."""

    async def body() -> None:
        service = Service()
        limits = pb.Limits(prelogin_idle_timeout=0.3)
        async with (
            pb.serve(service, limits=limits) as server,
            pb.connect("127.0.0.1", server.port) as holder,
            pb.connect("127.0.0.1", server.port) as waiter,
        ):
            thing = await (await holder.root()).call_remote("thing")
            waiting = asyncio.ensure_future((await waiter.root()).call_remote("wait"))
            silent = await silent_peer(server.port, hello())
            async with asyncio.timeout(5):
                data = await silent
            assert b"holding no reference" in data  # the Abort says why
            await asyncio.sleep(0.5)  # past the limit again: the others are still there
            assert await thing.call_remote("ping") == "pong"
            service.gate.set()
            assert await waiting == "done"
            # Once it holds nothing and is idle, the waiter leaves too.
            async with asyncio.timeout(5):
                await waiter.connection.wait_closed()
            assert holder.is_connected

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    assert any(
        "idle for 0.3 s holding no reference (Limits.prelogin_idle_timeout)" in r.getMessage()
        for r in caplog.records
    )


def test_the_prelogin_idle_limit_applies_only_to_servers(run) -> None:
    """A client never closes its own idle connection for holding nothing."""

    async def body() -> None:
        async with (
            pb.serve(Service(), limits=pb.Limits(prelogin_idle_timeout=None)) as server,
            pb.connect(
                "127.0.0.1", server.port, limits=pb.Limits(prelogin_idle_timeout=0.1)
            ) as client,
        ):
            await asyncio.sleep(0.4)
            assert await (await client.root()).call_remote("echo", 2) == 2

    run(body)


def test_descriptor_plan() -> None:
    """serve() raises the soft limit toward the hard one, or lowers the effective maximum."""
    inf = resource.RLIM_INFINITY
    assert plan_descriptors(1024, 4096, 4096, inf).message is None
    assert plan_descriptors(1024, inf, inf, inf).message is None
    raised = plan_descriptors(1024, 1024, 4096, inf)
    assert (raised.new_soft, raised.max_connections) == (1024 + FD_RESERVE, 1024)
    assert raised.message == (
        "raised the open-file soft limit from 1024 to 1088 to fit max_connections=1024"
    )
    assert plan_descriptors(1024, 1024, inf, inf).new_soft == 1024 + FD_RESERVE
    lowered = plan_descriptors(1024, 256, 512, inf)
    assert (lowered.new_soft, lowered.max_connections) == (512, 512 - FD_RESERVE)
    assert lowered.message == (
        "raised the open-file soft limit from 256 to 512; the open-file limit (512, "
        "hard limit 512) is too low for max_connections=1024: serving at most 448 connections "
        "(raise the hard limit, e.g. ulimit -Hn, or lower Limits.max_connections)"
    )
    stuck = plan_descriptors(1024, 512, 512, inf)
    assert (stuck.new_soft, stuck.max_connections) == (None, 448)


def test_serve_fits_max_connections_to_the_descriptor_limit(run, caplog, monkeypatch) -> None:
    """Issue 10 row 4: 1,024 connections is also the common default descriptor limit. serve()
    checks it, raises the soft limit when it can, and says in one line what it did."""
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(endpoints.resource, "getrlimit", lambda which: (200, 300))
    monkeypatch.setattr(endpoints.resource, "setrlimit", lambda which, lim: calls.append(lim))

    async def body() -> None:
        async with pb.serve(Service(), limits=pb.Limits(max_connections=1024)) as server:
            assert server.max_connections == 300 - FD_RESERVE
        async with pb.serve(Service(), limits=pb.Limits(max_connections=200)) as server:
            assert server.max_connections == 200

    with caplog.at_level(logging.INFO, logger="pbtyped"):
        run(body)
    assert calls == [(300, 300), (264, 300)]
    lines = [r for r in caplog.records if "open-file" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.INFO]
    assert "serving at most 236 connections" in lines[0].getMessage()


def test_a_full_server_counts_what_the_descriptor_limit_allows(run, monkeypatch) -> None:
    """The effective maximum is the one enforced."""
    monkeypatch.setattr(endpoints.resource, "getrlimit", lambda which: (FD_RESERVE + 2,) * 2)

    async def body() -> None:
        async with (
            pb.serve(Service(), limits=pb.Limits(max_connections=50)) as server,
            pb.connect("127.0.0.1", server.port),
            pb.connect("127.0.0.1", server.port),
        ):
            with pytest.raises(pb.ConnectionLost, match=r"server full \(2 connections\)"):
                await pb.connect("127.0.0.1", server.port)

    run(body)
