"""What generated stubs and skeletons delegate to: method tables, binding, calls, dispatch.

Generated modules build one ``InterfaceSpec`` per interface at import time; every checker is
made then, never per call.

Both ends check every call against the schema, and their refusals name the method: a client
stub refuses arguments before anything is sent (``send(): $.text: expected str, got int``) and
a result once it arrives (``result of members(): $[0]: expected str, got int``); a skeleton
refuses arguments before its method runs and a result before it is sent, and logs the latter
(the server's own fault), rate-limited. A skeleton also refuses, before its method runs, a
call on a connection whose registry could not send the result (a type it may hold is not
registered there), and logs that too.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import dataclasses
import enum
import inspect
import logging
import operator
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, ParamSpec, TypeVar

from .._exceptions import CallTimeout, InsecureTypeError, NoSuchMethod, ValidationError
from ..protocol.objects import Referenceable, find_remote_method, is_awaitable
from ..runtime.arguments import check_timeout
from ..runtime.dispatch import current_connection
from ..runtime.logs import LogLimiter
from ..runtime.promise import Promise
from ..runtime.reference import RemoteReference, Stub
from ..runtime.streams import ColumnItems
from ..wire.columns import Columns
from ..wire.limits import Limits
from ..wire.registry import Registry
from .checks import Checker, checker_for
from .senders import Sender, sender_for

__all__ = [
    "REQUIRED",
    "InterfaceSpec",
    "MethodDecl",
    "MethodSpec",
    "Param",
    "ParamDecl",
    "dispatch",
    "interface",
    "invoke",
    "local_object",
    "method",
    "oneway",
    "param",
    "send",
    "sent",
]

_F = TypeVar("_F", bound=Callable[..., None])


def oneway(method: _F) -> _F:
    """Mark a method of a schema interface as one-way: it returns None, and its caller sends
    it without waiting for, or ever getting, an answer (``@pb.oneway``).

    Only ``pbtyped generate`` reads it (schemas are never imported); at run time it returns
    ``method`` as it is.
    """
    return method


class _Required:
    __slots__ = ()

    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a parameter that has none.
REQUIRED: Final = _Required()


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamDecl:
    """A parameter as generated code declares it, with ``param()``."""

    name: str
    annotation: object  # a type expression: ``int``, ``list[Row]``, ``Annotated[str, ...]``
    kw_only: bool
    default: object  # REQUIRED when it has none


@dataclass(frozen=True, slots=True, kw_only=True)
class MethodDecl:
    """A method as generated code declares it, with ``method()``."""

    params: tuple[ParamDecl, ...]
    returns: object  # the result's type expression
    oneway: bool = False  # ``@pb.oneway``: stubs send it and wait for nothing


def param(
    name: str, annotation: object, *, kw_only: bool = False, default: object = REQUIRED
) -> ParamDecl:
    """A parameter for ``method()``: name, annotation, and how it may be passed."""
    return ParamDecl(name=name, annotation=annotation, kw_only=kw_only, default=default)


def method(*params: ParamDecl, returns: object, oneway: bool = False) -> MethodDecl:
    """A method for ``interface()``: its ``param()`` entries, its return annotation, and
    whether it is one-way (``@pb.oneway`` in the schema)."""
    return MethodDecl(params=params, returns=returns, oneway=oneway)


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One parameter ready for calls: its checkers, whether it is keyword-only, its default."""

    name: str
    #: Where its refusals point, the method named first (``send(): $.text``): the path its
    #: checkers start from, so naming the method costs nothing until one refuses.
    path: str
    check: Checker  # a skeleton's, on receipt: references become stubs
    check_out: Checker  # a stub's, before sending: references stay as they are
    kw_only: bool
    default: Any
    send: Sender | None  # a client's conversion to wire form (see ``senders``)
    #: How it is marked to travel in columns (declared ``list[SomeDataclass]``, or a stream
    #: of them); None when it is not.
    columns: Mark | None

    @classmethod
    def declared(cls, decl: ParamDecl, method: str) -> Param:
        """The parameter ``decl`` of ``method`` declares, with its checkers and sender built."""
        annotation = decl.annotation
        return cls(
            name=decl.name,
            path=f"{method}(): $.{decl.name}",
            check=checker_for(annotation),
            check_out=checker_for(annotation, outbound=True),
            kw_only=decl.kw_only,
            default=decl.default,
            send=sender_for(annotation),
            columns=_column_mark(annotation),
        )


