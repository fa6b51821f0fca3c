"""Issue 10 row 6: an unknown user's fake salt is the same on every server of a deployment.

The fake secret used to be drawn at random per ``ScramChecker``: a real user's salt was the
same on two server instances (or before and after a restart) and an unknown user's was not,
which told a client who exists. It is now derived from a secret the deployment configures
once (``secret=`` or ``PBTYPED_SCRAM_SECRET``).
"""

from __future__ import annotations

import logging

import pytest

import pbtyped as pb
from pbtyped.cred import Portal, ScramChecker
from pbtyped.cred.checkers import SECRET_VARIABLE

from .conftest import ITERATIONS
from .realms import Mind, Realm

SECRET = "one secret for the whole deployment"


async def _salt_and_iterations(checker: ScramChecker, user: str) -> str:
    """What a server with ``checker`` shows ``user`` in its server-first message."""
    portal = Portal(Realm(), [checker])
    async with (
        pb.serve(portal.root()) as server,
        pb.connect("127.0.0.1", server.port) as client,
    ):
        root = await client.root()
        first = f"n,,n={user},r=clientnonce123"
        _, answer = await root.call_remote("scram_start", Mind(), first)
        return answer.split(",", 1)[1]  # s=...,i=... (the nonce differs every time)


def test_two_servers_of_one_deployment_show_unknown_users_alike(run, store) -> None:
    async def body() -> None:
        def checker() -> ScramChecker:
            return ScramChecker(store, fake_iterations=ITERATIONS, secret=SECRET)

        for user in ("mallory", "alice"):  # an unknown user behaves as a real one does
            assert await _salt_and_iterations(checker(), user) == await _salt_and_iterations(
                checker(), user
            )
        unknown = await _salt_and_iterations(checker(), "mallory")
        known = await _salt_and_iterations(checker(), "alice")
        assert len(unknown) == len(known)
        assert unknown.endswith(f",i={ITERATIONS}")
        assert known.endswith(f",i={ITERATIONS}")
        other = ScramChecker(store, fake_iterations=ITERATIONS, secret=SECRET + " rotated")
        assert await _salt_and_iterations(other, "mallory") != unknown

    run(body)


def test_the_secret_may_come_from_the_environment(
    run, store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    from_env = ScramChecker(store, fake_iterations=ITERATIONS)
    given = ScramChecker(store, fake_iterations=ITERATIONS, secret=SECRET.encode())
    assert from_env.fake_secret == given.fake_secret
    assert SECRET.encode() not in from_env.fake_secret  # derived, never the secret itself


def test_without_a_secret_a_warning_says_what_is_at_stake(
    store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        first = ScramChecker(store)
        second = ScramChecker(store)
    assert first.fake_secret != second.fake_secret
    assert any("can tell which user names exist" in r.getMessage() for r in caplog.records)


def test_a_short_secret_is_refused(store) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ScramChecker(store, secret="short")
