"""Issue 12 point 11: a wrong host, registry, stub class or timeout fails at once with an
error naming it, before any socket is opened or any call is sent."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

import pytest

import pbtyped as pb
from pbtyped.runtime.arguments import check_timeout


@dataclass
class Item:
    name: str


class Shop(pb.Root):
    def remote_name(self) -> str:
        return "shop"


class ShopClient(pb.Stub):
    pb_interface = "shop.Shop"


class ShopServer(pb.Root):
    pb_interface = "shop.Shop"


class MyShop(ShopServer):
    pass


class NamedShop(ShopServer):
    """A root of interface shop.Shop: what ShopClient may be asked for."""

    def remote_name(self) -> str:
        return "shop"


HOST_AFTER = "(the host comes before the port; pass port= by name)"


def test_serve_with_the_host_left_out_says_so_before_listening() -> None:
    # Raised by serve() itself: no event loop runs, so no socket can have been opened.
    with pytest.raises(TypeError) as info:
        pb.serve(Shop(), 0)  # type: ignore[arg-type]
    assert str(info.value) == f"serve(): host must be a str or None, not int {HOST_AFTER}"
    with pytest.raises(TypeError) as info:
        pb.connect(8000, "127.0.0.1")  # type: ignore[arg-type]
    assert str(info.value) == f"connect(): host must be a str, not int {HOST_AFTER}"
    # What asyncio also serves on: every interface, or several hosts.
    assert pb.serve(Shop(), None).root is not None
    assert pb.serve(Shop(), ["127.0.0.1", "::1"]).root is not None  # type: ignore[arg-type]


def test_a_list_instead_of_a_registry_is_refused_before_connecting() -> None:
    wanted = "registry must be a pbtyped.Registry (a generated module's REGISTRY, or one filled"
    with pytest.raises(TypeError) as info:
        pb.connect("127.0.0.1", 1, registry=[Item])  # type: ignore[arg-type]
    assert str(info.value) == f"connect(): {wanted} with register_type), not list"
    with pytest.raises(TypeError) as info:
        pb.serve(Shop(), registry=[Item])  # type: ignore[arg-type]
    assert str(info.value) == f"serve(): {wanted} with register_type), not list"


def test_a_server_class_given_for_a_client_stub_is_refused(run) -> None:
    async def body() -> None:
        async with pb.serve(NamedShop()) as server, pb.connect("127.0.0.1", server.port) as client:
            for wrong in (ShopServer, MyShop):
                with pytest.raises(TypeError) as info:
                    await client.root(wrong)  # type: ignore[type-var]
                assert str(info.value) == (
                    f"root(): {wrong.__name__} is a server class; pass the client stub (ShopClient)"
                )
            with pytest.raises(TypeError) as info:
                await client.root(Shop)  # type: ignore[type-var]
            assert (
                str(info.value) == "root(): Shop is a server class; pass the client stub (XClient)"
            )
            with pytest.raises(TypeError) as info:
                await client.root("ShopClient")  # type: ignore[call-overload]
            assert str(info.value) == (
                "root(): expected a client stub class (XClient), not 'ShopClient'"
            )
            stub = await client.root(ShopClient)
            assert await stub.pb_reference.call("name") == "shop"

    run(body)


BAD_TIMEOUTS: list[tuple[object, type[Exception], str]] = [
    ("5", TypeError, "timeout must be a number of seconds or None, not str"),
    (datetime.timedelta(seconds=1), TypeError,
     "timeout must be a number of seconds or None, not timedelta (use its .total_seconds())"),
    (-1, ValueError, "timeout must be more than 0 seconds (or None: no limit), not -1"),
    (0.0, ValueError, "timeout must be more than 0 seconds (or None: no limit), not 0.0"),
    (math.nan, ValueError, "timeout must be more than 0 seconds (or None: no limit), not nan"),
]  # fmt: skip


def test_a_bad_call_timeout_is_refused_before_sending(run, sent) -> None:
    async def body() -> None:
        async with pb.serve(Shop()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            for timeout, error, message in BAD_TIMEOUTS:
                with pytest.raises(error) as info:
                    await root.call("name", timeout=timeout)  # type: ignore[arg-type]
                assert str(info.value) == message
            assert sent == []
            assert await root.call("name", timeout=math.inf) == "shop"
            assert sent == ["name"]

    run(body)


def test_check_timeout_takes_any_real_number_of_seconds_above_0() -> None:
    for fine in (None, 1, 0.001, 10**300, math.inf):
        check_timeout(fine, "t")
    with pytest.raises(TypeError):
        check_timeout(1j, "t")
    with pytest.raises(ValueError, match=r"^t must be more than 0 seconds"):
        check_timeout(-math.inf, "t")
