"""Type annotations turned into checkers, built once and run on every call.

A checker is ``check(value, path) -> value``: it returns the value (converted where the wire
form differs from the declared one) or raises ValidationError naming the path, in the style
``$.p.x: expected int, got text string``. Inbound checkers also turn references into typed stubs;
outbound checkers (for results a server sends) only validate.

A valid value that needs no converting comes back as the very same object, however deeply
nested; containers and dataclasses are rebuilt only along the parts that changed. Paths cost
nothing until a check fails: a fast walk decides, and only a refused value is walked again to
say where (see ``checknodes``).
"""

from __future__ import annotations

import collections.abc
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
from ..runtime.reference import Stub
from ..wire.show import show
from . import checknodes as nodes
from .checknodes import Invalid, Node

__all__ = ["Checker", "MaxLen", "checker_for", "describe"]

Checker = Callable[[Any, str], Any]


@dataclass(frozen=True, slots=True)
class MaxLen:
    """A length limit for ``Annotated[str | bytes | list | dict | set | tuple, MaxLen(n)]``.

    Checked on receipt, before the method runs (like Foolscap's constraints).
    """

    #: The most items (characters of a str, bytes of a bytes) a value may hold.
    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("MaxLen needs a length >= 0")


def describe(annotation: Any) -> str:
    """A short human name for an annotation, used in error messages: the schema's own names
    (``int``, ``list[Point]``), with ``null`` for None and literal values in CBOR diagnostic
    notation (``"fast" | "slow"``), as a peer in any language writes them."""
    if annotation is None or annotation is type(None):
        return "null"
    if annotation is Ellipsis:
        return "..."  # tuple[X, ...]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return describe(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(describe(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " | ".join(show(v) for v in typing.get_args(annotation))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(describe(a) for a in typing.get_args(annotation))}]"
    if isinstance(annotation, type) and issubclass(annotation, Stub):
        return str(getattr(annotation, "pb_interface", annotation.__name__)).rpartition(".")[2]
    if isinstance(annotation, type):
        return annotation.__name__
    return repr(annotation)


_TOO_DEEP = "{}: nested too deep to check (lower Limits.max_depth)"


def checker_for(annotation: Any, *, outbound: bool = False) -> Checker:
    """The checker for ``annotation``; ``outbound`` leaves references as they are."""
    node = _Builder(outbound).build(annotation)
    fast, explain = node.fast, node.explain
    expected = describe(annotation)

    def check(value: Any, path: str) -> Any:
        try:
            return fast(value)
        except Invalid:
            pass
        except RecursionError:
            # Nested deeper than Python's stack allows (a peer whose ``Limits.max_depth`` was
            # raised far): refused, never an error out of the checker.
            raise ValidationError(_TOO_DEEP.format(path)) from None
        # Outside the except block, so the ValidationError carries no internal context.
        try:
            nodes.explaining(explain, value, path)
        except RecursionError:
            raise ValidationError(_TOO_DEEP.format(path)) from None
        # Reached when no part explains the refusal (a dataclass's own ``__post_init__``
        # refused its converted fields).
        raise ValidationError(f"{path}: refused as {expected}")

    return check


_SIMPLE: dict[Any, Node] = {
    None: nodes.NONE,
    type(None): nodes.NONE,
    bool: nodes.BOOL,
    int: nodes.INT,
    float: nodes.FLOAT,
    str: nodes.STR,
    bytes: nodes.instance_of(bytes, "bytes"),
    datetime.datetime: nodes.datetime_node(),
    datetime.date: nodes.DATE,
    uuid.UUID: nodes.instance_of(uuid.UUID, "UUID"),
    decimal.Decimal: nodes.instance_of(decimal.Decimal, "Decimal"),
}


# What ``MaxLen`` measures: values of these exact types (what the wire makes) are measured
# before they are checked, anything else once checked.
_SIZED_BASES = (str, bytes, list, tuple, dict, set, frozenset)
_SIZED = frozenset(_SIZED_BASES)


