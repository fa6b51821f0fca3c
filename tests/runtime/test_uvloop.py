"""The fast path: ``pb.run(main, use_uvloop=True)`` runs the same program on uvloop."""

from __future__ import annotations

import asyncio

import pytest

import pbtyped as pb


class Echoer(pb.Root):
    def remote_echo(self, value: object) -> object:
        return value

    async def remote_slow(self) -> None:
        await asyncio.sleep(30)

    def remote_two(self) -> pb.Referenceable:
        return pb.Referenceable()


async def _exercise() -> str:
    async with pb.serve(Echoer()) as server, pb.connect("127.0.0.1", server.port) as client:
        root = await client.root()
        assert await root.call_remote("echo", {"a": [1, (2, 3)]}) == {"a": [1, (2, 3)]}
        assert await root.call_remote("echo", b"x" * 200_000) == b"x" * 200_000
        results = await asyncio.gather(*(root.call_remote("echo", i) for i in range(100)))
        assert results == list(range(100))
        with pytest.raises(TimeoutError):
            await root.call("slow", timeout=0.05)
        assert isinstance(await root.call_remote("two"), pb.RemoteReference)
    return type(asyncio.get_running_loop()).__module__


def test_run_uses_uvloop_when_asked() -> None:
    pytest.importorskip("uvloop")
    assert pb.run(_exercise(), use_uvloop=True).startswith("uvloop")


def test_run_defaults_to_asyncio() -> None:
    assert pb.run(_exercise()).startswith("asyncio")
