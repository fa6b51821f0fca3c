"""Issue 13 item 1 over real sockets: a generated stub's call is a typed promise. Awaited, it
gives what the call gave before promises; used at once (a method called on it, or passed as an
argument) it is pipelined, round trips counted by the proxy of tests/runtime/link.py; arguments
known here are checked before sending, promised ones by the callee."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.codegen import generate
from pbtyped.codegen.model import PROMISE_NAMES

from ..runtime.link import CountingLink
from ..support import bounded_run
from .conftest import import_generated

CHAIN = """\
from dataclasses import dataclass
from typing import Protocol


@dataclass
class Point:
    x: int
    y: int


class Node(Protocol):
    def next(self) -> Node: ...
    def value(self, add: int) -> int: ...
    def where(self) -> Point: ...
    def moved(self, point: Point, by: int) -> Point: ...
    def same(self, other: Node) -> bool: ...
    def wrong(self) -> int: ...
"""


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    base = tmp_path_factory.mktemp("chain")
    (base / "schemas").mkdir()
    (base / "schemas" / "chain.py").write_text(CHAIN, encoding="utf-8")
    return import_generated(generate(base / "schemas"), base, "pchain.chain")


def node_class(chain: ModuleType) -> type[Any]:
    class Node(chain.NodeServer):
        def __init__(self, n: int) -> None:
            self.n = n

        def remote_next(self) -> Any:
            return Node(self.n + 1)

        def remote_value(self, add: int) -> int:
            return self.n * 100 + add

        def remote_where(self) -> Any:
            return chain.Point(self.n, self.n)

        def remote_moved(self, point: Any, by: int) -> Any:
            return chain.Point(point.x + by, point.y + by)

        def remote_same(self, other: Any) -> bool:
            return pb.local_object(other) is self

        def remote_wrong(self) -> Any:
            return "not an int"

    return Node


@contextlib.asynccontextmanager
async def linked(chain: ModuleType) -> AsyncIterator[tuple[Any, CountingLink]]:
    """The root stub of a server of Node(1), through a link that counts round trips."""
    registry = chain.REGISTRY
    async with pb.serve(node_class(chain)(1), "127.0.0.1", registry=registry) as server:
        async with CountingLink(server.port) as link:
            async with pb.connect("127.0.0.1", link.port, registry=registry) as client:
                root = await client.root(chain.NodeClient)
                link.reset()
                yield root, link


def test_a_typed_chain_costs_one_round_trip(chain: ModuleType) -> None:
    async def body() -> None:
        async with linked(chain) as (root, link):
            promise = root.next().next().value(1)
            assert isinstance(root.next(), chain.NodePromise)
            assert link.calls == 0  # nothing is sent before it is awaited or used
            assert await promise == 301
            assert (link.rounds, link.calls) == (1, 3)

            link.reset()
            two = await root.next()
            three = await two.next()
            assert await three.value(1) == 301
            assert (link.rounds, link.calls) == (3, 3)

    bounded_run(body)


def test_a_promised_value_is_an_argument_in_the_same_round_trip(chain: ModuleType) -> None:
    async def body() -> None:
        async with linked(chain) as (root, link):
            moved = await root.moved(root.next().where(), root.value(2))
            assert moved == chain.Point(104, 104)
            assert (link.rounds, link.calls) == (1, 4)
            # A promised reference as an argument: the callee gets the object itself.
            link.reset()
            assert await root.same(root.next()) is False
            assert link.rounds == 1

    bounded_run(body)


def test_awaiting_gives_what_the_call_gave(chain: ModuleType) -> None:
    async def body() -> None:
        async with linked(chain) as (root, _):
            two = await root.next()
            assert type(two) is chain.NodeClient
            assert type(await root.where()) is chain.Point
            # The result is still checked against the schema, pipelined or not.
            with pytest.raises(pb.ValidationError, match=r"^result of wrong\(\): \$: expected"):
                await root.wrong()
            with pytest.raises(pb.ValidationError, match=r"^result of wrong\(\): \$: expected"):
                await root.next().wrong()
            # A promise of a stub passes where the stub is declared, once its value is known.
            assert await root.same(two) is False

    bounded_run(body)


def test_arguments_known_here_are_checked_before_sending(chain: ModuleType) -> None:
    async def body() -> None:
        async with linked(chain) as (root, link):
            with pytest.raises(pb.ValidationError, match=r"^value\(\): \$\.add: expected int"):
                root.next().value("1")
            with pytest.raises(pb.ValidationError, match=r"^moved\(\): \$\.by: expected int"):
                root.moved(root.where(), "2")
            assert link.calls == 0
            # A promise of the wrong type: its value is only known to the peer, which refuses it.
            with pytest.raises(pb.ValidationError, match=r"^moved\(\): \$\.by: expected int"):
                await root.moved(root.where(), root.where())
            assert link.rounds == 1

    bounded_run(body)


def test_promises_of_calls_on_our_own_objects(chain: ModuleType) -> None:
    async def body() -> None:
        local = chain.NodeClient(node_class(chain)(5))  # a stub of an object of ours
        async with linked(chain) as (root, link):
            assert await local.next().next().value(1) == 701
            assert await local.moved(local.where(), root.value(2)) == chain.Point(107, 107)
            assert await root.moved(local.where(), 1) == chain.Point(6, 6)
            assert type(await local.next()) is chain.NodeClient
            with pytest.raises(TypeError, match="await it, then call"):
                await local.next().call_remote("value", 1)
            assert link.calls == 2

    bounded_run(body)


def test_a_promise_awaited_twice_runs_its_call_once(chain: ModuleType) -> None:
    """Awaiting a promise again gives the same result without calling again: over the
    connection (one CALL on the wire) and on our own object alike (the method runs once)."""

    async def body() -> None:
        ran: list[int] = []

        class Counted(node_class(chain)):  # type: ignore[misc]
            def remote_value(self, add: int) -> int:
                ran.append(add)
                return super().remote_value(add)

        local = chain.NodeClient(Counted(5))
        promise = local.value(1)
        assert (await promise, await promise) == (501, 501)
        assert ran == [1]
        async with linked(chain) as (root, link):
            promise = root.value(2)
            assert (await promise, await promise) == (102, 102)
            assert link.calls == 1

    bounded_run(body)


MAIL = """\
from typing import Protocol


