"""Rate-limited warnings, so that no peer can flood the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

__all__ = ["LogLimiter"]

log = logging.getLogger("pbtyped")

#: Peers named in the summary line, the ones with the most lines suppressed.
_NAMED_IN_SUMMARY = 3


class _Share:
    """What one key (a peer) logged and had suppressed in the current minute."""

    __slots__ = ("limit", "logged", "suppressed")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.logged = 0
        self.suppressed = 0

    @property
    def spent(self) -> bool:
        return self.logged >= self.limit


class LogLimiter:
    """At most ``per_minute`` warnings per minute; the rest are counted and summarised.

    With ``per_key``, a warning logged with ``key=`` (e.g. the peer's address) also counts
    against that key's share: at most ``per_key`` lines a minute per key, so that one peer
    cannot use the whole budget and hide everyone else's lines. The summary line names the
    keys that went over their share.
    """

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        per_key: int | None = None,
    ) -> None:
        if per_key is not None and not 1 <= per_key <= per_minute:
            raise ValueError(f"per_key must be 1 to per_minute ({per_minute}), not {per_key}")
        self._per_minute = per_minute
        self._per_key = per_key
        self._clock = clock
        self._window_start = clock()
        self._count = 0
        self._suppressed = 0
        # Only keys that logged a line this minute: at most per_minute of them, however
        # many keys a flood uses.
        self._shares: dict[Hashable, _Share] = {}

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
        """Log at ``level`` unless this minute's budget (or ``key``'s share of it) is spent."""
        now = self._clock()
        if now - self._window_start >= 60.0:
            self._summarise()
            self._window_start = now
        share = self._share(key)
        if self._count >= self._per_minute or (share is not None and share.spent):
            self._suppressed += 1
            if share is not None:
                share.suppressed += 1
            return
        if share is not None:
            share.logged += 1
        self._count += 1
        log.log(level, message, *args, exc_info=exc_info)

    def _share(self, key: Hashable) -> _Share | None:
        """``key``'s share of this minute, made when it first logs; None when not shared."""
        if key is None or self._per_key is None:
            return None
        share = self._shares.get(key)
        if share is None and self._count < self._per_minute:
            share = self._shares[key] = _Share(self._per_key)
        return share

    def _summarise(self) -> None:
        """Report the past minute's suppressed lines, once, and start a new minute."""
        if self._suppressed:
            over = sorted(
                ((share.suppressed, str(key)) for key, share in self._shares.items()),
                reverse=True,
            )
            named = ", ".join(
                f"{key} ({count})" for count, key in over[:_NAMED_IN_SUMMARY] if count
            )
            log.warning(
                "%d similar warnings were suppressed in the last minute%s",
                self._suppressed,
                f"; over their share: {named}" if named else "",
            )
        self._count = 0
        self._suppressed = 0
        self._shares.clear()

    @property
    def suppressed(self) -> int:
        """Warnings dropped in the current window."""
        return self._suppressed
