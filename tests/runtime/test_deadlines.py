"""Deadlines: one timer per connection, standing for the Hello, a frame, an idle line or
keepalive (a silent peer is pinged, then given up)."""

from __future__ import annotations

import pytest

import pbtyped as pb
from pbtyped.runtime.deadlines import Deadlines, TimerKind

from .fakes import FakeLoop


class Line:
    """The broker's side of what the deadlines read, set by hand."""

    def __init__(self) -> None:
        self.has_partial_frame = False
        self.frames_received = 0
        self.export_count = 1  # the root
        self.import_count = 0
        self.keepalive = False

    def frame(self) -> None:
        """A whole frame (not a PING or PONG) arrived."""
        self.frames_received += 1


class Owner:
    def __init__(self) -> None:
        self._busy = False
        self._stalled = False
        self.reasons: list[str] = []
        self.pings: list[float] = []
        self.loop: FakeLoop | None = None

    def _deadline_passed(self, reason: str) -> None:
        self.reasons.append(reason)

    def _ping(self) -> None:
        assert self.loop is not None
        self.pings.append(self.loop.now)


def deadlines(
    prelogin_idle: float | None = None, **limits: float | None
) -> tuple[Deadlines, FakeLoop, Line, Owner]:
    loop, line, owner = FakeLoop(), Line(), Owner()
    owner.loop = loop
    found = Deadlines(loop, pb.Limits(**limits), line, owner, prelogin_idle)
    return found, loop, line, owner


def test_the_hello_must_come_within_the_handshake_timeout() -> None:
    timers, loop, _, owner = deadlines(handshake_timeout=3.0)
    timers.start_handshake()
    assert timers.kind is TimerKind.HANDSHAKE
    timers.after_read()  # reads before the Hello do not restart its clock
    loop.advance(2.9)
    assert owner.reasons == []
    loop.advance(0.2)
    assert owner.reasons == ["no handshake within 3.0 s"]
    assert timers.kind is TimerKind.NONE


def test_a_hello_in_time_stops_the_handshake_timer() -> None:
    timers, loop, _, owner = deadlines(handshake_timeout=3.0)
    timers.start_handshake()
    timers.handshake_done()
    assert timers.kind is TimerKind.NONE
    assert loop.armed == []
    loop.advance(10.0)
    assert owner.reasons == []


def test_a_frame_must_arrive_whole_within_the_frame_timeout() -> None:
    timers, loop, line, owner = deadlines(frame_timeout=5.0)
    line.has_partial_frame = True
    timers.after_read()
    assert timers.kind is TimerKind.FRAME
    loop.advance(4.0)
    timers.after_read()  # more of the same frame: its clock runs on
    loop.advance(1.5)
    assert owner.reasons == ["a frame took longer than 5.0 s to arrive"]


def test_a_frame_completed_restarts_the_clock_for_the_next_one() -> None:
    timers, loop, line, owner = deadlines(frame_timeout=5.0)
    line.has_partial_frame = True
    timers.after_read()
    loop.advance(4.0)
    line.frames_received = 1  # that frame completed; the next one straddles this read
    timers.after_read()
    loop.advance(4.0)
    assert owner.reasons == []
    line.has_partial_frame = False
    timers.after_read()  # no idle limit: nothing left to time
    assert timers.kind is TimerKind.NONE
    assert loop.armed == []


def test_an_idle_line_closes_after_the_idle_timeout_counted_from_the_last_read() -> None:
    timers, loop, line, owner = deadlines(idle_timeout=10.0)
    timers.after_read()
    assert timers.kind is TimerKind.IDLE
    loop.advance(6.0)
    line.frame()
    timers.after_read()  # activity: only noted, the timer is not touched
    assert len(loop.timers) == 1
    loop.advance(6.0)  # the timer fires at 10 s, and sleeps for the 4 s left
    assert owner.reasons == []
    loop.advance(4.0)
    assert owner.reasons == ["idle for 10.0 s (Limits.idle_timeout)"]


def test_a_line_with_calls_under_way_is_not_idle() -> None:
    timers, loop, _, owner = deadlines(idle_timeout=10.0)
    timers.after_call()
    assert timers.kind is TimerKind.IDLE
    owner._busy = True
    loop.advance(25.0)
    assert owner.reasons == []
    owner._busy = False
    loop.advance(10.0)
    assert owner.reasons == ["idle for 10.0 s (Limits.idle_timeout)"]


def test_the_prelogin_idle_limit_applies_only_while_the_peer_holds_nothing() -> None:
    timers, loop, line, owner = deadlines(prelogin_idle=2.0, idle_timeout=None)
    timers.after_read()
    loop.advance(2.5)
    assert owner.reasons == ["idle for 2.0 s holding no reference (Limits.prelogin_idle_timeout)"]

    timers, loop, line, owner = deadlines(prelogin_idle=2.0, idle_timeout=None)
    timers.after_read()
    line.import_count = 1  # logged in: the peer gave us a reference
    loop.advance(60.0)
    assert owner.reasons == []
    assert timers.kind is TimerKind.NONE


def test_the_longer_idle_limit_takes_over_once_the_peer_holds_something() -> None:
    timers, loop, line, owner = deadlines(prelogin_idle=2.0, idle_timeout=30.0)
    timers.after_read()
    line.export_count = 2  # the peer holds one of our objects besides the root
    loop.advance(2.5)
    assert owner.reasons == []
    loop.advance(30.0)
    assert owner.reasons == ["idle for 30.0 s (Limits.idle_timeout)"]