class MethodSpec:
    """A declared method ready for calls: its parameters, checkers for the result in both
    directions, and what the per-call paths need, computed once from the declaration."""

    __slots__ = (
        "_by_name",
        "_checks_out",
        "_marks",
        "_paths",
        "_paths_out",
        "_plain",
        "_positional",
        "admitted_by",
        "column_names",
        "name",
        "oneway",
        "params",
        "result_columns",
        "result_in",
        "result_out",
        "result_path",
        "result_types",
        "sends",
    )

    def __init__(self, name: str, decl: MethodDecl) -> None:
        params = tuple(Param.declared(p, name) for p in decl.params)
        positional = tuple(p for p in params if not p.kw_only)
        self.name: Final = name
        self.params: Final = params
        #: Declared ``@pb.oneway``: sent by ``send``, never awaited.
        self.oneway: Final = decl.oneway
        self.result_in: Final = checker_for(decl.returns)
        self.result_out: Final = checker_for(decl.returns, outbound=True)
        #: Where the result checkers' refusals point: ``result of members(): $[0]``.
        self.result_path: Final = f"result of {name}(): $"
        #: The copyable types (dataclasses, enums) the result may hold: what a registry must
        #: admit for a result to be sent.
        self.result_types: Final = _copied_types(decl.returns)
        #: The last connection registry found to admit all of ``result_types`` (a registry
        #: never loses a type): a server's connections share one, so most calls check
        #: only that their registry is this one.
        self.admitted_by: Registry | None = None
        #: How a server marks its result to travel in columns (declared list[SomeDataclass],
        #: or a stream of them); None when it is not.
        self.result_columns: Final = _column_mark(decl.returns)
        #: A client's conversions to wire form by parameter name; empty when none needs one.
        self.sends: Final[Mapping[str, Sender]] = {
            p.name: p.send for p in params if p.send is not None
        }
        #: The parameters declared list[SomeDataclass] (or a stream of them); empty when none is.
        self.column_names: Final = frozenset(p.name for p in params if p.columns is not None)
        self._marks: Final = {p.name: p.columns for p in params if p.columns is not None}
        self._positional: Final = positional
        self._by_name: Final = {p.name: p for p in params}
        self._paths: Final = tuple(p.path for p in params)
        self._checks_out: Final = tuple(p.check_out for p in positional)
        self._paths_out: Final = tuple(p.path for p in positional)
        # Every parameter positional: a call passing exactly those positionally binds directly.
        self._plain: Final = len(positional) == len(params)

    def __repr__(self) -> str:
        return f"<MethodSpec {self.name}({', '.join(p.name for p in self.params)})>"

    def answer(self, result: Any) -> Any:
        """A result as the stub gives it: checked against the schema, references as stubs."""
        return self.result_in(result, self.result_path)

    def outgoing(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """A client's arguments in wire form: Sequences sent as lists where lists of references
        are declared, Mappings as dicts (the stubs accept either; the peer checks for lists).
        Only needed when ``sends`` is not empty."""
        sends = self.sends
        positional = self._positional
        out_args = (
            tuple(
                p.send(v) if p.send is not None else v
                for p, v in zip(positional, args, strict=False)
            )
            + args[len(positional) :]
        )
        out_kwargs = {k: sends[k](v) if k in sends else v for k, v in kwargs.items()}
        return out_args, out_kwargs

    def check_outgoing(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise the ValidationError the peer's checks would send back for a stub's arguments
        (in wire form, see ``outgoing``), before anything is sent.

        A stub's own signature has bound them already: a value for each parameter, in its
        place. Anything else (an argument no parameter takes) is left to the peer to refuse.
        """
        # ``map`` stops at the shorter: an argument beyond the parameters is the peer's to
        # refuse. It calls each check with no Python loop: a third of the cost of a ``zip``.
        for _ in map(operator.call, self._checks_out, args, self._paths_out):
            pass
        if kwargs:
            by_name = self._by_name
            for key, value in kwargs.items():
                if (named := by_name.get(key)) is not None:
                    named.check_out(value, named.path)

    def check_known(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """``check_outgoing``, where promises among the arguments are left to the peer to
        check: their values are not known here."""
        try:
            self.check_outgoing(args, kwargs)
        except ValidationError:
            # Rare, so the common call pays nothing for promises: find what refused.
            for p, value in zip(self._positional, args, strict=False):
                if not isinstance(value, Promise):
                    p.check_out(value, p.path)
            for key, value in kwargs.items():
                if (named := self._by_name.get(key)) is not None and not isinstance(value, Promise):
                    named.check_out(value, named.path)

    def pack(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Arguments for the wire: lists declared ``list[SomeDataclass]`` marked ``Columns``,
        streams of them ``ColumnItems``. Only needed when ``column_names`` is not empty."""
        positional = self._positional
        packed = (
            tuple(
                v if p.columns is None else p.columns(v)
                for p, v in zip(positional, args, strict=False)
            )
            + args[len(positional) :]
        )
        marks = self._marks
        return packed, {k: marks[k](v) if k in marks else v for k, v in kwargs.items()}

    def bind(self, args: list[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Validate and convert wire arguments into the positional and keyword ones to call with."""
        if self._plain and not kwargs and len(args) == len(self.params):
            # The common call: every argument given positionally, nothing to fill in.
            return [
                p.check(value, path)
                for p, value, path in zip(self.params, args, self._paths, strict=True)
            ], {}
        positional = self._positional
        if len(args) > len(positional):
            raise ValidationError(
                f"{self.name}() takes {len(positional)} positional arguments, got {len(args)}"
            )
        given: dict[str, Any] = dict(zip((p.name for p in positional), args, strict=False))
        for key, value in kwargs.items():
            if key in given:
                raise ValidationError(f"{self.name}() got two values for argument {key!r:.40}")
            given[key] = value
        names = self._by_name
        for key in given:
            if key not in names:
                raise ValidationError(f"{self.name}() got an unexpected argument {key!r:.40}")
        call_args: list[Any] = []
        call_kwargs: dict[str, Any] = {}
        for p, path in zip(self.params, self._paths, strict=True):
            if p.name in given:
                value = p.check(given[p.name], path)
            elif p.default is REQUIRED:
                raise ValidationError(f"{path}: missing argument")
            else:
                value = p.default
            if p.kw_only:
                call_kwargs[p.name] = value
            else:
                call_args.append(value)
        return call_args, call_kwargs


@dataclass(frozen=True, slots=True)
class InterfaceSpec:
    """An interface: its wire-visible name and its methods by name."""

    name: str
    methods: Mapping[str, MethodSpec]


def interface(name: str, /, *bases: InterfaceSpec, **methods: MethodDecl) -> InterfaceSpec:
    """Build an interface's spec (and every checker it needs) from ``method()`` entries.

    The methods of the ``bases`` (the specs of the interfaces it extends) are part of it.
    """
    specs: dict[str, MethodSpec] = {}
    for base in bases:
        specs.update(base.methods)
    if clash := sorted(specs.keys() & methods.keys()):
        raise ValueError(f"interface {name} declares {clash[0]} again")
    specs.update((n, MethodSpec(n, decl)) for n, decl in methods.items())
    return InterfaceSpec(name, specs)


#: Marks a value for the wire (``Param.columns``, ``MethodSpec.result_columns``).
Mark = Callable[[Any], Any]


def _mark_list(value: Any) -> Any:
    return Columns(value) if type(value) is list else value


def _mark_stream(value: Any) -> Any:
    return ColumnItems(value) if hasattr(type(value), "__anext__") else value


def _column_mark(annotation: Any) -> Mark | None:
    """How a value declared ``annotation`` is marked to travel in columns: ``list[D]`` (also
    inside ``Annotated``) where D is a dataclass as ``Columns``, ``AsyncIterator[list[D]]``
    as ``ColumnItems`` (each list it gives as ``Columns``); None for anything else."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin is collections.abc.AsyncIterator:
        (item,) = typing.get_args(annotation)
        return _mark_stream if _column_mark(item) is _mark_list else None
    if origin is not list:
        return None
    (item,) = typing.get_args(annotation)
    return _mark_list if isinstance(item, type) and dataclasses.is_dataclass(item) else None


P = TypeVar("P", bound=Promise[Any])


def invoke(
    spec: InterfaceSpec,
    stub: object,  # a Stub, or a Promise through a mixin of its methods
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
    promise: type[P],
) -> P:
    """Call ``name`` through a stub, or on what a promise will be: a ``promise`` of the result.

    Awaiting it sends the call (over the connection, or directly if the object is ours) and
    gives the result, checked against the schema. A call on a promise, or with promises among
    its arguments, is pipelined as ``pbtyped.Promise`` explains.

    After ``timeout`` seconds (None: no limit) the call raises CallTimeout (a TimeoutError);
    a remote peer is told to stop the work, a local coroutine is cancelled. Arguments the
    schema refuses raise ValidationError at once, before anything is sent, and so does a
    timeout that is not a number of seconds above 0 (TypeError, ValueError). A promise among
    the arguments cannot be checked here: its value never comes back before the call, and the
    callee checks it, as it checks every argument.
    """
    if timeout is not None:
        check_timeout(timeout, "pb_timeout")
    entry = spec.methods[name]
    # Most methods have no argument to convert or mark: test before calling, on every call.
    if entry.sends:
        args, kwargs = entry.outgoing(args, kwargs)
    # Tested in the order of how common each is: Promise, an abstract Coroutine, is the
    # slowest to test with isinstance.
    target: Any
    if isinstance(stub, Stub):
        target = stub.pb_reference
    else:
        target = stub if isinstance(stub, Promise) else getattr(stub, "pb_reference", None)
    if isinstance(target, RemoteReference) or (
        isinstance(target, Promise) and target._conn is not None
    ):
        entry.check_known(args, kwargs)
        if entry.column_names:
            args, kwargs = entry.pack(args, kwargs)
        if isinstance(target, RemoteReference) and not target.pb_pipelines:
            # It routes its calls itself (Reconnecting's root, which may wait for its next
            # connection): nothing to pipeline on, its call is awaited as it is.
            return promise.local(lambda: _call_routed(target, entry, args, kwargs, timeout))
        conn = target._connection if isinstance(target, RemoteReference) else target._conn
        return promise(conn, target, name, args, kwargs, timeout, convert=entry.answer)
    if isinstance(target, Promise):
        # A promise of a call on our own object: nothing to pipeline, call what it gives.
        return promise.local(lambda: _call_on(target, name, args, kwargs, timeout))
    if isinstance(target, Referenceable):
        # Our own object came back to us: call it here, through the same checks.
        entry.check_known(args, kwargs)
        return promise.local(lambda: _call_local(target, entry, args, kwargs, timeout))
    raise TypeError(f"{type(stub).__name__} wraps {type(target).__name__}, not a reference")


async def _call_routed(
    target: RemoteReference,
    entry: MethodSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
) -> Any:
    """Call ``entry`` through a reference that routes its calls itself; check the answer."""
    return entry.answer(await target.call(entry.name, args, kwargs, timeout=timeout))


async def _call_on(
    target: Promise[Any],
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
) -> Any:
    """Call ``name`` on the stub a promise of a local call gives."""
    stub = await target
    return await getattr(stub, name)(*args, **kwargs, pb_timeout=timeout)


async def _call_local(
    obj: Referenceable,
    entry: MethodSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
) -> Any:
    """Call ``entry`` on our own object, through its skeleton's checks, within ``timeout``."""
    name = entry.name
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            # Promises among the arguments: their values, as a peer would receive them.
            args = tuple([await a if isinstance(a, Promise) else a for a in args])
            kwargs = {k: await v if isinstance(v, Promise) else v for k, v in kwargs.items()}
            # The skeleton's checks run in pb_dispatch itself, before it returns.
            local = _LOCAL.set(True)
            try:
                result = obj.pb_dispatch(name, list(args), kwargs)
            finally:
                _LOCAL.reset(local)
            if inspect.isawaitable(result):
                result = await result
    except TimeoutError:
        if not deadline.expired():
            raise
        raise CallTimeout(f"{name}() did not finish within {timeout} s") from None
    if type(result) is Columns:  # marked for the wire by the skeleton
        result = list(result)
    return entry.answer(result)


async def stream(
    spec: InterfaceSpec,
    stub: object,  # a Stub, or a Promise through a mixin of its methods
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None = None,
) -> AsyncIterator[Any]:
    """A method whose result is a stream, iterated at once: the call goes when iteration
    starts (``timeout`` covers it until the stream arrives), and leaving the loop early
    cancels the stream. Items are checked against the schema as they are taken."""
    items = await invoke(spec, stub, name, args, kwargs, timeout, Promise)
    try:
        async for item in items:
            yield item
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


def send(
    spec: InterfaceSpec,
    stub: Stub,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Send the one-way call ``name`` through a stub: over its connection, or to our own
    object if the stub stands for one; returns once it is on its way.

    Arguments the schema refuses raise ValidationError before anything is sent; so do the
    errors of ``RemoteReference.send``. What the method raises is logged where it runs.
    """
    target: Any = stub.pb_reference
    entry = spec.methods[name]
    if entry.sends:
        args, kwargs = entry.outgoing(args, kwargs)
    entry.check_outgoing(args, kwargs)
    if isinstance(target, RemoteReference):
        if entry.column_names:
            args, kwargs = entry.pack(args, kwargs)
        target.pb_connection.send(target, name, args, kwargs)
    elif isinstance(target, Referenceable):
        _send_locally(target, name, list(args), kwargs)
    else:
        raise TypeError(f"{type(stub).__name__} wraps {type(target).__name__}, not a reference")


_Sent = ParamSpec("_Sent")


async def sent(send: Callable[_Sent, None], /, *args: _Sent.args, **kwargs: _Sent.kwargs) -> None:
    """``send(*args, **kwargs)`` from a coroutine: how a blocking stub runs a one-way stub
    method on its event loop's thread (typed as ``send``, so mypy checks what it is given)."""
    send(*args, **kwargs)


#: One-way calls on our own objects that still run (held: a task nobody holds may vanish).
_LOCAL_SENDS: set[asyncio.Future[Any]] = set()
#: What they raise: logged, rate-limited, as a connection logs a peer's one-way calls.
_SEND_LOG = LogLimiter(Limits().log_rate_per_minute)


def _send_locally(
    target: Referenceable, name: str, args: list[Any], kwargs: dict[str, Any]
) -> None:
    """A one-way call on our own object (a reference come home): it runs now, up to its
    first await, and the caller goes on; what it raises is logged, as a peer's would be."""
    local = _LOCAL.set(True)
    try:
        result = target.pb_dispatch(name, args, kwargs)
    except Exception as exc:
        _log_send(target, name, exc)
        return
    finally:
        _LOCAL.reset(local)
    if is_awaitable(result):
        task = asyncio.ensure_future(result)
        _LOCAL_SENDS.add(task)
        task.add_done_callback(lambda t: _local_send_done(target, name, t))


def _local_send_done(target: Referenceable, name: str, task: asyncio.Future[Any]) -> None:
    _LOCAL_SENDS.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        _log_send(target, name, exc)


def _log_send(target: Referenceable, name: str, exc: BaseException) -> None:
    _SEND_LOG.log(
        logging.ERROR,
        "%s.remote_%s raised %r in a one-way call (nobody is told)",
        type(target).__name__,
        name,
        exc,
        exc_info=exc,
    )


def dispatch(
    spec: InterfaceSpec,
    obj: Referenceable,
    name: str,
    args: list[Any],
    kwargs: dict[str, Any],
) -> Any:
    """Validate a call's arguments, run ``remote_<name>``, then check its result.

    Raises NoSuchMethod for a method the interface does not declare (or the object lacks), and
    ValidationError naming the path when an argument does not match: the method never runs.
    """
    entry = spec.methods.get(name)
    if entry is None:
        raise NoSuchMethod(f"interface {spec.name} has no method {name!r:.60}")
    func = find_remote_method(obj, name)
    call_args, call_kwargs = entry.bind(args, kwargs)
    if entry.result_types:
        _require_registry(obj, entry)
    result = func(*call_args, **call_kwargs)
    if is_awaitable(result):
        return _checked(obj, entry, result)
    return _check_result(obj, entry, result)


def _log_fault(message: str, *args: object) -> None:
    """Log a fault of the server's own code that a call revealed (a result the schema
    refuses, a result the registry could not send): the caller cannot fix it. Any caller
    can make a broken method run again and again, so the lines count against the budget of
    the connection's server (``Limits.log_rate_per_minute``)."""
    try:
        logs = current_connection().logs
    except LookupError:  # a call of our own object from outside any connection's call
        logging.getLogger("pbtyped").error(message, *args)
        return
    logs.log(logging.ERROR, message, *args)


#: True while ``invoke`` calls one of our own objects: its result crosses no wire, whatever
#: connection's call is running around it.
_LOCAL: contextvars.ContextVar[bool] = contextvars.ContextVar("pbtyped_local", default=False)


def _require_registry(obj: Referenceable, entry: MethodSpec) -> None:
    """Refuse, before the method runs, a call on a connection whose registry lacks a type the
    method's result may hold: the result could not be sent after the method's side effects."""
    if _LOCAL.get():
        return  # called through a stub of our own object: nothing crosses a wire
    try:
        registry = current_connection().broker.registry
    except LookupError:
        return  # called outside any connection's call: nothing crosses a wire
    if registry is entry.admitted_by:
        return
    missing = sorted(
        (f"{cls.__module__}.{cls.__qualname__}", cls.__module__)
        for cls in entry.result_types
        if registry.type_name(cls) is None
    )
    if not missing:
        entry.admitted_by = registry
        return
    name, module = missing[0]
    where = f"{type(obj).__name__}.remote_{entry.name}"
    exc = InsecureTypeError(
        f"{where} was not run: its result may hold {name}, which this connection's registry "
        f"lacks; pass registry={module}.REGISTRY to "
        "serve() or connect() (or include it in yours)"
    )
    _log_fault("%s", exc)
    raise exc


def _copied_types(annotation: Any) -> frozenset[type[Any]]:
    """The dataclasses and enums a value of ``annotation`` may hold, at any depth."""
    found: set[type[Any]] = set()
    pending = [annotation]
    while pending:
        item = pending.pop()
        if isinstance(item, type) and item not in found:
            if dataclasses.is_dataclass(item):
                found.add(item)
                pending.extend(_field_types(item))
            elif issubclass(item, enum.Enum):
                found.add(item)
        pending.extend(typing.get_args(item))
    return frozenset(found)


def _field_types(cls: type[Any]) -> list[Any]:
    """The annotations of a dataclass's fields, resolved where they can be (a class made
    inside a function may name what its module cannot resolve: those are skipped)."""
    try:
        return list(typing.get_type_hints(cls).values())
    except (NameError, TypeError):
        return [f.type for f in dataclasses.fields(cls) if not isinstance(f.type, str)]


def _check_result(obj: Referenceable, entry: MethodSpec, result: Any) -> Any:
    try:
        value = entry.result_out(result, entry.result_path)
    except ValidationError as exc:
        where = f"{type(obj).__name__}.remote_{entry.name}"
        _log_fault(
            "%s returned a value its schema refuses (the caller receives the refusal): %s",
            where,
            exc,
        )
        raise
    mark = entry.result_columns
    return value if mark is None else mark(value)


async def _checked(obj: Referenceable, entry: MethodSpec, pending: Awaitable[Any]) -> Any:
    return _check_result(obj, entry, await pending)


def local_object(stub: Stub) -> Referenceable | None:
    """The local object a stub stands for, when a reference to it came back home; else None."""
    target: Any = stub.pb_reference
    return target if isinstance(target, Referenceable) else None
