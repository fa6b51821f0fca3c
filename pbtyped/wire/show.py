"""Peer values in error messages, in the wire's words: short, and safe whatever the peer sent.

A peer written in any language reads these texts (in a FAIL or an ABORT), so values are written
in CBOR diagnostic notation (RFC 8949 section 8: ``null``, ``true``, ``"text"``, ``h'00ff'``,
``[1, 2]``, ``{"k": 1}``) and kinds by their CBOR names (``text string``, ``map``), never as
Python reprs (``None``, ``'text'``, ``NoneType``, ``<object at 0x...>``).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import uuid
from typing import Any

import cbor2

__all__ = ["kind", "show"]

_KINDS: dict[type[Any], str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "text string",
    bytes: "byte string",
    list: "array",
    dict: "map",
    tuple: "tuple",
    set: "set",
    frozenset: "set",
    datetime.datetime: "datetime",
    datetime.date: "date",
    uuid.UUID: "UUID",
    decimal.Decimal: "decimal",
    type(cbor2.undefined): "undefined",
    cbor2.CBORSimpleValue: "simple value",
}
#: Attributes that make an object a reference on the wire (tags 41003, 41004): a proxy for a
#: peer's object (``pb_export_id``), a typed stub (``pb_reference``), an exportable object
#: (``pb_dispatch``). Those classes live in the layers above this one.
_REFERENCE_MARKS = ("pb_export_id", "pb_reference", "pb_dispatch")


def kind(value: Any) -> str:
    """What ``value`` is, in the wire's vocabulary: ``null``, ``boolean``, ``integer``,
    ``float``, ``text string``, ``byte string``, ``array``, ``map``, ``tuple``, ``set``,
    ``datetime``, ``date``, ``UUID``, ``decimal``, ``reference``; a registered dataclass or
    enum member by its class's name. Reads no attribute of the value (a class's own
    ``__getattr__`` never runs)."""
    cls = type(value)
    name = _KINDS.get(cls)
    if name is not None:
        return name
    for klass in cls.__mro__:
        own = klass.__dict__
        marked = own.get("wire_kind")
        if type(marked) is str:
            return marked
        if any(mark in own for mark in _REFERENCE_MARKS):
            return "reference"
    if issubclass(cls, enum.Enum) or dataclasses.is_dataclass(cls):
        return cls.__name__
    for base, base_name in _KINDS.items():
        if issubclass(cls, base):
            return base_name
    return cls.__name__


def show(value: Any, limit: int = 40) -> str:
    """``value`` in CBOR diagnostic notation, cut to ``limit`` characters; never raises.

    A peer controls these values: a bignum of 5,000 digits has no decimal text (Python's
    int-to-str limit), and a long string or a deep array would flood the log, so the text is
    built within the limit. An enum member shows as the schema names it (``Color.RED``);
    what has no diagnostic form (a record, a reference) as its kind in angle brackets:
    ``<Point>``, ``<reference>``.
    """
    out = _Diagnostic(limit + 1)
    try:
        out.value(value)
    except Exception:
        return f"<{kind(value)}>"
    text = "".join(out.parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Diagnostic:
    """Diagnostic notation written within a budget of characters."""

    __slots__ = ("parts", "room")

    def __init__(self, room: int) -> None:
        self.parts: list[str] = []
        self.room = room

    def add(self, part: str) -> None:
        self.parts.append(part)
        self.room -= len(part)

    def value(self, value: Any) -> None:
        if self.room <= 0:
            return
        cls = type(value)
        if value is None or cls is bool:
            self.add("null" if value is None else "true" if value else "false")
        elif cls is int:
            bits = value.bit_length()
            self.add(str(value) if bits <= 64 else f"<integer of {bits} bits>")
        elif cls is float:
            self.add(_float(value))
        elif cls is str:
            self.add(json.dumps(value[: self.room], ensure_ascii=False))
        elif cls is bytes:
            self.add(f"h'{value[: self.room // 2 + 1].hex()}'")
        elif cls is list or cls is tuple:
            self.array(value)
        elif cls is dict:
            self.map(value)
        elif cls is cbor2.CBORSimpleValue:
            self.add(f"simple({value.value})")
        elif value is cbor2.undefined:
            self.add("undefined")
        elif isinstance(value, enum.Enum):
            self.add(f"{cls.__name__}.{str(value._name_)[: self.room]}")
        else:
            self.add(f"<{kind(value)}>")

    def array(self, value: list[Any] | tuple[Any, ...]) -> None:
        self.add("[")
        for i, item in enumerate(value):
            if self.room <= 0:
                return
            self.add(", " if i else "")
            self.value(item)
        self.add("]")

    def map(self, value: dict[Any, Any]) -> None:
        self.add("{")
        for i, (key, item) in enumerate(value.items()):
            if self.room <= 0:
                return
            self.add(", " if i else "")
            self.value(key)
            self.add(": ")
            self.value(item)
        self.add("}")


def _float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)
