"""Interfaces extending interfaces: generated classes inherit as the schemas do, the derived
skeleton requires and checks every method, and impossible hierarchies are refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.codegen import SchemaError, generate

from .conftest import import_generated, schema_error

HEAD = "from dataclasses import dataclass\nfrom typing import Protocol\n\n"
BASE = "class Base(Protocol):\n    def f(self) -> int: ...\n\n"

BAD = {
    "cycle": (
        "class A(B, Protocol):\n    def f(self) -> None: ...\n\n"
        "class B(A, Protocol):\n    def g(self) -> None: ...\n",
        "bad/one.py:7: B: interfaces extend each other: B -> A -> B",
    ),
    "extends itself": (
        "class A(A, Protocol):\n    def f(self) -> None: ...\n",
        "bad/one.py:4: A: interfaces extend each other: A -> A",
    ),
    "copy type as a base": (
        "@dataclass\nclass Point:\n    x: int\n\n"
        "class One(Point, Protocol):\n    def f(self) -> None: ...\n",
        "bad/one.py:8: One: base 'Point' is not an interface; an interface may extend only "
        "Protocol classes of these schemas",
    ),
    "object as a base": (
        "class One(object, Protocol):\n    def f(self) -> None: ...\n",
        "bad/one.py:4: One: base 'object' is not an interface; an interface may extend only "
        "Protocol classes of these schemas",
    ),
    "Protocol left out": (
        BASE + "class Derived(Base):\n    def g(self) -> None: ...\n",
        "bad/one.py:7: Derived: an interface extending Base must list Protocol among its bases "
        "too: class Derived(Base, Protocol)",
    ),
    "method declared again": (
        BASE + "class Derived(Base, Protocol):\n    def g(self) -> None: ...\n"
        "    def f(self) -> int: ...\n",
        "bad/one.py:9: Derived.f: name clash: f is declared by Base, which Derived extends "
        "(methods are not redeclared)",
    ),
    "method from two bases": (
        BASE + "class Other(Protocol):\n    def f(self) -> int: ...\n\n"
        "class Both(Base, Other, Protocol): ...\n",
        "bad/one.py:10: Both: name clash: method f comes from both Base and Other",
    ),
    "bases out of order": (
        BASE + "class Derived(Base, Protocol):\n    def g(self) -> None: ...\n\n"
        "class Worse(Base, Derived, Protocol): ...\n",
        "bad/one.py:10: Worse: its bases (Base, Derived) cannot be put in one order; list an "
        "interface before the interfaces it extends",
    ),
    "base listed twice": (
        BASE + "class Twice(Base, Base, Protocol): ...\n",
        "bad/one.py:7: Twice: base Base is listed twice",
    ),
    "class keyword": (
        BASE + "class Derived(Base, Protocol, metaclass=type): ...\n",
        "bad/one.py:7: Derived: class keywords are not supported",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_hierarchy_gives_one_clear_error(tmp_path: Path, case: str) -> None:
    source, expected = BAD[case]
    assert schema_error(tmp_path, HEAD + source) == expected


def test_cycle_across_modules(tmp_path: Path) -> None:
    for name, other in (("a", "b"), ("b", "a")):
        (tmp_path / f"{name}.py").write_text(
            f"from typing import Protocol\nfrom {other} import {other.upper()}\n\n"
            f"class {name.upper()}({other.upper()}, Protocol):\n"
            f"    def {name}(self) -> None: ...\n"
        )
    with pytest.raises(SchemaError) as info:
        generate(tmp_path)
    assert str(info.value).splitlines() == [
        f"{tmp_path.name}/a.py:1: schema modules import each other: a -> b -> a",
        f"{tmp_path.name}/a.py:4: A: interfaces extend each other: A -> b.B -> A",
    ]


def test_bases_come_first_and_siblings_import_their_spec(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "base.py").write_text(
        "from typing import Protocol\n\nclass Named(Protocol):\n    def name(self) -> str: ...\n"
    )
    (schemas / "top.py").write_text(
        "from typing import Protocol\nimport base\n\n"
        "class Top(Middle, Protocol):\n    def top(self) -> int: ...\n\n"
        "class Middle(base.Named, Protocol):\n    def middle(self) -> int: ...\n"
    )
    files = generate(schemas)
    top = files["top.py"]
    names = "NamedClient, NamedServer, NamedSyncClient, _NamedCalls, _SPEC_Named"
    assert f"from .base import {names}\n" in top
    # No blocking stub here has SyncStub as its base, but their ``__init__`` name the loop thread.
    assert "from pbtyped import sync as _sync\n" in top
    assert top.index("class MiddleClient(NamedClient):") < top.index(
        "class TopClient(MiddleClient):"
    )
    assert top.index("_SPEC_Middle = ") < top.index("_SPEC_Top = ")
    mod = import_generated(files, tmp_path, "hgen.top")
    assert mod.TopClient.__mro__[1:4] == (mod.MiddleClient, mod.NamedClient, pb.Stub)
    assert mod.TopSyncClient.__mro__[1:3] == (mod.MiddleSyncClient, mod.NamedSyncClient)
    assert mod.TopSyncClient.pb_async is mod.TopClient
    # A promise of a TopClient has the methods of Top and of its bases.
    assert mod.TopPromise.__mro__[1:5] == (
        mod._TopCalls,
        mod._MiddleCalls,
        mod._NamedCalls,
        pb.Promise,
    )
    spec = mod._SPEC_Top
    assert sorted(spec.methods) == ["middle", "name", "top"]


def test_derived_interface_over_sockets(agen: Path) -> None:
    from agen import alltypes, extra

    class Gauge(alltypes.GaugeServer):
        def __init__(self, n: int) -> None:
            self.n = n

        def remote_count(self) -> int:
            return self.n

        def remote_tag(self, name: str) -> extra.Tag:
            return extra.Tag(name.upper())

        async def remote_compare(self, other: Any, others: list[Any]) -> int:
            assert all(isinstance(o, alltypes.CounterClient) for o in [other, *others])
            return self.n - await other.count() - sum([await o.count() for o in others])

    class Counter(alltypes.CounterServer):
        def remote_count(self) -> int:
            return 5

    class Half(alltypes.GaugeServer):
        def remote_compare(self, other: Any, others: list[Any]) -> int:
            return 0

    with pytest.raises(TypeError, match=r"remote_count'?, '?remote_tag"):
        Half()  # type: ignore[abstract]

    async def scenario() -> None:
        async with (
            pb.serve(Gauge(10), registry=alltypes.REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=alltypes.REGISTRY) as conn,
        ):
            gauge = await conn.root(alltypes.GaugeClient)
            assert isinstance(gauge, alltypes.CounterClient)
            assert isinstance(gauge, extra.TaggerClient)
            assert await gauge.count() == 10  # from the local base
            assert await gauge.tag("x", pb_timeout=5) == extra.Tag("X")  # from the sibling base
            # The server's own gauge comes home where a Counter is expected, and counts in place.
            assert await gauge.compare(Counter(), [gauge, Counter()]) == 10 - 5 - 10 - 5
            # The derived skeleton checks the inherited methods' arguments too.
            refused = r"^tag\(\): \$\.name: expected str, got integer$"
            with pytest.raises(pb.ValidationError, match=refused):
                await gauge.pb_reference.call("tag", (1,))
            with pytest.raises(pb.NoSuchMethod):
                await gauge.pb_reference.call("feed", (b"",))

    async def bounded() -> None:
        async with asyncio.timeout(30):
            await scenario()

    asyncio.run(bounded())


def test_method_names_that_are_spec_arguments(tmp_path: Path) -> None:
    # interface()'s own parameter is positional-only: a method may be called ``name``.
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "names.py").write_text(
        "from typing import Protocol\n\n"
        "class Base(Protocol):\n    def name(self) -> str: ...\n\n"
        "class Named(Base, Protocol):\n    def returns(self, name: str) -> str: ...\n"
    )
    mod = import_generated(generate(schemas), tmp_path, "ngen.names")
    assert sorted(mod._SPEC_Named.methods) == ["name", "returns"]
