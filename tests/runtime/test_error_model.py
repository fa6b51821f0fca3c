"""Issue 11: one ``except pb.PbtypedError`` catches every way a remote call fails, while
application errors stay catchable by their own class; a timeout says which call and how long."""

from __future__ import annotations

import asyncio

import pytest

import pbtyped as pb


class Refusal(pb.Error):
    """An application error both sides register."""


class Shop(pb.Root):
    def remote_refuse(self) -> None:
        raise Refusal("not today")

    def remote_crash(self) -> None:
        raise KeyError("unregistered")

    async def remote_slow(self) -> None:
        await asyncio.sleep(10)

    def remote_echo(self, value: object) -> object:
        return value


def registry() -> pb.Registry:
    reg = pb.Registry()
    reg.register_error(Refusal, "shop.Refusal")
    return reg


def test_one_except_clause_catches_every_failure_of_a_call(run) -> None:
    async def body() -> None:
        async with (
            pb.serve(Shop(), registry=registry()) as server,
            pb.connect("127.0.0.1", server.port, registry=registry()) as client,
        ):
            root = await client.root()
            failures: list[type[BaseException]] = []
            attempts = [
                root.call("refuse"),  # a registered application error
                root.call("crash"),  # an unregistered one: RemoteError
                root.call("slow", timeout=0.05),  # the time ran out
                root.call("nope"),  # no such remote method
                root.call("echo", [object()]),  # a value that may not be sent
            ]
            for attempt in attempts:
                try:
                    await attempt
                except pb.PbtypedError as exc:
                    failures.append(type(exc))
            assert failures == [
                Refusal,
                pb.RemoteError,
                pb.CallTimeout,
                pb.NoSuchMethod,
                pb.InsecureTypeError,
            ]
            with pytest.raises(Refusal, match="not today"):  # still catchable by its class
                await root.call("refuse")
            await client.aclose()
            with pytest.raises(pb.PbtypedError):  # the line is gone
                await root.call("echo", ["x"])

    run(body)


def test_a_timeout_names_the_call_and_its_time(run) -> None:
    async def body() -> None:
        async with (
            pb.serve(Shop()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            with pytest.raises(TimeoutError, match=r"slow\(\) got no answer within 0\.05 s"):
                await root.call("slow", timeout=0.05)

    run(body)
