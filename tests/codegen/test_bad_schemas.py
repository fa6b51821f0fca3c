"""Schemas the generator refuses: one clear ``file:line: why`` error each."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbtyped.codegen import SchemaError, generate

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
