"""Schema checks keep what passes: a valid value comes back as the very same object, and only
the parts that need converting are rebuilt. The fast check and the walk that explains a
refusal agree on every value, and a refusal names the path of the part that is wrong."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pbtyped as pb
from pbtyped.protocol.objects import Referenceable
from pbtyped.runtime.reference import RemoteReference, Stub
from pbtyped.typed.checknodes import INT, Invalid, dataclass_of, passes
from pbtyped.typed.checks import _Builder, checker_for, describe


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass(frozen=True)
class Point:
    x: int
    y: int


@dataclass
class Shape:
    name: Annotated[str, pb.MaxLen(20)]
    points: list[Point]
    color: Color = Color.RED
    label: Optional[str] = None  # noqa: UP045 (the old spelling, as schemas may use)
    tags: list[str] | None = None


@dataclass
class Record:
    id: int
    name: str
    score: float
    values: list[int] = field(default_factory=list)


@dataclass
class Tree:
    label: str
    children: list[Tree]


# Made at run time (as the property tests make theirs), with names close to keywords.
Made = dataclasses.make_dataclass("Made", [("class_", int), ("match", list[int])])


class MyInt(int):
    """An int subclass: accepted for int, and converted to a plain int."""


class SinkClient(Stub):
    pb_interface = "test.Sink"


class Sink(Referenceable):
    pb_interface = "test.Sink"


def remote() -> RemoteReference:
    """A RemoteReference that is never used to call (no broker or connection needed)."""
    return RemoteReference(typing.cast(Any, None), 7, typing.cast(Any, None))


def shape() -> Shape:
    return Shape("s", [Point(1, 2), Point(3, 4)], label="l", tags=["a", "b"])


VALID: list[tuple[Any, Any]] = [
    (list[int], [1, 2, 3]),
    (list[str], ["a", "b"]),
    (list[float], [1.5, 2.0]),
    (list[Record], [Record(1, "a", 0.5, [1, 2]), Record(2, "b", 1.5)]),
    (dict[str, list[Point]], {"a": [Point(1, 2)], "b": []}),
    (dict[str, int], {"a": 1}),
    (tuple[int, str], (1, "x")),
    (tuple[float, ...], (1.5, 2.5)),
    (tuple[()], ()),
    (set[str], {"a", "b"}),
    (Shape, shape()),
    (list[Shape], [shape(), shape()]),
    (Optional[Point], Point(1, 2)),  # noqa: UP045
    (Point | None, None),
    (int | str, "x"),
    (Union[int, list[Point]], [Point(0, 0)]),  # noqa: UP007
    (Annotated[list[int], pb.MaxLen(3)], [1, 2]),
    (Annotated[str, pb.MaxLen(3)], "abc"),
    (Literal["a", 1], "a"),
    (Color, Color.GREEN),
    (datetime.datetime, datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)),
    (decimal.Decimal, decimal.Decimal("1.5")),
    (uuid.UUID, uuid.UUID(int=1)),
    (Tree, Tree("root", [Tree("a", []), Tree("b", [Tree("c", [])])])),
    (Made, Made(1, [2])),
    (list[SinkClient], [SinkClient(remote())]),
    (dict[str, SinkClient | None], {"a": SinkClient(remote()), "b": None}),
]


@pytest.mark.parametrize("outbound", [False, True])
@pytest.mark.parametrize(("annotation", "value"), VALID, ids=[describe(a) for a, _ in VALID])
def test_valid_values_come_back_as_the_same_object(
    annotation: Any, value: Any, outbound: bool
) -> None:
    assert checker_for(annotation, outbound=outbound)(value, "$") is value


def test_a_reference_becomes_a_stub_and_only_its_container_is_rebuilt() -> None:
    ref, stub = remote(), SinkClient(remote())
    check = checker_for(list[SinkClient])
    value = [stub, ref]
    got = check(value, "$")
    assert got is not value
    assert value == [stub, ref]  # the input is left alone
    assert got[0] is stub
    assert type(got[1]) is SinkClient
    assert got[1].pb_reference is ref
    # Outbound (a server's result) leaves references as they are.
    assert checker_for(list[SinkClient], outbound=True)(value, "$") is value
    # Our own object back home is usable as a stub too.
    ours = Sink()
    home = checker_for(dict[str, SinkClient])({"a": ours}, "$")
    assert type(home["a"]) is SinkClient
    assert home["a"].pb_reference is ours


def test_conversions_rebuild_only_the_path_to_what_changed() -> None:
    untouched = Record(1, "a", 0.5, [1])
    changed = Record(2, "b", 2, [MyInt(3), 4])  # type: ignore[arg-type]
    value = [untouched, changed]
    got = checker_for(list[Record])(value, "$")
    assert got is not value
    assert got[0] is untouched
    assert got[1] is not changed
    assert got[1] == Record(2, "b", 2.0, [3, 4])
    assert type(got[1].score) is float
    assert type(got[1].values[0]) is int
    assert changed.score == 2  # dataclasses.replace made a copy
    assert type(changed.values[0]) is MyInt


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (tuple[int, ...], [1, 2], (1, 2)),
        (tuple[int, str], [1, "x"], (1, "x")),
        (tuple[float, ...], (1, 2.5), (1.0, 2.5)),
        (set[int], frozenset({1}), {1}),
        (frozenset[int], {1}, frozenset({1})),
        (list[int], [1, MyInt(2)], [1, 2]),
        (dict[str, float], {"a": 1.5, "b": 2}, {"a": 1.5, "b": 2.0}),
        (dict[int, str], {MyInt(1): "a"}, {1: "a"}),
        (int | None, MyInt(5), 5),
        (float | int, 3, 3.0),  # the first option that accepts decides, as before
        (int | float, 3, 3),
    ],
)
def test_values_needing_conversion_are_converted(
    annotation: Any, value: Any, expected: Any
) -> None:
    got = checker_for(annotation)(value, "$")
    assert got == expected
    assert deep_types(got) == deep_types(expected)
    assert checker_for(annotation)(got, "$") is got  # converted once, then kept


def deep_types(value: Any) -> Any:
    """The types of a value's parts, to tell 1 from 1.0 and (1,) from [1]."""
    if isinstance(value, list | tuple):
        return (type(value), [deep_types(v) for v in value])
    if isinstance(value, dict):
        return (type(value), [(deep_types(k), deep_types(v)) for k, v in value.items()])
    if isinstance(value, set | frozenset):
        return (type(value), sorted(map(repr, map(deep_types, value))))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value), [deep_types(getattr(value, f.name)) for f in fields])
    return type(value)


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        (Shape, Shape("s", [Point(1, "2")]), "$.points[0].y: expected int, got text string"),  # type: ignore[arg-type]
        (Shape, Shape("x" * 21, []), "$.name: longer than 20 (length 21)"),
        (list[Record], [Record(1, "a", 1.0), Record(2, "b", True)],
         "$[1].score: expected float, got boolean"),
        (list[int], [1, True], "$[1]: expected int, got boolean"),
        (list[bool], [True, 1], "$[1]: expected bool, got integer"),
        (float, 1.0j, "$: expected float, got complex"),
        # The value is checked first:
        (dict[str, int], {1: "x"}, "$[1]: expected int, got text string"),
        (dict[str, int], {"k": 1, 2: 3}, "$[2]: expected str, got integer"),
        (set[int], {"a"}, "$['a']: expected int, got text string"),
        (tuple[int, str], (1,), "$: expected 2 items, got 1"),
        (tuple[int, ...], (1, "x"), "$[1]: expected int, got text string"),
        (int | None, 1.5, "$: expected int | null, got float"),
        (list[int | None], [None, "x"], "$[1]: expected int | null, got text string"),
        (Literal["a", 1], True, '$: expected "a" | 1, got true'),
        (Literal["a", 1], 1.5, '$: expected "a" | 1, got float'),
        (datetime.datetime, datetime.datetime(2024, 1, 1),
         "$: expected an aware datetime, got a naive one"),
        (datetime.date, datetime.datetime(2024, 1, 1), "$: expected date, got datetime"),
        (Color, "red", "$: expected Color, got text string"),
        (Tree, Tree("r", [Tree("a", [Tree(3, [])])]),  # type: ignore[arg-type]
         "$.children[0].children[0].label: expected str, got integer"),
        (Made, Made(1, [2, "3"]), "$.match[1]: expected int, got text string"),
        (list[SinkClient], [1], "$[0]: expected Sink, got integer"),
        (list[Point], [Point(1, 2), {"x": 1}], "$[1]: expected Point, got map"),
        (Annotated[list[int], pb.MaxLen(1)], [1, 2], "$: longer than 1 (length 2)"),
    ],
)  # fmt: skip
def test_refusals_say_what_they_always_said(annotation: Any, value: Any, message: str) -> None:
    with pytest.raises(pb.ValidationError) as info:
        checker_for(annotation)(value, "$")
    assert str(info.value) == message
    assert info.value.__context__ is None  # nothing internal shows in a traceback


