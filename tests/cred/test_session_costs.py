"""Issue 10 row 12: logins that reuse one caller reference, logged out newest first.

Each portal session adds a disconnect callback to its caller's reference and removes it at
logout. With the callbacks in a list, removing the newest of N scanned all N: 20,000 sessions
took 4.5 s and 40,000 took 20.8 s. Both costs are now O(1) per session (a dict keyed by the
callback), which the CPU-per-session growth between two sizes shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pbtyped as pb
from pbtyped.cred.portal import _Session
from pbtyped.protocol.broker import Broker
from pbtyped.runtime.callbacks import Callbacks
from pbtyped.runtime.reference import RemoteReference

from ..costs import assert_linear_cpu, peak_memory


class _Line:
    """What a RemoteReference needs of its connection here: somewhere to be watched."""

    def watch(self, ref: RemoteReference) -> None:
        pass


class _Avatar(pb.Referenceable):
    pass


def _caller() -> RemoteReference:
    broker = Broker(registry=pb.Registry())
    return RemoteReference(broker, 1, _Line())  # type: ignore[arg-type]


def _sessions(count: int) -> tuple[Callable[[], Any], int]:
    avatar = _Avatar()
    logouts: list[int] = []

    def run() -> None:
        caller = _caller()
        sessions = [_Session(avatar, lambda: logouts.append(1), caller) for _ in range(count)]
        for session in reversed(sessions):  # newest first: the worst order for a list
            session.pb_detached(None)

    return run, count


def test_logins_and_logouts_on_one_caller_cost_linear_cpu() -> None:
    assert_linear_cpu(_sessions, 1_000, 16_000)


def test_a_session_keeps_little_on_its_caller() -> None:
    caller = _caller()
    avatar = _Avatar()
    count = 10_000
    sessions: list[_Session] = []

    def add() -> None:
        sessions.extend(_Session(avatar, lambda: None, caller) for _ in range(count))

    per_session = peak_memory(add) / count
    # The session object, its bound method as the key of the caller's callbacks, the dict
    # slot and the list slot here: a few hundred bytes, not growing with the count.
    assert per_session < 400, per_session
    for session in sessions:
        session.pb_detached(None)
    assert caller.fire_disconnect() == []


def test_callbacks_keep_order_and_multiplicity() -> None:
    seen: list[str] = []
    callbacks: Callbacks[str] = Callbacks()
    first, second = (lambda name: seen.append(f"a{name}")), (lambda name: seen.append(f"b{name}"))
    callbacks.add(first)
    callbacks.add(second)
    callbacks.add(first)
    callbacks.discard(second)
    callbacks.discard(second)  # absent: nothing happens
    assert len(callbacks) == 2
    for callback in callbacks.take():
        callback("!")
    assert seen == ["a!", "a!"]
    assert len(callbacks) == 0
