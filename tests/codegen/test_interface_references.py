"""Issue 12 item 8 (point 9) over real sockets: a reference of the wrong interface, or of none,
is refused before the method runs, naming both interfaces; one of an interface extending the
declared one is accepted; ``client.root(XClient)`` checks the root's interface; and with a
peer that does not offer "interfaces", everything is accepted as before."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest

import pbtyped as pb
import pbtyped.sync
from pbtyped.codegen import generate
from pbtyped.protocol import messages

from ..support import bounded_run
from .conftest import import_generated

SHOP = """\
from typing import Protocol


class Watcher(Protocol):
    def on_price(self, sku: str, price: int) -> None: ...


class LoudWatcher(Watcher, Protocol):
    def shout(self) -> None: ...


class Cart(Protocol):
    def name(self) -> str: ...


class Shop(Protocol):
    def watch(self, watcher: Watcher) -> int: ...
    def cart(self) -> Cart: ...
    def name(self) -> str: ...
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    base = tmp_path_factory.mktemp("ifaces")
    (base / "schemas").mkdir()
    (base / "schemas" / "shop.py").write_text(SHOP, encoding="utf-8")
    return import_generated(generate(base / "schemas"), base, "ifgen.shop")


@contextlib.asynccontextmanager
async def served(root: pb.Root, registry: pb.Registry) -> AsyncIterator[Any]:
    """A client connected to ``root`` served on 127.0.0.1."""
    async with (
        pb.serve(root, "127.0.0.1", registry=registry) as server,
        pb.connect("127.0.0.1", server.port, registry=registry) as client,
    ):
        yield client


def servers(shop: ModuleType) -> tuple[Any, ...]:
    """The server's root (counting the watchers it was given) and the client's objects."""

    class MyShop(shop.ShopServer):
        def __init__(self) -> None:
            self.watchers: list[Any] = []

        def remote_watch(self, watcher: Any) -> int:
            self.watchers.append(watcher)
            return len(self.watchers)

        def remote_cart(self) -> Any:
            return MyCart()

        def remote_name(self) -> str:
            return "shop"

    class MyCart(shop.CartServer):
        def remote_name(self) -> str:
            return "cart"

    class MyWatcher(shop.WatcherServer):
        def remote_on_price(self, sku: str, price: int) -> None:
            pass

    class Loud(shop.LoudWatcherServer):
        def remote_on_price(self, sku: str, price: int) -> None:
            pass

        def remote_shout(self) -> None:
            pass

    return MyShop, MyCart, MyWatcher, Loud


def test_a_reference_of_another_interface_or_none_is_refused_before_the_method_runs(
    shop: ModuleType,
) -> None:
    MyShop, MyCart, MyWatcher, Loud = servers(shop)
    root = MyShop()

    async def body() -> None:
        async with served(root, shop.REGISTRY) as client:
            stub = await client.root(shop.ShopClient)
            untyped = stub.pb_reference  # past the stub's own check, as another peer would
            wrong = {
                "a Cart": (MyCart(), "got one to shop.Cart"),
                "a bare Referenceable": (pb.Referenceable(), "got one of no declared interface"),
            }
            for what, (obj, got) in wrong.items():
                with pytest.raises(pb.ValidationError) as info:
                    await untyped.call_remote("watch", obj)
                assert str(info.value) == (
                    f"watch(): $.watcher: expected a reference to shop.Watcher, {got}"
                ), what
            assert root.watchers == []  # the method never ran
            # A Watcher, and a LoudWatcher where a Watcher is declared, are accepted.
            assert await stub.watch(MyWatcher()) == 1
            assert await untyped.call_remote("watch", Loud()) == 2
            assert [type(w) for w in root.watchers] == [shop.WatcherClient] * 2

    bounded_run(body)


def test_a_result_of_another_interface_is_refused_by_the_caller(shop: ModuleType) -> None:
    _, _, MyWatcher, _ = servers(shop)

    class Liar(pb.Root):  # says it is a Shop, and nothing checks its results before they leave
        pb_interface = "shop.Shop"

        def remote_cart(self) -> Any:
            return MyWatcher()

    async def body() -> None:
        async with served(Liar(), shop.REGISTRY) as client:
            stub = await client.root(shop.ShopClient)
            with pytest.raises(pb.ValidationError) as info:
                await stub.cart()
            assert str(info.value) == (
                "result of cart(): $: expected a reference to shop.Cart, got one to shop.Watcher"
            )

    bounded_run(body)


def test_client_root_checks_the_roots_interface(shop: ModuleType) -> None:
    MyShop, _, _, Loud = servers(shop)

    async def body() -> None:
        async with served(MyShop(), shop.REGISTRY) as client:
            with pytest.raises(pb.ValidationError) as info:
                await client.root(shop.CartClient)
            assert str(info.value) == (
                "root(): expected a reference to shop.Cart, got one to shop.Shop: CartClient is "
                "not a stub of the server's root"
            )
            assert await (await client.root(shop.ShopClient)).name() == "shop"
        async with served(Loud(), shop.REGISTRY) as client:
            # The root implements LoudWatcher, which extends Watcher: both stubs fit.
            assert isinstance(await client.root(shop.WatcherClient), shop.WatcherClient)
            assert isinstance(await client.root(shop.LoudWatcherClient), shop.LoudWatcherClient)
        async with served(pb.Root(), pb.Registry()) as client:
            with pytest.raises(pb.ValidationError) as info:
                await client.root(shop.ShopClient)
            assert str(info.value) == (
                "root(): expected a reference to shop.Shop, got one of no declared interface: "
                "ShopClient is not a stub of the server's root"
            )
            assert isinstance(await client.root(), pb.RemoteReference)  # untyped: no check

    bounded_run(body)


def test_the_blocking_client_checks_the_root_too(shop: ModuleType) -> None:
    MyShop, *_ = servers(shop)

    class CartSync(pbtyped.sync.SyncStub[Any]):
        pb_async = shop.CartClient

    async def body() -> None:
        async with pb.serve(MyShop(), "127.0.0.1", registry=shop.REGISTRY) as server:
            port = server.port

            def blocking() -> str:
                with pbtyped.sync.connect("127.0.0.1", port, registry=shop.REGISTRY) as client:
                    with pytest.raises(pb.ValidationError) as info:
                        client.root(CartSync)
                    return str(info.value)

            message = await asyncio.to_thread(blocking)
            assert message == (
                "root(): expected a reference to shop.Cart, got one to shop.Shop: CartClient is "
                "not a stub of the server's root"
            )

    bounded_run(body)


def test_with_a_peer_that_does_not_offer_interfaces_everything_passes_as_before(
    shop: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both sides of this process offer only "columns": what two pbtyped peers of before
    # this feature did. References carry no names; the checks accept what they cannot know.
    monkeypatch.setattr(messages, "FEATURES", ("columns",))
    MyShop, MyCart, _, _ = servers(shop)
    root = MyShop()

    async def body() -> None:
        async with served(root, shop.REGISTRY) as client:
            cart_stub = await client.root(shop.CartClient)  # not checked: the Hello says nothing
            assert await cart_stub.name() == "shop"  # the method the two interfaces share
            untyped = cart_stub.pb_reference
            assert await untyped.call_remote("watch", MyCart()) == 1
            assert client.connection.broker.interfaces is False

    bounded_run(body)