class Mailbox(Protocol):
    def send(self, text: str) -> int: ...
    def throw(self) -> None: ...
    def close(self) -> None: ...
    def size(self) -> int: ...


class Post(Protocol):
    def box(self) -> Mailbox: ...
"""


def test_methods_named_as_a_promise_own_are_left_to_the_stub(tmp_path: Path) -> None:
    # asyncio runs a task by calling its coroutine's ``send`` and ``throw``: a promise whose
    # class took the schema's ``send`` instead made a remote call with None as the text.
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "mail.py").write_text(MAIL, encoding="utf-8")
    mail = import_generated(generate(tmp_path / "schemas"), tmp_path, "pmail.mail")
    assert sorted(n for n in vars(mail._MailboxCalls) if not n.startswith("_")) == ["size"]
    assert mail.MailboxPromise.send is pb.Promise.send

    class Box(mail.MailboxServer):
        def remote_send(self, text: str) -> int:
            return len(text)

        def remote_throw(self) -> None:
            pass

        def remote_close(self) -> None:
            pass

        def remote_size(self) -> int:
            return 3

    class Post(mail.PostServer):
        def remote_box(self) -> Any:
            return Box()

    async def body() -> None:
        async with (
            pb.serve(Post(), "127.0.0.1", registry=mail.REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=mail.REGISTRY) as client,
        ):
            post = await client.root(mail.PostClient)
            box = await asyncio.create_task(post.box())
            assert type(box) is mail.MailboxClient
            assert await box.send("hi") == 2
            assert await post.box().size() == 3  # the other methods still pipeline

    bounded_run(body)


def test_promise_names_are_those_of_a_promise() -> None:
    assert {n for n in dir(pb.Promise) if not n.startswith("_")} == PROMISE_NAMES