class _Builder:
    """Builds nodes; dataclass nodes are cached so recursive types terminate."""

    def __init__(self, outbound: bool) -> None:
        self.outbound = outbound
        self.dataclasses: dict[type[Any], Node] = {}

    def build(self, ann: Any) -> Node:
        simple = _SIMPLE.get(ann) if nodes.hashable(ann) else None
        if simple is not None:
            return simple
        origin = typing.get_origin(ann)
        args = typing.get_args(ann)
        if origin is typing.Annotated:
            return self._annotated(args[0], args[1:])
        if origin is typing.Union or origin is types.UnionType:
            return nodes.union([self.build(a) for a in args], describe(ann))
        if origin is typing.Literal:
            return nodes.literal(args, describe(ann))
        if origin is not None:
            return self._generic(ann, origin, args)
        if isinstance(ann, type):
            if issubclass(ann, enum.Enum):
                return nodes.instance_of(ann, ann.__name__)
            if issubclass(ann, Stub):
                return nodes.interface(ann, self.outbound)
            if dataclasses.is_dataclass(ann):
                return self._dataclass(ann)
        raise TypeError(f"pbtyped cannot check values of type {ann!r}")

    def _generic(self, ann: Any, origin: Any, args: tuple[Any, ...]) -> Node:
        """A parametrised container or stream (``list[int]``, ``AsyncIterator[Tick]``)."""
        if origin is list:
            return nodes.list_of(self.build(args[0]), describe(ann))
        if origin is set or origin is frozenset:
            return nodes.set_of(self.build(args[0]), describe(ann), origin)
        if origin is collections.abc.AsyncIterator:
            return nodes.stream_of(
                self.build(args[0]), describe(ann), describe(args[0]), self.outbound
            )
        if origin is dict:
            return nodes.mapping(self.build(args[0]), self.build(args[1]), describe(ann))
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return nodes.var_tuple(self.build(args[0]), describe(ann))
            return nodes.tuple_of([self.build(a) for a in args], describe(ann))
        raise TypeError(f"pbtyped cannot check values of type {ann!r}")

    def _annotated(self, inner: Any, extras: tuple[Any, ...]) -> Node:
        node = self.build(inner)
        limits = [e.n for e in extras if isinstance(e, MaxLen)]
        if not limits:
            return node
        limit = min(limits)
        inner_fast = node.fast

        def fast(value: Any) -> Any:
            # The length first: a value too long is refused before its items are walked. A
            # converted value is never longer than the wire value (set[float] may merge two
            # ints into one float, nothing makes one longer).
            if type(value) in _SIZED:
                if len(value) > limit:
                    raise Invalid
                return inner_fast(value)
            value = inner_fast(value)
            if isinstance(value, _SIZED_BASES) and len(value) > limit:
                raise Invalid
            return value

        def explain(value: Any, path: str) -> None:
            if type(value) in _SIZED and len(value) > limit:
                raise ValidationError(f"{path}: longer than {limit} (length {len(value)})")
            nodes.explain_part(node, value, path)
            if type(value) not in _SIZED:
                value = inner_fast(value)
                if isinstance(value, _SIZED_BASES) and len(value) > limit:
                    raise ValidationError(f"{path}: longer than {limit} (length {len(value)})")

        return Node(fast, explain, base=node.base, deep=node.deep, recursive=node.recursive)

    def _dataclass(self, cls: type[Any]) -> Node:
        cached = self.dataclasses.get(cls)
        if cached is not None:
            return cached
        # A field of the same type (directly or deeper) refers back to the class while its
        # fields are being built: give it a node that forwards to the one made from them.
        made: list[Node] = []

        def forward(value: Any) -> Any:
            return made[0].fast(value)

        def forward_explain(value: Any, path: str) -> None:
            made[0].explain(value, path)

        # Met while building its own fields: the class is recursive, and so is every node
        # built over this one.
        self.dataclasses[cls] = Node(forward, forward_explain, base=cls, recursive=True)
        hints = typing.get_type_hints(cls, include_extras=True)
        fields = [(f.name, self.build(hints[f.name])) for f in dataclasses.fields(cls)]
        made.append(nodes.dataclass_of(cls, fields))
        self.dataclasses[cls] = made[0]
        return made[0]
