"""Uses of every method of ``everywhere/every.py`` (generated as ``egen``), checked by mypy
--strict in ``test_types``: each through the async stub and the blocking stub, and each
implemented on a skeleton. Any error mypy reports here fails the test."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Literal, assert_type

from egen.base import BaseClient, BaseSyncClient, OtherSyncClient
from egen.every import (
    Color,
    DeeperClient,
    DeeperServer,
    DeeperSyncClient,
    DerivedClient,
    DerivedEveryClient,
    DerivedEveryServer,
    DerivedEverySyncClient,
    DerivedServer,
    DerivedSyncClient,
    EveryClient,
    EveryServer,
    EverySyncClient,
    Level,
    PlainClient,
    PlainSyncClient,
    Point,
)

from pbtyped import sync

Scalars = tuple[None, bool, int, float, str, bytes]
Stamps = tuple[datetime.datetime, datetime.date, uuid.UUID, decimal.Decimal]
Containers = tuple[list[int], dict[bytes, int], set[bytes], tuple[()]]
Values = Literal["a", b"b", 1, True, None]


class MyDerived(DerivedServer):
    def remote_ping(self) -> int:
        return 1

    def remote_other(self) -> int:
        return 2

    async def remote_pong(self) -> int:
        return 3


class MyDeeper(DeeperServer, MyDerived):
    def remote_deep(self) -> int:
        return 4


async def ints() -> AsyncIterator[int]:
    yield 1


async def deriveds(
    item: DerivedClient | DerivedServer,
) -> AsyncIterator[DerivedClient | DerivedServer]:
    yield item


def blocking(
    e: EverySyncClient,
    b: BaseSyncClient,
    d: DerivedSyncClient,
    dd: DeeperSyncClient,
    p: PlainSyncClient,
    de: DerivedEverySyncClient,
    client: sync.SyncClient,
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    assert_type(e.scalars(None, True, 1, 2.0, "s", b"b"), Scalars)
    assert_type(e.stamps(now, now.date(), uuid.uuid4(), decimal.Decimal(1)), Stamps)
    assert_type(
        e.containers([1], {"a": 1}, {b"a": 1}, (1, "a"), (1,), (), {"a"}, {b"a"}), Containers
    )
    assert_type(e.unions(None, None, "a", Color.RED), int | str | None)
    assert_type(e.literals(b"b"), Values)
    assert_type(e.limits("a", b"b", [1], {"a": 1}, {"a"}, (1,)), list[str])
    assert_type(e.copies(Point(1), Color.RED, Level.LOW, d=None), Point)
    # An interface alone or in a union: its blocking stub, its async stub, or a skeleton of
    # ours, of it or of an interface extending it; a result alone comes back blocking.
    assert_type(e.base_plain(b), BaseSyncClient)
    assert_type(e.base_plain(dd), BaseSyncClient)
    assert_type(e.base_optional(MyDerived()), BaseSyncClient | None)
    assert_type(e.derived_plain(d), DerivedSyncClient)
    assert_type(e.derived_plain(dd), DerivedSyncClient)
    assert_type(e.derived_plain(dd.pb_stub), DerivedSyncClient)
    assert_type(e.derived_plain(MyDeeper()), DerivedSyncClient)
    assert_type(e.derived_optional(de), DerivedSyncClient | None)
    assert_type(e.derived_optional(None), DerivedSyncClient | None)
    assert_type(e.deeper_plain(dd), DeeperSyncClient)
    assert_type(e.deeper_optional(), DeeperSyncClient | None)
    assert_type(e.deeper_optional(dd), DeeperSyncClient | None)
    assert_type(e.derived_kw(a=d, b=dd), int)
    assert_type(e.derived_union(dd), DerivedClient | int)
    assert_type(e.two_interfaces(p), DerivedClient | PlainClient)
    assert_type(e.two_interfaces(de), DerivedClient | PlainClient)
    assert_type(e.plain(p), PlainSyncClient)
    # Inside containers: the async stubs and skeletons.
    assert_type(e.derived_list([d.pb_stub, dd.pb_stub, MyDerived()]), list[DerivedClient])
    assert_type(e.derived_dict({"a": d.pb_stub, "b": MyDeeper()}), dict[str, DerivedClient])
    assert_type(e.derived_tuple((d.pb_stub, 1)), tuple[DerivedClient, int])
    assert_type(e.derived_vartuple((dd.pb_stub,)), tuple[DerivedClient, ...])
    assert_type(e.derived_limited([d.pb_stub]), list[DerivedClient])
    nested = e.derived_nested([{"a": d.pb_stub, "b": None}])
    assert_type(nested, list[dict[str, DerivedClient | None]])
    assert_type(e.stream_in(ints()), int)
    assert_type(e.stream_out(1), Iterator[Point])
    assert_type(e.stream_derived(deriveds(d.pb_stub)), Iterator[DerivedClient])
    assert_type(e.asynchronous(dd), DerivedSyncClient)
    e.one_way(d, dd, c=[d.pb_stub])
    e.one_way(MyDerived(), None, c=[])
    assert_type(e.nothing(), None)
    # A blocking stub of an interface extending others: its methods and theirs, its own
    # async stub, and it stands for each base.
    assert_type(de.more(de), DerivedEverySyncClient | None)
    assert_type(de.derived_optional(de), DerivedSyncClient | None)
    assert_type(de.ping(), int)
    assert_type(de.pb_stub, DerivedEveryClient)
    assert_type(e.pb_unwrap(de), DerivedEveryClient)
    assert_type(e.pb_unwrap(dd), DeeperClient)
    assert_type(e.pb_unwrap(b), BaseClient)
    as_other: OtherSyncClient = de
    assert_type(e.pb_wrap(dd.pb_stub, DerivedSyncClient), DerivedSyncClient)
    assert_type(client.wrap(d.pb_stub, DerivedSyncClient), DerivedSyncClient)
    assert_type(client.root(DerivedEverySyncClient), DerivedEverySyncClient)
    del as_other


async def asynchronous(
    e: EveryClient, d: DerivedClient, dd: DeeperClient, de: DerivedEveryClient
) -> None:
    assert_type(await e.derived_plain(dd), DerivedClient)
    assert_type(await e.derived_optional(MyDeeper()), DerivedClient | None)
    assert_type(await e.derived_list([dd, d, MyDerived()]), list[DerivedClient])
    assert_type(await e.derived_plain(e.deeper_plain(dd)), DerivedClient)
    assert_type(await e.derived_optional(e.deeper_optional()), DerivedClient | None)
    assert_type(await e.derived_kw(a=e.deeper_plain(dd), b=None), int)
    assert_type(await de.more(de.more(None)), DerivedEveryClient | None)
    assert_type(await de.derived_plain(de), DerivedClient)
    assert_type(await e.asynchronous(d), DerivedClient)
    assert_type(await e.stream_in(ints()), int)
    e.one_way(d, c=[dd])
    async for point in e.stream_out(1):
        assert_type(point, Point)
    async for item in e.stream_derived(deriveds(MyDerived())):
        assert_type(item, DerivedClient)


class Every(EveryServer):
    def remote_scalars(self, a: None, b: bool, c: int, d: float, e: str, f: bytes) -> Scalars:
        return (a, b, c, d, e, f)

    def remote_stamps(
        self, a: datetime.datetime, b: datetime.date, c: uuid.UUID, d: decimal.Decimal
    ) -> Stamps:
        return (a, b, c, d)

    def remote_containers(
        self,
        a: list[int],
        b: dict[str, int],
        c: dict[bytes, int],
        d: tuple[int, str],
        e: tuple[int, ...],
        f: tuple[()],
        g: set[str],
        h: set[bytes],
    ) -> Containers:
        return (a, c, h, f)

    def remote_unions(
        self, a: int | None, b: str | None, c: int | str, d: Point | Color | None
    ) -> int | str | None:
        return c

    def remote_literals(self, a: Values) -> Values:
        return a

    def remote_limits(
        self, a: str, b: bytes, c: list[int], d: dict[str, int], e: set[str], f: tuple[int, ...]
    ) -> list[str]:
        return [a]

    def remote_copies(self, a: Point, b: Color, c: Level, *, d: Point | None = None) -> Point:
        return a

    def remote_base_plain(self, a: BaseClient) -> BaseClient:
        return a

    def remote_base_optional(self, a: BaseClient | None) -> MyDerived | None:
        return MyDerived()

    def remote_derived_plain(self, a: DerivedClient) -> DerivedClient:
        return a

    async def remote_derived_optional(self, a: DerivedClient | None) -> DerivedClient | None:
        return a

    def remote_deeper_plain(self, a: DeeperClient) -> DeeperClient:
        return a

    def remote_deeper_optional(self, a: DeeperClient | None = None) -> MyDeeper | None:
        return None if a is None else MyDeeper()

    def remote_derived_kw(self, *, a: DerivedClient, b: DerivedClient | None = None) -> int:
        return 1 if b is None else 2

    def remote_derived_list(self, a: list[DerivedClient]) -> list[DerivedServer | DerivedClient]:
        return [*a, MyDerived()]

    def remote_derived_dict(
        self, a: dict[str, DerivedClient]
    ) -> dict[str, DerivedServer | DerivedClient]:
        return dict(a)

    def remote_derived_tuple(self, a: tuple[DerivedClient, int]) -> tuple[MyDerived, int]:
        return (MyDerived(), a[1])

    def remote_derived_vartuple(self, a: tuple[DerivedClient, ...]) -> tuple[DerivedClient, ...]:
        return a

    def remote_derived_limited(self, a: list[DerivedClient]) -> list[DerivedServer | DerivedClient]:
        return list(a)

    def remote_derived_nested(
        self, a: list[dict[str, DerivedClient | None]]
    ) -> list[dict[str, DerivedServer | DerivedClient | None]]:
        return [dict(m) for m in a]

    def remote_derived_union(self, a: DerivedClient | int) -> DerivedClient | int:
        return a

    def remote_two_interfaces(self, a: DerivedClient | PlainClient) -> DerivedClient | PlainClient:
        return a

    def remote_plain(self, a: PlainClient) -> PlainClient:
        return a

    async def remote_stream_in(self, a: AsyncIterator[int]) -> int:
        return sum([x async for x in a])

    async def remote_stream_out(self, n: int) -> AsyncIterator[Point]:
        for i in range(n):
            yield Point(i)

    async def remote_stream_derived(
        self, a: AsyncIterator[DerivedClient]
    ) -> AsyncIterator[DerivedClient]:
        async for item in a:
            yield item

    async def remote_asynchronous(self, a: DerivedClient) -> DerivedClient:
        return a

    def remote_one_way(
        self, a: DerivedClient, b: DerivedClient | None = None, *, c: list[DerivedClient]
    ) -> None:
        pass

    async def remote_nothing(self) -> None:
        pass


class DerivedEvery(DerivedEveryServer, Every, MyDerived):
    def remote_more(self, a: DerivedEveryClient | None) -> DerivedEvery | None:
        return self if a is None else None
