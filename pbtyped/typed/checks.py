"""Type annotations turned into checker closures, built once and run on every call.

A checker is ``check(value, path) -> value``: it returns the value (converted where the wire
form differs from the declared one) or raises ValidationError naming the path, in the style
``$.p.x: expected int, got str``. Inbound checkers also turn references into typed stubs;
outbound checkers (for results a server sends) only validate.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._exceptions import ValidationError
from ..protocol.objects import Referenceable
from ..runtime.reference import RemoteReference, Stub

__all__ = ["Checker", "MaxLen", "checker_for", "describe"]

Checker = Callable[[Any, str], Any]


@dataclass(frozen=True, slots=True)
class MaxLen:
    """A length limit for ``Annotated[str | bytes | list | dict | set | tuple, MaxLen(n)]``.

    Checked on receipt, before the method runs (like Foolscap's constraints).
    """

    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("MaxLen needs a length >= 0")


def _fail(path: str, expected: str, value: Any) -> ValidationError:
    return ValidationError(f"{path}: expected {expected}, got {type(value).__name__}")


def describe(annotation: Any) -> str:
    """A short human name for an annotation, used in error messages."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return describe(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(describe(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " | ".join(repr(v) for v in typing.get_args(annotation))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(describe(a) for a in typing.get_args(annotation))}]"
    if isinstance(annotation, type) and issubclass(annotation, Stub):
        return str(getattr(annotation, "pb_interface", annotation.__name__)).rpartition(".")[2]
    if isinstance(annotation, type):
        return annotation.__name__
    return repr(annotation)


def checker_for(annotation: Any, *, outbound: bool = False) -> Checker:
    """The checker for ``annotation``; ``outbound`` leaves references as they are."""
    return _Builder(outbound).build(annotation)


def _exact(cls: type[Any], name: str) -> Checker:
    def check(value: Any, path: str) -> Any:
        if type(value) is cls:
            return value
        raise _fail(path, name, value)

    return check


def _instance(cls: type[Any], name: str) -> Checker:
    def check(value: Any, path: str) -> Any:
        if isinstance(value, cls):
            return value
        raise _fail(path, name, value)

    return check


def _check_none(value: Any, path: str) -> Any:
    if value is None:
        return None
    raise _fail(path, "None", value)


def _check_int(value: Any, path: str) -> Any:
    if type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool | enum.Enum):
        return int(value)
    raise _fail(path, "int", value)


def _check_float(value: Any, path: str) -> Any:
    # An int is a valid float (as for the type checker); CBOR may send 2.0 as 2.
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _fail(path, "float", value)


def _check_datetime(value: Any, path: str) -> Any:
    if not isinstance(value, datetime.datetime):
        raise _fail(path, "datetime", value)
    if value.tzinfo is None:
        raise ValidationError(f"{path}: expected an aware datetime, got a naive one")
    return value


def _check_date(value: Any, path: str) -> Any:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    raise _fail(path, "date", value)


_SIMPLE: dict[Any, Checker] = {
    None: _check_none,
    type(None): _check_none,
    bool: _exact(bool, "bool"),
    int: _check_int,
    float: _check_float,
    str: _exact(str, "str"),
    bytes: _instance(bytes, "bytes"),
    datetime.datetime: _check_datetime,
    datetime.date: _check_date,
    uuid.UUID: _instance(uuid.UUID, "UUID"),
    decimal.Decimal: _instance(decimal.Decimal, "Decimal"),
}


