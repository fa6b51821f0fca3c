"""Checks of what a program passes to ``serve``, ``connect``, ``Client.root`` and a call's
timeout, so that a wrong value fails at once with an error naming it: before any socket is
opened or any call is sent, never deep inside asyncio.
"""

from __future__ import annotations

import datetime
import numbers

from ..protocol.objects import Referenceable
from ..wire.registry import Registry

__all__ = ["check_endpoint", "check_stub_class", "check_timeout"]


def check_timeout(value: object, name: str) -> None:
    """Refuse a timeout that is not None or a number of seconds above 0 (``inf``: no limit).

    A string or a ``timedelta`` is a TypeError; 0, a negative number or NaN a ValueError:
    0 would send the call only to give up on it at once, and NaN would never time out.
    """
    if value is None:
        return
    # A float or an int, what nearly every call passes, is found before the slower ABC test.
    if isinstance(value, bool) or not isinstance(value, float | int | numbers.Real):
        hint = " (use its .total_seconds())" if isinstance(value, datetime.timedelta) else ""
        raise TypeError(
            f"{name} must be a number of seconds or None, not {type(value).__name__}{hint}"
        )
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond the float range: no event loop waits that long
        raise ValueError(f"{name} is too large to be a number of seconds") from None
    if not seconds > 0:  # NaN too
        raise ValueError(f"{name} must be more than 0 seconds (or None: no limit), not {value!r}")


def check_endpoint(caller: str, host: object, registry: object) -> None:
    """Refuse a host or a registry that ``serve`` or ``connect`` (named ``caller``) cannot use.

    The host goes before the port, so ``serve(root, 0)`` passes 0 as the host: said plainly
    instead of failing in the resolver. A registry is a ``pbtyped.Registry``, not a list of
    the classes it should hold.
    """
    if not _usable_host(host, serving=caller == "serve"):
        allowed = "a str or None" if caller == "serve" else "a str"
        raise TypeError(
            f"{caller}(): host must be {allowed}, not {type(host).__name__} "
            "(the host comes before the port; pass port= by name)"
        )
    if registry is not None and not isinstance(registry, Registry):
        raise TypeError(
            f"{caller}(): registry must be a pbtyped.Registry (a generated module's REGISTRY, "
            f"or one filled with register_type), not {type(registry).__name__}"
        )


def _usable_host(host: object, *, serving: bool) -> bool:
    if isinstance(host, str):
        return True
    # A server may also listen on every interface (None) or on several hosts, as asyncio does.
    return serving and (
        host is None or (isinstance(host, list | tuple) and all(isinstance(h, str) for h in host))
    )


def check_stub_class(stub: object, caller: str) -> None:
    """Refuse anything but a generated client stub class (``XClient``) or None where one is
    expected, naming the stub to pass when a server skeleton (``XServer``) is given."""
    from .reference import Stub  # here: reference.py imports this module for check_timeout

    if stub is None or (isinstance(stub, type) and issubclass(stub, Stub)):
        return
    if isinstance(stub, type) and issubclass(stub, Referenceable):
        interface = getattr(stub, "pb_interface", None)
        wanted = (
            f"{interface.rpartition('.')[2]}Client" if isinstance(interface, str) else "XClient"
        )
        raise TypeError(
            f"{caller}: {stub.__name__} is a server class; pass the client stub ({wanted})"
        )
    raise TypeError(f"{caller}: expected a client stub class (XClient), not {stub!r:.60}")
