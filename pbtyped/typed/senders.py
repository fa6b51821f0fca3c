"""Client arguments put in the wire form the peer's checks expect, before sending.

Generated stubs accept any Sequence where a list holding references is declared, and any
Mapping for such a dict: ``list[XClient | XServer]`` is invariant, so it would refuse a
``list[XServer]``. The peer checks for lists and dicts, so such arguments are sent as lists and
dicts. Values of another shape are left as they are, for the peer's checks to refuse.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..runtime.reference import Stub

__all__ = ["Sender", "sender_for"]

Sender = Callable[[Any], Any]


def sender_for(annotation: Any) -> Sender | None:
    """How a client puts an argument declared ``annotation`` in wire form, or None if as is."""
    if not _holds_stub(annotation):
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return sender_for(args[0])
    if origin is typing.Union or origin is types.UnionType:
        return _send_union([s for s in map(sender_for, args) if s is not None])
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return _send_items(sender_for(args[0]), list if origin is list else tuple)
    if origin is tuple:
        return _send_tuple([sender_for(a) for a in args])
    if origin is dict:
        return _send_dict(sender_for(args[1]))
    return None  # a reference itself: sent as it is


def _holds_stub(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, Stub):
        return True
    return any(_holds_stub(a) for a in typing.get_args(annotation))


def _sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _send_items(item: Sender | None, make: type[list[Any]] | type[tuple[Any, ...]]) -> Sender:
    def send(value: Any) -> Any:
        if not _sequence(value):
            return value
        return make(value if item is None else map(item, value))

    return send


def _send_tuple(items: list[Sender | None]) -> Sender:
    def send(value: Any) -> Any:
        if not _sequence(value) or len(value) != len(items):
            return value
        return tuple(v if s is None else s(v) for s, v in zip(items, value, strict=True))

    return send


def _send_dict(item: Sender | None) -> Sender:
    def send(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {k: v if item is None else item(v) for k, v in value.items()}

    return send


def _send_union(options: list[Sender]) -> Sender | None:
    if not options:
        return None

    def send(value: Any) -> Any:
        for option in options:
            sent = option(value)
            if sent is not value:
                return sent
        return value

    return send
