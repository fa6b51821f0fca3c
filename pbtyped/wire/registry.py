"""The allow-list: which pass-by-copy types and which errors may cross a connection."""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .._exceptions import (
    CallCancelled,
    DeadReferenceError,
    Error,
    GoingAway,
    InsecureTypeError,
    LimitExceeded,
    LocalProtocolError,
    NoSuchMethod,
    ProtocolError,
    UnauthorizedLogin,
    ValidationError,
)
from .show import show

__all__ = [
    "Registry",
    "is_wire_name",
    "not_registered_here",
    "registry_of",
    "unregistered",
    "unregistered_error",
]

T = TypeVar("T", bound=type[Any])

#: The Python module that registered each wire name in this process: a memo for the advice of
#: ``not_registered_here`` only, never consulted to decode. The program's own registrations
#: fill it, never a peer.
_DECLARED_IN: dict[str, str] = {}

#: Most flags a plain ``enum.Flag`` may have to travel: every combination is built when it is
#: registered (2**8 = 256 objects, once per process), so a peer never makes new ones.
MAX_FLAGS = 8

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
#: Characters of a wire name at most.
MAX_WIRE_NAME = 200


def is_wire_name(name: object) -> bool:
    """True if ``name`` is a wire name: a dotted identifier of at most 200 characters
    (docs/protocol.md 4.4). The length is checked first: a peer's long text costs no match."""
    return type(name) is str and len(name) <= MAX_WIRE_NAME and _NAME.match(name) is not None


# Errors every connection understands: the framework's own failures, sent by name.
_BUILTIN_ERRORS: dict[str, type[BaseException]] = {
    "pbtyped.NoSuchMethod": NoSuchMethod,
    "pbtyped.InsecureTypeError": InsecureTypeError,
    "pbtyped.ValidationError": ValidationError,
    "pbtyped.CallCancelled": CallCancelled,
    "pbtyped.DeadReferenceError": DeadReferenceError,
    "pbtyped.LimitExceeded": LimitExceeded,
    # A peer refusing one of our calls for a protocol reason (a call on a pending answer, say)
    # says that our side sent what it does not take: ProtocolError is raised only as one of
    # its subclasses, which say whose fault it was.
    "pbtyped.ProtocolError": LocalProtocolError,
    "pbtyped.UnauthorizedLogin": UnauthorizedLogin,
    "pbtyped.GoingAway": GoingAway,
}
#: Sent by these names besides: every ProtocolError (a FrameTooLarge a method let through...).
_ALSO_SENT_AS: dict[type[BaseException], str] = {ProtocolError: "pbtyped.ProtocolError"}


@dataclasses.dataclass(frozen=True, slots=True)
class _Registered:
    """One registered copyable type: everything the codec reads about it, in one place."""

    cls: type[Any]
    name: str
    #: The fields sent for a dataclass, in declaration order (none for an Enum).
    fields: tuple[str, ...]
    #: What ``copy_spec`` gives for a dataclass, (class, fields, built as ``cls(*values)``:
    #: no kw_only field), made once; None for an Enum.
    copy_spec: tuple[type[Any], tuple[str, ...], bool] | None


