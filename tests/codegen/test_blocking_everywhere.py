"""Every method of ``everywhere/every.py`` called through the blocking stub over 127.0.0.1,
against the skeletons ``everywhere_uses.py`` implements (the ones mypy checks there): each
annotation as parameter and result, and interfaces in every place they may be."""

from __future__ import annotations

import datetime
import decimal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import pytest

import pbtyped as pb
from pbtyped import sync
from pbtyped.codegen import generate

from .conftest import HERE, import_generated


@pytest.fixture(scope="module")
def every(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    """The generated module ``egen.every``, and ``everywhere_uses`` (which imports it)."""
    base = tmp_path_factory.mktemp("everywhere")
    module = import_generated(generate(HERE / "everywhere"), base, "egen.every")
    from . import everywhere_uses

    return module, everywhere_uses


@pytest.fixture
def client(every: tuple[ModuleType, ModuleType]) -> Iterator[sync.SyncClient]:
    _, uses = every
    with sync.EventLoopThread(name="everywhere-server") as loop_thread:

        async def start() -> pb.Server:
            return await pb.serve(uses.DerivedEvery(), "127.0.0.1", 0).start()

        server = loop_thread.run(start())
        try:
            with sync.connect("127.0.0.1", server.port, timeout=5) as connected:
                yield connected
        finally:
            loop_thread.run(server.aclose())


async def items(*values: Any) -> AsyncIterator[Any]:
    for value in values:
        yield value


def test_values_of_every_annotation(every: tuple[ModuleType, ModuleType], client: Any) -> None:
    m, _ = every
    e = client.root(m.DerivedEverySyncClient)
    now = datetime.datetime.now(datetime.UTC)
    amount = decimal.Decimal("1.5")
    ident = uuid.uuid4()
    assert e.scalars(None, True, 1, 2.0, "s", b"b") == (None, True, 1, 2.0, "s", b"b")
    assert e.stamps(now, now.date(), ident, amount) == (now, now.date(), ident, amount)
    got = e.containers([1], {"a": 1}, {b"a": 1}, (1, "a"), (1, 2), (), {"a"}, {b"a"})
    assert got == ([1], {b"a": 1}, {b"a"}, ())
    assert e.unions(None, None, "c", m.Color.RED) == "c"
    assert e.literals(b"b") == b"b"
    assert e.limits("a", b"b", [1], {"a": 1}, {"a"}, (1,)) == ["a"]
    assert e.copies(m.Point(1), m.Color.RED, m.Level.LOW, d=None) == m.Point(1)
    with pytest.raises(pb.ValidationError):
        e.limits("four", b"", [], {}, set(), ())
    assert e.stream_in(items(1, 2)) == 3
    assert list(e.stream_out(2)) == [m.Point(0), m.Point(1)]
    assert e.nothing() is None


def test_interfaces_in_every_place(every: tuple[ModuleType, ModuleType], client: Any) -> None:
    m, uses = every
    e = client.root(m.DerivedEverySyncClient)
    # Alone or in a union: a skeleton of ours, an async stub, a blocking stub (of the declared
    # interface or of one extending it); a result alone comes back as the blocking stub.
    d = e.derived_plain(uses.MyDerived())
    assert type(d) is m.DerivedSyncClient
    assert (d.ping(), d.other(), d.pong()) == (1, 2, 3)
    assert type(e.base_plain(d)) is sys.modules["egen.base"].BaseSyncClient
    deeper = e.deeper_optional(uses.MyDeeper())
    assert type(deeper) is m.DeeperSyncClient
    assert deeper.deep() == 4
    assert e.derived_plain(deeper).pong() == 3
    assert e.derived_plain(deeper.pb_stub).pong() == 3
    assert e.derived_optional(deeper).ping() == 1
    assert e.derived_optional(None) is None
    assert e.deeper_plain(deeper).deep() == 4
    assert e.derived_kw(a=d, b=deeper) == 2
    assert e.pb_run(e.derived_union(d).pong()) == 3  # an async stub: the result is a union
    assert e.derived_union(5) == 5
    assert e.asynchronous(deeper).ping() == 1
    assert type(e.more(None)) is m.DerivedEverySyncClient
    assert e.more(e) is None
    # Inside containers: async stubs and skeletons.
    listed = e.derived_list([d.pb_stub, uses.MyDeeper()])
    assert [type(x) for x in listed] == [m.DerivedClient] * 3
    assert e.pb_run(listed[2].pong()) == 3
    assert list(e.derived_dict({"a": d.pb_stub})) == ["a"]
    assert e.derived_tuple((d.pb_stub, 7))[1] == 7
    assert len(e.derived_vartuple((d.pb_stub, deeper.pb_stub))) == 2
    assert len(e.derived_limited([d.pb_stub])) == 1
    assert e.derived_nested([{"a": None, "b": d.pb_stub}])[0]["a"] is None
    streamed = list(e.stream_derived(items(d.pb_stub, uses.MyDerived())))
    assert [type(x) for x in streamed] == [m.DerivedClient] * 2
    e.one_way(d, deeper, c=[d.pb_stub])
    assert e.ping() == 1  # the one-way call went, and the connection still answers


def test_a_derived_blocking_stub_refuses_a_bases_async_stub(
    every: tuple[ModuleType, ModuleType], client: Any
) -> None:
    # What mypy refuses (test_types), the blocking stub refuses when run.
    m, uses = every
    base = client.root(m.EverySyncClient).base_plain(uses.MyDerived())
    with pytest.raises(TypeError, match=r"^DerivedSyncClient runs a DerivedClient, not a Base"):
        client.wrap(base.pb_stub, m.DerivedSyncClient)
