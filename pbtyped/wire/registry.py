"""The allow-list: which pass-by-copy types and which errors may cross a connection."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from .._exceptions import (
    CallCancelled,
    DeadReferenceError,
    Error,
    InsecureTypeError,
    LimitExceeded,
    LocalProtocolError,
    NoSuchMethod,
    ProtocolError,
    UnauthorizedLogin,
    ValidationError,
)

__all__ = ["Registry", "is_wire_name"]

T = TypeVar("T", bound=type[Any])

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
    """

    def __init__(self) -> None:
        # One record per type, found by class (encoding) or by wire name (decoding).
        self._types: dict[type[Any], _Registered] = {}
        self._types_by_name: dict[str, _Registered] = {}
        self._errors_by_name: dict[str, type[BaseException]] = dict(_BUILTIN_ERRORS)
        self._error_names: dict[type[BaseException], str] = {
            cls: name for name, cls in _BUILTIN_ERRORS.items()
        } | _ALSO_SENT_AS
        #: Bumped on every change so codecs can cache derived tables.
        self.version = 0

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
        known = self._types.get(cls)
        if known is not None:
            if known.name == wire_name:
                return cls
            raise ValueError(f"{cls.__qualname__} is already registered as {known.name!r}")
        if wire_name in self._types_by_name:
            raise ValueError(f"wire name {wire_name!r} is already registered for another type")
        self._types[cls] = self._types_by_name[wire_name] = entry
        self.version += 1
        return cls

    def register_error(self, cls: T, name: str | None = None) -> T:
        """Admit an exception class to arrive as itself (not as ``RemoteError``)."""
        wire_name = self._check_name(name or _default_name(cls))
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            raise TypeError(f"register_error expects an Exception subclass, got {cls!r}")
        if cls in self._error_names:
            if self._error_names[cls] == wire_name:
                return cls
            raise ValueError(
                f"{cls.__qualname__} is already registered as {self._error_names[cls]!r}"
            )
        if wire_name in self._errors_by_name:
            raise ValueError(f"wire name {wire_name!r} is already registered for another error")
        self._errors_by_name[wire_name] = cls
        self._error_names[cls] = wire_name
        self.version += 1
        return cls

    def include(self, other: Registry) -> None:
        """Register everything ``other`` holds (names must not clash)."""
        for entry in other._types.values():
            self.register_type(entry.cls, entry.name)
        for name, err in other._errors_by_name.items():
            if name not in _BUILTIN_ERRORS:
                self.register_error(err, name)

    # -- lookups (used by the codec) --------------------------------------------------------

    def type_name(self, cls: type[Any]) -> str | None:
        """The wire name of a registered copyable type, or None."""
        entry = self._types.get(cls)
        return None if entry is None else entry.name

    def type_for(self, name: str) -> type[Any] | None:
        """The class registered under a wire name, or None."""
        entry = self._types_by_name.get(name)
        return None if entry is None else entry.cls

    def fields_of(self, cls: type[Any]) -> tuple[str, ...]:
        """Names of the fields sent for a registered dataclass, in declaration order."""
        return self._types[cls].fields

    def copy_spec(self, name: str) -> tuple[type[Any], tuple[str, ...], bool] | None:
        """For a registered dataclass's wire name: (class, field names, positional), else None."""
        entry = self._types_by_name.get(name)  # once per copy decoded
        return None if entry is None else entry.copy_spec

    def types(self) -> Iterable[type[Any]]:
        """Every registered copyable type."""
        return self._types.keys()

    def error_name(self, cls: type[BaseException]) -> str | None:
        """The wire name of the most derived registered class of an exception, or None."""
        for klass in cls.__mro__:
            name = self._error_names.get(klass)
            if name is not None:
                return name
            if klass is Error:
                break
        return None

    def error_for(self, name: str) -> type[BaseException] | None:
        """The exception class registered under a wire name, or None."""
        return self._errors_by_name.get(name)

    @staticmethod
    def _check_name(name: str) -> str:
        if not is_wire_name(name):
            raise ValueError(f"invalid wire name {name!r}: use dotted identifiers")
        return name


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


def _default_name(cls: Any) -> str:
    return str(getattr(cls, "__qualname__", getattr(cls, "__name__", repr(cls))))
