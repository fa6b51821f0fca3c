"""A hostile repository against ``pbtyped generate``: schema contents built to break out of the
generated code, or to crash or stall the generator (issue 10, row 8: the other inputs)."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbtyped.codegen import SchemaError, SchemaErrors, generate
from pbtyped.codegen.annotations import literal_source
from pbtyped.codegen.source import MAX_SCHEMA_BYTES

from ..costs import assert_linear_cpu
from ..fuzz.profiles import fuzz_settings
from .conftest import import_generated, schema_error

HEAD = "import enum\nfrom dataclasses import dataclass\nfrom typing import Annotated, Protocol\n"
HEAD += "import pbtyped as pb\n\n"
_DEFAULT_HELP = (
    "(use a constant: a str, bytes, bool, None, an int of at most 4300 digits or a finite "
    "float; or a member of an enum of this schema)"
)
_HUGE = "0x" + "f" * 4000  # a literal Python reads, but cannot write in decimal (> 4300 digits)


def _nested(depth: int, inner: str = "int") -> str:
    return "list[" * depth + inner + "]" * depth


CASES = {
    # ``inf`` is a name in generated code: importing it would raise NameError.
    "infinite default": (
        "@dataclass\nclass D:\n    x: float = 1e999\n",
        f"bad/one.py:8: D.x: unsupported default '1e309' {_DEFAULT_HELP}",
    ),
    "negative infinite default": (
        "class One(Protocol):\n    def f(self, x: float = -1e999) -> None: ...\n",
        f"bad/one.py:7: One.f: parameter 'x': unsupported default '-1e309' {_DEFAULT_HELP}",
    ),
    # Writing these ints ended the generator with ValueError (int-to-text digit limit).
    "huge int default": (
        f"@dataclass\nclass D:\n    x: int = {_HUGE}\n",
        f"bad/one.py:8: D.x: unsupported default '...' {_DEFAULT_HELP}",
    ),
    "huge enum value": (
        f"class E(enum.IntEnum):\n    A = {_HUGE}\n",
        "bad/one.py:7: E: enum members must be NAME = constant",
    ),
    "huge MaxLen": (
        f"@dataclass\nclass D:\n    x: Annotated[str, pb.MaxLen({_HUGE})]\n",
        "bad/one.py:8: D.x: unsupported annotation '...' (only pb.MaxLen(n), 0 <= n < 2**63, "
        "may annotate a type)",
    ),
    # Deep trees ended the generator with RecursionError.
    "long union": (
        "class One(Protocol):\n    def f(self, x: "
        + " | ".join(["int"] * 150)
        + ") -> None: ...\n",
        "bad/one.py:7: nested more than 100 deep: simplify it",
    ),
    "very long union": (
        "class One(Protocol):\n    def f(self, x: "
        + " | ".join(["int"] * 5000)
        + ") -> None: ...\n",
        "bad/one.py:1: nested too deeply for Python to parse",
    ),
    "long attribute chain": (
        "class One(Protocol):\n    def f(self, x: " + ".".join(["x"] * 1500) + ") -> None: ...\n",
        "bad/one.py:7: nested more than 100 deep: simplify it",
    ),
    "deep quoted annotation": (
        'class One(Protocol):\n    def f(self, x: "'
        + " | ".join(["int"] * 150)
        + '") -> None: ...\n',
        "bad/one.py:7: One.f: parameter 'x': annotation nested more than 100 deep",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_schema_gives_one_clear_error(tmp_path: Path, case: str) -> None:
    """Attack: constants generated code cannot hold, and trees deep enough to exhaust Python's
    recursion. Each is one SchemaError at its ``file:line`` (was: broken code or a crash)."""
    source, expected = CASES[case]
    assert schema_error(tmp_path, HEAD + source) == expected


def test_schema_file_size_is_bounded(tmp_path: Path) -> None:
    """Attack: a schema file of 1 MiB and one byte (its syntax tree would take 150 to 250 times
    that in memory, with no end for a larger file). Refused before it is read."""
    source = "#" * (MAX_SCHEMA_BYTES - 1) + "\n"
    assert "REGISTRY = pb.Registry()" in generate_one(tmp_path / "ok", source)
    assert schema_error(tmp_path, source + "\n") == (
        f"bad/one.py:1: {MAX_SCHEMA_BYTES + 1} bytes, more than a schema may hold "
        f"({MAX_SCHEMA_BYTES}): split it"
    )


def test_nesting_bound_counts_quoted_parts(tmp_path: Path) -> None:
    """Attack: a type nested 60 deep whose innermost part is quoted and nested 60 deep again
    (each tree alone is within the bound) is refused; 40 and 40 is generated."""

    def one(depth: int) -> str:
        inner = repr(_nested(depth))
        return f"class One(Protocol):\n    def f(self, x: {_nested(depth, inner)}) -> None: ...\n"

    text = generate_one(tmp_path / "ok", HEAD + one(40))
    assert f"x:{_nested(80)}" in "".join(text.split())  # split at each bracket, as ruff does
    assert schema_error(tmp_path, HEAD + one(60)) == (
        "bad/one.py:7: One.f: parameter 'x': annotation nested more than 100 deep"
    )


@pytest.mark.parametrize("depth", [5, 90])
def test_output_stays_linear_in_a_long_nested_type(tmp_path: Path, depth: int) -> None:
    """Attack: a Literal of many values nested deep, too long for a line, so that the output
    splits it one value per line: each line costs its indentation, at most 40 columns however
    deep the type. Output bytes per schema byte stay flat from 1,000 to 4,000 values (about
    5 for 90 deep, 25 for 5 deep; over 200 for 90 deep when every level was indented)."""

    def ratio(n: int) -> float:
        values = ", ".join(f'"v{i}"' for i in range(n))
        text = "from typing import Literal, Protocol\n\n\nclass One(Protocol):\n"
        text += f"    def f(self, x: {_nested(depth, f'Literal[{values}]')}) -> None: ...\n"
        return len(generate_one(tmp_path / f"{n}", text)) / len(text)

    small, large = ratio(1000), ratio(4000)
    assert large <= 40
    assert large <= small * 1.1


def generate_one(folder: Path, source: str) -> str:
    """The module generated for a schema folder holding ``one.py``."""
    folder.mkdir()
    (folder / "one.py").write_text(source, encoding="utf-8")
    return generate(folder)["one.py"]


_RAW = "\u00e9".encode()
_STRINGS = [
    "\u00e9\u0430",
    "a\u2028b\u2029c\x85d",
    "\u202eevil\u202c",
    '"""\\\n\r\x00',
    "\U0001f600",
]
STRANGE = f"""
class Mood(enum.Enum):
    A = {_STRINGS[0]!r}
    B = {_STRINGS[1]!r}
    C = {_STRINGS[2]!r}
    D = {_STRINGS[3]!r}
    E = {_STRINGS[4]!r}


@dataclass
class Note:
    text: str = {_STRINGS[2]!r}
    raw: bytes = {_RAW!r}
    mood: Mood = Mood.C
"""