def test_field_names_that_are_not_identifiers_are_refused_when_built() -> None:
    # Dataclasses cannot have such fields (they write code with the names); the generated
    # check must never write one into its source either.
    with pytest.raises(TypeError, match="field name 'x; y'"):
        dataclass_of(Point, [("x; y", INT)])


def test_fast_refusals_never_leave_a_checker() -> None:
    with pytest.raises(pb.ValidationError):
        checker_for(list[int])(["x"], "$")
    node = _Builder(False).build(list[int])
    with pytest.raises(Invalid):
        node.fast(["x"])


# -- property tests: random annotations, valid values, and values with one wrong part -----


class Wrong:
    """A value no annotation accepts."""

    def __repr__(self) -> str:
        return "Wrong()"


LEAVES: list[Any] = [
    type(None),
    bool,
    int,
    float,
    str,
    bytes,
    datetime.date,
    datetime.datetime,
    uuid.UUID,
    decimal.Decimal,
    Color,
    Literal["a", 1],
    Annotated[str, pb.MaxLen(2)],
]
HASHABLE = [int, str, bool, bytes]
_made = iter(range(10**9))


def make_record(fields: list[Any]) -> Any:
    names = [f"f{i}" for i in range(len(fields))]
    return dataclasses.make_dataclass(f"D{next(_made)}", list(zip(names, fields, strict=True)))


