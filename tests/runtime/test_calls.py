"""Items 1 and 2 of the runtime issue: the root, calls, and what is reachable."""

from __future__ import annotations

import asyncio

import pytest

import pbtyped as pb


class Echoer(pb.Root):
    secret = "do not leak"

    def __init__(self) -> None:
        self.release = asyncio.Event()

    def remote_echo(self, st: str) -> str:
        return st

    def remote_join(self, a: str, b: str, *, sep: str = "-") -> str:
        return f"{a}{sep}{b}"

    async def remote_wait(self, tag: str) -> str:
        await self.release.wait()
        return tag

    async def remote_fast(self, tag: str) -> str:
        await asyncio.sleep(0)
        self.release.set()
        return tag

    def remote_none(self) -> None:
        return None

    def _private(self) -> str:
        return "private"

    def local_only(self) -> str:
        return "local"


def test_echo_over_tcp(run) -> None:
    async def body() -> None:
        async with pb.serve(Echoer(), "127.0.0.1", 0) as server:
            async with pb.connect("127.0.0.1", server.port) as client:
                root = await client.root()
                assert isinstance(root, pb.RemoteReference)
                assert await root.call_remote("echo", "hello network") == "hello network"
                assert await root.call_remote("none") is None

    run(body)


def test_positional_and_keyword_arguments(run) -> None:
    async def body() -> None:
        async with pb.serve(Echoer()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            assert await root.call_remote("join", "a", "b") == "a-b"
            assert await root.call_remote("join", "a", b="c", sep="+") == "a+c"
            assert await root.call("join", ("x",), {"b": "y"}) == "x-y"
            with pytest.raises(pb.RemoteError) as info:
                await root.call_remote("join", "only-one")
            assert info.value.remote_type == "builtins.TypeError"
            assert "missing 1 required positional argument" in info.value.message

    run(body)


def test_calls_in_flight_are_answered_as_they_complete(run) -> None:
    async def body() -> None:
        async with pb.serve(Echoer()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            order: list[str] = []

            async def call(name: str, tag: str) -> None:
                order.append(await root.call_remote(name, tag))

            # "wait" is sent first but can only finish after "fast" ran: answers come back in
            # completion order, on one connection.
            await asyncio.gather(call("wait", "slow"), call("fast", "quick"))
            assert order == ["quick", "slow"]
            results = await asyncio.gather(*(root.call_remote("echo", i) for i in range(200)))
            assert results == list(range(200))

    run(body)


@pytest.mark.parametrize(
    "name",
    ["secret", "_private", "local_only", "remote_echo", "__class__", "__init__", "echo.x", ""],
)
def test_only_remote_methods_are_reachable(run, name: str) -> None:
    async def body() -> None:
        async with pb.serve(Echoer()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            with pytest.raises(pb.NoSuchMethod):
                await root.call_remote(name)
            # The connection keeps working after the refusal.
            assert await root.call_remote("echo", "still here") == "still here"

    run(body)


def test_instance_attribute_named_like_a_remote_method_is_not_reachable(run) -> None:
    async def body() -> None:
        root_obj = Echoer()
        root_obj.remote_sneaky = lambda: "sneaky"  # type: ignore[attr-defined]
        async with pb.serve(root_obj) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            with pytest.raises(pb.NoSuchMethod, match='no remote method "sneaky"'):
                await root.call_remote("sneaky")

    run(body)


def test_serve_refuses_a_root_that_is_not_a_root() -> None:
    with pytest.raises(TypeError, match=r"pbtyped\.Root"):
        pb.serve(object())  # type: ignore[arg-type]


def test_connect_failure_is_an_os_error(run) -> None:
    async def body() -> None:
        async with pb.serve(Echoer()) as server:
            port = server.port
        with pytest.raises(ConnectionRefusedError):
            await pb.connect("127.0.0.1", port)

    run(body)


def test_failure_to_start_a_connection_fails_connect_at_once(run, monkeypatch, caplog) -> None:
    from pbtyped.protocol.broker import Broker

    async def body() -> None:
        async with pb.serve(Echoer()) as server:

            def broken(self: Broker) -> bytes:
                raise pb.InsecureTypeError("simulated")

            monkeypatch.setattr(Broker, "initiate", broken)
            with pytest.raises(pb.ConnectionLost, match="could not start the connection"):
                # Far below the 30 s default: a hang would hit the run() bound instead.
                await pb.connect("127.0.0.1", server.port)

    run(body, limit=10)
