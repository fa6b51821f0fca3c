"""Rate-limited warnings, so that no peer can flood the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

__all__ = ["LogLimiter"]

log = logging.getLogger("pbtyped")


class LogLimiter:
    """At most ``per_minute`` warnings per minute; the rest are counted and summarised.

    A warning may name who caused it (``key``, e.g. a peer's address): one key then gets at
    most ``per_key`` lines a minute (default a sixth of the budget), so that one peer cannot
    spend the whole minute's budget and hide everyone else's warnings behind its own.
    """

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        per_key: int | None = None,
    ) -> None:
        self._per_minute = per_minute
        self._per_key = per_key if per_key is not None else max(1, per_minute // 6)
        self._clock = clock
        self._window_start = clock()
        self._count = 0
        self._suppressed = 0
        # Lines logged this minute per key: at most per_minute keys, as only a logged line
        # adds one.
        self._by_key: dict[Hashable, int] = {}

    def warning(self, message: str, *args: object, key: Hashable = None) -> None:
        """Log ``message % args`` at WARNING unless this minute's budget (or ``key``'s share
        of it) is spent."""
        self.log(logging.WARNING, message, *args, key=key)

    def log(
        self,
        level: int,
        message: str,
        *args: object,
        exc_info: BaseException | None = None,
        key: Hashable = None,
    ) -> None:
        """Log at ``level`` unless this minute's budget (or ``key``'s share) is spent."""
        now = self._clock()
        if now - self._window_start >= 60.0:
            if self._suppressed:
                log.warning(
                    "pbtyped: %d similar warnings were suppressed in the last minute",
                    self._suppressed,
                )
            self._window_start = now
            self._count = 0
            self._suppressed = 0
            self._by_key.clear()
        if self._count >= self._per_minute:
            self._suppressed += 1
            return
        if key is not None:
            logged = self._by_key.get(key, 0)
            if logged >= self._per_key:
                self._suppressed += 1
                return
            self._by_key[key] = logged + 1
        self._count += 1
        log.log(level, message, *args, exc_info=exc_info)

    @property
    def suppressed(self) -> int:
        """Warnings dropped in the current window."""
        return self._suppressed
