"""The encoder table: how each Python type goes on the wire, decided once per type.

cbor2 looks every value's exact type up in this mapping. Exact native types map straight to
cbor2's own (native-code) encoder methods, so plain data never calls into Python; the few types
that need us map to our handlers. A type seen for the first time reaches ``__missing__``, which
decides once and caches: subclasses of containers travel as their base, subclasses of scalars
(an unregistered IntEnum, a ``class UserId(int)``) and every type cbor2 knows but we do not
admit are refused, and anything else falls through to the codec's ``default`` hook (references,
or a clear refusal).

Each connection's table starts empty and fills with the types it actually sends; what does not
depend on the connection (native encoders, one handler per registered type, column getters) is
built once per registry version and shared, so an idle connection costs a few hundred bytes
here, not a copy of everything.
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
import struct
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cbor2

from .._exceptions import InsecureTypeError
from . import dates, tags
from .columns import Columns, column_getters
from .registry import unregistered
from .show import show

if TYPE_CHECKING:
    from .codec import Codec
    from .registry import Registry

__all__ = ["EncoderTable", "cbor_head"]

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


_HEAD = (struct.Struct(">BB"), struct.Struct(">BH"), struct.Struct(">BI"), struct.Struct(">BQ"))
#: The heads of one byte: every major type with an argument below 24.
_SHORT_HEADS = [bytes((b,)) for b in range(256)]


def cbor_head(major: int, n: int) -> bytes:
    """The head of a CBOR item of ``major`` type (0: unsigned integer ``n``; 3: text of
    ``n`` bytes; 4: array of ``n`` items), in its shortest form, as cbor2 writes it:
    for the parts of a message written by hand (``messages.call_head``). ``n`` is below
    2**64."""
    major <<= 5
    if n < 24:
        return _SHORT_HEADS[major | n]
    size = 0 if n < 0x100 else 1 if n < 0x1_0000 else 2 if n < 0x1_0000_0000 else 3
    return _HEAD[size].pack(major | 24 + size, n)


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


def _encode_refused(encoder: Any, value: Any) -> None:
    kind = type(value).__qualname__
    raise InsecureTypeError(f"values of type {kind} are not sent by pbtyped")


def _encode_unregistered(encoder: Any, value: Any) -> None:
    raise InsecureTypeError(unregistered(type(value)))


def _check_keys(items: Any, what: str) -> None:
    for key in items:
        if type(key) is not str and type(key) is not bytes:
            raise InsecureTypeError(
                f"{what} {show(key)} refused: {what.split()[-1]}s must be str or bytes "
                "(Limits.strict_map_keys)"
            )


def _encode_strict_map(encoder: Any, value: dict[Any, Any]) -> None:
    _check_keys(value, "map key")
    encoder.encode_map(value)


def _encode_set(encoder: Any, value: set[Any]) -> None:
    encoder.encode_semantic(258, list(value))


def _encode_strict_set(encoder: Any, value: set[Any]) -> None:
    items = list(value)
    _check_keys(items, "set member")
    encoder.encode_semantic(258, items)


def _encode_tuple(encoder: Any, value: tuple[Any, ...]) -> None:
    encoder.encode_semantic(tags.TUPLE, list(value))


def _encode_datetime(encoder: Any, value: datetime.datetime) -> None:
    dates.check_offset(value)
    encoder.encode_datetime(value)


def _encode_decimal(encoder: Any, value: decimal.Decimal) -> None:
    if not value.is_finite() or (value.is_zero() and value.is_signed()):
        # Tag 4 cannot carry these: send the exact text instead.
        encoder.encode_semantic(tags.DECIMAL_TEXT, str(value))
        return
    sign, digits, exponent = value.as_tuple()
    mantissa = int("".join(map(str, digits)) or "0")
    encoder.encode_semantic(4, [exponent, -mantissa if sign else mantissa])


def _enum_encoder(name: str) -> Handler:
    def encode_enum(encoder: Any, value: enum.Enum) -> None:
        encoder.encode_semantic(tags.ENUM, [name, value.value])

    return encode_enum


#: Exact types every connection encodes the same way.
_COMMON: dict[type[Any], Handler] = {
    str: _E.encode_string,
    int: _E.encode_int,
    float: _E.encode_float,
    bool: _E.encode_bool,
    type(None): _encode_none,
    list: _E.encode_array,
    tuple: _encode_tuple,
    datetime.datetime: _encode_datetime,
    datetime.date: _E.encode_date,
    uuid.UUID: _E.encode_uuid,
    decimal.Decimal: _encode_decimal,
    **dict.fromkeys(REFUSED_TYPES, _encode_refused),
}


@dataclass(frozen=True, slots=True)
class _RegistryHandlers:
    """What one registry version needs on the wire, shared by all the codecs using it."""

    version: int
    #: Registered dataclass or enum -> its handler.
    handlers: dict[type[Any], Handler]
    #: Registered dataclass -> (wire name, one getter per field), for lists sent in columns.
    columns: dict[type[Any], tuple[str, tuple[Callable[[Any], Any], ...]]]


# A memo, not a registry: registries are explicit objects; this only avoids rebuilding the same
# handlers for each connection, and forgets a registry that goes away.
_BY_REGISTRY: weakref.WeakKeyDictionary[Registry, _RegistryHandlers] = weakref.WeakKeyDictionary()


def _registry_handlers(registry: Registry) -> _RegistryHandlers:
    found = _BY_REGISTRY.get(registry)
    if found is not None and found.version == registry.version:
        return found
    handlers: dict[type[Any], Handler] = {}
    columns: dict[type[Any], tuple[str, tuple[Callable[[Any], Any], ...]]] = {}
    for cls in registry.types():
        name = registry.type_name(cls) or ""
        if issubclass(cls, enum.Enum):
            handlers[cls] = _enum_encoder(name)
            continue
        fields = registry.fields_of(cls)
        handlers[cls] = _copy_encoder(name, fields)
        getters = column_getters(fields)
        if getters is not None:
            columns[cls] = (name, getters)
    found = _RegistryHandlers(registry.version, handlers, columns)
    _BY_REGISTRY[registry] = found
    return found


class EncoderTable(dict[type[Any], Handler]):
    """The ``encoders`` mapping handed to cbor2 for one codec (filled as types are sent)."""

    __slots__ = ("_codec", "_registered")  # one per connection: no instance dict

    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self._codec = codec
        self._registered = _registry_handlers(codec.registry)

    def __missing__(self, cls: type[Any]) -> Handler:
        handler = _COMMON.get(cls) or self._registered.handlers.get(cls) or self._decide(cls)
        if handler is None:
            raise KeyError(cls)  # not ours to decide: cbor2 calls the codec's default hook
        self[cls] = handler
        return handler

    def _decide(self, cls: type[Any]) -> Handler | None:
        strict = self._codec.limits.strict_map_keys
        if cls is dict:
            return _encode_strict_map if strict else _E.encode_map
        if cls is set:
            return _encode_strict_set if strict else _encode_set
        if cls is bytes:
            return self._encode_bytes
        if cls is Columns:
            return self._encode_columns
        if issubclass(cls, REFUSED_TYPES):
            return _encode_refused
        if issubclass(cls, enum.Enum):
            return _encode_unregistered
        for base in (dict, list, tuple, set, datetime.datetime, datetime.date):
            if issubclass(cls, base):
                return self[base]
        if issubclass(cls, _SCALARS):
            return _encode_unregistered
        return None

    # -- the handlers that depend on the connection -----------------------------------------

    def _encode_columns(self, encoder: Any, value: Columns) -> None:
        if value and self._codec.peer_takes_columns:
            kinds = set(map(type, value))
            if len(kinds) == 1:
                spec = self._registered.columns.get(kinds.pop())
                if spec is not None:
                    name, getters = spec
                    columns = [list(map(get, value)) for get in getters]
                    encoder.encode_semantic(tags.COLUMNS, [name, columns])
                    return
        encoder.encode_array(value)  # an ordinary list: each item goes as itself

    def _encode_bytes(self, encoder: Any, value: bytes) -> None:
        codec = self._codec
        if len(value) < codec.limits.attachment_threshold:
            encoder.encode_bytes(value)
            return
        encoder.encode_semantic(tags.ATTACHMENT, [codec.attachment_size, len(value)])
        codec.add_attachment(value)