def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        inner.map(lambda t: list[t]),  # type: ignore[valid-type]
        st.tuples(st.sampled_from([str, int]), inner).map(lambda kv: dict[kv[0], kv[1]]),  # type: ignore[valid-type]
        st.sampled_from(HASHABLE).map(lambda t: set[t]),  # type: ignore[valid-type]
        inner.map(lambda t: tuple[t, ...]),  # type: ignore[valid-type]
        st.lists(inner, max_size=3).map(lambda ts: tuple[tuple(ts)] if ts else tuple[()]),
        st.lists(inner, min_size=2, max_size=3).map(lambda ts: Union[tuple(ts)]),  # noqa: UP007
        inner.map(lambda t: Optional[t]),  # noqa: UP045
        inner.map(lambda t: Annotated[list[t], pb.MaxLen(2)]),  # type: ignore[valid-type]
        st.lists(inner, max_size=4).map(make_record),
    )


ANNOTATIONS = st.recursive(st.sampled_from(LEAVES), extend, max_leaves=6)


def valid(t: Any, exact: bool) -> st.SearchStrategy[Any]:
    """Values of annotation ``t``; with ``exact`` False, also forms that need converting."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is Annotated:
        inner_origin = typing.get_origin(args[0])
        limit = args[1].n
        if inner_origin is list:
            return st.lists(valid(typing.get_args(args[0])[0], exact), max_size=limit)
        return valid(args[0], exact).filter(lambda v: len(v) <= limit)
    if origin is Union or origin is types.UnionType:
        return st.one_of([valid(a, exact) for a in options(t)])
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(valid(args[0], exact), max_size=3)
    if origin is dict:
        return st.dictionaries(valid(args[0], exact), valid(args[1], exact), max_size=3)
    if origin is set:
        return st.sets(valid(args[0], True), max_size=3)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            items = st.lists(valid(args[0], exact), max_size=3)
            return items.map(tuple) if exact else st.one_of(items, items.map(tuple))
        fixed = st.tuples(*(valid(a, exact) for a in args))
        return fixed if exact else st.one_of(fixed, fixed.map(list))
    if dataclasses.is_dataclass(t):
        hints = typing.get_type_hints(t, include_extras=True)
        fields = {f.name: valid(hints[f.name], exact) for f in dataclasses.fields(t)}
        return st.builds(t, **fields)
    if t is int:
        return st.integers() if exact else st.one_of(st.integers(), st.integers().map(MyInt))
    if t is float:
        floats = st.floats(allow_nan=False)
        return floats if exact else st.one_of(floats, st.integers())
    return {
        type(None): st.none(),
        bool: st.booleans(),
        str: st.text(max_size=4),
        bytes: st.binary(max_size=4),
        datetime.date: st.dates(),
        datetime.datetime: st.datetimes(timezones=st.just(datetime.UTC)),
        uuid.UUID: st.uuids(),
        decimal.Decimal: st.decimals(allow_nan=False),
        Color: st.sampled_from(Color),
    }[t]


def options(union: Any) -> list[Any]:
    """A union's options in an order of their own: ``typing`` caches annotations and treats
    ``X | Y`` as equal to ``Y | X``, so ``get_args`` may list them either way from one run to
    the next, and hypothesis wants the same strategy every time."""
    return sorted(typing.get_args(union), key=shape)


def shape(t: Any) -> str:
    """A name for an annotation that does not depend on the names of the classes made."""
    if dataclasses.is_dataclass(t):
        hints = typing.get_type_hints(t, include_extras=True)
        return f"D({', '.join(shape(hints[f.name]) for f in dataclasses.fields(t))})"
    args = typing.get_args(t)
    if not args:
        return repr(t)
    if typing.get_origin(t) is Union or typing.get_origin(t) is types.UnionType:
        return f"U[{', '.join(sorted(map(shape, args)))}]"
    return f"{typing.get_origin(t)!r}[{', '.join(map(shape, args))}]"


def has_union(t: Any) -> bool:
    if typing.get_origin(t) is Union or typing.get_origin(t) is types.UnionType:
        return True
    if dataclasses.is_dataclass(t):
        return any(has_union(h) for h in typing.get_type_hints(t, include_extras=True).values())
    return any(has_union(a) for a in typing.get_args(t))


@st.composite
def corrupted(draw: st.DrawFn, t: Any, path: str = "$", in_union: bool = False) -> Any:
    """A value of ``t`` with one wrong part, and the path its refusal must name."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    wrong = (Wrong(), path)
    if origin is Union or origin is types.UnionType:
        # A union does not say which option failed where: it is refused at its own path.
        value, _ = draw(corrupted(draw(st.sampled_from(options(t))), path, in_union=True))
        return value, path
    if origin is Annotated:
        limit = args[1].n
        if not in_union and draw(st.booleans()):
            # Too long (only outside unions: another option might take it).
            inner = typing.get_args(args[0])[0] if typing.get_origin(args[0]) is list else None
            if inner is not None:
                items = draw(st.lists(valid(inner, True), min_size=limit + 1, max_size=limit + 2))
                return items, path
        value, where = draw(corrupted(args[0], path, in_union))
        if isinstance(value, list | tuple | str | bytes | dict | set) and len(value) > limit:
            return value, path  # the length is checked before the items
        return value, where
    if draw(st.integers(0, 3)) == 0:
        return wrong
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        items = draw(st.lists(valid(args[0], True), max_size=3))
        if not items:
            return wrong
        i = draw(st.integers(0, len(items) - 1))
        items[i], where = draw(corrupted(args[0], f"{path}[{i}]", in_union))
        return (items if origin is list else tuple(items)), where
    if origin is tuple:
        if not args:
            return wrong
        items = [draw(valid(a, True)) for a in args]
        i = draw(st.integers(0, len(args) - 1))
        items[i], where = draw(corrupted(args[i], f"{path}[{i}]", in_union))
        return tuple(items), where
    if origin is dict:
        items = draw(st.dictionaries(valid(args[0], True), valid(args[1], True), max_size=3))
        if not items or draw(st.booleans()):
            items[Wrong()] = draw(valid(args[1], True))  # a wrong key: named by its type
            return items, f"{path}[<Wrong>]"
        key = draw(st.sampled_from(sorted(items, key=repr)))
        items[key], where = draw(corrupted(args[1], f"{path}[{key!r:.40}]", in_union))
        return items, where
    if origin is set:
        members = draw(st.sets(valid(args[0], True), max_size=3))
        return {*members, Wrong()}, f"{path}[<Wrong>]"
    if dataclasses.is_dataclass(t):
        fields = dataclasses.fields(t)
        if not fields:
            return wrong
        value = draw(valid(t, True))
        hints = typing.get_type_hints(t, include_extras=True)
        name = draw(st.sampled_from([f.name for f in fields]))
        bad, where = draw(corrupted(hints[name], f"{path}.{name}", in_union))
        return dataclasses.replace(value, **{name: bad}), where
    return wrong


