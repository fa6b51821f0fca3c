"""Lists of one registered dataclass sent column by column (tag 41009, feature "columns")."""

from __future__ import annotations

import dataclasses
from typing import Any

import cbor2
import pytest

from pbtyped import Registry
from pbtyped.wire import tags
from pbtyped.wire.codec import Codec, Refused
from pbtyped.wire.columns import Columns

from .codec_helpers import body_of, make_codec


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@dataclasses.dataclass(kw_only=True)
class Named:
    name: str
    size: int = 0


@dataclasses.dataclass
class Single:
    value: int


@dataclasses.dataclass
class Picky:
    a: int
    b: int

    def __post_init__(self) -> None:
        if self.a > self.b:
            raise ValueError("a > b")


@dataclasses.dataclass(frozen=True)
class SubPoint(Point):
    pass


@dataclasses.dataclass
class Bag:
    label: str
    points: list[Point]


def registry() -> Registry:
    reg = Registry()
    for cls in (Point, Named, Single, Picky, SubPoint, Bag):
        reg.register_type(cls, f"t.{cls.__name__}")
    return reg


def codec(*, columns: bool = True) -> Codec:
    c = make_codec(registry())
    c.peer_takes_columns = columns
    return c


def wire(value: Any, *, columns: bool = True) -> bytes:
    """The CBOR body the peer gets."""
    return body_of(codec(columns=columns).encode(value))


def tag(number: int, value: Any) -> cbor2.CBORTag:
    return cbor2.CBORTag(number, value)


def round_trip(value: Any) -> tuple[Any, str | None]:
    c = codec()
    return c.decode(body_of(c.encode(value)))


def test_a_list_of_one_class_goes_field_by_field() -> None:
    points = Columns([Point(1, 2), Point(3, 4), Point(5, 6)])
    assert wire(points) == cbor2.dumps(tag(tags.COLUMNS, ["t.Point", [[1, 3, 5], [2, 4, 6]]]))
    decoded, problem = round_trip([points])
    assert problem is None
    assert decoded == [[Point(1, 2), Point(3, 4), Point(5, 6)]]
    assert type(decoded[0]) is list


def test_field_values_still_go_through_the_encoder_table() -> None:
    bags = Columns([Bag("a", [Point(1, 2)]), Bag("b", [])])
    point = tag(tags.COPY, ["t.Point", [1, 2]])
    assert wire(bags) == cbor2.dumps(tag(tags.COLUMNS, ["t.Bag", [["a", "b"], [[point], []]]]))
    assert round_trip(bags) == ([Bag("a", [Point(1, 2)]), Bag("b", [])], None)


def test_keyword_only_classes_are_built_by_keyword() -> None:
    named = Columns([Named(name="x", size=2), Named(name="y")])
    assert wire(named) == cbor2.dumps(tag(tags.COLUMNS, ["t.Named", [["x", "y"], [2, 0]]]))
    assert round_trip(named) == ([Named(name="x", size=2), Named(name="y")], None)


@pytest.mark.parametrize(
    "items",
    [
        [],  # nothing to gain
        [Point(1, 2), SubPoint(3, 4)],  # two classes
        [Point(1, 2), None],
        [Single(1), Single(2)],  # one field: a copy each (see columns.MIN_FIELDS)
    ],
    ids=["empty", "two-classes", "with-none", "one-field"],
)
def test_other_lists_go_item_by_item(items: list[Any]) -> None:
    assert wire(Columns(items)) == wire(items)
    assert wire(items)[0] >> 5 == 4  # a CBOR array


def test_not_to_a_peer_without_the_feature() -> None:
    points = Columns([Point(1, 2), Point(3, 4)])
    copies = [tag(tags.COPY, ["t.Point", [1, 2]]), tag(tags.COPY, ["t.Point", [3, 4]])]
    assert wire(points, columns=False) == cbor2.dumps(copies)


def test_smaller_than_copies() -> None:
    points = [Point(i, i) for i in range(1000)]
    as_columns = codec().encode(Columns(points))
    as_copies = codec().encode(points)
    assert len(as_columns) * 3 < len(as_copies)


def refusal(value: Any) -> str | None:
    c = codec()
    decoded, problem = c.decode(cbor2.dumps([1, cbor2.CBORTag(tags.COLUMNS, value)]))
    assert isinstance(decoded[1], Refused) == (problem is not None)
    return problem


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("t.Point", "malformed columns: expected [type name, [column, ...]]"),
        (["t.Point"], "malformed columns: expected [type name, [column, ...]]"),
        ([1, [[1], [2]]], "malformed columns: expected [type name, [column, ...]]"),
        (["t.Point", {"x": [1]}], "malformed columns: expected [type name, [column, ...]]"),
        (["os.system", [[1], [2]]], 'type name "os.system" is not registered on the receiving'),
        (["t.Point", [[1]]], "t.Point: expected 2 columns (x, y)"),
        (["t.Point", [[1], [2], [3]]], "t.Point: expected 2 columns (x, y)"),
        (["t.Point", []], "t.Point: expected 2 columns (x, y)"),
        (["t.Point", [[1, 2], [3]]], "t.Point: columns must be arrays of one length"),
        (["t.Point", [[1], 2]], "t.Point: columns must be arrays of one length"),
        (["t.Point", [7, [2]]], "t.Point: columns must be arrays of one length"),
        (["t.Single", [[1, 2, 3]]], "t.Single: a class of 1 field(s) does not travel in columns"),
        (["t.Picky", [[1, 5], [2, 4]]], "t.Picky: cannot build from peer data: ValueError"),
        (["t.Named", [["x"], [1]]], None),
    ],
)
def test_malformed_columns_fail_only_that_value(value: Any, why: str | None) -> None:
    problem = refusal(value)
    if why is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem.startswith(why)


def test_the_codec_learns_the_feature_from_the_hello() -> None:
    from pbtyped.protocol.broker import Broker

    from ..protocol.wiring import Echoer

    reg = registry()
    client, server = Broker(registry=reg), Broker(registry=reg, root=Echoer())
    assert not client._codec.peer_takes_columns  # nothing is known before the peer's Hello
    server.receive_data(client.initiate())
    client.receive_data(server.initiate())
    assert client._codec.peer_takes_columns
    assert server._codec.peer_takes_columns
    # A peer whose Hello does not list it gets copies.
    hello = cbor2.dumps(
        [0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20, "features": []}]
    )
    old = Broker(registry=reg)
    old.initiate()
    old.receive_data(len(hello).to_bytes(4, "big") + bytes(4) + hello)
    assert not old._codec.peer_takes_columns
