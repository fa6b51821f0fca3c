"""A connection's deadlines: the Hello, a frame that started arriving, an idle line, a
peer that stopped answering (keepalive).

One timer per connection stands for whichever deadline applies now (``TimerKind``); the
connection tells ``Deadlines`` what happened (a read, a call) and is told when one expired,
or when to ping the peer.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Protocol

from ..wire.limits import Limits

__all__ = ["Deadlines", "Line", "Owner", "TimerKind"]


class TimerKind(enum.Enum):
    """Which deadline a connection's timer stands for."""

    #: No timer runs.
    NONE = enum.auto()
    #: The peer's Hello must arrive (``Limits.handshake_timeout``).
    HANDSHAKE = enum.auto()
    #: A started frame must arrive whole (``Limits.frame_timeout``).
    FRAME = enum.auto()
    #: An idle line closes (``Limits.idle_timeout``, ``Limits.prelogin_idle_timeout``).
    IDLE = enum.auto()
    #: Keepalive: ping a silent peer every ``Limits.keepalive_interval``, and close the line
    #: when it has been silent ``keepalive_misses`` intervals (the idle limits too, if any).
    KEEPALIVE = enum.auto()


_NONE = TimerKind.NONE
_HANDSHAKE = TimerKind.HANDSHAKE
_FRAME = TimerKind.FRAME
_IDLE = TimerKind.IDLE
_KEEPALIVE = TimerKind.KEEPALIVE
#: A keepalive deadline this close is reached (a timer may fire a little early).
_SLACK = 0.001


class Line(Protocol):
    """What the deadlines read of the line they watch (the broker)."""

    @property
    def has_partial_frame(self) -> bool:
        """Part of a frame has arrived, not all of it."""

    @property
    def frames_received(self) -> int:
        """Frames received whole so far, PING and PONG not counted (they are not activity)."""

    @property
    def keepalive(self) -> bool:
        """Both Hellos list "keepalive": the peer answers our pings."""

    @property
    def export_count(self) -> int:
        """Objects the peer holds references to (the root included)."""

    @property
    def import_count(self) -> int:
        """The peer's objects we hold references to."""


class Owner(Protocol):
    """The connection the deadlines belong to (its private side, for its parts only)."""

    @property
    def _busy(self) -> bool:
        """Calls are under way in either direction: the line is not idle."""

    @property
    def _stalled(self) -> bool:
        """We do not read the peer now (backpressure), or it does not read what we send:
        its silence proves nothing, and the keepalive clock does not run."""

    def _deadline_passed(self, reason: str) -> None:
        """A deadline passed: close the line, saying ``reason``."""

    def _ping(self) -> None:
        """Send the peer a PING."""


