"""Item 6 (the line fails) and item 8 (timeouts and cancellation)."""

from __future__ import annotations

import asyncio

import pytest

import pbtyped as pb

from .conftest import eventually


class Sleeper(pb.Root):
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.finished = False

    async def remote_sleep(self, seconds: float) -> str:
        self.started.set()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        self.finished = True
        return "woke"

    def remote_echo(self, value: object) -> object:
        return value

    def remote_shutdown(self) -> None:
        # Close every connection right away, before the answer can be sent.
        for conn in list(self.server.connections):
            conn.close()

    server: pb.Server


def test_pending_calls_fail_with_connection_lost(run) -> None:
    async def body() -> None:
        root_obj = Sleeper()
        async with pb.serve(root_obj) as server:
            root_obj.server = server
            client = await pb.connect("127.0.0.1", server.port)
            root = await client.root()
            pending = asyncio.ensure_future(root.call_remote("sleep", 30))
            await root_obj.started.wait()
            with pytest.raises(pb.ConnectionLost):
                await root.call_remote("shutdown")
            with pytest.raises(pb.ConnectionLost):
                await pending
            await client.connection.wait_closed()

    run(body)


def test_stale_reference_fails_at_once_and_callbacks_fire(run) -> None:
    async def body() -> None:
        async with pb.serve(Sleeper()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            root = await client.root()
            fired: list[object] = []
            root.notify_on_disconnect(fired.append)
            removed: list[object] = []
            root.notify_on_disconnect(removed.append)
            root.dont_notify_on_disconnect(removed.append)
            client.notify_on_disconnect(lambda conn: fired.append("connection"))
            await server.aclose()
            await client.connection.wait_closed()
            assert fired == [root, "connection"]
            assert removed == []
            assert not root.is_connected
            coro = root.call_remote("echo", 1)
            with pytest.raises(pb.DeadReferenceError):
                await coro
            # A callback added after the loss still runs, at once.
            late: list[object] = []
            root.notify_on_disconnect(late.append)
            assert late == [root]

    run(body)


def test_timeout_fails_the_call_and_cancels_the_remote_work(run) -> None:
    async def body() -> None:
        root_obj = Sleeper()
        async with pb.serve(root_obj) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            with pytest.raises(TimeoutError):
                await root.call("sleep", (30,), timeout=0.05)
            async with asyncio.timeout(5):
                await root_obj.cancelled.wait()
            assert not root_obj.finished
            assert await root.call("sleep", (0,), timeout=5) == "woke"
            assert client.connection.broker.pending_questions == 0

    run(body)


def test_cancelling_the_awaiting_task_cancels_the_remote_coroutine(run) -> None:
    async def body() -> None:
        root_obj = Sleeper()
        async with pb.serve(root_obj) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            task = asyncio.ensure_future(root.call_remote("sleep", 30))
            await root_obj.started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with asyncio.timeout(5):
                await root_obj.cancelled.wait()
            # The callee still answers the cancelled question once; the id is then free.
            await eventually(lambda: client.connection.broker.pending_questions == 0, limit=5.0)
            assert await root.call_remote("echo", "after") == "after"

    run(body)


def test_asyncio_timeout_around_call_remote_works_too(run) -> None:
    async def body() -> None:
        root_obj = Sleeper()
        async with pb.serve(root_obj) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await root.call_remote("sleep", 30)
            async with asyncio.timeout(5):
                await root_obj.cancelled.wait()

    run(body)


def test_answer_that_cannot_be_decoded_fails_clearly(run) -> None:
    import dataclasses

    @dataclasses.dataclass
    class OnlyServerKnows:
        a: int

    class Giver(pb.Root):
        def remote_give(self) -> OnlyServerKnows:
            return OnlyServerKnows(1)

        def remote_echo(self, value: object) -> object:
            return value

    async def body() -> None:
        server_reg = pb.Registry()
        server_reg.register_type(OnlyServerKnows, "OnlyServerKnows")
        async with (
            pb.serve(Giver(), registry=server_reg) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            with pytest.raises(
                pb.InsecureTypeError,
                match='answer could not be decoded: type name "OnlyServerKnows" is not registered',
            ):
                await root.call_remote("give")
            assert client.is_connected
            assert await root.call_remote("echo", 5) == 5
            assert client.connection.broker.pending_questions == 0

    run(body)
