"""Local objects that can be called remotely, and the rule of which methods are reachable."""

from __future__ import annotations

import inspect
import re
import types
import weakref
from collections.abc import Callable
from typing import Any

from .._exceptions import NoSuchMethod
from ..wire.show import show

__all__ = [
    "Referenceable",
    "Root",
    "find_remote_method",
    "is_awaitable",
    "is_method_name",
    "valid_method_name",
]

_METHOD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,199}\Z")


def is_method_name(method: str) -> bool:
    """True if ``method`` could name a ``remote_*`` method (identifier, no leading _).

    For the names our side calls (``Broker.send_call``): valid names are remembered, so a
    stub's constant names are checked once. Names a peer sends are checked by
    ``valid_method_name``, which remembers nothing: no peer can fill this memo.
    """
    if type(method) is str and method in _NAMES_SENT:
        return True
    if not valid_method_name(method):
        return False
    if len(_NAMES_SENT) < 1024:  # the names this process's code calls: few, and capped
        _NAMES_SENT.add(method)
    return True


def valid_method_name(method: object) -> bool:
    """True if ``method`` could name a ``remote_*`` method; keeps no trace of it."""
    return type(method) is str and _METHOD_NAME.match(method) is not None


# Filled only by names this side calls (a stub's, or call_remote's argument), never by a name
# received: a peer sending many method names leaves nothing behind when it goes.
_NAMES_SENT: set[str] = set()


class Referenceable:
    """An object passed by reference: the peer gets a ``RemoteReference`` to it.

    Only methods named ``remote_<name>`` are callable by the peer, as ``<name>``; attributes,
    private names and other methods are never reachable.
    """

    __slots__ = ("__weakref__",)

    def pb_dispatch(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run ``remote_<method>``; generated skeletons override this to validate first."""
        return find_remote_method(self, method)(*args, **kwargs)

    def pb_detached(self, connection: object) -> None:
        """Called once a connection's peer holds no more references to this object: it
        released the last one, or the connection closed. The root is never detached."""


class Root(Referenceable):
    """The object a server offers first: what ``await client.root()`` returns a reference to."""

    __slots__ = ()


_REMOTE = "remote_"


def find_remote_method(obj: object, method: str, prefix: str = _REMOTE) -> Callable[..., Any]:
    """The bound ``<prefix><method>`` of ``obj`` (``remote_``, ``perspective_``, ``view_``),
    or NoSuchMethod.

    The one rule for every prefix: the name must be a plain identifier of at most 200
    characters not starting with ``_``, and the method must be defined on the class (not put
    on the instance), so nothing else is reachable.
    """
    cls = type(obj)
    methods = _found.get(weakref.ref(cls))  # the class's shared plain ref: no Python frame
    if methods is None:
        methods = _found[weakref.ref(cls, _forget)] = {}
    key = method if prefix is _REMOTE else (prefix, method)
    func = methods.get(key)
    if func is None:
        func = methods[key] = _lookup(cls, prefix, method)  # only names that exist: bounded
    return func.__get__(obj, cls)  # type: ignore[no-any-return]


def _lookup(cls: type, prefix: str, method: str) -> Any:
    if not valid_method_name(method):
        raise NoSuchMethod(f"{show(method, 60)} is not a valid remote method name")
    attr = prefix + method
    for klass in cls.__mro__:
        if attr in klass.__dict__:
            func = klass.__dict__[attr]
            if callable(func) and hasattr(func, "__get__"):
                return func
            break
    raise NoSuchMethod(f"{cls.__name__} has no remote method {show(method, 210)}")


# weak ref to a class -> {method name, or (prefix, name): the function found on the class}:
# a cache, not a registry. Entries exist only for methods that exist, so a peer cannot grow
# it, and a class that goes away takes its entry with it (what WeakKeyDictionary does, minus
# its Python-level ``get`` on every call: a weak ref hashes and compares as its class while
# that lives).
_found: dict[weakref.ref[type], dict[str | tuple[str, str], Any]] = {}


def _forget(ref: weakref.ref[type]) -> None:
    _found.pop(ref, None)


#: Result types that are never awaitable: the (slow) ABC test is skipped for them.
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, list, dict, tuple})


def is_awaitable(result: object) -> bool:
    """True if a remote method's result must be awaited (``async def``, or any awaitable)."""
    return type(result) is types.CoroutineType or (
        type(result) not in _PLAIN and inspect.isawaitable(result)
    )
