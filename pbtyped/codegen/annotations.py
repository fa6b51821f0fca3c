"""Annotations and default values in a schema's syntax tree, resolved without importing it."""

from __future__ import annotations

import ast
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import SchemaError
from .model import Kind, TypeRef

__all__ = [
    "MAX_NESTING",
    "Scope",
    "deepest",
    "literal_source",
    "resolve_default",
    "resolve_type",
    "source_of",
]

#: How deep a schema's syntax tree, and a type with its quoted parts, may nest. Real schemas
#: stay under 20; the bound keeps every recursive step of the generator (and ``ast`` itself)
#: far from Python's recursion limit, whatever a file holds.
MAX_NESTING = 100

_BUILTINS = {"bool", "int", "float", "str", "bytes", "list", "dict", "tuple", "set", "frozenset"}
_NAMED: dict[str, Kind] = {
    "builtins.bool": Kind.BOOL,
    "builtins.int": Kind.INT,
    "builtins.float": Kind.FLOAT,
    "builtins.str": Kind.STR,
    "builtins.bytes": Kind.BYTES,
    "datetime.datetime": Kind.DATETIME,
    "datetime.date": Kind.DATE,
    "uuid.UUID": Kind.UUID,
    "decimal.Decimal": Kind.DECIMAL,
}
_CLASS_KINDS = {"copy": Kind.COPY, "enum": Kind.ENUM, "interface": Kind.INTERFACE}
_SIZED = {Kind.STR, Kind.BYTES, Kind.LIST, Kind.DICT, Kind.SET, Kind.VARTUPLE}
_TYPING = ("typing.", "typing_extensions.")


@dataclass
class Scope:
    """What names mean in one schema module: its imports and the classes it can see.

    ``kinds`` maps a class visible here (``"local:Name"`` or ``"sibling:mod.Name"``) to
    ``copy``, ``enum``, ``error`` or ``interface``; ``used`` collects the sibling names used.
    """

    path: str
    aliases: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def qualify(self, node: ast.expr) -> str | None:
        """The dotted name an expression refers to (``typing.Optional``), or None."""
        if isinstance(node, ast.Name):
            if f"local:{node.id}" in self.kinds:
                return f"local:{node.id}"
            if node.id in self.aliases:
                return self.aliases[node.id]
            return f"builtins.{node.id}" if node.id in _BUILTINS else None
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def error(self, node: ast.AST, message: str) -> SchemaError:
        """A SchemaError at ``node``'s line in this module."""
        return SchemaError(self.path, getattr(node, "lineno", 1), message)


def _typing(q: str | None, name: str) -> bool:
    return q is not None and any(q == p + name for p in _TYPING)


def resolve_type(scope: Scope, node: ast.expr, where: str, *, in_copy: bool = False) -> TypeRef:
    """The TypeRef of an annotation; SchemaError naming ``where`` if it is not supported."""

    def bad(sub: ast.AST, why: str = "") -> SchemaError:
        detail = f" ({why})" if why else ""
        return scope.error(sub, f"{where}: unsupported annotation {source_of(sub)!r}{detail}")

    def go(n: ast.expr, depth: int) -> TypeRef:
        if depth > MAX_NESTING:
            raise scope.error(n, f"{where}: annotation nested more than {MAX_NESTING} deep")
        if isinstance(n, ast.Constant) and n.value is None:
            return TypeRef(kind=Kind.NONE)
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            return go(quoted(n, n.value), depth + 1)
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
            return _union([go(n.left, depth + 1), go(n.right, depth + 1)])
        if isinstance(n, ast.Subscript):
            return subscript(n, depth + 1)
        q = scope.qualify(n)
        if q in _NAMED:
            return TypeRef(kind=_NAMED[q])
        if q is not None and q in scope.kinds:
            kind = scope.kinds[q]
            if kind == "error":
                raise bad(n, "errors are raised, not passed as values")
            if kind == "interface" and in_copy:
                # A copy is a value: one class on both sides could not type a field that holds
                # a local object on one side and a stub on the other, nor compare or hash it.
                raise bad(
                    n,
                    "a dataclass passed by copy cannot hold a reference; pass the "
                    "interface as a parameter or result of its own",
                )
            if q.startswith("sibling:"):
                scope.used.add(q)
            return TypeRef(kind=_CLASS_KINDS[kind], name=q.rpartition(".")[2].split(":")[-1])
        if q in ("builtins.list", "builtins.dict", "builtins.tuple", "builtins.set"):
            raise bad(n, "give the item types, e.g. list[int]")
        raise bad(n)

    def quoted(n: ast.Constant, text: str) -> ast.expr:
        try:
            inner = ast.parse(text, mode="eval").body
        except (SyntaxError, RecursionError, MemoryError):
            raise bad(n, "not a valid type expression") from None
        # Errors inside a string annotation point at the string's line.
        inner = ast.increment_lineno(inner, n.lineno - 1)
        depth, node = deepest(inner)
        if depth > MAX_NESTING:
            raise scope.error(node, f"{where}: annotation nested more than {MAX_NESTING} deep")
        return inner

    def subscript(n: ast.Subscript, depth: int) -> TypeRef:
        q = scope.qualify(n.value)
        args = list(n.slice.elts) if isinstance(n.slice, ast.Tuple) else [n.slice]
        if q == "builtins.list" and len(args) == 1:
            return TypeRef(kind=Kind.LIST, args=(go(args[0], depth),))
        if q == "builtins.set" and len(args) == 1:
            item = go(args[0], depth)
            if item.kind not in (Kind.STR, Kind.BYTES):
                raise bad(n, "set items must be str or bytes")
            return TypeRef(kind=Kind.SET, args=(item,))
        if q == "builtins.dict" and len(args) == 2:
            key = go(args[0], depth)
            if key.kind not in (Kind.STR, Kind.BYTES):
                raise bad(n, "dict keys must be str or bytes")
            return TypeRef(kind=Kind.DICT, args=(key, go(args[1], depth)))
        if q == "builtins.tuple":
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is ...:
                return TypeRef(kind=Kind.VARTUPLE, args=(go(args[0], depth),))
            if len(args) == 1 and isinstance(args[0], ast.Tuple) and not args[0].elts:
                return TypeRef(kind=Kind.TUPLE)
            return TypeRef(kind=Kind.TUPLE, args=tuple(go(a, depth) for a in args))
        if _typing(q, "Optional") and len(args) == 1:
            return _union([go(args[0], depth), TypeRef(kind=Kind.NONE)])
        if _typing(q, "Union"):
            return _union([go(a, depth) for a in args])
        if _typing(q, "Literal"):
            return TypeRef(kind=Kind.LITERAL, literals=tuple(literal(a) for a in args))
        if _typing(q, "Annotated") and len(args) >= 2:
            inner = go(args[0], depth)
            limits = [max_len(a) for a in args[1:]]
            if inner.kind not in _SIZED or inner.max_len is not None:
                raise bad(n, "MaxLen applies to str, bytes, list, dict, set and tuple[T, ...]")
            return TypeRef(
                kind=inner.kind, args=inner.args, literals=inner.literals, max_len=min(limits)
            )
        raise bad(n)

    def literal(a: ast.expr) -> str:
        source = literal_source(a, allow_float=False)
        if source is None:
            raise bad(a, "Literal values must be str, bytes, int, bool or None")
        return source

    def max_len(a: ast.expr) -> int:
        if (
            isinstance(a, ast.Call)
            and scope.qualify(a.func) == "pbtyped.MaxLen"
            and len(a.args) == 1
            and not a.keywords
            and isinstance(a.args[0], ast.Constant)
            and type(a.args[0].value) is int
            and 0 <= a.args[0].value < 2**63
        ):
            return a.args[0].value
        raise bad(a, "only pb.MaxLen(n), 0 <= n < 2**63, may annotate a type")

    return go(node, 0)