class Registry:
    """An explicit allow-list of copyable types and remote errors, keyed by stable wire names.

    Pass it to ``serve``/``connect`` as ``registry=``. Nothing is ever looked up by a Python
    import path taken from the wire: a name the registry does not hold is refused.

    A connection adds the registries of the generated modules it uses (``joined``) to the
    one it was given, as a layer over it: what it was given is never changed.
    """

    def __init__(self) -> None:
        # One record per type, found by class (encoding) or by wire name (decoding).
        self._types: dict[type[Any], _Registered] = {}
        self._types_by_name: dict[str, _Registered] = {}
        self._errors_by_name: dict[str, type[BaseException]] = dict(_BUILTIN_ERRORS)
        self._error_names: dict[type[BaseException], str] = {
            cls: name for name, cls in _BUILTIN_ERRORS.items()
        } | _ALSO_SENT_AS
        #: The registry this one is a layer over (see ``joined``): consulted when ours misses.
        self._base: Registry | None = None
        #: What ``joined`` answered for each registry, with the versions of that registry and
        #: this one then; made by the first ``joined`` that compares.
        self._joined: (
            weakref.WeakKeyDictionary[Registry, tuple[Registry, tuple[int, int]]] | None
        ) = None
        #: Grows on every change (a layer's, when its base changes too) so codecs can cache
        #: derived tables. A plain attribute: codecs read it for every frame they encode.
        self.version = 0

    def joined(self, other: Registry) -> Registry:
        """This registry and ``other`` together, changing neither: ``self`` when it holds all
        of ``other`` already, else a layer over ``self`` holding the rest (registrations
        made on ``self`` later are seen through it). ValueError, naming both classes, when a
        wire name or a class is registered differently in the two.

        The answer is kept until either changes: every connection of a server that joins
        one generated module's registry shares one layer (and its encoders), and a skeleton
        sent again costs no new comparison.
        """
        if other is self:
            return self
        versions = (other.version, self.version)
        if self._joined is not None:
            known = self._joined.get(other)
            if known is not None and known[1] == versions:
                return known[0]
        joined = self if self.missing(other) is None else _Layer(self)
        if joined is not self:
            joined.include(other)
        if self._joined is None:
            self._joined = weakref.WeakKeyDictionary()
        self._joined[other] = (joined, versions)
        return joined

    def missing(self, other: Registry) -> str | None:
        """The wire name of the first type or error ``other`` holds and this registry does
        not (under that name), or None when it holds all of them."""
        for entry in other._all_types():
            if self.type_name(entry.cls) != entry.name:
                return entry.name
        for name, err in other._all_errors():
            if self.error_for(name) is not err:
                return name
        return None

    def _all_types(self) -> Iterable[_Registered]:
        layer: Registry | None = self
        while layer is not None:
            yield from layer._types.values()
            layer = layer._base

    def _all_errors(self) -> Iterable[tuple[str, type[BaseException]]]:
        layer: Registry | None = self
        while layer is not None:
            yield from layer._errors_by_name.items()
            layer = layer._base

    def _type_entry(self, cls: type[Any]) -> _Registered | None:
        entry = self._types.get(cls)
        if entry is None and self._base is not None:
            return self._base._type_entry(cls)
        return entry

    def _name_entry(self, name: str) -> _Registered | None:
        entry = self._types_by_name.get(name)
        if entry is None and self._base is not None:
            return self._base._name_entry(name)
        return entry

    # -- registration -----------------------------------------------------------------------

    def register_type(self, cls: T, name: str | None = None) -> T:
        """Admit a dataclass or ``enum.Enum`` to travel by copy; usable as a decorator."""
        wire_name = self._check_name(name or _default_name(cls))
        if not isinstance(cls, type):
            raise TypeError(f"register_type expects a class, got {cls!r}")
        if issubclass(cls, enum.Enum):
            entry = _Registered(cls, wire_name, (), None)
            if issubclass(cls, enum.Flag) and not issubclass(cls, int):
                _build_combinations(cls)
        elif dataclasses.is_dataclass(cls):
            if any(not f.init for f in dataclasses.fields(cls)):
                raise TypeError(f"{cls.__qualname__}: fields with init=False cannot be copied")
            fields = tuple(f.name for f in dataclasses.fields(cls))
            positional = not any(f.kw_only for f in dataclasses.fields(cls))
            entry = _Registered(cls, wire_name, fields, (cls, fields, positional))
        else:
            raise TypeError(
                f"{cls.__qualname__} is neither a dataclass nor an Enum: only those travel by copy"
            )
        known = self._type_entry(cls)
        if known is not None:
            if known.name == wire_name:
                return cls
            raise ValueError(f"{cls.__qualname__} is already registered as {known.name!r}")
        holder = self._name_entry(wire_name)
        if holder is not None:
            raise ValueError(
                f"wire name {wire_name!r} is already registered for {_full_name(holder.cls)}: "
                f"it cannot also name {_full_name(cls)}"
            )
        self._types[cls] = self._types_by_name[wire_name] = entry
        _DECLARED_IN.setdefault(wire_name, cls.__module__)
        self.version += 1
        return cls

    def register_error(self, cls: T, name: str | None = None) -> T:
        """Admit an exception class to arrive as itself (not as ``RemoteError``)."""
        wire_name = self._check_name(name or _default_name(cls))
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            raise TypeError(f"register_error expects an Exception subclass, got {cls!r}")
        known = self._own_error_name(cls)
        if known is not None:
            if known == wire_name:
                return cls
            raise ValueError(f"{cls.__qualname__} is already registered as {known!r}")
        holder = self.error_for(wire_name)
        if holder is not None:
            raise ValueError(
                f"wire name {wire_name!r} is already registered for {_full_name(holder)}: "
                f"it cannot also name {_full_name(cls)}"
            )
        self._errors_by_name[wire_name] = cls
        self._error_names[cls] = wire_name
        _DECLARED_IN.setdefault(wire_name, cls.__module__)
        self.version += 1
        return cls

    def include(self, other: Registry) -> None:
        """Register everything ``other`` holds (names must not clash)."""
        for entry in other._all_types():
            self.register_type(entry.cls, entry.name)
        for name, err in other._all_errors():
            if name not in _BUILTIN_ERRORS:
                self.register_error(err, name)

    # -- lookups (used by the codec) --------------------------------------------------------

    def type_name(self, cls: type[Any]) -> str | None:
        """The wire name of a registered copyable type, or None."""
        entry = self._type_entry(cls)
        return None if entry is None else entry.name

    def type_for(self, name: str) -> type[Any] | None:
        """The class registered under a wire name, or None."""
        entry = self._name_entry(name)
        return None if entry is None else entry.cls

    def fields_of(self, cls: type[Any]) -> tuple[str, ...]:
        """Names of the fields sent for a registered dataclass, in declaration order."""
        entry = self._type_entry(cls)
        if entry is None:
            raise KeyError(cls)
        return entry.fields

    def copy_spec(self, name: str) -> tuple[type[Any], tuple[str, ...], bool] | None:
        """For a registered dataclass's wire name: (class, field names, positional), else None."""
        entry = self._types_by_name.get(name)  # once per copy decoded
        if entry is None and self._base is not None:
            entry = self._base._name_entry(name)
        return None if entry is None else entry.copy_spec

    def types(self) -> Iterable[type[Any]]:
        """Every registered copyable type."""
        return [entry.cls for entry in self._all_types()]

    def error_name(self, cls: type[BaseException]) -> str | None:
        """The wire name of the most derived registered class of an exception, or None."""
        for klass in cls.__mro__:
            name = self._own_error_name(klass)
            if name is not None:
                return name
            if klass is Error:
                break
        return None

    def _own_error_name(self, cls: type[BaseException]) -> str | None:
        """The wire name ``cls`` itself (not a base of it) is registered under, or None."""
        name = self._error_names.get(cls)
        if name is None and self._base is not None:
            return self._base._own_error_name(cls)
        return name

    def error_for(self, name: str) -> type[BaseException] | None:
        """The exception class registered under a wire name, or None."""
        cls = self._errors_by_name.get(name)
        if cls is None and self._base is not None:
            return self._base.error_for(name)
        return cls

    @staticmethod
    def _check_name(name: str) -> str:
        if not is_wire_name(name):
            raise ValueError(f"invalid wire name {name!r}: use dotted identifiers")
        return name


