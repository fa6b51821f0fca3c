"""A supported annotation as a tree (``TypeRef``), and how it is written in generated code."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Kind", "Mode", "TypeRef"]


class Kind(enum.Enum):
    """What a TypeRef denotes."""

    NONE = "None"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    BYTES = "bytes"
    DATETIME = "datetime.datetime"
    DATE = "datetime.date"
    UUID = "uuid.UUID"
    DECIMAL = "decimal.Decimal"
    LIST = "list"
    DICT = "dict"
    TUPLE = "tuple"
    VARTUPLE = "tuple..."
    SET = "set"
    UNION = "union"
    LITERAL = "Literal"
    COPY = "copy"
    ENUM = "enum"
    INTERFACE = "interface"
    STREAM = "AsyncIterator"  # a whole parameter or result: items under credit


# The containers written ``class[items]``, by the class written for them.
_CONTAINERS = {
    Kind.LIST: "list",
    Kind.SET: "set",
    Kind.DICT: "dict",
    Kind.TUPLE: "tuple",
    Kind.VARTUPLE: "tuple",
}


class Mode(enum.Enum):
    """Where a type is written, which decides how interfaces appear."""

    PLAIN = "plain"  # dataclass fields: no interfaces there
    ARG = "arg"  # client parameters: a local implementation or a stub
    STUB = "stub"  # client results, server parameters, runtime checks: the stub
    RESULT = "result"  # server results: a local implementation or a stub
    # The blocking stub's parameters and results: at the top level of the type (alone or in a
    # union), an interface also takes, or is, the blocking stub; inside containers, ARG and STUB.
    BLOCKING_ARG = "blocking arg"
    BLOCKING = "blocking"


# Where a blocking mode's containers put their items: the async stub's modes.
_INSIDE = {Mode.BLOCKING_ARG: Mode.ARG, Mode.BLOCKING: Mode.STUB}


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeRef:
    """A supported annotation, as a tree."""

    kind: Kind
    args: tuple[TypeRef, ...] = ()
    name: str = ""  # COPY, ENUM, INTERFACE: the class name
    literals: tuple[str, ...] = ()  # LITERAL: Python source of each value
    max_len: int | None = None

    def render(self, mode: Mode) -> str:
        """The type as Python source in the generated module."""
        text = self._render(mode)
        if self.max_len is not None:
            return f"Annotated[{text}, pb.MaxLen({self.max_len})]"
        return text

    def _render(self, mode: Mode) -> str:
        k = self.kind
        if k in _CONTAINERS:
            inside = _INSIDE.get(mode, mode)
            return f"{self._head(inside)}[{self._items(inside)}]"
        if k is Kind.UNION:
            return " | ".join(a.render(mode) for a in self.args)
        if k is Kind.LITERAL:
            return f"Literal[{', '.join(self.literals)}]"
        if k is Kind.STREAM:
            # The blocking stub iterates a result stream from its own thread.
            head = "Iterator" if mode is Mode.BLOCKING else "AsyncIterator"
            return f"{head}[{self.args[0].render(_INSIDE.get(mode, mode))}]"
        if k is Kind.COPY or k is Kind.ENUM:
            return self.name
        if k is Kind.INTERFACE:
            stub, local, blocking = (f"{self.name}{s}" for s in ("Client", "Server", "SyncClient"))
            return {
                Mode.ARG: f"{stub} | {local}",
                Mode.RESULT: f"{local} | {stub}",
                Mode.BLOCKING_ARG: f"{stub} | {local} | {blocking}",
                Mode.BLOCKING: blocking,
            }.get(mode, stub)
        return str(k.value)

    def _head(self, mode: Mode) -> str:
        """A container's class: ``Sequence`` or ``Mapping`` for a covariant client parameter."""
        if mode is Mode.ARG and self.covariant:
            return "Sequence" if self.kind is Kind.LIST else "Mapping"
        return _CONTAINERS[self.kind]

    def _items(self, mode: Mode) -> str:
        """What a container's brackets hold."""
        if self.kind is Kind.VARTUPLE:
            return f"{self.args[0].render(mode)}, ..."
        return ", ".join(a.render(mode) for a in self.args) or "()"

    @property
    def covariant(self) -> bool:
        """Whether a client parameter of this list or dict type is written ``Sequence`` or
        ``Mapping``: when its items hold interfaces, written ``XClient | XServer`` there, so an
        invariant ``list`` would refuse a ``list[XServer]``. The runtime sends such arguments as
        lists and dicts (``pbtyped.typed.checks.sender_for``).
        """
        if self.kind is Kind.LIST:
            return self.args[0].holds_interface
        return self.kind is Kind.DICT and self.args[1].holds_interface

    @property
    def holds_interface(self) -> bool:
        """Whether an interface appears anywhere in this type."""
        return any(n.kind is Kind.INTERFACE for n in self.walk())

    @property
    def top_interfaces(self) -> tuple[TypeRef, ...]:
        """The interfaces at the top level of this type: itself, or members of its union."""
        return tuple(a for a in self.options() if a.kind is Kind.INTERFACE)

    def options(self) -> tuple[TypeRef, ...]:
        """The members of a union (without its limit), or this type alone."""
        return self.args if self.kind is Kind.UNION and self.max_len is None else (self,)

    def walk(self) -> tuple[TypeRef, ...]:
        """This node and every node below it, depth first."""
        nodes: list[TypeRef] = [self]
        for arg in self.args:
            nodes.extend(arg.walk())
        return tuple(nodes)
