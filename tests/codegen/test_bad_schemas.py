"""Schemas the generator refuses: one clear ``file:line: why`` error each, and every error of
a run, sorted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pbtyped.cli import main
from pbtyped.codegen import SchemaError, SchemaErrors, generate

from .conftest import schema_error

HEAD = "from dataclasses import dataclass\nfrom typing import Protocol\nimport pbtyped as pb\n\n"

CASES = {
    "unsupported annotation": (
        "class One(Protocol):\n    def f(self, x: frozenset[int]) -> None: ...\n",
        "bad/one.py:6: One.f: parameter 'x': unsupported annotation 'frozenset[int]'",
    ),
    "unsupported result": (
        "class One(Protocol):\n    def f(self) -> object: ...\n",
        "bad/one.py:6: One.f: return: unsupported annotation 'object'",
    ),
    "stream inside a container": (
        "from typing import AsyncIterator\n"
        "class One(Protocol):\n    def f(self, x: list[AsyncIterator[int]]) -> None: ...\n",
        "bad/one.py:7: One.f: parameter 'x': AsyncIterator[...] (a stream) may only be a whole "
        "parameter or the whole result, not part of another type",
    ),
    "stream of streams": (
        "from typing import AsyncIterator\n"
        "class One(Protocol):\n    def f(self) -> AsyncIterator[AsyncIterator[int]]: ...\n",
        "bad/one.py:7: One.f: return: AsyncIterator[...] (a stream) may only be a whole "
        "parameter or the whole result, not part of another type",
    ),
    "optional stream": (
        "from typing import AsyncIterator\n"
        "class One(Protocol):\n    def f(self) -> AsyncIterator[int] | None: ...\n",
        "bad/one.py:7: One.f: return: AsyncIterator[...] (a stream) may only be a whole "
        "parameter or the whole result, not part of another type",
    ),
    "stream in a dataclass": (
        "from typing import AsyncIterator\n@dataclass\nclass One:\n    x: AsyncIterator[int]\n",
        "bad/one.py:8: One.x: unsupported annotation 'AsyncIterator[int]' (a dataclass passed "
        "by copy cannot hold a stream)",
    ),
    "missing annotation": (
        "class One(Protocol):\n    def f(self, x) -> None: ...\n",
        "bad/one.py:6: One.f: parameter 'x': missing annotation",
    ),
    "missing return annotation": (
        "class One(Protocol):\n    def f(self, x: int): ...\n",
        "bad/one.py:6: One.f: missing return annotation",
    ),
    "name clash between classes": (
        "class One(Protocol):\n    def f(self) -> None: ...\n\n"
        "@dataclass\nclass One:\n    x: int\n",
        "bad/one.py:9: name clash: One is defined twice",
    ),
    "name clash with generated class": (
        "class One(Protocol):\n    def f(self) -> None: ...\n\n"
        "@dataclass\nclass OneClient:\n    x: int\n",
        "bad/one.py:9: name clash: OneClient is also generated for interface One",
    ),
    "name clash with a generated blocking stub": (
        "class One(Protocol):\n    def f(self) -> None: ...\n\n"
        "@dataclass\nclass OneSyncClient:\n    x: int\n",
        "bad/one.py:9: name clash: OneSyncClient is also generated for interface One",
    ),
    "name clash between the classes generated for two interfaces": (
        "class One(Protocol):\n    def f(self) -> None: ...\n\n"
        "class OneSync(Protocol):\n    def g(self) -> None: ...\n",
        "bad/one.py:8: name clash: OneSyncClient is generated for interfaces One and OneSync",
    ),
    "name clash between methods": (
        "class One(Protocol):\n    def f(self) -> None: ...\n    def f(self) -> int: ...\n",
        "bad/one.py:7: One.f: name clash: method defined twice",
    ),
    "parameter shadowing a type": (
        "class One(Protocol):\n    def f(self, int: int) -> None: ...\n",
        "bad/one.py:6: One.f: parameter 'int': name clash: 'int' is reserved here",
    ),
    "method without self": (
        "class One(Protocol):\n    def f(x: int) -> None: ...\n",
        "bad/one.py:6: One.f: a method's first parameter must be self",
    ),
    "static method": (
        "class One(Protocol):\n    @staticmethod\n    def f() -> None: ...\n",
        "bad/one.py:7: One.f: decorators are not supported on methods",
    ),
    "one-way method with a result": (
        "class One(Protocol):\n    @pb.oneway\n    def f(self) -> int: ...\n",
        "bad/one.py:7: One.f: a @pb.oneway method must return None (its caller gets no answer)",
    ),
    "one-way method with an optional result": (
        "class One(Protocol):\n    @pb.oneway\n    def f(self) -> int | None: ...\n",
        "bad/one.py:7: One.f: a @pb.oneway method must return None (its caller gets no answer)",
    ),
    "one-way and another decorator": (
        "class One(Protocol):\n    @pb.oneway\n    @staticmethod\n    def f() -> None: ...\n",
        "bad/one.py:8: One.f: decorators are not supported on methods",
    ),
    "one-way called": (
        "class One(Protocol):\n    @pb.oneway()\n    def f(self) -> None: ...\n",
        "bad/one.py:7: One.f: decorators are not supported on methods",
    ),
    "var args": (
        "class One(Protocol):\n    def f(self, *xs: int) -> None: ...\n",
        "bad/one.py:6: One.f: /, *args and **kwargs are not supported",
    ),
    "dict with int keys": (
        "class One(Protocol):\n    def f(self, m: dict[int, str]) -> None: ...\n",
        "bad/one.py:6: One.f: parameter 'm': unsupported annotation 'dict[int, str]' "
        "(dict keys must be str or bytes)",
    ),
    "bare list": (
        "class One(Protocol):\n    def f(self, xs: list) -> None: ...\n",
        "bad/one.py:6: One.f: parameter 'xs': unsupported annotation 'list' "
        "(give the item types, e.g. list[int])",
    ),
    "limit on an int": (
        "from typing import Annotated\nclass One(Protocol):\n"
        "    def f(self, n: Annotated[int, pb.MaxLen(3)]) -> None: ...\n",
        "bad/one.py:7: One.f: parameter 'n': unsupported annotation "
        "'Annotated[int, pb.MaxLen(3)]' (MaxLen applies to str, bytes, list, dict, set and "
        "tuple[T, ...])",
    ),
    "error as a value": (
        "class Oops(pb.Error): ...\nclass One(Protocol):\n    def f(self, e: Oops) -> None: ...\n",
        "bad/one.py:7: One.f: parameter 'e': unsupported annotation 'Oops' "
        "(errors are raised, not passed as values)",
    ),
    "reference inside a copy": (
        "class Two(Protocol):\n    def f(self) -> None: ...\n"
        "@dataclass\nclass Box:\n    two: Two\n",
        "bad/one.py:9: Box.two: unsupported annotation 'Two' (a dataclass passed by copy "
        "cannot hold a reference; pass the interface as a parameter or result of its own)",
    ),
    "reference deep inside a copy": (
        "class Two(Protocol):\n    def f(self) -> None: ...\n"
        "@dataclass\nclass Box:\n    n: int\n    twos: 'dict[str, list[Two | None]]'\n",
        "bad/one.py:10: Box.twos: unsupported annotation 'Two' (a dataclass passed by copy "
        "cannot hold a reference; pass the interface as a parameter or result of its own)",
    ),
    "plain class": (
        "class Thing:\n    pass\n",
        "bad/one.py:5: Thing: unsupported class; use a typing.Protocol, a @dataclass, "
        "an enum.Enum or a pb.Error subclass",
    ),
    "computed default": (
        "class One(Protocol):\n    def f(self, n: int = 1 + 1) -> None: ...\n",
        "bad/one.py:6: One.f: parameter 'n': unsupported default '1 + 1' (use a constant: a "
        "str, bytes, bool, None, an int of at most 4300 digits or a finite float; or a member "
        "of an enum of this schema)",
    ),
    # A class taking an imported name: the generator would read the base of an earlier class
    # as the import and everything after as the class (it crashed, or made an error class a
    # subclass of a dataclass).
    "class named like an enum base it follows": (
        "from enum import Enum\nclass Color(Enum):\n    RED = 1\n"
        "@dataclass\nclass Enum:\n    x: int\n",
        "bad/one.py:9: name clash: Enum is also imported here: rename the class or the import",
    ),
    "class named like an error base it follows": (
        "from pbtyped import Error\nclass Oops(Error): ...\n@dataclass\nclass Error:\n    x: int\n",
        "bad/one.py:8: name clash: Error is also imported here: rename the class or the import",
    ),
    "class named like an import below it": (
        "@dataclass\nclass Tag:\n    x: int\nfrom extra import Tag\n",
        "bad/one.py:6: name clash: Tag is also imported here: rename the class or the import",
    ),
    # Field defaults: what ``field()`` may say, and what a factory may be.
    "field without a default after one with a default": (
        "@dataclass\nclass Box:\n    n: int = 1\n    m: int\n",
        "bad/one.py:8: Box.m: a field without a default may not follow one with a default (n): "
        "give it a default, move it above n, or use @dataclass(kw_only=True)",
    ),
    "mutable default": (
        "@dataclass\nclass Box:\n    xs: list[int] = []\n",
        "bad/one.py:7: Box.xs: a mutable default '[]' would be shared by every instance: use "
        "field(default_factory=list)",
    ),
    "mutable default through field()": (
        "from dataclasses import field\n@dataclass\nclass Box:\n"
        "    m: dict[str, int] = field(default={})\n",
        "bad/one.py:8: Box.m: a mutable default '{}' would be shared by every instance: use "
        "field(default_factory=dict)",
    ),
    "lambda as a factory": (
        "from dataclasses import field\n@dataclass\nclass Box:\n"
        "    xs: list[int] = field(default_factory=lambda: [1])\n",
        "bad/one.py:8: Box.xs: unsupported default_factory 'lambda: [1]' (use list, dict, set, "
        "or a dataclass of these schemas whose fields all have defaults)",
    ),
    "tuple as a factory": (
        "from dataclasses import field\n@dataclass\nclass Box:\n"
        "    xs: tuple[int, ...] = field(default_factory=tuple)\n",
        "bad/one.py:8: Box.xs: unsupported default_factory 'tuple' (use list, dict, set, "
        "or a dataclass of these schemas whose fields all have defaults)",
    ),
    "factory of another type": (
        "from dataclasses import field\n@dataclass\nclass Box:\n"
        "    xs: list[int] | None = field(default_factory=dict)\n",
        "bad/one.py:8: Box.xs: default_factory dict does not make a 'list[int] | None' value",
    ),
    "factory of another dataclass": (
        "from dataclasses import field\n@dataclass\nclass A:\n    x: int = 0\n"
        "@dataclass\nclass B:\n    x: int = 0\n"
        "@dataclass\nclass Box:\n    a: A = field(default_factory=B)\n",
        "bad/one.py:14: Box.a: default_factory B does not make a 'A' value",
    ),
    "factory needing arguments": (
        "from dataclasses import field\n@dataclass\nclass Point:\n    x: int\n    y: int = 0\n"
        "@dataclass\nclass Box:\n    p: Point = field(default_factory=Point)\n",
        "bad/one.py:12: Box.p: default_factory Point() needs arguments: give each field of "
        "Point a default",
    ),
    "factory declared below": (
        "from dataclasses import field\n@dataclass\nclass Box:\n"
        "    p: 'Point' = field(default_factory=Point)\n@dataclass\nclass Point:\n    x: int = 0\n",
        "bad/one.py:8: Box.p: default_factory Point is declared below Box: declare it above",
    ),
    "factory of itself": (
        "from dataclasses import field\n@dataclass\nclass Box:\n"
        "    inner: 'Box | None' = field(default_factory=Box)\n",
        "bad/one.py:8: Box.inner: default_factory Box cannot make a default of its own fields "
        "(it would never end)",
    ),
    "field() with both defaults": (
        "from dataclasses import field\n@dataclass\nclass Box:\n"
        "    xs: list[int] = field(default=None, default_factory=list)\n",
        "bad/one.py:8: Box.xs: field() takes one of default= and default_factory=",
    ),
    "field() with another option": (
        "from dataclasses import field\n@dataclass\nclass Box:\n"
        "    n: int = field(default=0, repr=False)\n",
        "bad/one.py:8: Box.n: unsupported field() argument 'repr=False' (a schema's field() "
        "takes default= or default_factory=, one of them)",
    ),
    "statement at top level": (
        "X = 1\n",
        "bad/one.py:5: a schema holds only imports, classes and a docstring at top level",
    ),
    "syntax error": (
        "class One(Protocol:\n",
        "bad/one.py:5: syntax error: invalid syntax",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_schema_gives_one_clear_error(tmp_path: Path, case: str) -> None:
    source, expected = CASES[case]
    assert schema_error(tmp_path, HEAD + source) == expected


def test_reference_inside_a_sibling_copy(tmp_path: Path) -> None:
    (tmp_path / "refs.py").write_text(
        "from typing import Protocol\n\nclass Two(Protocol):\n    def f(self) -> None: ...\n"
    )
    (tmp_path / "box.py").write_text(
        "from dataclasses import dataclass\nfrom refs import Two\n\n"
        "@dataclass(frozen=True)\nclass Box:\n    two: Two | None = None\n"
    )
    with pytest.raises(SchemaError) as info:
        generate(tmp_path)
    assert str(info.value) == (
        f"{tmp_path.name}/box.py:6: Box.two: unsupported annotation 'Two' (a dataclass passed "
        "by copy cannot hold a reference; pass the interface as a parameter or result of its "
        "own)"
    )


def test_import_cycle_between_schemas(tmp_path: Path) -> None:
    for name, other in (("a", "b"), ("b", "a")):
        (tmp_path / f"{name}.py").write_text(
            f"from dataclasses import dataclass\nfrom {other} import T{other.upper()}\n\n"
            f"@dataclass\nclass T{name.upper()}:\n    x: T{other.upper()} | None = None\n"
        )
    with pytest.raises(
        SchemaError, match=r"a\.py:1: schema modules import each other: a -> b -> a"
    ):
        generate(tmp_path)


# -- every error of a run ----------------------------------------------------------------------

# A folder of bad schemas, with what ``generate`` reports of them: every error, sorted by file
# and line, and none that only follows from another.
SEVERAL = {
    # Classes it cannot classify stop this module after its top level (``Oops`` and ``Good``
    # would only repeat that ``Plain`` is unknown), and ``c``, which imports from it.
    "a.py": (
        "from typing import Protocol\n\nX = 1\n\nclass Plain:\n    pass\n\n"
        "class Oops(Plain): ...\n\nclass Good(Protocol):\n    def f(self, x: Plain) -> Plain: ...\n"
    ),
    "c.py": (
        "from typing import Protocol\nfrom a import Plain\n\n"
        "class User(Protocol):\n    def f(self, p: Plain) -> None: ...\n"
    ),
    # Errors in methods, parameters, fields and enum members: each one reported, in line order
    # (enums are read first), and a member whose value is refused is still a member by name.
    "b.py": (
        "import enum\nfrom dataclasses import dataclass\nfrom typing import Protocol\n\n"
        "class Shop(Protocol):\n"
        "    def a(self, x) -> int: ...\n"
        "    def b(self, y: object, z: frozenset[int]) -> None: ...\n"
        "    def c(self): ...\n"
        "    def a(self) -> None: ...\n\n"
        "@dataclass(frozen=1)\nclass Box:\n"
        "    n: int = 1 + 1\n    m: list\n    shade: Color = Color.GREEN\n\n"
        "class Color(enum.Enum):\n    RED = 1\n    GREEN = [2]\n"
    ),
    # A clash or a cycle is reported where it is made, not again in what extends it.
    "d.py": (
        "from typing import Protocol\n\n"
        "class Base(Protocol):\n    def f(self) -> int: ...\n"
        "class Other(Protocol):\n    def f(self) -> int: ...\n"
        "class Both(Base, Other, Protocol): ...\n"
        "class More(Both, Protocol): ...\n"
        "class Loop(Loop, Protocol): ...\n"
        "class After(Loop, Protocol):\n    def g(self) -> None: ...\n"
        "class Wrong(int, Protocol):\n    def h(self, x: bytes | frozenset[str]) -> None: ...\n"
        "class Below(Wrong, Protocol): ...\n"
    ),
}
_TOP = "a schema holds only imports, classes and a docstring at top level"
_PLAIN = (
    "unsupported class; use a typing.Protocol, a @dataclass, an enum.Enum or a pb.Error subclass"
)
_DEFAULT = (
    "(use a constant: a str, bytes, bool, None, an int of at most 4300 digits or a finite "
    "float; or a member of an enum of this schema)"
)
SEVERAL_ERRORS = [
    f"bad/a.py:3: {_TOP}",
    f"bad/a.py:5: Plain: {_PLAIN}",
    "bad/b.py:6: Shop.a: parameter 'x': missing annotation",
    "bad/b.py:7: Shop.b: parameter 'y': unsupported annotation 'object'",
    "bad/b.py:7: Shop.b: parameter 'z': unsupported annotation 'frozenset[int]'",
    "bad/b.py:8: Shop.c: missing return annotation",
    "bad/b.py:9: Shop.a: name clash: method defined twice",
    "bad/b.py:11: Box: unsupported dataclass option",
    f"bad/b.py:13: Box.n: unsupported default '1 + 1' {_DEFAULT}",
    "bad/b.py:14: Box.m: unsupported annotation 'list' (give the item types, e.g. list[int])",
    "bad/b.py:19: Color: enum members must be NAME = constant",
    "bad/d.py:7: Both: name clash: method f comes from both Base and Other",
    "bad/d.py:9: Loop: interfaces extend each other: Loop -> Loop",
    "bad/d.py:12: Wrong: base 'int' is not an interface; an interface may extend only Protocol "
    "classes of these schemas",
    "bad/d.py:13: Wrong.h: parameter 'x': unsupported annotation 'frozenset[str]'",
]


def several_bad_schemas(tmp_path: Path) -> Path:
    """The folder ``bad`` holding the schemas of ``SEVERAL``."""
    bad = tmp_path / "bad"
    bad.mkdir()
    for name, source in SEVERAL.items():
        (bad / name).write_text(source, encoding="utf-8")
    return bad


def test_every_error_of_a_run_is_reported_sorted(tmp_path: Path) -> None:
    bad = several_bad_schemas(tmp_path)
    with pytest.raises(SchemaErrors) as info:
        generate(bad)
    assert [str(e) for e in info.value.errors] == SEVERAL_ERRORS
    assert str(info.value) == "\n".join(SEVERAL_ERRORS)
    # As a SchemaError, it is the first of them.
    assert isinstance(info.value, SchemaError)
    assert (info.value.path, info.value.line, info.value.message) == ("bad/a.py", 3, _TOP)


def test_the_errors_are_the_same_whatever_the_hash_seed(tmp_path: Path) -> None:
    bad = several_bad_schemas(tmp_path)
    outputs = []
    for seed in ("0", "4242"):
        done = subprocess.run(
            [sys.executable, "-m", "pbtyped", "generate", str(bad), "--out", str(tmp_path / "o")],
            env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 2
        outputs.append(done.stderr)
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") == len(SEVERAL_ERRORS) + 1


def test_cli_reports_every_schema_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = several_bad_schemas(tmp_path)
    for check in ([], ["--check"]):
        assert main(["generate", str(bad), "--out", str(tmp_path / "out"), *check]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.splitlines() == [
            *(f"error: {line}" for line in SEVERAL_ERRORS),
            f"{len(SEVERAL_ERRORS)} schema errors: nothing was written",
        ]
    assert not (tmp_path / "out").exists()
