"""The frozen model between parsing and rendering: what a schema module declares.

Constructors have no side effects. The strings templates insert (signatures, calls, type
expressions) are derived here, so templates only place them; see ``layout`` for line fitting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from .layout import (
    LINE,
    all_key,
    call,
    docstring,
    fit_annotation,
    fit_def,
    literal_dict,
    literal_tuple,
    member_key,
    module_key,
)
from .names import ClassKind
from .typeref import Kind, Mode, TypeRef

__all__ = [
    "MODULE_NAME",
    "PROMISE_NAMES",
    "CopyType",
    "EnumType",
    "ErrorType",
    "Field",
    "Import",
    "Interface",
    "Method",
    "Module",
    "Package",
    "Param",
    "SiblingClass",
]


#: A schema module's name: it names a generated module and is written in import lines,
#: registry aliases and wire names, so only an ASCII identifier (no look-alike letters, which
#: Python would also fold together: ``from .\ufb01le`` imports ``file``).
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What a header or docstring may show of a schema path: ``layout.safe_text`` of the folder's
# name, then ``/`` and a module's file name.
_FOLDER = r"[A-Za-z0-9_. +\\-]*"
_SOURCE = re.compile(rf"{_FOLDER}/[A-Za-z_][A-Za-z0-9_]*\.py")

_CLIENT_DOC = (
    "Client stub: await its methods (each gives a promise); ``pb_timeout=`` (seconds) bounds "
    "a call."
)
_PROMISE_DOC = (
    "A promise of a ``{}``: await it for the stub, or call its methods at once (pipelined: "
    "one round trip for a chain)."
)
_BLOCKING_DOC = (
    "Blocking client stub (``pbtyped.sync``): each method waits for its answer; "
    "``pb_timeout=`` (seconds) bounds a call."
)
_SERVER_DOC = (
    "Server skeleton: subclass it and implement each ``remote_*``. Arguments are checked "
    "against the schema before a method runs, results after it."
)


# A result holding nothing else at its top level (one interface, perhaps None) comes back from a
# blocking stub as the blocking stub.
_BLOCKING_OPTIONS = (Kind.INTERFACE, Kind.NONE)

# The names a promise has of its own (``pb.Promise``'s and ``Coroutine``'s). A schema method so
# named is left out of its interface's promise class, where it would hide them: asyncio runs a
# task by calling its coroutine's ``send`` and ``throw``. Await the promise to call it.
PROMISE_NAMES = frozenset({"at", "call", "call_remote", "close", "local", "send", "throw"})

# The modules whose types a schema may name, imported whole (``import datetime``).
_STDLIB = {
    Kind.DATETIME: "datetime",
    Kind.DATE: "datetime",
    Kind.UUID: "uuid",
    Kind.DECIMAL: "decimal",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """A method parameter (after ``self``)."""

    name: str
    type: TypeRef
    kw_only: bool
    default: str | None  # Python source, or None when required

    def signature(self, mode: Mode, *, promised: bool = False) -> str:
        """``name: type`` with its default, as in a ``def``; ``promised``: the type also
        takes a promise of a value of it (a stub's parameter)."""
        text = self.type.render(mode)
        if promised and self.type.kind is not Kind.STREAM:  # a stream is passed as it is
            text = f"{self.name}: pb.Promised[{text}]"
        else:
            text = f"{self.name}: {text}"
        return text if self.default is None else f"{text} = {self.default}"

    @property
    def spec(self) -> str:
        """The ``_pb.param(...)`` entry for the runtime spec."""
        items = [f'"{self.name}"', self.type.render(Mode.STUB)]
        if self.kw_only:
            items.append("kw_only=True")
        if self.default is not None:
            items.append(f"default={self.default}")
        return call("_pb.param", items, 8)


@dataclass(frozen=True, slots=True, kw_only=True)
class Method:
    """A method of an interface."""

    name: str
    doc: str
    params: tuple[Param, ...]
    returns: TypeRef
    interface: str  # the interface's spec variable in the generated module
    #: ``@pb.oneway``: stubs send it (a plain ``def`` returning None), nothing to await.
    oneway: bool = False

    def _params(self, mode: Mode, *extra: str, promised: bool = False) -> list[str]:
        items = ["self"]
        star = False
        for p in self.params:
            if p.kw_only and not star:
                items.append("*")
                star = True
            items.append(p.signature(mode, promised=promised))
        if extra and not star:
            items.append("*")
        return items + list(extra)

    @property
    def client_doc(self) -> str:
        """The stub method's docstring literal."""
        if self.oneway:
            fallback = f"Send ``{self.name}`` to the remote object; no answer comes back."
            return docstring(self.doc or fallback, 8)
        return docstring(self.doc or f"Call ``{self.name}`` on the remote object.", 8)

    @property
    def server_doc(self) -> str:
        """The skeleton method's docstring literal."""
        fallback = f"Implement ``{self.name}``: return the result or an awaitable of it."
        return docstring(self.doc or fallback, 8)

    @property
    def client_def(self) -> str:
        """The ``def`` line(s) of the method, on a stub and on a promise of one: each
        parameter also takes a promise of its value; the result is a promise. A stream result
        is iterated at once instead (``async for tick in feed.ticks("ACME")``)."""
        params = self._params(Mode.ARG, "pb_timeout: float | None = None", promised=True)
        if self.returns.kind is Kind.STREAM:
            return fit_def(f"def {self.name}", params, self.returns.render(Mode.STUB), 4)
        return fit_def(f"def {self.name}", params, self._promise, 4)

    @property
    def _promise(self) -> str:
        """The promise class of the result: ``XPromise`` for an interface X (with X's methods),
        else ``pb.Promise`` of the result."""
        if self.returns.kind is Kind.INTERFACE and self.returns.max_len is None:
            return f"{self.returns.name}Promise"
        return f"pb.Promise[{self.returns.render(Mode.STUB)}]"

    @property
    def promise_names(self) -> tuple[str, ...]:
        """The interfaces whose promise class its ``def`` names."""
        if self.returns.kind is Kind.STREAM or self._promise.startswith("pb."):
            return ()
        return (self.returns.name,)

    @property
    def client_body(self) -> str:
        """The method's one statement: the runtime makes the promise of the call.

        ``pb_timeout`` goes to the runtime: on expiry the peer is told to stop, and the call
        raises TimeoutError.
        """
        args = literal_tuple([p.name for p in self.params if not p.kw_only])
        kwargs = literal_dict([p.name for p in self.params if p.kw_only])
        items = [self.interface, "self", f'"{self.name}"', args, kwargs, "pb_timeout"]
        if self.returns.kind is Kind.STREAM:  # the call goes when iteration starts
            return "return " + call("_pb.stream", items, 8, prefix=7, suffix=0)
        made = self._promise.split("[")[0]  # the class: generic arguments are for mypy alone
        return "return " + call("_pb.invoke", [*items, made], 8, prefix=7, suffix=0)

    @property
    def send_def(self) -> str:
        """A one-way method's stub ``def`` line(s): the parameters, no timeout (no answer is
        waited for), and None, so that awaiting it is a type error."""
        return fit_def(f"def {self.name}", self._params(Mode.ARG), "None", 4)

    @property
    def send_body(self) -> str:
        """A one-way method's stub statement: send it through the runtime."""
        args = literal_tuple([p.name for p in self.params if not p.kw_only])
        kwargs = literal_dict([p.name for p in self.params if p.kw_only])
        items = [self.interface, "self", f'"{self.name}"', args, kwargs]
        return call("_pb.send", items, 8, prefix=0, suffix=0)

    @property
    def blocking_send_def(self) -> str:
        """A one-way method's blocking stub ``def`` line(s)."""
        return fit_def(f"def {self.name}", self._params(Mode.BLOCKING_ARG), "None", 4)

    @property
    def blocking_send_body(self) -> str:
        """A one-way method's blocking stub statement: send it on the loop's thread, and
        return once it is on its way."""
        passed = [f"self.pb_stub.{self.name}"]
        passed += [self._passed(p) for p in self.params if not p.kw_only]
        passed += [f"{p.name}={self._passed(p)}" for p in self.params if p.kw_only]
        return call("self.pb_run", [call("_pb.sent", passed, 12)], 8, prefix=0, suffix=0)

    @property
    def blocking_def(self) -> str:
        """The blocking stub method's ``def`` line(s): the stub's parameters, where an interface
        at the top level also takes the blocking stub, and the plain result."""
        stream = self.returns.kind is Kind.STREAM
        mode = Mode.STUB if self._blocking_result is None and not stream else Mode.BLOCKING
        params = self._params(Mode.BLOCKING_ARG, "pb_timeout: float | None = None")
        return fit_def(f"def {self.name}", params, self.returns.render(mode), 4)

    @property
    def blocking_body(self) -> str:
        """The blocking stub method's one statement: run the async stub's method and wait.

        Blocking stubs given for interfaces are unwrapped; a result declared ``X`` or
        ``X | None`` is made the blocking stub ``XSyncClient``.
        """
        passed = [self._passed(p) for p in self.params if not p.kw_only]
        passed += [f"{p.name}={self._passed(p)}" for p in self.params if p.kw_only]
        passed.append("pb_timeout=pb_timeout")
        if self.returns.kind is Kind.STREAM:
            stub = call(f"self.pb_stub.{self.name}", passed, 12)
            return "return " + call("self.pb_iterate", [stub], 8, prefix=7, suffix=0)
        result = self._blocking_result
        if result is None:
            stub = call(f"self.pb_stub.{self.name}", passed, 12)
            return "return " + call("self.pb_run", [stub], 8, prefix=7, suffix=0)
        run = call("self.pb_run", [call(f"self.pb_stub.{self.name}", passed, 16)], 12)
        wrapped = [run, f"{result.name}SyncClient"]
        return "return " + call("self.pb_wrap", wrapped, 8, prefix=7, suffix=0)

    @staticmethod
    def _passed(p: Param) -> str:
        return f"self.pb_unwrap({p.name})" if p.type.top_interfaces else p.name

    @property
    def _blocking_result(self) -> TypeRef | None:
        """The interface X of a result declared ``X`` or ``X | None``: the blocking stub
        returns ``XSyncClient`` for it. Any other result holding interfaces keeps the async
        stubs (a union may hold several; ``pb_wrap`` makes one blocking)."""
        options = self.returns.options()
        interfaces = self.returns.top_interfaces
        if len(interfaces) == 1 and all(a.kind in _BLOCKING_OPTIONS for a in options):
            return interfaces[0]
        return None

    @property
    def blocking_names(self) -> tuple[str, ...]:
        """The interfaces whose blocking stub its ``def`` names."""
        named = [i.name for p in self.params for i in p.type.top_interfaces]
        if self._blocking_result is not None:
            named.append(self._blocking_result.name)
        return tuple(named)

    @property
    def server_def(self) -> str:
        """The skeleton's abstract ``def remote_<name>`` line(s)."""
        ret = self.returns.render(Mode.RESULT)
        # ``None`` goes last in a union (ruff's RUF036): ``int | Awaitable[int | None] | None``.
        options = [a for a in self.returns.options() if a.kind is not Kind.NONE]
        plain = [a.render(Mode.RESULT) for a in options]
        none = [] if len(options) == len(self.returns.options()) else ["None"]
        returns = " | ".join([*plain, f"Awaitable[{ret}]", *none])
        return fit_def(f"def remote_{self.name}", self._params(Mode.STUB), returns, 4)

    @property
    def spec(self) -> str:
        """The ``name=_pb.method(...)`` entry of the interface's runtime spec."""
        items = [p.spec for p in self.params] + [f"returns={self.returns.render(Mode.STUB)}"]
        if self.oneway:
            items.append("oneway=True")
        return call(f"{self.name}=_pb.method", items, 4)


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    """A ``typing.Protocol`` of the schema: becomes ``<Name>Client`` and ``<Name>Server``."""

    name: str
    doc: str
    wire_name: str
    spec_var: str
    bases: tuple[str, ...]  # the interfaces it extends, in order
    methods: tuple[Method, ...]  # its own; the bases' are inherited

    @property
    def client_head(self) -> str:
        """The stub's ``class`` line(s): the bases' stubs are its bases (their methods too)."""
        bases = [f"{b}Client" for b in self.bases] or ["pb.Stub"]
        return call(f"class {self.client_name}", bases, 0) + ":"

    @property
    def client_name(self) -> str:
        """The async stub's class name."""
        return f"{self.name}Client"

    @property
    def calls_head(self) -> str:
        """The ``class`` line(s) of the interface's methods on a promise of its stub (a
        mixin, so that a promise of a derived interface's stub has its bases' methods and
        is a ``pb.Promise`` of that stub alone): the bases' methods are its bases. The stub
        has its own copy of them, so that mypy's messages name the stub."""
        bases = [f"_{b}Calls" for b in self.bases]
        if not bases:
            return f"class _{self.name}Calls:"
        return call(f"class _{self.name}Calls", bases, 0) + ":"

    @property
    def promise_methods(self) -> tuple[Method, ...]:
        """The methods a promise of its stub has: all but those named as the promise's own."""
        return tuple(m for m in self.methods if m.name not in PROMISE_NAMES)

    @property
    def calls_doc(self) -> str:
        """The docstring literal of the methods' mixin."""
        text = f"The methods of ``{self.name}Promise``: those of ``{self.client_name}``."
        return docstring(text, 4)

    @property
    def promise_head(self) -> str:
        """The promise class's ``class`` line(s): the methods, and a promise of the stub (its
        only path to ``pb.Promise``, so that mypy sees it give this interface's stub)."""
        bases = [f"_{self.name}Calls", f"pb.Promise[{self.client_name}]"]
        return call(f"class {self.name}Promise", bases, 0) + ":"

    @property
    def promise_doc(self) -> str:
        """The promise class's docstring literal."""
        return docstring(f"{self.doc}\n\n{_PROMISE_DOC.format(self.client_name)}", 4)

    @property
    def blocking_head(self) -> str:
        """The blocking stub's ``class`` line(s): the bases' blocking stubs are its bases."""
        bases = [f"{b}SyncClient" for b in self.bases] or [f"_sync.SyncStub[{self.client_name}]"]
        return call(f"class {self.name}SyncClient", bases, 0) + ":"

    @property
    def blocking_doc(self) -> str:
        """The blocking stub class's docstring literal."""
        return docstring(f"{self.doc}\n\n{_BLOCKING_DOC}", 4)

    @property
    def server_head(self) -> str:
        """The skeleton's ``class`` line(s): the bases' skeletons are its bases (their abstract
        methods too)."""
        bases = [f"{b}Server" for b in self.bases] or ["pb.Root"]
        return call(f"class {self.name}Server", [*bases, "metaclass=abc.ABCMeta"], 0) + ":"

    @property
    def dispatch_body(self) -> str:
        """The skeleton's ``pb_dispatch`` statement: check and run through the spec."""
        items = [self.spec_var, "self", "method", "args", "kwargs"]
        return "return " + call("_pb.dispatch", items, 8, prefix=7, suffix=0)

    @property
    def spec_bases(self) -> tuple[str, ...]:
        """The bases' spec variables: their methods join this interface's spec."""
        return tuple(f"_SPEC_{b}" for b in self.bases)

    @property
    def client_doc(self) -> str:
        """The stub class's docstring literal."""
        return docstring(f"{self.doc}\n\n{_CLIENT_DOC}", 4)

    @property
    def server_doc(self) -> str:
        """The skeleton class's docstring literal."""
        return docstring(f"{self.doc}\n\n{_SERVER_DOC}", 4)


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """A dataclass field."""

    name: str
    type: TypeRef
    default: str | None  # Python source
    factory: str | None = None  # the class whose call makes each instance's default

    @property
    def line(self) -> str:
        """The field's line(s) in the class body."""
        text = f"{self.name}: {self.type.render(Mode.PLAIN)}"
        if self.factory is not None:
            value = f"default_factory={self.factory}"
            return f"{text} = " + call(
                "dataclasses.field", [value], 4, prefix=len(text) + 3, suffix=0
            )
        tail = "" if self.default is None else f" = {self.default}"
        return fit_annotation(f"{self.name}: ", self.type.render(Mode.PLAIN), tail, 4)


class _Registered:
    """What copy, enum and error types share: a docstring and a REGISTRY registration."""

    __slots__ = ()
    name: str
    doc: str
    wire_name: str
    #: The Registry method that admits this kind of class.
    _register_with = "REGISTRY.register_type"

    @property
    def doc_literal(self) -> str:
        """The class's docstring literal."""
        return docstring(self.doc, 4)

    @property
    def register(self) -> str:
        """The statement registering it in the module's REGISTRY under its wire name."""
        return call(self._register_with, [self.name, f'"{self.wire_name}"'], 0, suffix=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyType(_Registered):
    """A ``@dataclass`` passed by copy."""

    name: str
    doc: str
    wire_name: str
    decorator: str  # e.g. ``dataclasses.dataclass(frozen=True)``
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EnumType(_Registered):
    """An ``enum.Enum`` (or IntEnum/StrEnum) passed by copy."""

    name: str
    doc: str
    wire_name: str
    base: str
    members: tuple[tuple[str, str], ...]  # (name, value source)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorType(_Registered):
    """A ``pb.Error`` subclass that may cross the wire."""

    _register_with = "REGISTRY.register_error"

    name: str
    doc: str
    wire_name: str
    base: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Import:
    """Names taken from a sibling generated module."""

    module: str
    names: tuple[str, ...]  # in isort's order (``layout.member_key``)
    registry_alias: str

    def __post_init__(self) -> None:
        _require(MODULE_NAME, self.module, "Import.module")

    @property
    def line(self) -> str:
        """The ``from .module import ...`` statements: its registry, under a private alias, is
        imported alone (as ruff's isort wants it), before or after the others as it sorts."""
        statements = [(member_key("REGISTRY"), self._line([f"REGISTRY as {self.registry_alias}"]))]
        if self.names:
            statements.append((member_key(self.names[0]), self._line(list(self.names))))
        return "\n".join(text for _, text in sorted(statements))

    def _line(self, names: list[str]) -> str:
        one = f"from .{self.module} import {', '.join(names)}"
        if len(one) <= LINE:
            return one
        return f"from .{self.module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


class NameClash(NamedTuple):
    """A name a generated module would hold twice: ``first`` says how (declared here,
    generated for an interface of this module, imported for a sibling class), and it is also
    imported for ``second``, a class of the sibling module ``module``. ``local`` is the class
    of this module it is declared or generated for, if any."""

    name: str
    first: str
    second: str
    module: str
    local: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SiblingClass:
    """A class of a sibling schema module that this module names, in a type or as a base."""

    module: str
    name: str
    kind: ClassKind
    extended: bool  # an interface of this module extends it

    @property
    def imported(self) -> tuple[str, ...]:
        """What the generated module takes for it from the sibling's: an interface's stub and
        skeleton or another class itself; and an extended interface's spec (its methods join
        those of the interface extending it) and blocking stub (the base of the blocking stub
        extending it)."""
        if self.kind is ClassKind.INTERFACE:
            names: tuple[str, ...] = (f"{self.name}Client", f"{self.name}Server")
        else:
            names = (self.name,)
        if self.extended:
            extended = (f"{self.name}SyncClient", f"_SPEC_{self.name}", f"_{self.name}Calls")
            return (*names, *extended)
        return names


@dataclass(frozen=True, slots=True, kw_only=True)
class Module:
    """One schema module and everything its generated module holds.

    What it imports and exports is derived from what it declares and names.
    """

    name: str
    source: str  # shown in the header, relative (e.g. ``schemas/one.py``)
    enums: tuple[EnumType, ...]
    copy_types: tuple[CopyType, ...]
    errors: tuple[ErrorType, ...]
    interfaces: tuple[Interface, ...]
    siblings: tuple[SiblingClass, ...]  # the classes of sibling modules its types name

    def __post_init__(self) -> None:
        # Templates write both in the header comment and the module docstring as they are.
        _require(MODULE_NAME, self.name, "Module.name")
        _require(_SOURCE, self.source, "Module.source")

    @property
    def registered_types(self) -> tuple[EnumType | CopyType, ...]:
        """The pass-by-copy types to register, enums first."""
        return (*self.enums, *self.copy_types)

    @property
    def imports(self) -> tuple[Import, ...]:
        """The sibling generated modules it imports from, in isort's order."""
        blocking = {n for m in self._methods() for n in m.blocking_names}
        promised = {n for m in self._methods() for n in m.promise_names}
        by_module: dict[str, set[str]] = {}
        for sibling in self.siblings:
            names = by_module.setdefault(sibling.module, set())
            names.update(sibling.imported)
            if sibling.kind is ClassKind.INTERFACE and sibling.name in blocking:
                names.add(f"{sibling.name}SyncClient")
            if sibling.kind is ClassKind.INTERFACE and sibling.name in promised:
                names.add(f"{sibling.name}Promise")
        return tuple(
            Import(
                module=module,
                names=tuple(sorted(names, key=member_key)),
                registry_alias=f"_REGISTRY_{module}",
            )
            for module, names in sorted(by_module.items(), key=lambda item: module_key(item[0]))
        )

    @property
    def import_clashes(self) -> tuple[NameClash, ...]:
        """Names its generated module would both define and import, or import from two
        sibling modules: each would leave one of the two unreachable."""
        defined = {t.name: t.name for t in (*self.enums, *self.copy_types, *self.errors)}
        for i in self.interfaces:
            for suffix in ("Client", "Server", "SyncClient"):
                defined[i.name + suffix] = i.name
        owners: dict[tuple[str, str], str] = {}
        for sibling in self.siblings:
            for name in (*sibling.imported, f"{sibling.name}SyncClient"):
                owners[sibling.module, name] = f"{sibling.module}.{sibling.name}"
        imported: dict[str, str] = {}
        clashes = []
        for imp in self.imports:
            for name in imp.names:
                owner = owners.get((imp.module, name), f"{imp.module}.{name}")
                local = defined.get(name)
                if local is not None:
                    first = "declared here" if local == name else f"generated for interface {local}"
                    clashes.append(NameClash(name, first, owner, imp.module, local))
                elif name in imported:
                    first = f"imported for {imported[name]}"
                    clashes.append(NameClash(name, first, owner, imp.module, None))
                imported.setdefault(name, owner)
        return tuple(clashes)

    @property
    def exports(self) -> tuple[str, ...]:
        """``__all__``, sorted as ruff sorts it."""
        names = [t.name for t in (*self.enums, *self.copy_types, *self.errors)]
        suffixes = ("Client", "Promise", "Server", "SyncClient")
        names += [i.name + suffix for i in self.interfaces for suffix in suffixes]
        return tuple(sorted([*names, "REGISTRY"], key=all_key))

    @property
    def imports_sync(self) -> bool:
        """Whether it imports ``pbtyped.sync``: for the base of a blocking stub that extends
        no other interface's, and the loop thread a derived one's ``__init__`` names."""
        return bool(self.interfaces)

    @property
    def stdlib_imports(self) -> tuple[str, ...]:
        """The modules it imports whole (``import x``), sorted."""
        needed = {_STDLIB[n.kind] for n in self._type_nodes() if n.kind in _STDLIB}
        if self.enums:
            needed.add("enum")
        if self.copy_types:
            needed.add("dataclasses")
        if self.interfaces:
            needed.add("abc")
        return tuple(sorted(needed))

    @property
    def abc_names(self) -> tuple[str, ...]:
        """The names it imports from ``collections.abc``, sorted: ``Awaitable`` for server
        results, ``Sequence`` and ``Mapping`` for covariant client parameters."""
        params = [n for m in self._methods() for p in m.params for n in p.type.walk()]
        names = {"Awaitable"} if self.interfaces else set()
        if any(n.kind is Kind.STREAM for n in self._type_nodes()):
            names.add("AsyncIterator")
        if any(m.returns.kind is Kind.STREAM for m in self._methods()):
            names.add("Iterator")  # the blocking stub's
        if any(n.kind is Kind.LIST and n.covariant for n in params):
            names.add("Sequence")
        if any(n.kind is Kind.DICT and n.covariant for n in params):
            names.add("Mapping")
        return tuple(sorted(names))

    @property
    def typing_names(self) -> tuple[str, ...]:
        """The names it imports from ``typing``, sorted."""
        nodes = self._type_nodes()
        names = {"Any", "ClassVar"} if self.interfaces else set()
        if any(n.kind is Kind.LITERAL for n in nodes):
            names.add("Literal")
        if any(n.max_len is not None for n in nodes):
            names.add("Annotated")
        return tuple(sorted(names, key=member_key))

    @property
    def extends(self) -> bool:
        """Whether an interface extends another (its blocking stub then casts ``pb_stub``)."""
        return any(i.bases for i in self.interfaces)

    def _methods(self) -> list[Method]:
        return [m for i in self.interfaces for m in i.methods]

    def _type_nodes(self) -> list[TypeRef]:
        """Every node of every type it declares: fields, parameters and results."""
        roots = [f.type for c in self.copy_types for f in c.fields]
        for m in self._methods():
            roots += [p.type for p in m.params]
            roots.append(m.returns)
        return [n for r in roots for n in r.walk()]


@dataclass(frozen=True, slots=True, kw_only=True)
class Package:
    """The generated package's ``__init__.py``."""

    source: str  # the schema folder's name, through ``layout.safe_text``

    def __post_init__(self) -> None:
        _require(re.compile(_FOLDER), self.source, "Package.source")

    @property
    def doc_literal(self) -> str:
        """The package's docstring literal."""
        text = f"Generated from the schemas in ``{self.source}``: one module per schema module."
        return docstring(text, 0)


def _require(pattern: re.Pattern[str], value: str, what: str) -> None:
    # A name from the file system reaches a template only in a form that cannot end a comment
    # or a literal; anything else is a bug in the parser, caught before any text is rendered.
    if not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not safe to write in generated code")
