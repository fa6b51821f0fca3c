"""Rate-limited warnings, so that no peer can flood the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["LogLimiter"]

log = logging.getLogger("pbtyped")


class LogLimiter:
    """At most ``per_minute`` warnings per minute; the rest are counted and summarised."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._window_start = clock()
        self._count = 0
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        """Log ``message % args`` at WARNING unless this minute's budget is spent."""
        self.log(logging.WARNING, message, *args)

    def log(
        self, level: int, message: str, *args: object, exc_info: BaseException | None = None
    ) -> None:
        """Log at ``level`` unless this minute's budget is spent."""
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
        if self._count < self._per_minute:
            self._count += 1
            log.log(level, message, *args, exc_info=exc_info)
        else:
            self._suppressed += 1

    @property
    def suppressed(self) -> int:
        """Warnings dropped in the current window."""
        return self._suppressed
