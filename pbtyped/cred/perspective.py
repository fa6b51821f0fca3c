"""Avatars and ``Viewable``: objects that know which logged-in user is calling.

PB's rule, kept: a ``Viewable`` handed out by an avatar (returned from one of its methods, or
from a ``view_*`` method reached through it) does not travel as itself. The peer gets a
``ViewPoint``, one per (avatar, viewable) pair, which calls ``view_<name>(avatar, ...)``: the
Viewable learns who calls from the reference used, not from anything the caller says.
"""

from __future__ import annotations

import dataclasses
import inspect
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from .._exceptions import NoSuchMethod
from ..protocol.objects import Referenceable, find_remote_method

__all__ = ["Avatar", "ViewPoint", "Viewable", "as_seen_by", "find_method", "view_point"]

# Results nest at most this deep before we stop looking for Viewables in them (the codec
# refuses deeper values anyway).
_MAX_DEPTH = 64


def find_method(obj: object, prefix: str, method: str) -> Callable[..., Any]:
    """The bound ``<prefix><method>`` of ``obj``, or NoSuchMethod: the rule of ``remote_*``
    methods (``protocol.objects.find_remote_method``), for ``perspective_`` and ``view_``."""
    return find_remote_method(obj, method, prefix)


class Avatar(Referenceable):
    """Base class for what a realm returns: the logged-in user's view of the server.

    The client calls ``perspective_<name>`` methods (PB's name); nothing else is reachable. A
    ``Viewable`` returned from one reaches the client as this avatar's ``ViewPoint`` on it.
    A generated server skeleton works as an avatar too (its ``remote_*`` methods are called).
    """

    __slots__ = ()

    def pb_dispatch(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run ``perspective_<method>``."""
        return find_method(self, "perspective_", method)(*args, **kwargs)


class Viewable(Referenceable):
    """An object whose ``view_<name>(avatar, ...)`` methods learn which user is calling.

    Hand it out from an avatar's method; the client then holds a ``ViewPoint`` and its calls
    run ``view_<name>`` with that avatar first. A Viewable sent any other way is unreachable.
    """

    __slots__ = ()

    def pb_dispatch(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Refuse: a Viewable is called through a ViewPoint, which names the avatar."""
        raise NoSuchMethod(
            f"{type(self).__name__} is a Viewable: it can only be called through the avatar "
            "that handed it out"
        )


class ViewPoint(Referenceable):
    """What the client holds for a Viewable an avatar handed out: calls ``view_*`` with it.

    Made by ``view_point`` only. Sent back to the server, a ViewPoint in a perspective or
    view method's arguments arrives as its Viewable.
    """

    __slots__ = ("avatar", "viewable")

    def __init__(self, avatar: Referenceable, viewable: Viewable) -> None:
        #: The avatar that handed the Viewable out: its ``view_*`` methods' first argument.
        self.avatar = avatar
        #: The Viewable this ViewPoint calls.
        self.viewable = viewable

    def pb_dispatch(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run ``view_<method>(avatar, *args, **kwargs)`` on the Viewable."""
        func = find_method(self.viewable, "view_", method)
        args, kwargs = unwrap_arguments(args, kwargs)
        return as_seen_by(self.avatar, func(self.avatar, *args, **kwargs))

    def __repr__(self) -> str:
        return f"<ViewPoint of {self.avatar!r} on {self.viewable!r}>"


# One ViewPoint per live (avatar, viewable) pair, so the same pair is the same reference. The
# ids are safe keys: an entry lives only while its ViewPoint, which holds both objects, does.
_view_points: weakref.WeakValueDictionary[tuple[int, int], ViewPoint] = (
    weakref.WeakValueDictionary()
)


def view_point(avatar: Referenceable, viewable: Viewable) -> ViewPoint:
    """The ViewPoint of ``avatar`` on ``viewable`` (the same object while it is alive)."""
    key = (id(avatar), id(viewable))
    point = _view_points.get(key)
    if point is None:
        point = _view_points[key] = ViewPoint(avatar, viewable)
    return point


def unwrap_arguments(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Arguments with each ViewPoint that came home replaced by its Viewable."""
    if any(isinstance(a, ViewPoint) for a in args):
        args = [a.viewable if isinstance(a, ViewPoint) else a for a in args]
    if any(isinstance(v, ViewPoint) for v in kwargs.values()):
        kwargs = {k: v.viewable if isinstance(v, ViewPoint) else v for k, v in kwargs.items()}
    return args, kwargs


def as_seen_by(avatar: Referenceable, result: Any) -> Any:
    """``result`` with every Viewable in it (also in lists, tuples, dicts and copied
    dataclasses) replaced by ``avatar``'s ViewPoint on it; awaited first if awaitable."""
    if inspect.isawaitable(result):
        return _later(avatar, result)
    return _convert(avatar, result, 0)


async def _later(avatar: Referenceable, pending: Awaitable[Any]) -> Any:
    return _convert(avatar, await pending, 0)


def _convert(avatar: Referenceable, value: Any, depth: int) -> Any:
    if isinstance(value, Viewable):
        return view_point(avatar, value)
    if depth >= _MAX_DEPTH or isinstance(value, str | bytes | int | float | Referenceable):
        return value
    depth += 1
    if isinstance(value, list | tuple):
        items = [_convert(avatar, v, depth) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        converted = {k: _convert(avatar, v, depth) for k, v in value.items()}
        if all(converted[k] is v for k, v in value.items()):
            return value
        return converted
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            old = getattr(value, field.name)
            new = _convert(avatar, old, depth)
            if new is not old:
                changes[field.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value
