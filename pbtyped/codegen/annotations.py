"""Annotations and default values in a schema's syntax tree, resolved without importing it."""

from __future__ import annotations

import ast
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import SchemaError
from .names import ClassKind, Origin, QualName
from .typeref import Kind, TypeRef

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
_NAMED: dict[QualName, Kind] = {
    QualName.python("builtins.bool"): Kind.BOOL,
    QualName.python("builtins.int"): Kind.INT,
    QualName.python("builtins.float"): Kind.FLOAT,
    QualName.python("builtins.str"): Kind.STR,
    QualName.python("builtins.bytes"): Kind.BYTES,
    QualName.python("datetime.datetime"): Kind.DATETIME,
    QualName.python("datetime.date"): Kind.DATE,
    QualName.python("uuid.UUID"): Kind.UUID,
    QualName.python("decimal.Decimal"): Kind.DECIMAL,
}
_BARE = {QualName.python(f"builtins.{name}") for name in ("list", "dict", "tuple", "set")}
_CLASS_KINDS = {
    ClassKind.COPY: Kind.COPY,
    ClassKind.ENUM: Kind.ENUM,
    ClassKind.INTERFACE: Kind.INTERFACE,
}
_SIZED = {Kind.STR, Kind.BYTES, Kind.LIST, Kind.DICT, Kind.SET, Kind.VARTUPLE}
_MAX_LEN = QualName.python("pbtyped.MaxLen")


@dataclass
class Scope:
    """What names mean in one schema module: its imports and the classes it can see.

    ``aliases`` maps each imported name to what it names; ``kinds`` maps each class visible
    here (local, or of a sibling module) to its kind; ``used`` collects the sibling classes
    that types of this module name.
    """

    path: str
    aliases: dict[str, QualName] = field(default_factory=dict)
    kinds: dict[QualName, ClassKind] = field(default_factory=dict)
    used: set[QualName] = field(default_factory=set)

    def qualify(self, node: ast.expr) -> QualName | None:
        """What an expression names (``typing.Optional``, a local class), or None."""
        if isinstance(node, ast.Name):
            local = QualName.local(node.id)
            if local in self.kinds:
                return local
            if node.id in self.aliases:
                return self.aliases[node.id]
            return QualName.python(f"builtins.{node.id}") if node.id in _BUILTINS else None
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return None if base is None else base.attr(node.attr)
        return None

    def error(self, node: ast.AST, message: str) -> SchemaError:
        """A SchemaError at ``node``'s line in this module."""
        return SchemaError(self.path, getattr(node, "lineno", 1), message)


def resolve_type(scope: Scope, node: ast.expr, where: str, *, in_copy: bool = False) -> TypeRef:
    """The TypeRef of an annotation; SchemaError naming ``where`` if it is not supported.

    ``in_copy``: the annotation types a dataclass field, which cannot hold a reference.
    """
    return _Resolver(scope, where, in_copy).resolve(node, 0)


# A subscripted form (``list[int]``): the resolver, the subscript, its arguments, and the
# depth of those arguments.
_Form = Callable[["_Resolver", ast.Subscript, list[ast.expr], int], TypeRef]


