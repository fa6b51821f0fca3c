"""Schema files to the frozen model, by reading their syntax trees (schemas are never imported,
so generating code never runs the schema author's code)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

from .annotations import (
    Scope,
    literal_source,
    resolve_default,
    resolve_type,
    source_of,
)
from .errors import Collector, SchemaError
from .fields import FieldReader
from .inherit import Declared, Key, bases_first, check, postorder
from .layout import safe_text
from .model import (
    CopyType,
    EnumType,
    ErrorType,
    Interface,
    Method,
    Module,
    Param,
    SiblingClass,
)
from .names import ClassKind, Origin, QualName
from .source import read_schema
from .typeref import Kind, TypeRef

__all__ = ["parse_dir"]

_PROTOCOL = {QualName.python("typing.Protocol"), QualName.python("typing_extensions.Protocol")}
_ENUMS = {QualName.python(base): base for base in ("enum.Enum", "enum.IntEnum", "enum.StrEnum")}
_ERROR = QualName.python("pbtyped.Error")
_DATACLASS = QualName.python("dataclasses.dataclass")
_ONEWAY = QualName.python("pbtyped.oneway")
_DATACLASS_OPTIONS = ("frozen", "eq", "order", "kw_only", "slots")
# Names every generated module binds itself; schema names must not take them.
_RESERVED = {
    "REGISTRY", "Annotated", "Any", "Awaitable", "ClassVar", "Literal", "Mapping", "Sequence",
    "abc", "annotations",
    "dataclasses", "datetime", "decimal", "enum", "pb", "uuid",
    "bool", "bytes", "dict", "float", "int", "list", "set", "str", "tuple",
}  # fmt: skip


def _doc(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef, fallback: str) -> str:
    """The docstring, cleaned (any text: the generator escapes it), or ``fallback``."""
    text = (ast.get_docstring(node, clean=True) or "").strip()
    return text or fallback


def _defaulted(stmt: ast.stmt) -> bool:
    """Whether a statement of a dataclass body is a field with a default."""
    return isinstance(stmt, ast.AnnAssign) and stmt.value is not None


def _body(node: ast.ClassDef) -> list[ast.stmt]:
    """The class body without its docstring and ``...``/``pass`` placeholders."""
    out = []
    for stmt in node.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            if isinstance(stmt.value.value, str) or stmt.value.value is ...:
                continue
        out.append(stmt)
    return out


class _ModuleParser:
    """One schema module: ``declare`` it, let it ``see`` its siblings, then ``build`` it.

    A SchemaError found in a class, a field, a method or a parameter goes to ``found``, and
    the module goes on with the next one.
    """

    def __init__(
        self, name: str, path: str, tree: ast.Module, siblings: set[str], found: Collector
    ) -> None:
        self.name = name
        self.tree = tree
        self.scope = Scope(path)
        self.siblings = siblings
        self.found = found
        self.classes: dict[str, ast.ClassDef] = {}
        self.kinds: dict[str, ClassKind] = {}  # this module's classes, in schema order
        # Classes not classified, or named like an import: what their names mean is not known.
        self.unknown: set[str] = set()
        self.enum_members: dict[str, set[str]] = {}
        self.position: dict[str, int] = {}  # where each class is among the module's classes
        self.no_args: set[QualName] = set()  # the dataclasses seen here whose fields all default
        self.import_lines: dict[str, int] = {}  # where each module is first imported from
        self.declared: dict[Key, Declared] = {}  # this module's interfaces, for ``inherit``
        self.base_specs: set[QualName] = set()  # sibling interfaces extended here

    # -- pass 1: names and what kind of class each one is ---------------------------------

    def declare(self) -> bool:
        """Read imports and classify the module's classes (``kinds``). False if a class could
        not be classified or is named like an import: the module is then built no further, nor
        are the modules importing it, since their errors would be about names nobody knows."""
        for stmt in self.tree.body:
            with self.found.attempt():
                if isinstance(stmt, ast.Import | ast.ImportFrom):
                    self._import(stmt)
                elif isinstance(stmt, ast.ClassDef):
                    self._declare_class(stmt)
                elif not self._ignorable(stmt):
                    raise self.scope.error(
                        stmt, "a schema holds only imports, classes and a docstring at top level"
                    )
        # A name is one thing in the whole schema: classes are classified as they come, but
        # read by name once all are declared.
        for name, kind in self.kinds.items():
            self.scope.kinds[QualName.local(name)] = kind
        generated_for: dict[str, str] = {}  # a generated class's name: its interface's
        for name, kind in self.kinds.items():
            with self.found.attempt():
                self._check_class_name(name, kind, generated_for)
        return not self.unknown

    def _check_class_name(self, name: str, kind: ClassKind, generated_for: dict[str, str]) -> None:
        if name in self.scope.aliases:
            self.unknown.add(name)
            raise self.scope.error(
                self.classes[name],
                f"name clash: {name} is also imported here: rename the class or the import",
            )
        if kind is ClassKind.INTERFACE:
            for generated in (name + "Client", name + "Server", name + "SyncClient"):
                if generated in self.kinds:
                    raise self.scope.error(
                        self.classes[generated],
                        f"name clash: {generated} is also generated for interface {name}",
                    )
                if generated in generated_for:  # interfaces One and OneSync: OneSyncClient
                    raise self.scope.error(
                        self.classes[name],
                        f"name clash: {generated} is generated for interfaces "
                        f"{generated_for[generated]} and {name}",
                    )
                generated_for[generated] = name

    @property
    def sibling_modules(self) -> set[str]:
        """The sibling schema modules this one imports from."""
        return {q.module for q in self.scope.aliases.values() if q.origin is Origin.SIBLING}

    def _import(self, stmt: ast.Import | ast.ImportFrom) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = alias.asname or alias.name.partition(".")[0]
                target = alias.name if alias.asname else local
                q = self.scope.aliases[local] = self._module_name(target, 0)
                self.import_lines.setdefault(q.module, stmt.lineno)
            return
        base = self._module_name(stmt.module or "", stmt.level)
        self.import_lines.setdefault(base.module, stmt.lineno)
        for alias in stmt.names:
            self.scope.aliases[alias.asname or alias.name] = base.attr(alias.name)

    def _declare_class(self, stmt: ast.ClassDef) -> None:
        if stmt.name in self.classes:
            raise self.scope.error(stmt, f"name clash: {stmt.name} is defined twice")
        self.classes[stmt.name] = stmt
        with self.found.attempt():
            if stmt.name.startswith("_") or stmt.name in _RESERVED:
                raise self.scope.error(
                    stmt, f"name clash: {stmt.name} is reserved in generated code"
                )
        if any(isinstance(b, ast.Name) and b.id in self.unknown for b in stmt.bases):
            self.unknown.add(stmt.name)  # its base is reported: nothing is known of it either
            return
        try:
            kind = self._classify(stmt)
        except SchemaError:
            self.unknown.add(stmt.name)
            raise
        self.kinds[stmt.name] = kind
        self.position[stmt.name] = len(self.position)
        if kind is ClassKind.COPY and all(_defaulted(s) for s in _body(stmt)):
            self.no_args.add(QualName.local(stmt.name))

    @staticmethod
    def _ignorable(stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            return True
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        return len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id == "__all__"

    def _module_name(self, module: str, level: int) -> QualName:
        # ``from .b``, ``from b`` and ``from schemas.b`` all name the sibling schema b.
        if level > 0 and not module:
            return QualName.sibling()  # ``from . import b``
        last = module.rpartition(".")[2]
        return QualName.sibling(last) if last in self.siblings else QualName.python(module)

    def _earlier(self, base: ast.expr) -> ClassKind | None:
        """The kind of a class declared above in this module that ``base`` names, if any (the
        scope knows this module's classes only once all are declared)."""
        return self.kinds.get(base.id) if isinstance(base, ast.Name) else None

    def _classify(self, node: ast.ClassDef) -> ClassKind:
        if any(self._is_dataclass(d) for d in node.decorator_list):
            if node.bases:
                raise self.scope.error(node, f"{node.name}: a dataclass may not have base classes")
            return ClassKind.COPY
        if node.decorator_list:
            raise self.scope.error(node, f"{node.name}: unsupported class decorator")
        bases = [self.scope.qualify(b) for b in node.bases]
        if any(b in _PROTOCOL for b in bases):
            return ClassKind.INTERFACE  # its other bases are checked once every module is declared
        self._check_protocol_listed(node, bases)
        if len(bases) == 1 and bases[0] in _ENUMS:
            return ClassKind.ENUM
        if len(bases) == 1 and (
            bases[0] == _ERROR or self._earlier(node.bases[0]) is ClassKind.ERROR
        ):
            return ClassKind.ERROR
        raise self.scope.error(
            node,
            f"{node.name}: unsupported class; use a typing.Protocol, a @dataclass, "
            "an enum.Enum or a pb.Error subclass",
        )

    def _check_protocol_listed(self, node: ast.ClassDef, bases: list[QualName | None]) -> None:
        """SchemaError if ``node``, not a Protocol, extends what may be an interface: a class of
        a sibling schema, or an interface declared above."""
        extends = [
            source_of(b)
            for b, q in zip(node.bases, bases, strict=True)
            if (q is not None and q.origin is Origin.SIBLING)
            or self._earlier(b) is ClassKind.INTERFACE
        ]
        if extends:
            raise self.scope.error(
                node,
                f"{node.name}: an interface extending {extends[0]} must list Protocol among "
                f"its bases too: class {node.name}({extends[0]}, Protocol)",
            )

    def see(self, others: Mapping[str, _ModuleParser]) -> None:
        """Learn what the sibling classes this module imports are, from the other modules'
        ``declare``: a class imported by name, or each class of a module imported whole."""
        for target in self.scope.aliases.values():
            other = others.get(target.module) if target.origin is Origin.SIBLING else None
            if other is None:
                continue
            if target.name:
                names = [target.name] if target.name in other.kinds else []
            else:
                names = list(other.kinds)  # the module imported whole
            for name in names:
                q = target if target.name else target.attr(name)
                self.scope.kinds[q] = other.kinds[name]
                if QualName.local(name) in other.no_args:
                    self.no_args.add(q)

    def _is_dataclass(self, node: ast.expr) -> bool:
        func = node.func if isinstance(node, ast.Call) else node
        return self.scope.qualify(func) == _DATACLASS

    # -- pass 2: the model -----------------------------------------------------------------

    def build(self) -> Module:
        """Build the Module (after every module's ``declare`` and ``see``); its errors go to
        ``found``, and then the Module is not rendered."""
        # Enums first: defaults elsewhere may name their members.
        enums = [self._enum(node) for node in self._of(ClassKind.ENUM)]
        copies, errors = [], []
        for name, node in self.classes.items():  # in schema order
            with self.found.attempt():
                if self.kinds.get(name) is ClassKind.COPY:
                    copies.append(self._copy(node))
                elif self.kinds.get(name) is ClassKind.ERROR:
                    errors.append(self._error(node))
        local_bases = {
            node.name: [b.id for b in node.bases if isinstance(b, ast.Name)]
            for node in self._of(ClassKind.INTERFACE)
        }
        # Class statements need their bases defined first; otherwise the schema's order.
        ordered = bases_first(list(local_bases), local_bases)
        interfaces = [self._interface(self.classes[name]) for name in ordered]
        return Module(
            name=self.name,
            source=self.scope.path,
            enums=tuple(enums),
            copy_types=tuple(copies),
            errors=tuple(errors),
            interfaces=tuple(interfaces),
            siblings=tuple(
                SiblingClass(
                    module=q.module,
                    name=q.name,
                    kind=self.scope.kinds[q],
                    extended=q in self.base_specs,
                )
                for q in sorted(self.scope.used, key=lambda q: q.path)
            ),
        )

    def import_clashes(self, module: Module) -> list[SchemaError]:
        """An error for each name ``module``'s generated module would hold twice (declared
        here and imported for a sibling class, or imported for two), where this module
        declares it, else at its first import from the second sibling."""
        errors = []
        for clash in module.import_clashes:
            node = self.classes.get(clash.local or "")
            line = node.lineno if node is not None else self.import_lines.get(clash.module, 1)
            message = (
                f"name clash: {clash.name} is {clash.first}, and also imported for "
                f"{clash.second}: rename one of them"
            )
            errors.append(SchemaError(self.scope.path, line, message))
        return errors

    def _of(self, kind: ClassKind) -> list[ast.ClassDef]:
        """This module's classes of ``kind``, in schema order."""
        return [self.classes[name] for name, k in self.kinds.items() if k is kind]

    def _wire(self, node: ast.ClassDef) -> str:
        return f"{self.name}.{node.name}"

    def _error(self, node: ast.ClassDef) -> ErrorType:
        if _body(node):
            raise self.scope.error(_body(node)[0], f"{node.name}: an error class has no body")
        # ``_classify`` made sure the base is pb.Error or an error class declared above.
        q = self.scope.qualify(node.bases[0])
        return ErrorType(
            name=node.name,
            doc=_doc(node, f"The remote error {node.name}."),
            wire_name=self._wire(node),
            base=q.name if q is not None and q.origin is Origin.LOCAL else "pb.Error",
        )

    def _enum(self, node: ast.ClassDef) -> EnumType:
        members: list[tuple[str, str]] = []
        # Every member name, even one whose value is refused: a default naming it is right.
        self.enum_members[node.name] = names = set()
        for stmt in _body(node):
            ok = isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
            value = literal_source(stmt.value) if isinstance(stmt, ast.Assign) else None
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) else None
            if isinstance(target, ast.Name):
                names.add(target.id)
            with self.found.attempt():
                if not ok or value is None or not isinstance(target, ast.Name):
                    raise self.scope.error(
                        stmt, f"{node.name}: enum members must be NAME = constant"
                    )
                members.append((target.id, value))
        q = self.scope.qualify(node.bases[0])
        assert q is not None  # ``_classify`` found an enum class there
        base = _ENUMS[q]
        return EnumType(
            name=node.name,
            doc=_doc(node, f"The enumeration {node.name}."),
            wire_name=self._wire(node),
            base=base,
            members=tuple(members),
        )

    def _copy(self, node: ast.ClassDef) -> CopyType:
        options: dict[str, bool] = {}
        for deco in node.decorator_list:
            with self.found.attempt():
                for kw in deco.keywords if isinstance(deco, ast.Call) else []:
                    const = kw.value.value if isinstance(kw.value, ast.Constant) else None
                    if kw.arg not in _DATACLASS_OPTIONS or type(const) is not bool:
                        raise self.scope.error(deco, f"{node.name}: unsupported dataclass option")
                    options[kw.arg] = const
        reader = FieldReader(
            scope=self.scope,
            found=self.found,
            owner=node.name,
            kw_only=options.get("kw_only", False),
            check_name=self._check_local_name,
            enum_members=self._members,
            factory_problem=lambda q: self._factory_problem(q, node.name),
        )
        fields = reader.read(_body(node))
        written = ", ".join(f"{name}={value}" for name, value in options.items())
        return CopyType(
            name=node.name,
            doc=_doc(node, f"The copyable type {node.name}."),
            wire_name=self._wire(node),
            decorator=f"dataclasses.dataclass({written})" if written else "dataclasses.dataclass",
            fields=tuple(fields),
        )

    def _factory_problem(self, q: QualName, owner: str) -> str | None:
        """Why the dataclass ``q`` cannot make the default of a field of ``owner``, if it
        cannot: it needs arguments, or (the class's name is read when ``owner`` is made) it
        is declared below ``owner`` in this module."""
        if q == QualName.local(owner):
            return f"{owner} cannot make a default of its own fields (it would never end)"
        if q not in self.no_args:
            return f"{q.name}() needs arguments: give each field of {q.name} a default"
        if q.origin is Origin.LOCAL and self.position[q.name] > self.position[owner]:
            return f"{q.name} is declared below {owner}: declare it above"
        return None

    def _members(self, enum_name: str) -> set[str]:
        return self.enum_members.get(enum_name, set())

    def _check_local_name(self, node: ast.AST, name: str, where: str) -> None:
        # Parameters and fields share scopes with the type names the generated code uses.
        if name.startswith("_") or name in _RESERVED or name in self.kinds:
            raise self.scope.error(node, f"{where}: name clash: {name!r} is reserved here")
        if name in self.scope.aliases or name.startswith("pb_"):
            raise self.scope.error(node, f"{where}: name clash: {name!r} is reserved here")

    def _interface(self, node: ast.ClassDef) -> Interface:
        methods: list[Method] = []
        seen: dict[str, ast.stmt] = {}  # every method name, even of a method refused
        spec_var = f"_SPEC_{node.name}"
        bases: list[Key] | None = None
        with self.found.attempt():
            bases = self._bases(node)
        for stmt in _body(node):
            with self.found.attempt():
                if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                    raise self.scope.error(stmt, f"{node.name}: an interface holds only methods")
                where = f"{node.name}.{stmt.name}"
                if stmt.name in seen:
                    raise self.scope.error(stmt, f"{where}: name clash: method defined twice")
                seen[stmt.name] = stmt
                if stmt.name.startswith("_") or stmt.name.startswith("pb_"):
                    raise self.scope.error(
                        stmt, f"{where}: remote method names may not start with _ or pb_"
                    )
                methods.append(self._method(stmt, where, spec_var))
        if bases is not None:  # else its error is reported, and ``inherit`` passes it over
            key = Key(self.name, node.name)
            self.declared[key] = Declared(
                key=key, path=self.scope.path, node=node, bases=tuple(bases), methods=seen
            )
        return Interface(
            name=node.name,
            doc=_doc(node, f"The interface {node.name}."),
            wire_name=self._wire(node),
            spec_var=spec_var,
            bases=tuple(b.name for b in bases or ()),
            methods=tuple(methods),
        )

    def _bases(self, node: ast.ClassDef) -> list[Key]:
        """The interfaces ``node`` extends, besides Protocol; SchemaError for anything else."""
        if node.keywords:
            raise self.scope.error(node, f"{node.name}: class keywords are not supported")
        bases: list[Key] = []
        for base in node.bases:
            q = self.scope.qualify(base)
            if q in _PROTOCOL:
                continue
            if q is None or self.scope.kinds.get(q) is not ClassKind.INTERFACE:
                raise self.scope.error(
                    base,
                    f"{node.name}: base {source_of(base)!r} is not an interface; an "
                    "interface may extend only Protocol classes of these schemas",
                )
            if q.origin is Origin.SIBLING:
                self.scope.used.add(q)
                self.base_specs.add(q)
            key = Key(q.module or self.name, q.name)  # a local interface has no module
            if key in bases:
                raise self.scope.error(base, f"{node.name}: base {key.name} is listed twice")
            bases.append(key)
        return bases

    def _method(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, where: str, spec: str) -> Method:
        a = fn.args
        oneway = self._oneway(fn, where)
        if a.posonlyargs or a.vararg or a.kwarg:
            raise self.scope.error(fn, f"{where}: /, *args and **kwargs are not supported")
        if not a.args or a.args[0].arg != "self":
            raise self.scope.error(fn, f"{where}: a method's first parameter must be self")
        positional = a.args[1:]
        pos_defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults))
        pos_defaults += a.defaults
        params: list[Param] = []
        pairs = [(p, d, False) for p, d in zip(positional, pos_defaults, strict=True)]
        pairs += [(p, d, True) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
        for arg, default, kw_only in pairs:
            with self.found.attempt():
                params.append(self._param(arg, default, kw_only, where))
        if fn.returns is None:
            raise self.scope.error(fn, f"{where}: missing return annotation")
        returns = resolve_type(self.scope, fn.returns, f"{where}: return")
        _whole_streams(self.scope, fn.returns, returns, f"{where}: return")
        return Method(
            name=fn.name,
            doc=_doc(fn, ""),
            params=tuple(params),
            returns=returns,
            interface=spec,
            oneway=oneway,
        )

    def _oneway(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, where: str) -> bool:
        """Whether ``fn`` is marked ``@pb.oneway``, the one decorator a method may have; a
        one-way method returns None (its caller gets no answer)."""
        if not fn.decorator_list:
            return False
        if len(fn.decorator_list) > 1 or self.scope.qualify(fn.decorator_list[0]) != _ONEWAY:
            raise self.scope.error(fn, f"{where}: decorators are not supported on methods")
        returns = fn.returns
        if not (isinstance(returns, ast.Constant) and returns.value is None):
            raise self.scope.error(
                fn, f"{where}: a @pb.oneway method must return None (its caller gets no answer)"
            )
        return True

    def _param(self, arg: ast.arg, default: ast.expr | None, kw_only: bool, where: str) -> Param:
        where = f"{where}: parameter {arg.arg!r}"
        if arg.annotation is None:
            raise self.scope.error(arg, f"{where}: missing annotation")
        self._check_local_name(arg, arg.arg, where)
        type_ = resolve_type(self.scope, arg.annotation, where)
        _whole_streams(self.scope, arg.annotation, type_, where)
        return Param(
            name=arg.arg,
            type=type_,
            kw_only=kw_only,
            default=None
            if default is None
            else resolve_default(self.scope, default, where, self._members),
        )


def _whole_streams(scope: Scope, node: ast.expr, type_: TypeRef, where: str) -> None:
    """A stream is a whole parameter or a whole result: never inside another type (a
    container, a union), where it could not be told apart or checked item by item."""
    inner = type_.args if type_.kind is Kind.STREAM else (type_,)
    if any(n.kind is Kind.STREAM for t in inner for n in t.walk()):
        raise scope.error(
            node,
            f"{where}: AsyncIterator[...] (a stream) may only be a whole parameter or the "
            "whole result, not part of another type",
        )


def parse_dir(schema_dir: Path, display: str) -> list[Module]:
    """Parse every ``*.py`` schema in ``schema_dir`` (sorted by name) into Modules.

    ``display`` is how the directory is named in headers and errors (e.g. ``schemas``).
    Raises SchemaErrors holding every error found. A module goes no further than a stage it
    fails: a file that cannot be read, or a class that cannot be classified, stops its module
    and the modules that import from it (their errors would be about names nobody declared).
    """
    files = sorted(p for p in schema_dir.glob("*.py") if p.name != "__init__.py")
    names = {p.stem for p in files}
    root = schema_dir.resolve()
    found = Collector()
    parsers: list[_ModuleParser] = []
    for path in files:
        shown = f"{display}/{safe_text(path.name)}"
        with found.attempt():
            tree = read_schema(path, shown, root)
            parsers.append(_ModuleParser(path.stem, shown, tree, names - {path.stem}, found))
    broken = names - {p.name for p in parsers}
    for p in parsers:
        if not p.declare():
            broken.add(p.name)
    parsers = [p for p in parsers if not ({p.name} | p.sibling_modules) & broken]
    by_name = {p.name: p for p in parsers}
    for p in parsers:
        p.see(by_name)
    modules = [p.build() for p in parsers]
    for p, module in zip(parsers, modules, strict=True):
        found.errors += p.import_clashes(module)
    found.errors += check({key: d for p in parsers for key, d in p.declared.items()})
    found.errors += _cycles(modules, parsers)
    found.raise_any()
    return modules


def _cycles(modules: list[Module], parsers: list[_ModuleParser]) -> list[SchemaError]:
    """An error for each cycle of schema modules importing each other."""
    graph = {m.name: [i.module for i in m.imports] for m in modules}
    paths = {p.name: p.scope.path for p in parsers}
    errors = []

    def cycle(names: list[str]) -> None:
        message = f"schema modules import each other: {' -> '.join(names)}"
        errors.append(SchemaError(paths[names[0]], 1, message))

    postorder(sorted(graph), lambda name: graph.get(name, []), cycle)
    return errors
