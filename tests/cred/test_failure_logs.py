"""Issue 10: failed logins keep a log budget that one guesser cannot use up.

The portal's failed-login warnings shared one budget of ``log_rate_per_minute`` lines: a
single client failing on a few connections spent it, and everyone else's failed logins went
unreported for the rest of the minute. One address now gets a sixth of it.
"""

from __future__ import annotations

import logging

import pytest

import pbtyped as pb
from pbtyped.cred import Portal, ScramChecker, login

from .conftest import ITERATIONS
from .realms import Realm


def test_one_address_cannot_spend_the_failed_login_budget(
    run, store, caplog: pytest.LogCaptureFixture
) -> None:
    portal = Portal(Realm(), [ScramChecker(store, fake_iterations=ITERATIONS, secret=b"s" * 16)])

    async def body() -> None:
        async with pb.serve(portal.root()) as server:
            for _ in range(3):  # three connections, five failures each: fifteen
                async with pb.connect("127.0.0.1", server.port) as client:
                    for _ in range(5):
                        with pytest.raises(pb.UnauthorizedLogin):
                            await login(client, "alice", "guess")

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    failed = [r for r in caplog.records if "failed login" in r.getMessage()]
    assert len(failed) == 5  # 30 // 6: the rest of the minute's 30 stay for other peers
    assert portal._logs.suppressed == 10
