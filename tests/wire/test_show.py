"""Values in error texts are written in the wire's words, for a peer in any language: CBOR
diagnostic notation and CBOR kinds, never Python reprs (``None``, ``'x'``, ``NoneType``,
``UndefinedType``, ``<... object at 0x...>``)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid

import cbor2
import pytest

import pbtyped as pb
from pbtyped.protocol.broker import ImportedReference
from pbtyped.wire.decoding import REFUSED
from pbtyped.wire.show import kind, show


@dataclasses.dataclass
class Point:
    x: int


class Color(enum.Enum):
    RED = 1


def deep(levels: int) -> list[object]:
    value: list[object] = [1]
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (-7, "-7"),
        (2**64 - 1, "18446744073709551615"),
        (2**64, "<integer of 65 bits>"),
        # No decimal text beyond 4,300 digits (Python's int-to-str limit):
        pytest.param(10**5000, "<integer of 16610 bits>", id="10**5000"),
        (1.5, "1.5"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        ('it\'s "x"\n', '"it\'s \\"x\\"\\n"'),
        (b"\x00\xff", "h'00ff'"),
        ([1, [None, "a"]], '[1, [null, "a"]]'),
        ({"k": [b""]}, "{\"k\": [h'']}"),
        (cbor2.undefined, "undefined"),
        (cbor2.CBORSimpleValue(99), "simple(99)"),
        (Color.RED, "Color.RED"),
        (Point(1), "<Point>"),
        (REFUSED, "<refused value>"),
        (pb.Referenceable(), "<reference>"),
        (ImportedReference.__new__(ImportedReference), "<reference>"),
        (object(), "<object>"),
        ("x" * 100, '"' + "x" * 36 + "..."),
        (deep(100), "[" * 37 + "..."),
    ],
)
def test_show_writes_cbor_diagnostic_notation(value: object, text: str) -> None:
    assert show(value) == text


def test_show_is_bounded_whatever_the_size() -> None:
    assert len(show(["y" * 10**6] * 10**5, 60)) == 60
    assert show({"k": "v" * 100}, 12) == '{"k": "vv...'


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (False, "boolean"),
        (3, "integer"),
        (3.0, "float"),
        ("", "text string"),
        (b"", "byte string"),
        ([], "array"),
        ({}, "map"),
        ((), "tuple"),
        (set(), "set"),
        (datetime.datetime.now(datetime.UTC), "datetime"),
        (datetime.date(2024, 1, 1), "date"),
        (uuid.UUID(int=0), "UUID"),
        (decimal.Decimal(1), "decimal"),
        (cbor2.undefined, "undefined"),
        (cbor2.CBORSimpleValue(99), "simple value"),
        (Point(1), "Point"),
        (Color.RED, "Color"),
        (pb.Root(), "reference"),
        (REFUSED, "refused value"),
        (1j, "complex"),
    ],
)
def test_kind_names_what_came_by_its_cbor_kind(value: object, name: str) -> None:
    assert kind(value) == name
