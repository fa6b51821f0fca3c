"""Schema files to the frozen model, by reading their syntax trees (schemas are never imported,
so generating code never runs the schema author's code)."""

from __future__ import annotations

import ast
import keyword
import re
from pathlib import Path

from .annotations import (
    MAX_NESTING,
    Scope,
    deepest,
    literal_source,
    resolve_default,
    resolve_type,
    source_of,
)
from .errors import SchemaError
from .inherit import Declared, Key, bases_first, check, postorder
from .layout import all_key, member_key, module_key, safe_text
from .model import (
    MODULE_NAME,
    CopyType,
    EnumType,
    ErrorType,
    Field,
    Import,
    Interface,
    Kind,
    Method,
    Module,
    Param,
    TypeRef,
)

__all__ = ["MAX_SCHEMA_BYTES", "parse_dir"]

_PROTOCOL = {"typing.Protocol", "typing_extensions.Protocol"}
_ENUMS = {"enum.Enum": "enum.Enum", "enum.IntEnum": "enum.IntEnum", "enum.StrEnum": "enum.StrEnum"}
# Schema module names that would shadow a module schemas or generated code import.
_SHADOWS = {"abc", "dataclasses", "datetime", "decimal", "enum", "pbtyped", "typing", "uuid"}
#: The largest schema file read. Real schemas are tens of KiB; a syntax tree takes 150 to 250
#: times its source in memory, so the bound keeps one file under about 250 MB.
MAX_SCHEMA_BYTES = 1 << 20
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
    def __init__(self, name: str, path: str, tree: ast.Module, siblings: set[str]) -> None:
        self.name = name
        self.tree = tree
        self.scope = Scope(path)
        self.siblings = siblings
        self.classes: dict[str, ast.ClassDef] = {}
        self.enum_members: dict[str, set[str]] = {}
        self.declared: dict[Key, Declared] = {}  # this module's interfaces, for ``inherit``
        self.base_specs: set[str] = set()  # sibling interfaces extended here

    # -- pass 1: names and what kind of class each one is ---------------------------------

    def declare(self) -> dict[str, str]:
        """Read imports and classify the module's classes; return ``{name: kind}``."""
        kinds: dict[str, str] = {}
        for stmt in self.tree.body:
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    local = alias.asname or alias.name.partition(".")[0]
                    target = alias.name if alias.asname else local
                    self.scope.aliases[local] = self._module_name(target, 0)
            elif isinstance(stmt, ast.ImportFrom):
                base = self._module_name(stmt.module or "", stmt.level)
                for alias in stmt.names:
                    target = f"{base}{alias.name}" if base == "sibling:" else f"{base}.{alias.name}"
                    self.scope.aliases[alias.asname or alias.name] = target
            elif isinstance(stmt, ast.ClassDef):
                if stmt.name in self.classes:
                    raise self.scope.error(stmt, f"name clash: {stmt.name} is defined twice")
                if stmt.name.startswith("_") or stmt.name in _RESERVED:
                    raise self.scope.error(
                        stmt, f"name clash: {stmt.name} is reserved in generated code"
                    )
                self.classes[stmt.name] = stmt
                kinds[stmt.name] = self._classify(stmt, kinds)
            elif self._ignorable(stmt):
                continue
            else:
                raise self.scope.error(
                    stmt, "a schema holds only imports, classes and a docstring at top level"
                )
        for name, kind in kinds.items():
            self.scope.kinds[f"local:{name}"] = kind
            if kind == "interface":
                for generated in (name + "Client", name + "Server"):
                    if generated in kinds:
                        raise self.scope.error(
                            self.classes[generated],
                            f"name clash: {generated} is also generated for interface {name}",
                        )
        return kinds

    @staticmethod
    def _ignorable(stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            return True
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        return len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id == "__all__"

    def _module_name(self, module: str, level: int) -> str:
        # ``from .b``, ``from b`` and ``from schemas.b`` all name the sibling schema b.
        if level > 0 and not module:
            return "sibling:"  # ``from . import b``
        last = module.rpartition(".")[2]
        return f"sibling:{last}" if last in self.siblings else module

    def _classify(self, node: ast.ClassDef, earlier: dict[str, str]) -> str:
        if any(self._is_dataclass(d) for d in node.decorator_list):
            if node.bases:
                raise self.scope.error(node, f"{node.name}: a dataclass may not have base classes")
            return "copy"
        if node.decorator_list:
            raise self.scope.error(node, f"{node.name}: unsupported class decorator")
        bases = [self.scope.qualify(b) for b in node.bases]
        if any(b in _PROTOCOL for b in bases):
            return "interface"  # its other bases are checked once every module is declared
        extends = [
            source_of(b)
            for b, q in zip(node.bases, bases, strict=True)
            if (q or "").startswith("sibling:")
            or (isinstance(b, ast.Name) and earlier.get(b.id) == "interface")
        ]
        if extends:
            raise self.scope.error(
                node,
                f"{node.name}: an interface extending {extends[0]} must list Protocol among "
                f"its bases too: class {node.name}({extends[0]}, Protocol)",
            )
        if len(bases) == 1 and bases[0] in _ENUMS:
            return "enum"
        if len(bases) == 1 and bases[0] == "pbtyped.Error":
            return "error"
        base = node.bases[0] if len(node.bases) == 1 else None
        if isinstance(base, ast.Name) and earlier.get(base.id) == "error":
            return "error"
        raise self.scope.error(
            node,
            f"{node.name}: unsupported class; use a typing.Protocol, a @dataclass, "
            "an enum.Enum or a pb.Error subclass",
        )

    def _is_dataclass(self, node: ast.expr) -> bool:
        func = node.func if isinstance(node, ast.Call) else node
        return self.scope.qualify(func) == "dataclasses.dataclass"

    # -- pass 2: the model -----------------------------------------------------------------

    def build(self) -> Module:
        """Build the Module (after every module's ``declare``)."""
        enums, copies, errors, interfaces = [], [], [], []
        for name, node in self.classes.items():
            # Enums first: defaults elsewhere may name their members.
            if self.scope.kinds[f"local:{name}"] == "enum":
                enums.append(self._enum(node, f"{self.name}.{name}"))
        local_bases = {
            name: [b.id for b in node.bases if isinstance(b, ast.Name)]
            for name, node in self.classes.items()
            if self.scope.kinds[f"local:{name}"] == "interface"
        }
        # Class statements need their bases defined first; otherwise the schema's order.
        order = {name: i for i, name in enumerate(bases_first(list(local_bases), local_bases))}
        for name, node in sorted(self.classes.items(), key=lambda c: order.get(c[0], -1)):
            kind = self.scope.kinds[f"local:{name}"]
            wire = f"{self.name}.{name}"
            if kind == "enum":
                continue
            if kind == "copy":
                copies.append(self._copy(node, wire))
            elif kind == "error":
                base = self.scope.qualify(node.bases[0]) or ""
                errors.append(
                    ErrorType(
                        name=name,
                        doc=_doc(node, f"The remote error {name}."),
                        wire_name=wire,
                        base="pb.Error" if base == "pbtyped.Error" else base.removeprefix("local:"),
                    )
                )
                if _body(node):
                    raise self.scope.error(_body(node)[0], f"{name}: an error class has no body")
            else:
                interfaces.append(self._interface(node, wire))
        return self._module(enums, copies, errors, interfaces)

    def _enum(self, node: ast.ClassDef, wire: str) -> EnumType:
        members: list[tuple[str, str]] = []
        for stmt in _body(node):
            ok = isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
            value = literal_source(stmt.value) if isinstance(stmt, ast.Assign) else None
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) else None
            if not ok or value is None or not isinstance(target, ast.Name):
                raise self.scope.error(stmt, f"{node.name}: enum members must be NAME = constant")
            members.append((target.id, value))
        self.enum_members[node.name] = {m for m, _ in members}
        base = _ENUMS[self.scope.qualify(node.bases[0]) or ""]
        return EnumType(
            name=node.name,
            doc=_doc(node, f"The enumeration {node.name}."),
            wire_name=wire,
            base=base,
            members=tuple(members),
        )

    def _copy(self, node: ast.ClassDef, wire: str) -> CopyType:
        options: list[str] = []
        for deco in node.decorator_list:
            for kw in deco.keywords if isinstance(deco, ast.Call) else []:
                const = kw.value.value if isinstance(kw.value, ast.Constant) else None
                if kw.arg not in _DATACLASS_OPTIONS or type(const) is not bool:
                    raise self.scope.error(deco, f"{node.name}: unsupported dataclass option")
                options.append(f"{kw.arg}={const}")
        fields: list[Field] = []
        for stmt in _body(node):
            if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
                raise self.scope.error(
                    stmt, f"{node.name}: a dataclass holds only annotated fields"
                )
            name = stmt.target.id
            where = f"{node.name}.{name}"
            self._check_local_name(stmt, name, where)
            default = None
            if stmt.value is not None:
                default = resolve_default(self.scope, stmt.value, where, self._members)
            fields.append(
                Field(
                    name=name,
                    type=resolve_type(self.scope, stmt.annotation, where, in_copy=True),
                    default=default,
                )
            )
        decorator = "dataclasses.dataclass" + (f"({', '.join(options)})" if options else "")
        return CopyType(
            name=node.name,
            doc=_doc(node, f"The copyable type {node.name}."),
            wire_name=wire,
            decorator=decorator,
            fields=tuple(fields),
        )

    def _members(self, enum_name: str) -> set[str]:
        return self.enum_members.get(enum_name, set())

    def _check_local_name(self, node: ast.AST, name: str, where: str) -> None:
        # Parameters and fields share scopes with the type names the generated code uses.
        if name.startswith("_") or name in _RESERVED or f"local:{name}" in self.scope.kinds:
            raise self.scope.error(node, f"{where}: name clash: {name!r} is reserved here")
        if name in self.scope.aliases or name.startswith("pb_"):
            raise self.scope.error(node, f"{where}: name clash: {name!r} is reserved here")

    def _interface(self, node: ast.ClassDef, wire: str) -> Interface:
        methods: list[Method] = []
        seen: dict[str, ast.stmt] = {}
        spec_var = f"_SPEC_{node.name}"
        bases = self._bases(node)
        for stmt in _body(node):
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
        key = (self.name, node.name)
        self.declared[key] = Declared(
            key=key, path=self.scope.path, node=node, bases=tuple(bases), methods=seen
        )
        return Interface(
            name=node.name,
            doc=_doc(node, f"The interface {node.name}."),
            wire_name=wire,
            spec_var=spec_var,
            bases=tuple(name for _, name in bases),
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
            if q is None or self.scope.kinds.get(q) != "interface":
                raise self.scope.error(
                    base,
                    f"{node.name}: base {source_of(base)!r} is not an interface; an "
                    "interface may extend only Protocol classes of these schemas",
                )
            if q.startswith("sibling:"):
                self.scope.used.add(q)
                self.base_specs.add(q)
                module, _, name = q.removeprefix("sibling:").partition(".")
            else:
                module, name = self.name, q.removeprefix("local:")
            if (module, name) in bases:
                raise self.scope.error(base, f"{node.name}: base {name} is listed twice")
            bases.append((module, name))
        return bases

    def _method(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, where: str, spec: str) -> Method:
        a = fn.args
        if fn.decorator_list:
            raise self.scope.error(fn, f"{where}: decorators are not supported on methods")
        if a.posonlyargs or a.vararg or a.kwarg:
            raise self.scope.error(fn, f"{where}: /, *args and **kwargs are not supported")
        if not a.args or a.args[0].arg != "self":
            raise self.scope.error(fn, f"{where}: a method's first parameter must be self")
        if fn.returns is None:
            raise self.scope.error(fn, f"{where}: missing return annotation")
        positional = a.args[1:]
        pos_defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults))
        pos_defaults += a.defaults
        params: list[Param] = []
        pairs = [(p, d, False) for p, d in zip(positional, pos_defaults, strict=True)]
        pairs += [(p, d, True) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
        for arg, default, kw_only in pairs:
            pwhere = f"{where}: parameter {arg.arg!r}"
            if arg.annotation is None:
                raise self.scope.error(arg, f"{pwhere}: missing annotation")
            self._check_local_name(arg, arg.arg, pwhere)
            params.append(
                Param(
                    name=arg.arg,
                    type=resolve_type(self.scope, arg.annotation, pwhere),
                    kw_only=kw_only,
                    default=None
                    if default is None
                    else resolve_default(self.scope, default, pwhere, self._members),
                )
            )
        return Method(
            name=fn.name,
            doc=_doc(fn, ""),
            params=tuple(params),
            returns=resolve_type(self.scope, fn.returns, f"{where}: return"),
            interface=spec,
        )

    def _module(
        self,
        enums: list[EnumType],
        copies: list[CopyType],
        errors: list[ErrorType],
        interfaces: list[Interface],
    ) -> Module:
        refs: list[TypeRef] = [f.type for c in copies for f in c.fields]
        for iface in interfaces:
            for m in iface.methods:
                refs.extend(p.type for p in m.params)
                refs.append(m.returns)
        nodes = [n for r in refs for n in r.walk()]
        args = [n for i in interfaces for m in i.methods for p in m.params for n in p.type.walk()]
        abc_names = {"Awaitable"} if interfaces else set()
        if any(n.kind is Kind.LIST and n.covariant for n in args):
            abc_names.add("Sequence")
        if any(n.kind is Kind.DICT and n.covariant for n in args):
            abc_names.add("Mapping")
        typing_names = set()
        if any(n.kind is Kind.LITERAL for n in nodes):
            typing_names.add("Literal")
        if any(n.max_len is not None for n in nodes):
            typing_names.add("Annotated")
        if interfaces:
            typing_names.update({"Any", "ClassVar"})
        stdlib = {k.value.partition(".")[0] for k in (n.kind for n in nodes) if "." in k.value}
        stdlib.discard("tuple")
        if enums:
            stdlib.add("enum")
        if copies:
            stdlib.add("dataclasses")
        if interfaces:
            stdlib.add("abc")
        by_module: dict[str, set[str]] = {}
        for q in self.scope.used:
            module, _, name = q.removeprefix("sibling:").partition(".")
            names = by_module.setdefault(module, set())
            if self.scope.kinds.get(q) == "interface":
                names.update({name + "Client", name + "Server"})
            else:
                names.add(name)
            if q in self.base_specs:
                names.add(f"_SPEC_{name}")  # an extended interface's methods join ours
        imports = tuple(
            Import(
                module=mod,
                names=tuple(sorted(names, key=member_key)),
                registry_alias=f"_REGISTRY_{mod}",
            )
            for mod, names in sorted(by_module.items(), key=lambda item: module_key(item[0]))
        )
        exports = [e.name for e in enums] + [c.name for c in copies] + [e.name for e in errors]
        exports.append("REGISTRY")
        exports += [i.name + suffix for i in interfaces for suffix in ("Client", "Server")]
        return Module(
            name=self.name,
            source=self.scope.path,
            enums=tuple(enums),
            copy_types=tuple(copies),
            errors=tuple(errors),
            interfaces=tuple(interfaces),
            imports=imports,
            abc_names=tuple(sorted(abc_names)),
            typing_names=tuple(sorted(typing_names)),
            stdlib_imports=tuple(sorted(stdlib)),
            exports=tuple(sorted(exports, key=all_key)),
        )


def parse_dir(schema_dir: Path, display: str) -> list[Module]:
    """Parse every ``*.py`` schema in ``schema_dir`` (sorted by name) into Modules.

    ``display`` is how the directory is named in headers and errors (e.g. ``schemas``).
    Raises SchemaError at the first problem.
    """
    files = sorted(p for p in schema_dir.glob("*.py") if p.name != "__init__.py")
    names = {p.stem for p in files}
    root = schema_dir.resolve()
    parsers: list[_ModuleParser] = []
    for path in files:
        shown = f"{display}/{safe_text(path.name)}"
        tree = _read(path, shown, root)
        parsers.append(_ModuleParser(path.stem, shown, tree, names - {path.stem}))
    declared = {p.name: p.declare() for p in parsers}
    for p in parsers:
        for target in p.scope.aliases.values():
            if target.startswith("sibling:"):
                module, _, name = target.removeprefix("sibling:").partition(".")
                if name and name in declared.get(module, {}):
                    p.scope.kinds[target] = declared[module][name]
                elif not name:
                    for other, kind in declared.get(module, {}).items():
                        p.scope.kinds[f"{target}.{other}"] = kind
    modules = [p.build() for p in parsers]
    check({key: d for p in parsers for key, d in p.declared.items()})
    _check_cycles(modules, parsers)
    return modules


def _read(path: Path, shown: str, root: Path) -> ast.Module:
    """The syntax tree of one schema file (``shown`` in errors), read only if its name can name
    a generated module and it is a file of the schema folder ``root``."""
    stem = path.stem
    if not MODULE_NAME.fullmatch(stem) or keyword.iskeyword(stem) or stem in _SHADOWS:
        fix = re.sub(r"[^A-Za-z0-9_]", "_", stem)
        example = f" such as {fix}.py" if fix.isidentifier() else ""
        raise SchemaError(
            shown,
            1,
            f"{stem!r} is not a usable schema module name: rename the file to a name of ASCII "
            f"letters, digits and _{example} (not a keyword, nor one of {sorted(_SHADOWS)})",
        )
    real = path.resolve()
    # A link out of the folder would copy a file the repository does not hold (its docstrings)
    # into generated code; a pipe or a device would never end.
    if not real.is_relative_to(root):
        raise SchemaError(shown, 1, "a symbolic link out of the schema folder: copy the file in")
    if not real.is_file():
        raise SchemaError(shown, 1, "not a regular file: a schema is a Python source file")
    size = real.stat().st_size
    if size > MAX_SCHEMA_BYTES:
        raise SchemaError(
            shown, 1, f"{size} bytes, more than a schema may hold ({MAX_SCHEMA_BYTES}): split it"
        )
    try:
        tree = ast.parse(real.read_text(encoding="utf-8"), filename=shown)
    except UnicodeDecodeError as exc:
        raise SchemaError(shown, 1, f"not UTF-8 text (byte {exc.start})") from None
    except SyntaxError as exc:
        raise SchemaError(shown, exc.lineno or 1, f"syntax error: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise SchemaError(shown, 1, "nested too deeply for Python to parse") from None
    depth, node = deepest(tree)
    if depth > MAX_NESTING:
        line = getattr(node, "lineno", 1)
        raise SchemaError(shown, line, f"nested more than {MAX_NESTING} deep: simplify it")
    return tree


def _check_cycles(modules: list[Module], parsers: list[_ModuleParser]) -> None:
    graph = {m.name: [i.module for i in m.imports] for m in modules}
    paths = {p.name: p.scope.path for p in parsers}

    def cycle(names: list[str]) -> None:
        raise SchemaError(
            paths[names[0]], 1, f"schema modules import each other: {' -> '.join(names)}"
        )

    postorder(sorted(graph), lambda name: graph.get(name, []), cycle)