def test_strange_strings_are_written_in_ascii(tmp_path: Path) -> None:
    """Attack: string constants holding line and paragraph separators, a bidirectional
    override ("Trojan Source"), look-alike letters, NUL and quotes. Generated code holds only
    printable ASCII lines, and the values are unchanged when the module is imported."""
    schemas = tmp_path / "hostile_strings"
    schemas.mkdir()
    (schemas / "strange.py").write_text(HEAD + STRANGE, encoding="utf-8")
    files = generate(schemas)
    text = files["strange.py"]
    assert all(" " <= ch <= "~" for ch in text.replace("\n", ""))
    module = import_generated(files, tmp_path, "hostile_strings_gen.strange")
    assert [m.value for m in module.Mood] == _STRINGS
    assert module.Note() == module.Note(_STRINGS[2], _RAW, module.Mood.C)


@fuzz_settings(300)
@given(st.one_of(st.text(), st.binary(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_any_constant_is_written_as_itself_or_refused(value: object) -> None:
    """Attack: any constant a schema may hold. Its source is one line of printable ASCII that
    reads back as the same value, or it is refused (``inf``, ``nan``)."""
    node = ast.parse(repr(value), mode="eval").body if not isinstance(value, float) else None
    node = node if node is not None else ast.Constant(value)
    source = literal_source(node)
    if isinstance(value, float) and not math.isfinite(value):
        assert source is None
        return
    assert source is not None
    assert all(" " <= ch <= "~" for ch in source)
    back = ast.literal_eval(source)
    assert type(back) is type(value)
    assert back == value


# -- graphs: modules importing modules, interfaces extending interfaces ----------------------


def _chain(n: int, first: int = 0) -> str:
    """Interfaces I<first>..I<first+n-1>, each extending the one before."""
    body = ""
    for i in range(first, first + n):
        base = f"I{i - 1}, " if i > first else ""
        body += f"\n\nclass I{i}({base}Protocol):\n    def f{i}(self) -> None: ...\n"
    return body


def test_long_import_chain(tmp_path: Path) -> None:
    """Attack: 1,100 schema modules, each importing the next (past Python's recursion limit,
    where the import-cycle check ended with RecursionError). They are generated."""
    n = 1100
    for i in range(n):
        imports = f"from m{i + 1} import D{i + 1}\n" if i + 1 < n else ""
        field = f"    x: D{i + 1} | None = None\n" if i + 1 < n else "    x: int = 0\n"
        (tmp_path / f"m{i}.py").write_text(
            f"from dataclasses import dataclass\n{imports}\n\n@dataclass\nclass D{i}:\n{field}",
            encoding="utf-8",
        )
    files = generate(tmp_path)
    assert len(files) == n + 1
    assert "from .m1 import D1\n" in files["m0.py"]


def test_ancestors_are_bounded(tmp_path: Path) -> None:
    """Attack: an interface extending 100 others is generated; one more is refused (each
    interface's linearization holds all its ancestors: unbounded, checking them was cubic)."""
    head = "from typing import Protocol\n"
    assert "class I100Client(I99Client):" in generate_one(tmp_path / "ok", head + _chain(101))
    assert schema_error(tmp_path, head + _chain(102)) == (
        "bad/one.py:408: I101: extends 101 interfaces, directly or not (at most 100): extend fewer"
    )


def test_inheritance_checks_cost_linear_cpu(tmp_path: Path) -> None:
    """Attack: one long chain of interfaces, declared last-first (the recursive checks ended
    with RecursionError past ~500, and cost the cube of the length below it). CPU per schema
    byte stays flat from 100 to 1,600 interfaces."""

    def make(n: int) -> tuple[Callable[[], object], int]:
        folder = tmp_path / str(n)
        folder.mkdir()
        text = "from typing import Protocol\n" + _chain(n)
        parts = text.split("\n\n\n")
        text = "\n\n\n".join([parts[0], *reversed(parts[1:])])
        (folder / "one.py").write_text(text, encoding="utf-8")
        return (lambda: _generated_or_refused(folder)), len(text)

    assert_linear_cpu(make, 100, 1600)


def _generated_or_refused(folder: Path) -> object:
    try:
        return generate(folder)
    except SchemaError as exc:
        return exc


def test_reporting_every_error_costs_linear_cpu(tmp_path: Path) -> None:
    """Attack: a schema whose every line holds errors, now that a run reports them all (three
    per method, one per field, each message showing at most 100 characters of source). CPU per
    schema byte stays flat from 200 to 3,200 methods and fields."""

    def make(n: int) -> tuple[Callable[[], object], int]:
        folder = tmp_path / str(n)
        folder.mkdir()
        bad = "frozenset[" + "int | " * 12 + "str]"
        text = HEAD + "class One(Protocol):\n"
        text += "".join(f"    def m{i}(self, x: {bad}, y) -> object: ...\n" for i in range(n))
        text += "@dataclass\nclass D:\n"
        text += "".join(f"    f{i}: {bad} = 1 + 1\n" for i in range(n))
        (folder / "one.py").write_text(text, encoding="utf-8")
        assert errors_in(folder) == 4 * n  # every one reported (the file is not too large)
        return (lambda: errors_in(folder)), len(text)

    def errors_in(folder: Path) -> int:
        with pytest.raises(SchemaErrors) as info:
            generate(folder)
        return len(info.value.errors)

    assert_linear_cpu(make, 200, 3200)
