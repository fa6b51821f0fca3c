"""What a peer's value costs the schema checks: for every construct the checker knows, a value
built to cost the most (refused at its very end, after everything before it was walked and
converted, or needing every part converted), checked through the generated spec as a peer's
arguments and as a hostile server's result. CPU per byte of the value's frame must stay flat
between two sizes (``assert_linear_cpu``), and the check's own peak memory must stay a small
multiple of the frame (docs/security.md, "What a peer can cost")."""

from __future__ import annotations

import datetime
import decimal
import enum
import types
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.typed.checks import checker_for
from pbtyped.wire.columns import Columns
from tests.costs import assert_linear_cpu, peak_ratio

from .conftest import Wire

#: What a check may allocate per byte of the frame beyond what decoding the frame allocated.
#: A check's worst is to make a converted value again (a list of ints becomes a list of
#: floats; each dataclass on the way is copied), which is never more than the decoder made;
#: references become one stub each where the decoder returns one shared object.
COPY_SLACK = 8.0


class Way(enum.Enum):
    """Which checker of a method runs: the server's on arguments, or the client's on a result."""

    ARGS = "args"
    RESULT = "result"


UTC = datetime.UTC
AWARE = datetime.datetime(2024, 1, 1, tzinfo=UTC)
DAY = datetime.date(2024, 1, 1)


def _int_at_end(n: int, ok: Any, bad: Any) -> list[Any]:
    return [ok] * n + [bad]


def _counted(n: int) -> list[int]:
    return list(range(n))


def _records(m: Any, n: int) -> list[Any]:
    out = [m.Record(i, "name", i, [1, 2, 3]) for i in range(n)]
    out.append(m.Record(n, "name", "refused", [1]))
    return out