class Deadlines:
    """The one timer of a connection and the deadline it stands for (``kind``).

    ``start_handshake`` when the transport is up, ``handshake_done`` when the Hello came,
    ``after_read`` after each read and ``after_call`` after each call sent. When a deadline
    passes, ``owner._deadline_passed(reason)`` is called once. The idle and keepalive deadlines
    are cheap to keep: a read only notes the time, and the timer, when it fires, pings or
    sleeps again for what is left.
    """

    __slots__ = (
        "_frames_at_arm",
        "_heard",
        "_keepalive",
        "_last_activity",
        "_limits",
        "_line",
        "_loop",
        "_owner",
        "_prelogin_idle",
        "_timer",
        "idle_on",
        "kind",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limits: Limits,
        line: Line,
        owner: Owner,
        prelogin_idle: float | None = None,
    ) -> None:
        self._loop = loop
        self._limits = limits
        self._line = line
        self._owner = owner
        self._prelogin_idle = prelogin_idle
        #: An idle limit applies to this line (``after_call`` has nothing to do otherwise).
        self.idle_on = limits.idle_timeout is not None or prelogin_idle is not None
        self._timer: asyncio.TimerHandle | None = None
        #: The deadline the timer stands for now.
        self.kind = _NONE
        self._last_activity = 0.0
        # The frames received when the frame timer was armed, or when the idle clock was last
        # restarted (``frames_received`` does not count keepalive's PING and PONG).
        self._frames_at_arm = 0
        #: The interval of keepalive pings, None while keepalive does not apply.
        self._keepalive: float | None = None
        self._heard = 0.0  # the time anything was last received (keepalive's clock)

    def start_handshake(self) -> None:
        """The transport is up: the peer's Hello must come within the handshake timeout."""
        self._arm(_HANDSHAKE, self._limits.handshake_timeout)

    def handshake_done(self) -> None:
        """The Hello came (the next read sets the deadline that applies from now on)."""
        self.disarm()
        if self._line.keepalive:
            self._keepalive = self._limits.keepalive_interval

    def after_read(self) -> None:
        """Data arrived: restart the idle and keepalive clocks, or time the frame now
        arriving."""
        kind = self.kind
        line = self._line
        if (kind is _IDLE or kind is _KEEPALIVE) and not line.has_partial_frame:
            # The common case: no timer to touch, only times to note.
            self._heard = now = self._loop.time()
            frames = line.frames_received
            if frames != self._frames_at_arm:  # not PINGs and PONGs alone
                self._frames_at_arm = frames
                self._last_activity = now
        elif kind is not _HANDSHAKE and (
            self._timer is not None
            or self.idle_on
            or line.has_partial_frame
            or self._keepalive is not None
        ):
            self._watch()

    def after_call(self) -> None:
        """A call went out: an idle limit that was not timed yet is timed from now."""
        if self._timer is None and self.idle_on:
            self._watch()

    def disarm(self) -> None:
        """Stop the timer (the connection closed, or no deadline applies)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self.kind = _NONE

    def _arm(self, kind: TimerKind, delay: float) -> None:
        self.disarm()
        self.kind = kind
        self._timer = self._loop.call_later(delay, self._expired, kind)

    def _idle_limit(self) -> tuple[float, str] | None:
        """Seconds of silence after which the line closes now, and the limit that says so."""
        idle = self._limits.idle_timeout
        prelogin = self._prelogin_idle
        if prelogin is not None and (idle is None or prelogin < idle):
            line = self._line
            if line.export_count <= 1 and line.import_count == 0:
                return prelogin, "holding no reference (Limits.prelogin_idle_timeout)"
        if idle is None:
            return None
        return idle, "(Limits.idle_timeout)"

    def _watch(self) -> None:
        line = self._line
        if line.has_partial_frame:
            # Timed from the start of the frame now arriving: a fast peer whose frames
            # straddle reads completes frames, so its clock restarts.
            frames = line.frames_received
            if self.kind is not _FRAME or frames != self._frames_at_arm:
                self._frames_at_arm = frames
                self._arm(_FRAME, self._limits.frame_timeout)
            return
        now = self._loop.time()
        self._heard = now
        if self.kind is _IDLE:
            self._last_activity = now  # the timer checks it when it fires
            return
        idle = self._idle_limit() if self.idle_on else None
        interval = self._keepalive
        self._last_activity = now
        self._frames_at_arm = line.frames_received
        if interval is not None:
            self._arm(_KEEPALIVE, interval if idle is None else min(interval, idle[0]))
        elif idle is not None:
            self._arm(_IDLE, idle[0])
        elif self._timer is not None:
            self.disarm()

    def _expired(self, kind: TimerKind) -> None:
        self._timer = None
        self.kind = _NONE
        if kind is _IDLE:
            self._idle_expired()
            return
        if kind is _KEEPALIVE:
            self._keepalive_expired()
            return
        if kind is _HANDSHAKE:
            reason = f"no handshake within {self._limits.handshake_timeout} s"
        else:
            reason = f"a frame took longer than {self._limits.frame_timeout} s to arrive"
        self._owner._deadline_passed(reason)

    def _idle_left(self) -> tuple[float, float, str] | None:
        """Seconds until the idle limit closes the line (the line is idle: no call under
        way), the limit and its name; None if no idle limit applies."""
        limit = self._idle_limit()
        if limit is None:
            return None  # only the pre-login limit applied, and the peer now holds something
        idle, which = limit
        remaining = self._last_activity + idle - self._loop.time()
        if remaining <= 0 and self._owner._busy:
            remaining = idle  # calls are under way: look again after a whole limit
        return remaining, idle, which

    def _idle_expired(self) -> None:
        left = self._idle_left()
        if left is None:
            return
        remaining, idle, which = left
        if remaining > 0:
            self._arm(_IDLE, remaining)
        else:
            self._owner._deadline_passed(f"idle for {idle} s {which}")

    def _keepalive_expired(self) -> None:
        """Ping a silent peer, or give it up; then sleep until the next deadline, idle
        limits included."""
        interval = self._keepalive
        if interval is None:
            return  # only armed with keepalive on
        owner = self._owner
        now = self._loop.time()
        if owner._stalled:
            self._heard = now  # a peer slow to read us is not dead: its clock stands still
        silent = now - self._heard
        misses = self._limits.keepalive_misses
        if silent + _SLACK >= interval * misses:
            owner._deadline_passed(
                f"the peer stopped answering: nothing received for {interval * misses:g} s "
                f"(Limits.keepalive_interval {interval:g} s x keepalive_misses {misses})"
            )
            return
        if silent + _SLACK >= interval:
            owner._ping()
        # The next ping (or the end) falls on a whole number of intervals since the peer
        # was last heard.
        wait = interval * (int((silent + _SLACK) / interval) + 1) - silent
        left = self._idle_left() if self.idle_on else None
        if left is not None:
            remaining, idle, which = left
            if remaining <= 0:
                owner._deadline_passed(f"idle for {idle} s {which}")
                return
            wait = min(wait, remaining)
        self._arm(_KEEPALIVE, wait)
