"""Exceptions to ErrorInfo and back: names and text cross the wire, never objects or frames.

The text is bounded by ``tracebacks``: an error costs at most what can be sent, however large
its arguments or deep its stack.
"""

from __future__ import annotations

from .._exceptions import Error, RemoteError
from ..wire.registry import Registry, unregistered_error
from .messages import ErrorInfo
from .tracebacks import MAX_MESSAGE, MAX_TRACEBACK, exception_message, format_traceback

__all__ = ["error_info", "exception_from_info", "is_expected"]


def is_expected(exc: BaseException, registry: Registry) -> bool:
    """True for errors the application anticipated: ``Error`` subclasses and registered ones."""
    return isinstance(exc, Error) or registry.error_name(type(exc)) is not None


def error_info(
    exc: BaseException, registry: Registry, *, send_traceback: bool, limit: int = MAX_TRACEBACK
) -> ErrorInfo:
    """Describe ``exc`` for the peer. The traceback (at most ``limit`` characters) is included
    only when opted in; its cost is bounded by ``limit``, not by the depth of the stack."""
    name = registry.error_name(type(exc))
    registered = name is not None
    if name is None and type(exc) is RemoteError:
        # Relayed as it came (a callback's error passed on by its caller): its own type and
        # message once, not wrapped in "pbtyped.RemoteError: builtins.KeyError: ...".
        name, message = exc.remote_type, exc.message[: MAX_MESSAGE + 1]
    else:
        if name is None:
            cls = type(exc)
            name = f"{cls.__module__}.{cls.__qualname__}"
        message = exception_message(exc)
    tb = format_traceback(exc, limit, message) if send_traceback else None
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "..."
    return ErrorInfo(type_name=name[:200], message=message, registered=registered, traceback=tb)


def exception_from_info(info: ErrorInfo, registry: Registry) -> BaseException:
    """The exception to raise at the caller: the registered class, else ``RemoteError``.

    A registered class is built without running its ``__init__`` (which may demand other
    arguments or have side effects): only its message is set.
    """
    cls = registry.error_for(info.type_name) if info.registered else None
    if cls is None:
        hint = unregistered_error(info.type_name) if info.registered else None
        return RemoteError(info.type_name, info.message, info.traceback, hint=hint)
    exc = cls.__new__(cls)
    exc.args = (info.message,)
    if info.traceback is not None:
        try:
            exc.remote_traceback = info.traceback  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return exc