def _tree(m: Any, n: int) -> Any:
    """A wide tree, two levels, every value an int (each node copied to make it a float)."""
    leaves = [m.Tree(i, []) for i in range(16)]
    return m.Tree(0, [m.Tree(i, list(leaves)) for i in range(n // 16 + 1)])


def _either(m: Any, n: int) -> Any:
    kids = [m.Either([m.Either((), 1)], 1) for _ in range(n)]
    kids.append(m.Either([], "refused"))
    return m.Either(kids, 0)


def _mixed(m: Any, n: int) -> Any:
    """Valid children, walked by both options before the last two items refuse each."""
    return m.Mixed([*(m.Mixed([1, 2]) for _ in range(n)), 1, "x"])


def _doc(m: Any, n: int) -> Any:
    """Valid children, walked by both options before the last entry refuses each."""
    body: dict[str, Any] = {f"k{i}": m.Doc({"a": 1}) for i in range(n)}
    body["z"] = b"x"
    return m.Doc(body)


class _Sink(pb.Referenceable):
    pb_interface = "hostile.Sink"


#: (method, the value for size ``n``): one per construct, at its most expensive.
WIDE: dict[str, tuple[str, Callable[[Any, int], Any]]] = {
    "str": ("strs", lambda m, n: _int_at_end(n, "x", 0)),
    "bytes": ("blobs", lambda m, n: _int_at_end(n, b"x", "s")),
    "int": ("ints", lambda m, n: _int_at_end(n, 10**300, "s")),
    "float from int": ("floats", lambda m, n: [*_counted(n), 10**400]),
    "bool": ("bools", lambda m, n: _int_at_end(n, True, 0)),
    "None": ("nones", lambda m, n: _int_at_end(n, None, 0)),
    "Decimal": ("decimals", lambda m, n: _int_at_end(n, decimal.Decimal("1.5"), 1.5)),
    "datetime": ("stamps", lambda m, n: _int_at_end(n, AWARE, DAY)),
    "date": ("days", lambda m, n: _int_at_end(n, DAY, AWARE)),
    "UUID": ("uuids", lambda m, n: _int_at_end(n, uuid.UUID(int=7), "s")),
    "list": ("nested", lambda m, n: [_counted(8) for _ in range(n // 8)] + [[1, "s"]]),
    "list of one-item lists": ("nested", lambda m, n: [[1] for _ in range(n)] + [[1, "s"]]),
    "tuple[X, ...]": ("var_tuples", lambda m, n: (*_counted(n), "s")),
    "tuple[X, Y]": ("pairs", lambda m, n: [(i, i) for i in range(n)] + [(1, "s")]),
    "set": ("sets", lambda m, n: {*map(str, range(n)), b"x"}),
    "dict": ("dicts", lambda m, n: {**{str(i): i for i in range(n)}, "z": "s"}),
    "dict of lists": ("keyed", lambda m, n: {**{b"%d" % i: [1] for i in range(n)}, b"z": ["s"]}),
    "Optional": ("optionals", lambda m, n: [*_counted(n), None, "s"]),
    "union": ("unions", lambda m, n: [*(["a", b"b", 1] * (n // 3)), 1.5]),
    "Literal": ("literals", lambda m, n: [*(["a", "b", 1] * (n // 3)), "c"]),
    "enum": ("colors", lambda m, n: _int_at_end(n, m.Color.RED, "red")),
    "dataclass": ("records", _records),
    "columns": ("records", lambda m, n: Columns(_records(m, n))),
    "recursive dataclass": ("trees", _tree),
    "overlapping recursive union (list | tuple)": ("eithers", _either),
    "overlapping recursive union (list | list)": ("mixed", _mixed),
    "overlapping recursive union (dict | dict)": ("docs", _doc),
    "MaxLen": ("limited", lambda m, n: [1.5] * n),
    "interface": ("sinks", lambda m, n: _int_at_end(n, _Sink(), "s")),
}


def _checker(m: types.ModuleType, method: str, way: Way) -> Callable[[Any], Any]:
    entry = m._SPEC_Costly.methods[method]
    if way is Way.ARGS:
        return lambda value: entry.bind([value], {})
    return lambda value: entry.result_in(value, "$")


def _run(check: Callable[[Any], Any], value: Any) -> Callable[[], Any]:
    def run() -> Any:
        try:
            return check(value)
        except pb.ValidationError as exc:
            return exc

    return run


def _measure(
    hostile: types.ModuleType, wire: Wire, method: str, build: Callable[[Any, int], Any], way: Way
) -> Callable[[int], tuple[Callable[[], Any], int]]:
    check = _checker(hostile, method, way)

    def make(n: int) -> tuple[Callable[[], Any], int]:
        value, size = wire.carry(build(hostile, n))
        return _run(check, value), size

    return make


@pytest.mark.parametrize("construct", list(WIDE))
def test_checks_cost_linear_cpu_and_bounded_memory(
    hostile: types.ModuleType, wire: Wire, construct: str
) -> None:
    """Pins: a peer sending a value of any construct that costs more than a fixed amount of
    CPU and memory per byte to check. (A client checks a result with a checker built the same
    way; the deep values below are checked both ways.)"""
    method, build = WIDE[construct]
    way = Way.ARGS
    make = _measure(hostile, wire, method, build, way)
    _, large = assert_linear_cpu(make, 32, 512)
    frame = wire.frame(build(hostile, 512))
    run = _run(_checker(hostile, method, way), wire.decode(frame))
    ratio = peak_ratio(run, len(frame))
    decoding = peak_ratio(lambda: wire.decode(frame), len(frame))
    print(
        f"{construct} ({way.value}): {large.per_byte * 1e9:.0f} ns per byte, "
        f"{ratio:.1f} bytes per byte, decoding {decoding:.1f}"
    )
    assert ratio < decoding + COPY_SLACK, f"{construct}: {ratio:.1f} bytes per byte"


def _chain_tree(m: Any, depth: int) -> Any:
    """Floats all the way down but an int at the deepest value: every level is converted."""
    tree = m.Tree(1, [])
    for _ in range(depth):
        tree = m.Tree(1.5, [tree])
    return tree


def _chain_either(m: Any, depth: int) -> Any:
    """Refused at the deepest level, after both options walked down to it."""
    either = m.Either([], "refused")
    for _ in range(depth):
        either = m.Either([either], 1)
    return either


def _chain_mixed(m: Any, depth: int) -> Any:
    """At every level both options walk the child before the last items refuse them."""
    mixed = m.Mixed([1, "x"])
    for _ in range(depth):
        mixed = m.Mixed([mixed, 1, "x"])
    return mixed


def _chain_doc(m: Any, depth: int) -> Any:
    """At every level both dict options check the child before the other entries refuse."""
    doc = m.Doc({"a": 1, "b": b"x"})
    for _ in range(depth):
        doc = m.Doc({"a": doc, "b": 1, "c": b"x"})
    return doc


def _chain_tree_crowded(m: Any, depth: int) -> Any:
    """Refused at the bottom of a chain, after 500 valid siblings: explaining the refusal
    must not walk the crowd once per level above it."""
    tree = m.Tree(1.5, [*(m.Tree(1.5, []) for _ in range(500)), m.Tree("refused", [])])
    for _ in range(depth):
        tree = m.Tree(1.5, [tree])
    return tree


#: Values whose cost grew with the depth, not the size: 2**depth before the checks were
#: made linear (a 220-byte tree of depth 15 took 0.14 s), or size times depth.
DEEP: dict[str, tuple[str, Callable[[Any, int], Any]]] = {
    "recursive dataclass converted at its deepest": ("trees", _chain_tree),
    "recursive dataclass refused below a crowd": ("trees", _chain_tree_crowded),
    "overlapping recursive union (list | tuple)": ("eithers", _chain_either),
    "overlapping recursive union (list | list)": ("mixed", _chain_mixed),
    "overlapping recursive union (dict | dict)": ("docs", _chain_doc),
    "overlapping recursive union, many deep chains": (
        "eithers",
        lambda m, n: m.Either([_chain_either(m, 12) for _ in range(n)], 0),
    ),
}


@pytest.mark.parametrize("way", list(Way))
@pytest.mark.parametrize("construct", list(DEEP))
def test_checks_of_deep_values_cost_linear_cpu(
    hostile: types.ModuleType, deep_wire: Wire, construct: str, way: Way
) -> None:
    """Pins: a recursive dataclass converted only at its deepest field (issue 10 row 10), and
    a union of two overlapping recursive options refused deep down, costing 2**depth to check;
    a refusal deep down explained by walking what precedes it once per level; from a peer or
    (results) from a hostile server."""
    method, build = DEEP[construct]
    wire = deep_wire
    make = _measure(hostile, wire, method, build, way)
    _, large = assert_linear_cpu(make, 1, 16)
    frame = wire.frame(build(hostile, 16))
    ratio = peak_ratio(_run(_checker(hostile, method, way), wire.decode(frame)), len(frame))
    decoding = peak_ratio(lambda: wire.decode(frame), len(frame))
    print(
        f"{construct} ({way.value}): {large.per_byte * 1e9:.0f} ns per byte, "
        f"{ratio:.1f} bytes per byte, decoding {decoding:.1f}"
    )
    assert ratio < decoding + COPY_SLACK, f"{construct}: {ratio:.1f} bytes per byte"


def test_checker_constructs_without_a_schema_spelling_cost_linear_cpu(deep_wire: Wire) -> None:
    """Pins: the constructs the checker knows but schemas cannot spell (frozenset, set and
    dict keys of other types) costing more than linear CPU per byte."""
    cases: list[tuple[Any, Callable[[int], Any]]] = [
        (frozenset[float], lambda n: {*range(n), "s"}),  # a peer's set, checked as one
        (set[float], lambda n: {*range(n), "s"}),
        (dict[int, float], lambda n: {**{i: i for i in range(n)}, -1: "s"}),
    ]
    for annotation, build in cases:
        check = checker_for(annotation)

        def make(
            n: int, build: Callable[[int], Any] = build, check: Any = check
        ) -> tuple[Callable[[], Any], int]:
            value, size = deep_wire.carry(build(n))
            return _run(lambda v: check(v, "$"), value), size

        assert_linear_cpu(make, 64, 1024)