class _Layer(Registry):
    """A registry over another (``Registry.joined``): what it adds, and its base's, live."""

    def __init__(self, base: Registry) -> None:
        self._own_version = 0
        self._layered_on = base  # ``_base``, typed as never None
        super().__init__()
        self._base = base

    @property
    def version(self) -> int:
        """Grows with every change of this layer or of its base."""
        return self._own_version + self._layered_on.version

    @version.setter
    def version(self, value: int) -> None:
        # ``version += 1`` in Registry: counted as this layer's own change.
        self._own_version = value - self._layered_on.version


def _build_combinations(cls: type[enum.Flag]) -> None:
    """Make (and so cache in the class) every combination of a plain Flag's flags.

    ``Flag(value)`` caches each new combination in the class forever, and a plain Flag
    compares by identity, so a combination cannot be built and then forgotten: the decoder
    admits only values already cached, and this makes all of them exist.
    """
    flags = [m.value for m in cls.__members__.values() if _is_flag(m.value)]
    if len(flags) > MAX_FLAGS:
        raise TypeError(
            f"{cls.__qualname__} has {len(flags)} flags: a plain Flag may have at most "
            f"{MAX_FLAGS} to travel by copy (every combination is built once); derive it "
            "from enum.IntFlag instead"
        )
    for combination in range(1 << len(flags)):
        cls(sum(flag for i, flag in enumerate(flags) if combination >> i & 1))