@dataclass(frozen=True, slots=True)
class _Resolver:
    """Resolves one annotation, one method per form; ``where`` names it in errors.

    ``depth`` counts how deep the annotation nests, with its quoted parts, so that no form
    recurses past ``MAX_NESTING``.
    """

    scope: Scope
    where: str
    in_copy: bool

    def bad(self, node: ast.AST, why: str = "") -> SchemaError:
        detail = f" ({why})" if why else ""
        return self.scope.error(
            node, f"{self.where}: unsupported annotation {source_of(node)!r}{detail}"
        )

    def too_deep(self, node: ast.AST) -> SchemaError:
        return self.scope.error(
            node, f"{self.where}: annotation nested more than {MAX_NESTING} deep"
        )

    def resolve(self, node: ast.expr, depth: int) -> TypeRef:
        if depth > MAX_NESTING:
            raise self.too_deep(node)
        if isinstance(node, ast.Constant) and node.value is None:
            return TypeRef(kind=Kind.NONE)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.resolve(self.quoted(node, node.value), depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return _union([self.resolve(node.left, depth + 1), self.resolve(node.right, depth + 1)])
        if isinstance(node, ast.Subscript):
            q = self.scope.qualify(node.value)
            form = _FORMS.get(q) if q is not None else None
            if form is None:
                raise self.bad(node)
            args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
            return form(self, node, args, depth + 1)
        return self.named(node)

    def named(self, node: ast.expr) -> TypeRef:
        """A type written as a (dotted) name: a scalar or a class of the schemas."""
        q = self.scope.qualify(node)
        if q is None:
            raise self.bad(node)
        if q in _NAMED:
            return TypeRef(kind=_NAMED[q])
        kind = self.scope.kinds.get(q)
        if kind is ClassKind.ERROR:
            raise self.bad(node, "errors are raised, not passed as values")
        if kind is ClassKind.INTERFACE and self.in_copy:
            # A copy is a value: one class on both sides could not type a field that holds
            # a local object on one side and a stub on the other, nor compare or hash it.
            raise self.bad(
                node,
                "a dataclass passed by copy cannot hold a reference; pass the "
                "interface as a parameter or result of its own",
            )
        if kind is not None:
            if q.origin is Origin.SIBLING:
                self.scope.used.add(q)
            return TypeRef(kind=_CLASS_KINDS[kind], name=q.name)
        if q in _BARE:
            raise self.bad(node, "give the item types, e.g. list[int]")
        raise self.bad(node)

    def quoted(self, node: ast.Constant, text: str) -> ast.expr:
        """The expression a string annotation holds."""
        try:
            inner = ast.parse(text, mode="eval").body
        except (SyntaxError, RecursionError, MemoryError):
            raise self.bad(node, "not a valid type expression") from None
        # Errors inside a string annotation point at the string's line.
        inner = ast.increment_lineno(inner, node.lineno - 1)
        depth, deepest_node = deepest(inner)
        if depth > MAX_NESTING:
            raise self.too_deep(deepest_node)
        return inner

    def list_(self, node: ast.Subscript, args: list[ast.expr], depth: int) -> TypeRef:
        if len(args) != 1:
            raise self.bad(node)
        return TypeRef(kind=Kind.LIST, args=(self.resolve(args[0], depth),))

    def set_(self, node: ast.Subscript, args: list[ast.expr], depth: int) -> TypeRef:
        if len(args) != 1:
            raise self.bad(node)
        item = self.resolve(args[0], depth)
        if item.kind not in (Kind.STR, Kind.BYTES):
            raise self.bad(node, "set items must be str or bytes")
        return TypeRef(kind=Kind.SET, args=(item,))

    def dict_(self, node: ast.Subscript, args: list[ast.expr], depth: int) -> TypeRef:
        if len(args) != 2:
            raise self.bad(node)
        key = self.resolve(args[0], depth)
        if key.kind not in (Kind.STR, Kind.BYTES):
            raise self.bad(node, "dict keys must be str or bytes")
        return TypeRef(kind=Kind.DICT, args=(key, self.resolve(args[1], depth)))

    def tuple_(self, node: ast.Subscript, args: list[ast.expr], depth: int) -> TypeRef:
        if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is ...:
            return TypeRef(kind=Kind.VARTUPLE, args=(self.resolve(args[0], depth),))
        if len(args) == 1 and isinstance(args[0], ast.Tuple) and not args[0].elts:
            return TypeRef(kind=Kind.TUPLE)
        return TypeRef(kind=Kind.TUPLE, args=tuple(self.resolve(a, depth) for a in args))

    def stream(self, node: ast.Subscript, args: list[ast.expr], depth: int) -> TypeRef:
        if self.in_copy:
            raise self.bad(node, "a dataclass passed by copy cannot hold a stream")
        if len(args) != 1:
            raise self.bad(node)
        return TypeRef(kind=Kind.STREAM, args=(self.resolve(args[0], depth),))

    def optional(self, node: ast.Subscript, args: list[ast.expr], depth: int) -> TypeRef:
        if len(args) != 1:
            raise self.bad(node)
        return _union([self.resolve(args[0], depth), TypeRef(kind=Kind.NONE)])

    def union(self, node: ast.Subscript, args: list[ast.expr], depth: int) -> TypeRef:
        return _union([self.resolve(a, depth) for a in args])

    def literal(self, node: ast.Subscript, args: list[ast.expr], depth: int) -> TypeRef:
        values = []
        for arg in args:
            source = literal_source(arg, allow_float=False)
            if source is None:
                raise self.bad(arg, "Literal values must be str, bytes, int, bool or None")
            values.append(source)
        return TypeRef(kind=Kind.LITERAL, literals=tuple(values))

    def annotated(self, node: ast.Subscript, args: list[ast.expr], depth: int) -> TypeRef:
        if len(args) < 2:
            raise self.bad(node)
        inner = self.resolve(args[0], depth)
        limits = [self.max_len(a) for a in args[1:]]
        if inner.kind not in _SIZED or inner.max_len is not None:
            raise self.bad(node, "MaxLen applies to str, bytes, list, dict, set and tuple[T, ...]")
        return TypeRef(
            kind=inner.kind, args=inner.args, literals=inner.literals, max_len=min(limits)
        )

    def max_len(self, node: ast.expr) -> int:
        """The ``n`` of ``pb.MaxLen(n)``."""
        if (
            isinstance(node, ast.Call)
            and self.scope.qualify(node.func) == _MAX_LEN
            and len(node.args) == 1
            and not node.keywords
            and isinstance(node.args[0], ast.Constant)
            and type(node.args[0].value) is int
            and 0 <= node.args[0].value < 2**63
        ):
            return node.args[0].value
        raise self.bad(node, "only pb.MaxLen(n), 0 <= n < 2**63, may annotate a type")


def _typing(name: str) -> list[QualName]:
    return [QualName.python(f"{module}.{name}") for module in ("typing", "typing_extensions")]


_FORMS: dict[QualName, _Form] = {
    QualName.python("builtins.list"): _Resolver.list_,
    QualName.python("builtins.set"): _Resolver.set_,
    QualName.python("builtins.dict"): _Resolver.dict_,
    QualName.python("builtins.tuple"): _Resolver.tuple_,
    **dict.fromkeys(
        [*_typing("AsyncIterator"), QualName.python("collections.abc.AsyncIterator")],
        _Resolver.stream,
    ),
    **dict.fromkeys(_typing("Optional"), _Resolver.optional),
    **dict.fromkeys(_typing("Union"), _Resolver.union),
    **dict.fromkeys(_typing("Literal"), _Resolver.literal),
    **dict.fromkeys(_typing("Annotated"), _Resolver.annotated),
}


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
        if scope.kinds.get(QualName.local(node.value.id)) is ClassKind.ENUM:
            if node.attr in enum_members(node.value.id):
                return f"{node.value.id}.{node.attr}"
    raise scope.error(
        node,
        f"{where}: unsupported default {source_of(node)!r} (use a constant: a str, bytes, "
        f"bool, None, an int of at most {sys.get_int_max_str_digits()} digits or a finite "
        "float; or a member of an enum of this schema)",
    )