@pytest.mark.parametrize("kind", list(TimerKind))
def test_disarm_stops_whatever_timer_runs(kind: TimerKind) -> None:
    timers, loop, line, owner = deadlines(idle_timeout=1.0)
    if kind is TimerKind.HANDSHAKE:
        timers.start_handshake()
    elif kind is TimerKind.FRAME:
        line.has_partial_frame = True
        timers.after_read()
    elif kind is TimerKind.IDLE:
        timers.after_read()
    elif kind is TimerKind.KEEPALIVE:
        line.keepalive = True
        timers.handshake_done()
        timers.after_read()
    assert timers.kind is kind
    timers.disarm()
    assert timers.kind is TimerKind.NONE
    loop.advance(100.0)
    assert owner.reasons == []


# -- keepalive (issue 15 item 3) -------------------------------------------------------------


def keepalive(**limits: float | None) -> tuple[Deadlines, FakeLoop, Line, Owner]:
    """Deadlines of a line whose peer listed "keepalive", just past the handshake."""
    timers, loop, line, owner = deadlines(**{"prelogin_idle": None, **limits})
    line.keepalive = True
    timers.start_handshake()
    timers.handshake_done()
    timers.after_read()  # the read that carried the Hello
    return timers, loop, line, owner


def test_a_silent_peer_is_pinged_each_interval_then_given_up() -> None:
    timers, loop, _, owner = keepalive(keepalive_interval=20.0, keepalive_misses=3)
    assert timers.kind is TimerKind.KEEPALIVE
    loop.advance(19.9)
    assert owner.pings == []
    loop.advance(0.1)
    assert owner.pings == [20.0]
    loop.advance(20.0)
    assert owner.pings == [20.0, 40.0]
    assert owner.reasons == []
    loop.advance(20.0)
    assert owner.reasons == [
        "the peer stopped answering: nothing received for 60 s "
        "(Limits.keepalive_interval 20 s x keepalive_misses 3)"
    ]
    assert owner.pings == [20.0, 40.0]


def test_anything_received_restarts_the_keepalive_clock() -> None:
    timers, loop, _, owner = keepalive(keepalive_interval=1.0, keepalive_misses=2)
    for _ in range(10):
        loop.advance(0.9)
        timers.after_read()  # a PONG or anything else: only noted
    assert owner.pings == []
    loop.advance(1.0)
    assert owner.pings == [pytest.approx(10.0)]
    loop.advance(0.5)
    timers.after_read()  # the PONG
    loop.advance(1.4)
    assert owner.reasons == []
    loop.advance(0.6)
    assert owner.reasons == [
        "the peer stopped answering: nothing received for 2 s "
        "(Limits.keepalive_interval 1 s x keepalive_misses 2)"
    ]


def test_the_keepalive_clock_stands_still_while_the_line_is_stalled() -> None:
    _, loop, _, owner = keepalive(keepalive_interval=1.0, keepalive_misses=2)
    owner._stalled = True  # the peer does not read us, or we do not read it
    loop.advance(30.0)
    assert owner.reasons == []
    owner._stalled = False
    loop.advance(1.0)
    assert len(owner.pings) == 1
    loop.advance(1.0)
    assert len(owner.reasons) == 1


@pytest.mark.parametrize(
    ("keepalive_on", "interval"), [(False, 20.0), (True, None)], ids=["not-negotiated", "off"]
)
def test_no_keepalive_without_the_feature_or_when_turned_off(
    keepalive_on: bool, interval: float | None
) -> None:
    timers, loop, line, owner = deadlines(prelogin_idle=None, keepalive_interval=interval)
    line.keepalive = keepalive_on
    timers.start_handshake()
    timers.handshake_done()
    timers.after_read()
    assert timers.kind is TimerKind.NONE
    loop.advance(1000.0)
    assert owner.pings == []
    assert owner.reasons == []


def test_pings_and_pongs_do_not_keep_an_idle_line_open() -> None:
    # PING and PONG are not counted in frames_received: the idle clock runs on.
    timers, loop, _, owner = keepalive(
        keepalive_interval=1.0, keepalive_misses=3, prelogin_idle=2.5
    )
    loop.advance(1.0)
    assert owner.pings == [1.0]
    timers.after_read()  # its PONG
    loop.advance(1.0)
    timers.after_read()
    loop.advance(0.4)
    assert owner.reasons == []
    loop.advance(0.2)
    assert owner.reasons == ["idle for 2.5 s holding no reference (Limits.prelogin_idle_timeout)"]


def test_a_frame_that_is_not_keepalive_restarts_the_idle_clock_under_keepalive() -> None:
    timers, loop, line, owner = keepalive(keepalive_interval=1.0, idle_timeout=2.5)
    loop.advance(2.0)
    line.frame()
    timers.after_read()
    loop.advance(2.0)
    assert owner.reasons == []
    loop.advance(0.6)
    assert owner.reasons == ["idle for 2.5 s (Limits.idle_timeout)"]


@pytest.mark.parametrize(("field", "value"), [("keepalive_interval", 0.0), ("keepalive_misses", 0)])
def test_keepalive_limits_are_checked(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        pb.Limits(**{field: value})
