"""Issue 10 row 12: what many logins that share one caller reference cost the server.

A client may pass the same caller reference to every login step: each login's session then
registers one disconnect callback on that one reference, and releasing the sessions newest
first removes them one by one. That must cost the same per session at any count (it was a
``list.remove`` per release: quadratic) and keep little memory per session.
"""

from __future__ import annotations

from typing import Any

from pbtyped.cred.portal import _Session
from pbtyped.protocol.objects import Referenceable
from pbtyped.runtime.reference import RemoteReference

from ..costs import assert_linear_cpu, peak_memory


class _Line:
    """Stands in for the caller's connection: watches references, never closes."""

    def watch(self, ref: RemoteReference) -> None:
        pass


class _Open:
    is_open = True


def _caller() -> RemoteReference:
    return RemoteReference(_Open(), 1, _Line())  # type: ignore[arg-type]


def _logout() -> None:
    pass


def _log_in(caller: RemoteReference, avatar: Referenceable, count: int) -> list[_Session]:
    return [_Session(avatar, _logout, caller) for _ in range(count)]


def _log_in_and_release_newest_first(count: int) -> tuple[Any, int]:
    caller, avatar = _caller(), Referenceable()

    def run() -> None:
        sessions = _log_in(caller, avatar, count)
        for session in reversed(sessions):
            session.pb_detached(None)
        assert not caller.fire_disconnect()

    return run, count


def test_sessions_on_one_caller_cost_linear_cpu_and_little_memory() -> None:
    """Attack: thousands of logins passing one caller reference, released newest first
    (row 12: 20k sessions 4.5 s, 40k 20.8 s, quadratic). CPU per session must not grow with
    the count, and what each held session keeps in the portal and on the caller reference
    stays a small constant (about 175 bytes: the session, its callback, a dict entry)."""
    assert_linear_cpu(_log_in_and_release_newest_first, 1_000, 32_000)
    caller, avatar = _caller(), Referenceable()
    per_session = [peak_memory(lambda n=n: _log_in(caller, avatar, n)) / n for n in (2_000, 32_000)]
    assert max(per_session) < 256, per_session
    assert per_session[1] < 1.5 * per_session[0], per_session
    assert caller.fire_disconnect()