def deepest(tree: ast.AST) -> tuple[int, ast.AST]:
    """How deep ``tree`` nests, and the innermost node with a line number on the way to that
    depth; without recursion, so any tree ``ast.parse`` built can be measured."""
    best: tuple[int, ast.AST] = (1, tree)
    stack = [(tree, 1, tree)]
    while stack:
        node, depth, located = stack.pop()
        located = node if hasattr(node, "lineno") else located
        if depth > best[0]:
            best = (depth, located)
        stack.extend((child, depth + 1, located) for child in ast.iter_child_nodes(node))
    return best


def source_of(node: ast.AST) -> str:
    """``node`` as source, for an error message: at most 100 characters, and ``...`` for an
    expression holding an int too long for Python to write (its digit limit)."""
    try:
        text = ast.unparse(node)
    except ValueError:
        return "..."
    return text if len(text) <= 100 else f"{text[:97]}..."


def _union(options: list[TypeRef]) -> TypeRef:
    flat: list[TypeRef] = []
    for option in options:
        for item in option.args if option.kind is Kind.UNION else (option,):
            if item not in flat:
                flat.append(item)
    # None goes last, as ruff wants it written (RUF036); checking order does not matter.
    flat.sort(key=lambda item: item.kind is Kind.NONE)
    return flat[0] if len(flat) == 1 else TypeRef(kind=Kind.UNION, args=tuple(flat))


def _string(value: str | bytes) -> str:
    # ``ascii``: no character beyond ASCII reaches generated code (not a line or paragraph
    # separator, a bidirectional override nor a look-alike letter); the value is the same.
    # The quotes ruff format would choose: double, unless the text holds a double quote.
    text = ascii(value)
    start = 1 if isinstance(value, bytes) else 0
    has_double = '"' in value if isinstance(value, str) else b'"' in value
    if text[start] == "'" and not has_double:
        return f'{text[:start]}"{text[start + 1 : -1]}"'
    return text


def _number(value: int | float) -> str | None:
    # ``inf`` and ``nan`` are names, not literals; an int past Python's digit limit for
    # int-to-text conversion cannot be written (nor read back) at all.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        return repr(value)
    except ValueError:
        return None


def literal_source(node: ast.expr, *, allow_float: bool = True) -> str | None:
    """Python source for a constant (str, bytes, int, bool, None, finite float), or None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = literal_source(node.operand, allow_float=allow_float)
        num = isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)
        return f"-{inner}" if inner is not None and num else None
    if not isinstance(node, ast.Constant):
        return None
    value = node.value
    if isinstance(value, str | bytes):
        return _string(value)
    if value is None or type(value) is bool:
        return repr(value)
    if type(value) is int or (allow_float and type(value) is float):
        return _number(value)
    return None


def resolve_default(
    scope: Scope, node: ast.expr, where: str, enum_members: Callable[[str], set[str]]
) -> str:
    """Source of a default value: a constant or a member of an enum of this module."""
    source = literal_source(node)
    if source is not None:
        return source
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        q = scope.qualify(node.value)
        if q is not None and q.startswith("local:") and scope.kinds.get(q) == "enum":
            if node.attr in enum_members(node.value.id):
                return f"{node.value.id}.{node.attr}"
    raise scope.error(
        node,
        f"{where}: unsupported default {source_of(node)!r} (use a constant: a str, bytes, "
        f"bool, None, an int of at most {sys.get_int_max_str_digits()} digits or a finite "
        "float; or a member of an enum of this schema)",
    )
