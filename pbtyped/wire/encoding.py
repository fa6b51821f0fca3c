"""The encoder table: how each Python type goes on the wire, decided once per type.

cbor2 looks every value's exact type up in this mapping. Exact native types map straight to
cbor2's own (native-code) encoder methods, so plain data never calls into Python; the few types
that need us map to our handlers. A type seen for the first time reaches ``__missing__``, which
decides once and caches: subclasses of containers travel as their base, subclasses of scalars
(an unregistered IntEnum, a ``class UserId(int)``) and every type cbor2 knows but we do not
admit are refused, and anything else falls through to the codec's ``default`` hook (references,
or a clear refusal).
"""

from __future__ import annotations

import datetime
import decimal
import email.message
import enum
import fractions
import ipaddress
import operator
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cbor2

from .._exceptions import InsecureTypeError
from . import tags
from .columns import Columns, column_getters
from .show import show

if TYPE_CHECKING:
    from .codec import Codec

__all__ = ["EncoderTable"]

Handler = Callable[[Any, Any], None]
_E = cbor2.CBOREncoder

#: Types cbor2 would encode by itself that pbtyped never sends (the peer would refuse them).
REFUSED_TYPES: tuple[type[Any], ...] = (
    re.Pattern,
    email.message.Message,
    fractions.Fraction,
    complex,
    frozenset,
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    bytearray,
    memoryview,
    cbor2.CBORTag,
    cbor2.CBORSimpleValue,
    type(cbor2.undefined),
    cbor2.frozendict,
)

_SCALARS = (bool, int, float, str, bytes)


def _encode_none(encoder: Any, value: None) -> None:
    encoder.encode_none()


def _copy_encoder(name: str, fields: tuple[str, ...]) -> Handler:
    """The handler of one registered dataclass: ``[wire name, [values in field order]]``.

    Built once per class: no registry lookups per value, and the field values are read by
    ``operator.attrgetter`` in native code.
    """
    copy = tags.COPY
    if not fields:

        def encode_empty(encoder: Any, value: Any) -> None:
            encoder.encode_semantic(copy, [name, []])

        return encode_empty
    if len(fields) == 1:
        get_one = operator.attrgetter(fields[0])

        def encode_one(encoder: Any, value: Any) -> None:
            encoder.encode_semantic(copy, [name, [get_one(value)]])

        return encode_one
    get_all = operator.attrgetter(*fields)

    def encode_copy(encoder: Any, value: Any) -> None:
        encoder.encode_semantic(copy, [name, list(get_all(value))])

    return encode_copy


class EncoderTable(dict[type[Any], Handler]):
    """The ``encoders`` mapping handed to cbor2 for one codec."""

    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self._codec = codec
        strict = codec.limits.strict_map_keys
        self.update(
            {
                str: _E.encode_string,
                int: _E.encode_int,
                float: _E.encode_float,
                bool: _E.encode_bool,
                type(None): _encode_none,
                list: _E.encode_array,
                dict: self._encode_strict_map if strict else _E.encode_map,
                bytes: self._encode_bytes,
                tuple: self._encode_tuple,
                set: self._encode_set,
                datetime.datetime: _E.encode_datetime,
                datetime.date: _E.encode_date,
                uuid.UUID: _E.encode_uuid,
                decimal.Decimal: self._encode_decimal,
            }
        )
        for cls in REFUSED_TYPES:
            self[cls] = self._encode_refused
        self[Columns] = self._encode_columns
        registry = codec.registry
        # Registered dataclass -> (wire name, one getter per field), for lists sent in columns.
        self._columns: dict[type[Any], tuple[str, tuple[Callable[[Any], Any], ...]]] = {}
        for cls in registry.types():
            if issubclass(cls, enum.Enum):
                self[cls] = self._encode_enum
                continue
            name, fields = registry.type_name(cls) or "", registry.fields_of(cls)
            self[cls] = _copy_encoder(name, fields)
            getters = column_getters(fields)
            if getters is not None:
                self._columns[cls] = (name, getters)

    def __missing__(self, cls: type[Any]) -> Handler:
        handler = self._decide(cls)
        if handler is None:
            raise KeyError(cls)  # not ours to decide: cbor2 calls the codec's default hook
        self[cls] = handler
        return handler

    def _decide(self, cls: type[Any]) -> Handler | None:
        if issubclass(cls, REFUSED_TYPES):
            return self._encode_refused
        if issubclass(cls, enum.Enum):
            return self._encode_unregistered
        for base in (dict, list, tuple, set, datetime.datetime, datetime.date):
            if issubclass(cls, base):
                return self[base]
        if issubclass(cls, _SCALARS):
            return self._encode_unregistered
        return None

    # -- handlers ---------------------------------------------------------------------------

    def _encode_refused(self, encoder: Any, value: Any) -> None:
        kind = type(value).__qualname__
        raise InsecureTypeError(f"values of type {kind} are not sent by pbtyped")

    def _encode_unregistered(self, encoder: Any, value: Any) -> None:
        cls = type(value)
        raise InsecureTypeError(
            f"{cls.__module__}.{cls.__qualname__} is not registered: only registered "
            "dataclasses and enums travel by copy (registry.register_type on both peers)"
        )

    def _encode_strict_map(self, encoder: Any, value: dict[Any, Any]) -> None:
        for key in value:
            if type(key) is not str and type(key) is not bytes:
                raise InsecureTypeError(
                    f"map key {show(key)} refused: keys must be str or bytes "
                    "(Limits.strict_map_keys)"
                )
        encoder.encode_map(value)

    def _encode_set(self, encoder: Any, value: set[Any]) -> None:
        items = list(value)
        if self._codec.limits.strict_map_keys:
            for item in items:
                if type(item) is not str and type(item) is not bytes:
                    raise InsecureTypeError(
                        f"set member {show(item)} refused: members must be str or bytes "
                        "(Limits.strict_map_keys)"
                    )
        encoder.encode_semantic(258, items)

    def _encode_columns(self, encoder: Any, value: Columns) -> None:
        if value and self._codec.peer_takes_columns:
            kinds = set(map(type, value))
            if len(kinds) == 1:
                spec = self._columns.get(kinds.pop())
                if spec is not None:
                    name, getters = spec
                    columns = [list(map(get, value)) for get in getters]
                    encoder.encode_semantic(tags.COLUMNS, [name, columns])
                    return
        encoder.encode_array(value)  # an ordinary list: each item goes as itself

    def _encode_tuple(self, encoder: Any, value: tuple[Any, ...]) -> None:
        encoder.encode_semantic(tags.TUPLE, list(value))

    def _encode_decimal(self, encoder: Any, value: decimal.Decimal) -> None:
        if not value.is_finite() or (value.is_zero() and value.is_signed()):
            # Tag 4 cannot carry these: send the exact text instead.
            encoder.encode_semantic(tags.DECIMAL_TEXT, str(value))
            return
        sign, digits, exponent = value.as_tuple()
        mantissa = int("".join(map(str, digits)) or "0")
        encoder.encode_semantic(4, [exponent, -mantissa if sign else mantissa])

    def _encode_bytes(self, encoder: Any, value: bytes) -> None:
        codec = self._codec
        if len(value) < codec.limits.attachment_threshold:
            encoder.encode_bytes(value)
            return
        encoder.encode_semantic(tags.ATTACHMENT, [codec.attachment_size, len(value)])
        codec.add_attachment(value)

    def _encode_enum(self, encoder: Any, value: enum.Enum) -> None:
        name = self._codec.registry.type_name(type(value))
        encoder.encode_semantic(tags.ENUM, [name, value.value])
