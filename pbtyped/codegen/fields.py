"""The fields of a schema dataclass, with their defaults: a constant, an enum member, or
``field(default=...)`` / ``field(default_factory=...)``."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .annotations import Scope, resolve_default, resolve_type, source_of
from .errors import Collector
from .model import Field
from .names import ClassKind, QualName
from .typeref import Kind, TypeRef

__all__ = ["FieldReader"]

_FIELD = QualName.python("dataclasses.field")
# The factories of an empty container, by what they make.
_FACTORIES = {
    QualName.python("builtins.list"): Kind.LIST,
    QualName.python("builtins.dict"): Kind.DICT,
    QualName.python("builtins.set"): Kind.SET,
}
_EMPTY = {ast.List: "list", ast.Dict: "dict", ast.Set: "set"}
_ALLOWED = "use list, dict, set, or a dataclass of these schemas whose fields all have defaults"


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldReader:
    """Reads the fields of one dataclass of a schema module into ``Field`` models.

    ``check_name`` refuses a field name the generated code needs; ``enum_members`` gives the
    members of an enum of this module (for defaults naming one); ``factory_problem`` says why
    a schema dataclass cannot be a ``default_factory`` here, or None if it can.
    """

    scope: Scope
    found: Collector
    owner: str  # the dataclass's name
    kw_only: bool  # ``@dataclass(kw_only=True)``: fields may come in any order
    check_name: Callable[[ast.AST, str, str], None]
    enum_members: Callable[[str], set[str]]
    factory_problem: Callable[[QualName], str | None]

    def read(self, body: Iterable[ast.stmt]) -> list[Field]:
        """The fields of the class body ``body``; each error goes to ``found``."""
        fields: list[Field] = []
        first_default = ""  # the first field given a default
        for stmt in body:
            with self.found.attempt():
                field = self._field(stmt)
                defaulted = field.default is not None or field.factory is not None
                if first_default and not defaulted and not self.kw_only:
                    # Python's dataclasses refuse the class: its __init__ could not be written.
                    raise self.scope.error(
                        stmt,
                        f"{self.owner}.{field.name}: a field without a default may not follow "
                        f"one with a default ({first_default}): give it a default, move it "
                        f"above {first_default}, or use @dataclass(kw_only=True)",
                    )
                first_default = first_default or (field.name if defaulted else "")
                fields.append(field)
        return fields

    def _field(self, stmt: ast.stmt) -> Field:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            raise self.scope.error(stmt, f"{self.owner}: a dataclass holds only annotated fields")
        name = stmt.target.id
        where = f"{self.owner}.{name}"
        self.check_name(stmt, name, where)
        value, made = stmt.value, None
        if isinstance(value, ast.Call) and self.scope.qualify(value.func) == _FIELD:
            value, made = self._field_call(value, where)
        default = None if value is None else self._default(value, where)
        type_ = resolve_type(self.scope, stmt.annotation, where, in_copy=True)
        factory = None if made is None else self._factory(made, type_, stmt.annotation, where)
        return Field(name=name, type=type_, default=default, factory=factory)

    def _field_call(self, call: ast.Call, where: str) -> tuple[ast.expr | None, ast.expr | None]:
        """The ``default=`` and ``default_factory=`` of ``field(...)``: exactly one of them."""
        given = {kw.arg: kw for kw in call.keywords}
        other = [kw for kw in call.keywords if kw.arg not in ("default", "default_factory")]
        if call.args or other:
            shown = source_of(call.args[0] if call.args else other[0])
            raise self.scope.error(
                call,
                f"{where}: unsupported field() argument {shown!r} (a schema's field() takes "
                "default= or default_factory=, one of them)",
            )
        if len(given) != 1:
            raise self.scope.error(
                call, f"{where}: field() takes one of default= and default_factory="
            )
        default, factory = given.get("default"), given.get("default_factory")
        return (
            default.value if default is not None else None,
            factory.value if factory is not None else None,
        )

    def _default(self, node: ast.expr, where: str) -> str:
        kind = _EMPTY.get(type(node))
        if kind is not None:
            raise self.scope.error(
                node,
                f"{where}: a mutable default {source_of(node)!r} would be shared by every "
                f"instance: use field(default_factory={kind})",
            )
        return resolve_default(self.scope, node, where, self.enum_members)

    def _factory(self, node: ast.expr, type_: TypeRef, annotation: ast.expr, where: str) -> str:
        """The source of a ``default_factory`` that makes a value of ``type_``."""
        q = self.scope.qualify(node)
        shown = f"default_factory {source_of(node)}"
        if q in _FACTORIES:
            makes = _FACTORIES[q]
            fits = any(option.kind is makes for option in type_.options())
            source = q.name.removeprefix("builtins.")
        elif q is not None and self.scope.kinds.get(q) is ClassKind.COPY:
            problem = self.factory_problem(q)
            if problem is not None:
                raise self.scope.error(node, f"{where}: default_factory {problem}")
            made = resolve_type(self.scope, node, where, in_copy=True)
            fits = made in type_.options()
            source = made.name
        else:
            raise self.scope.error(
                node, f"{where}: unsupported default_factory {source_of(node)!r} ({_ALLOWED})"
            )
        if not fits:
            raise self.scope.error(
                node, f"{where}: {shown} does not make a {source_of(annotation)!r} value"
            )
        return source