def junk() -> st.SearchStrategy[Any]:
    """Any old value: scalars of every kind, and containers of them."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers().map(MyInt),
        st.floats(allow_nan=False),
        st.text(max_size=3),
        st.binary(max_size=3),
        st.sampled_from(Color),
        st.just(datetime.datetime(2024, 1, 1)),
        st.just(Wrong()),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(st.text(max_size=2), inner, max_size=3),
            st.sets(st.integers(), max_size=3),
        ),
        max_leaves=8,
    )


def agree(annotation: Any, value: Any) -> bool:
    """Check the fast and the explaining walks agree on ``value``; whether it was accepted."""
    node = _Builder(False).build(annotation)
    check = checker_for(annotation)
    try:
        node.explain(value, "$")
    except pb.ValidationError as exc:
        explained: str | None = str(exc)
    else:
        explained = None
    if passes(node.fast, value):
        assert explained is None
        check(value, "$")
        return True
    assert explained is not None
    with pytest.raises(pb.ValidationError) as info:
        check(value, "$")
    assert str(info.value) == explained
    return False


PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure reproduces
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@PROPERTY
@given(st.data())
def test_property_valid_values_are_kept_or_converted_once(data: st.DataObject) -> None:
    annotation = data.draw(ANNOTATIONS, "annotation")
    value = data.draw(valid(annotation, exact=True), "value")
    assert agree(annotation, value)
    for outbound in (False, True):
        got = checker_for(annotation, outbound=outbound)(value, "$")
        if deep_types(got) == deep_types(value):
            assert got is value  # nothing was converted: the very same object
        else:
            # Only a union converts a value that is exactly of one of its options: an earlier
            # option took it (float | int makes 3 a float).
            assert has_union(annotation)
    convertible = data.draw(valid(annotation, exact=False), "convertible")
    assert agree(annotation, convertible)
    once = checker_for(annotation)(convertible, "$")
    assert checker_for(annotation)(once, "$") is once


@PROPERTY
@given(st.data())
def test_property_refusals_name_the_wrong_part(data: st.DataObject) -> None:
    annotation = data.draw(ANNOTATIONS, "annotation")
    value, path = data.draw(corrupted(annotation), "corrupted")
    assert not agree(annotation, value)
    with pytest.raises(pb.ValidationError) as info:
        checker_for(annotation)(value, "$")
    assert str(info.value).startswith(f"{path}: ")


@PROPERTY
@given(ANNOTATIONS, junk())
def test_property_fast_and_explaining_walks_agree_on_anything(annotation: Any, value: Any) -> None:
    agree(annotation, value)
