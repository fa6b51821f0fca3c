"""Exceptions to ErrorInfo and back: names and text cross the wire, never objects or frames."""

from __future__ import annotations

import traceback

from .._exceptions import Error, RemoteError
from ..wire.registry import Registry
from .messages import ErrorInfo

__all__ = ["error_info", "exception_from_info", "is_expected"]

_MAX_MESSAGE = 16 * 1024
_MAX_TRACEBACK = 64 * 1024


def is_expected(exc: BaseException, registry: Registry) -> bool:
    """True for errors the application anticipated: ``Error`` subclasses and registered ones."""
    return isinstance(exc, Error) or registry.error_name(type(exc)) is not None


def error_info(exc: BaseException, registry: Registry, *, send_traceback: bool) -> ErrorInfo:
    """Describe ``exc`` for the peer. The traceback is included only when opted in."""
    name = registry.error_name(type(exc))
    registered = name is not None
    if name is None:
        cls = type(exc)
        name = f"{cls.__module__}.{cls.__qualname__}"
    message = str(exc)
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    tb = "".join(traceback.format_exception(exc)) if send_traceback else None
    if tb is not None and len(tb) > _MAX_TRACEBACK:
        tb = "[... cut ...]\n" + tb[-_MAX_TRACEBACK:]  # the innermost frames matter most
    return ErrorInfo(type_name=name[:200], message=message, registered=registered, traceback=tb)


def exception_from_info(info: ErrorInfo, registry: Registry) -> BaseException:
    """The exception to raise at the caller: the registered class, else ``RemoteError``.

    A registered class is built without running its ``__init__`` (which may demand other
    arguments or have side effects): only its message is set.
    """
    cls = registry.error_for(info.type_name) if info.registered else None
    if cls is None:
        return RemoteError(info.type_name, info.message, info.traceback)
    exc = cls.__new__(cls)
    exc.args = (info.message,)
    if info.traceback is not None:
        try:
            exc.remote_traceback = info.traceback  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return exc
