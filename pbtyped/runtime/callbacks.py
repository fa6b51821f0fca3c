"""Disconnect callbacks: an ordered multiset where adding and removing one costs O(1).

A list made ``dont_notify_on_disconnect`` scan and shift it (``in`` then ``remove``): a portal
session adds one callback to its caller's reference per login and removes it at logout, so a
peer logging in N times on one connection and logging out newest first cost O(N^2) (40,000
sessions: 21 s). Keyed by the callback, with a count so that one added twice runs twice and is
removed one at a time, as with PB's list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Callbacks"]

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
