"""Disconnect callbacks: an ordered multiset where adding and removing one costs O(1), and
what a connection runs when it is lost.

A list made ``dont_notify_on_disconnect`` scan and shift it (``in`` then ``remove``): a portal
session adds one callback to its caller's reference per login and removes it at logout, so a
peer logging in N times on one connection and logging out newest first cost O(N^2) (40,000
sessions: 21 s). Keyed by the callback, with a count so that one added twice runs twice and is
removed one at a time, as with PB's list.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from .reference import RemoteReference

__all__ = ["Callbacks", "Disconnects", "run_callbacks"]

log = logging.getLogger("pbtyped")

T = TypeVar("T")


class Callbacks(Generic[T]):
    """Callbacks taking one ``T``, run in the order they were first added."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[Callable[[T], object], int] = {}

    def add(self, callback: Callable[[T], object]) -> None:
        """Add ``callback`` (once more, if it is already there)."""
        self._counts[callback] = self._counts.get(callback, 0) + 1

    def discard(self, callback: Callable[[T], object]) -> None:
        """Remove one addition of ``callback``; nothing happens if it is absent."""
        count = self._counts.get(callback)
        if count is None:
            return
        if count > 1:
            self._counts[callback] = count - 1
        else:
            del self._counts[callback]

    def take(self) -> list[Callable[[T], object]]:
        """Every callback, as often as it was added; the set is empty afterwards."""
        counts, self._counts = self._counts, {}
        return [callback for callback, count in counts.items() for _ in range(count)]

    def __len__(self) -> int:
        return sum(self._counts.values())


def run_callbacks(callbacks: Iterable[Callable[[T], object]], arg: T) -> None:
    """Call each of ``callbacks`` with ``arg``; one that raises is logged, the rest still run."""
    for callback in callbacks:
        try:
            callback(arg)
        except Exception:
            log.exception("disconnect callback %r failed", callback)


class Disconnects(Generic[T]):
    """What runs once when a connection (a ``T``) is lost: the callbacks given to it, and the
    callbacks of the references watched on it (held weakly: a reference dropped meanwhile
    has nobody left to tell)."""

    __slots__ = ("_callbacks", "_references")

    def __init__(self) -> None:
        self._callbacks: Callbacks[T] = Callbacks()
        self._references: weakref.WeakSet[RemoteReference] | None = None

    def add(self, callback: Callable[[T], object]) -> None:
        """Call ``callback(connection)`` when the connection is lost."""
        self._callbacks.add(callback)

    def discard(self, callback: Callable[[T], object]) -> None:
        """Remove one addition of ``callback`` (nothing happens if it is absent)."""
        self._callbacks.discard(callback)

    def watch(self, ref: RemoteReference) -> None:
        """Run ``ref``'s own disconnect callbacks when the connection is lost."""
        if self._references is None:
            self._references = weakref.WeakSet()
        self._references.add(ref)

    def fire(self, connection: T) -> None:
        """The connection is lost: run the references' callbacks, then the connection's."""
        references, self._references = self._references, None
        for ref in list(references or ()):
            run_callbacks(ref.fire_disconnect(), ref)
        run_callbacks(self._callbacks.take(), connection)