def _is_flag(value: Any) -> bool:
    return type(value) is int and value > 0 and value & (value - 1) == 0


def registry_of(cls: type[Any]) -> Registry | None:
    """The registry of the generated module a stub or skeleton class comes from (its
    ``pb_registry``), or None."""
    registry = getattr(cls, "pb_registry", None)
    return registry if isinstance(registry, Registry) else None


def unregistered(cls: type[Any]) -> str:
    """Why an instance of ``cls`` cannot be sent, and what to pass so that it can."""
    module = sys.modules.get(cls.__module__)
    registry = getattr(module, "REGISTRY", None)
    if isinstance(registry, Registry) and registry.type_name(cls) is not None:
        # A generated module's type: its stubs and skeletons bring its registry.
        return (
            f"{_full_name(cls)} is not registered on this connection: pass registry="
            f"{cls.__module__}.REGISTRY to connect() or serve(), or call through the module's "
            "generated stub (client.root(XClient)), which brings it"
        )
    return (
        f"{cls.__qualname__} is not registered: call registry.register_type("
        f"{cls.__qualname__}) on both peers to pass it by copy"
    )


def not_registered_here(kind: str, name: str, registry: Registry) -> str:
    """Why a value of the ``kind`` ("type", "enum") a peer named ``name`` is refused by the
    side whose registry is ``registry``, and which registry that side must pass.

    The text travels to the caller when arguments are refused, so it names "the receiving
    side" rather than this one.
    """
    head = f"{kind} name {show(name)} is not registered on the receiving side (refused)"
    if registry.type_for(name) is not None:
        return head  # registered, as another kind: passing a registry would not help
    advice = _registry_to_pass(name, Registry.type_for)
    return head if advice is None else f"{head}: that side must pass {advice}"


def unregistered_error(name: str) -> str | None:
    """What to pass for an error the peer sent as registered (``name``) to arrive as its own
    class rather than as RemoteError; None when the name says nothing of where it is made."""
    advice = _registry_to_pass(name, Registry.error_for)
    return None if advice is None else f"registered by the peer, not here: pass {advice}"


def _registry_to_pass(name: str, holds: Callable[[Registry, str], object]) -> str | None:
    """The registry that holds the wire name ``name`` (``holds`` looks it up): the generated
    module's, when this process has it loaded; else the one made from the schema module the
    wire name's module part names, if it is a wire name of a module."""
    module = _DECLARED_IN.get(name, "")
    declared = getattr(sys.modules.get(module), "REGISTRY", None)
    if isinstance(declared, Registry) and holds(declared, name) is not None:
        return (
            f"registry={module}.REGISTRY to connect() or serve(), or call through the "
            "module's generated stubs, which bring it"
        )
    schema, dot, _ = name.rpartition(".")
    if not (dot and is_wire_name(name)):
        return None
    return (
        f"the REGISTRY of the module pbtyped generate made from schema {show(schema)} (if it "
        "is one) to connect() or serve(), or call through its generated stubs, which bring it"
    )


def _full_name(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _default_name(cls: Any) -> str:
    return str(getattr(cls, "__qualname__", getattr(cls, "__name__", repr(cls))))
