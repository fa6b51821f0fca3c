"""The line cut mid-frame, mid-call and mid-reply (issue 4, item 3).

A proxy between one client and the server cuts the TCP connection at a chosen byte of a chosen
frame. The client's pending call must fail with ConnectionLost (then DeadReferenceError at
once), the server must drop that connection and everything it held, and a well-behaved client
connected directly keeps getting right answers throughout.
"""

from __future__ import annotations

import asyncio

import pytest

import pbtyped as pb

from .harness import (
    BOUND,
    Cut,
    CutProxy,
    GoodClient,
    Service,
    call_frame,
    registry,
    server_settles,
)

ARG = "x" * 1000
CALL_LEN = len(call_frame(1, "echo", ARG))
REPLY = 200_000  # characters in the big reply


async def _lost(call: asyncio.Future[object]) -> None:
    with pytest.raises(pb.ConnectionLost):
        await asyncio.wait_for(call, BOUND)


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize(
    "offset", [3, 8, 8 + CALL_LEN // 2, CALL_LEN - 1], ids=["header", "after-header", "mid", "last"]
)
def test_cut_mid_frame_from_the_client(run, offset: int, how: str) -> None:
    async def body() -> None:
        service = Service()
        async with (
            pb.serve(service, registry=registry()) as server,
            GoodClient(server.port) as good,
            CutProxy(server.port, Cut("up", frame=1, offset=offset, how=how)) as proxy,
        ):
            client = await pb.connect("127.0.0.1", proxy.port, registry=registry())
            root = await client.root()
            await _lost(asyncio.ensure_future(root.call("echo", [ARG])))
            assert proxy.cut_done.is_set()
            assert not client.is_connected
            with pytest.raises(pb.DeadReferenceError):
                await root.call("echo", [1])
            await server_settles(server)
            await good.check()

    run(body)


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize(
    "offset", [4, 8, REPLY // 2, REPLY + 8], ids=["header", "after-header", "mid", "near-end"]
)
def test_cut_mid_reply(run, offset: int, how: str) -> None:
    async def body() -> None:
        async with (
            pb.serve(Service(), registry=registry()) as server,
            GoodClient(server.port) as good,
            CutProxy(server.port, Cut("down", frame=1, offset=offset, how=how)) as proxy,
        ):
            client = await pb.connect("127.0.0.1", proxy.port, registry=registry())
            root = await client.root()
            await _lost(asyncio.ensure_future(root.call("big", [REPLY])))
            assert proxy.cut_done.is_set()
            await server_settles(server)
            await good.check()

    run(body)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_cut_mid_call_cancels_the_running_method(run, how: str) -> None:
    async def body() -> None:
        service = Service()
        async with (
            pb.serve(service, registry=registry()) as server,
            GoodClient(server.port) as good,
            CutProxy(server.port) as proxy,
        ):
            client = await pb.connect("127.0.0.1", proxy.port, registry=registry())
            root = await client.root()
            item = await root.call("make")  # the server also holds an export for this client
            held = [asyncio.ensure_future(root.call("hold", [i])) for i in range(5)]
            echoes = [asyncio.ensure_future(root.call("echo", [i])) for i in range(5)]
            await asyncio.wait_for(service.started.wait(), BOUND)
            assert await asyncio.gather(*echoes) == list(range(5))
            await asyncio.sleep(0.05)
            assert service.holding == 5
            proxy.cut_now(how)  # type: ignore[arg-type]
            for call in held:
                await _lost(call)
            with pytest.raises(pb.DeadReferenceError):
                await item.call("ping")
            await server_settles(server)
            # The running methods were cancelled, not left behind.
            assert service.holding == 0
            assert service.cancelled == 5
            await good.check()

    run(body)


def test_many_cuts_in_a_row_leave_the_server_as_it_was(run) -> None:
    """Twenty clients, each cut at a different byte of its traffic."""

    async def body() -> None:
        async with (
            pb.serve(Service(), registry=registry()) as server,
            GoodClient(server.port) as good,
        ):
            for i in range(20):
                direction = "up" if i % 2 else "down"
                cut = Cut(direction, frame=1 + i % 3, offset=1 + 7 * i, how="reset")
                async with CutProxy(server.port, cut) as proxy:
                    try:
                        client = await pb.connect("127.0.0.1", proxy.port, registry=registry())
                        root = await client.root()
                        for j in range(4):
                            await asyncio.wait_for(root.call("echo", ["v" * 50 * j]), BOUND)
                    except (pb.ConnectionLost, pb.DeadReferenceError):
                        pass
                    else:
                        await client.aclose()
            await server_settles(server)
            await good.check()

    run(body, limit=40)