class _Builder:
    """Builds checkers; dataclass checkers are cached so recursive types terminate."""

    def __init__(self, outbound: bool) -> None:
        self.outbound = outbound
        self.dataclasses: dict[type[Any], Checker] = {}

    def build(self, ann: Any) -> Checker:
        simple = _SIMPLE.get(ann) if _hashable(ann) else None
        if simple is not None:
            return simple
        origin = typing.get_origin(ann)
        args = typing.get_args(ann)
        if origin is typing.Annotated:
            return self._annotated(args[0], args[1:])
        if origin is typing.Union or origin is types.UnionType:
            return self._union(ann, [self.build(a) for a in args])
        if origin is typing.Literal:
            return _literal(ann, args)
        if origin is list:
            return _list(self.build(args[0]), describe(ann))
        if origin is set or origin is frozenset:
            return _set(self.build(args[0]), describe(ann))
        if origin is dict:
            return _dict(self.build(args[0]), self.build(args[1]), describe(ann))
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return _var_tuple(self.build(args[0]), describe(ann))
            return _tuple([self.build(a) for a in args], describe(ann))
        if isinstance(ann, type):
            if issubclass(ann, enum.Enum):
                return _instance(ann, ann.__name__)
            if issubclass(ann, Stub):
                return _interface(ann, self.outbound)
            if dataclasses.is_dataclass(ann):
                return self._dataclass(ann)
        raise TypeError(f"pbtyped cannot check values of type {ann!r}")

    def _annotated(self, inner: Any, extras: tuple[Any, ...]) -> Checker:
        check = self.build(inner)
        limits = [e.n for e in extras if isinstance(e, MaxLen)]
        if not limits:
            return check
        limit = min(limits)

        def check_len(value: Any, path: str) -> Any:
            value = check(value, path)
            if len(value) > limit:
                raise ValidationError(f"{path}: longer than {limit} (length {len(value)})")
            return value

        return check_len

    def _union(self, ann: Any, options: list[Checker]) -> Checker:
        expected = describe(ann)

        def check(value: Any, path: str) -> Any:
            for option in options:
                try:
                    return option(value, path)
                except ValidationError:
                    continue
            raise _fail(path, expected, value)

        return check

    def _dataclass(self, cls: type[Any]) -> Checker:
        cached = self.dataclasses.get(cls)
        if cached is not None:
            return cached
        fields: list[tuple[str, Checker]] = []

        def check(value: Any, path: str) -> Any:
            if type(value) is not cls:
                raise _fail(path, cls.__name__, value)
            changes = {}
            for name, field_check in fields:
                old = getattr(value, name)
                new = field_check(old, f"{path}.{name}")
                if new is not old:
                    changes[name] = new
            return dataclasses.replace(value, **changes) if changes else value

        # Cached before the fields are built: a field of the same type refers back to it.
        self.dataclasses[cls] = check
        hints = typing.get_type_hints(cls, include_extras=True)
        for field in dataclasses.fields(cls):
            fields.append((field.name, self.build(hints[field.name])))
        return check


def _hashable(ann: Any) -> bool:
    try:
        hash(ann)
    except TypeError:
        return False
    return True


def _literal(ann: Any, values: tuple[Any, ...]) -> Checker:
    # Literal[1] must not accept True (1 == True), so compare types as well as values.
    allowed = frozenset((type(v), v) for v in values)
    expected = describe(ann)

    def check(value: Any, path: str) -> Any:
        if _hashable(value) and (type(value), value) in allowed:
            return value
        if isinstance(value, str | bytes | int):
            raise ValidationError(f"{path}: expected {expected}, got {value!r:.40}")
        raise _fail(path, expected, value)

    return check


def _list(item: Checker, expected: str) -> Checker:
    def check(value: Any, path: str) -> Any:
        if type(value) is not list:
            raise _fail(path, expected, value)
        return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

    return check


def _set(item: Checker, expected: str) -> Checker:
    def check(value: Any, path: str) -> Any:
        if not isinstance(value, set | frozenset):
            raise _fail(path, expected, value)
        return {item(v, f"{path}[{v!r:.40}]") for v in value}

    return check


def _dict(key: Checker, val: Checker, expected: str) -> Checker:
    def check(value: Any, path: str) -> Any:
        if type(value) is not dict:
            raise _fail(path, expected, value)
        out = {}
        for k, v in value.items():
            where = f"{path}[{k!r:.40}]"
            out[key(k, where)] = val(v, where)
        return out

    return check


def _var_tuple(item: Checker, expected: str) -> Checker:
    def check(value: Any, path: str) -> Any:
        if not isinstance(value, tuple | list):
            raise _fail(path, expected, value)
        return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))

    return check


def _tuple(items: list[Checker], expected: str) -> Checker:
    def check(value: Any, path: str) -> Any:
        if not isinstance(value, tuple | list):
            raise _fail(path, expected, value)
        if len(value) != len(items):
            raise ValidationError(f"{path}: expected {len(items)} items, got {len(value)}")
        return tuple(
            c(v, f"{path}[{i}]") for i, (c, v) in enumerate(zip(items, value, strict=True))
        )

    return check


def _interface(stub: type[Stub], outbound: bool) -> Checker:
    interface = str(getattr(stub, "pb_interface", stub.__name__))
    expected = interface.rpartition(".")[2]

    def check(value: Any, path: str) -> Any:
        if isinstance(value, stub):
            return value
        if isinstance(value, RemoteReference):
            # The peer's word is all we have about what its object implements.
            return value if outbound else stub(value)
        if isinstance(value, Referenceable) and _implements(type(value), interface):
            # Our own object, sent out earlier and now back home: keep it usable as a stub.
            return value if outbound else stub(typing.cast(Any, value))
        raise _fail(path, expected, value)

    return check


def _implements(cls: type[Any], interface: str) -> bool:
    # A skeleton of an interface extending this one implements it too: look along the MRO.
    return any(c.__dict__.get("pb_interface") == interface for c in cls.__mro__)
