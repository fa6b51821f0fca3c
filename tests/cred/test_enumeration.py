"""Issue 10 row 6: an unknown user's fake salt is the same on every server of a deployment.

A real user's salt comes from the store, so it is the same on every server process and after
a restart. An unknown user's fake salt must be too, or asking two servers (or one before and
after a restart) for a user's salt tells whether the user exists.
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

import pbtyped as pb
from pbtyped.cred import FAKE_SECRET_ENV, InMemoryScramStore, Portal, ScramChecker
from pbtyped.cred import checkers as checkers_module
from pbtyped.cred.scram import parse_client_first

from .conftest import ITERATIONS
from .realms import Mind, Realm

SECRET = "one secret for the whole deployment"


async def _salt_and_iterations(port: int, user: str) -> tuple[str, str]:
    """What a server shows ``user`` at the start of a password login."""
    async with pb.connect("127.0.0.1", port) as client:
        root = await client.root()
        exchange, answer = await root.call_remote("scram_start", Mind(), f"n,,n={user},r=nonce123")
        exchange.release()
    match = re.fullmatch(r"r=[^,]+,s=([^,]+),i=(\d+)", answer)
    assert match is not None, answer
    return match.group(1), match.group(2)


def test_two_servers_show_an_unknown_user_the_same_salt(run, store, monkeypatch) -> None:
    """Attack: ask two server processes of one deployment (or one server before and after a
    restart) for the salts of a real and of an unknown user, and compare: a fake salt drawn
    per process differed, a real one did not. With the secret configured once (here by the
    environment variable), both look alike: stable, same length, same iteration count."""
    monkeypatch.setenv(FAKE_SECRET_ENV, SECRET)

    async def body() -> None:
        first = Portal(Realm(), [ScramChecker(store, fake_iterations=ITERATIONS)])
        second = Portal(Realm(), [ScramChecker(store, fake_iterations=ITERATIONS)])
        async with pb.serve(first.root()) as one, pb.serve(second.root()) as two:
            for user in ("alice", "mallory", "eve"):
                assert await _salt_and_iterations(one.port, user) == await _salt_and_iterations(
                    two.port, user
                )
            alice = await _salt_and_iterations(one.port, "alice")
            mallory = await _salt_and_iterations(one.port, "mallory")
            assert mallory != await _salt_and_iterations(one.port, "eve")
            assert mallory[0] != alice[0]
            assert len(mallory[0]) == len(alice[0])
            assert mallory[1] == alice[1] == str(ITERATIONS)

    run(body)


def test_the_secret_argument_wins_and_is_checked(monkeypatch) -> None:
    """The constructor's secret beats the environment's; a short secret is refused."""
    store = InMemoryScramStore()
    monkeypatch.setenv(FAKE_SECRET_ENV, SECRET)
    from_env = ScramChecker(store)
    assert from_env.fake_secret == SECRET.encode()
    given = ScramChecker(store, fake_secret=b"x" * 16)
    assert given.fake_secret == b"x" * 16
    with pytest.raises(ValueError, match=r"fake_secret=\) must be at least 16 bytes"):
        ScramChecker(store, fake_secret="short")
    monkeypatch.setenv(FAKE_SECRET_ENV, "short")
    with pytest.raises(ValueError, match=f"{FAKE_SECRET_ENV} must be at least 16 bytes"):
        ScramChecker(store)
    with pytest.raises(ValueError, match="1 to 64 bytes"):
        ScramChecker(store, fake_secret=SECRET, fake_salt_length=0)


def test_without_a_secret_one_per_process_and_a_warning_once(monkeypatch, caplog) -> None:
    """Without a configured secret, every checker of the process shares one random secret
    (a restart changes it), and the log says once what that exposes and how to fix it."""
    monkeypatch.delenv(FAKE_SECRET_ENV, raising=False)
    monkeypatch.setattr(checkers_module, "_process_secret", None)
    store = InMemoryScramStore()
    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        secrets = {ScramChecker(store).fake_secret for _ in range(3)}
    assert len(secrets) == 1
    (record,) = caplog.records
    assert f"set {FAKE_SECRET_ENV} to the same secret in every process" in record.getMessage()


def test_known_and_unknown_users_cost_the_same_first_step(store, monkeypatch) -> None:
    """Attack: time the first step. A known and an unknown user take the same work: the fake
    record is made for every login, the store is asked every time, and the server-first
    messages have the same shape."""
    made: list[str] = []
    real_fake_record = checkers_module.fake_record

    def counting(secret: bytes, username: str, iterations: int, **options: int) -> object:
        made.append(username)
        return real_fake_record(secret, username, iterations, **options)

    checker = ScramChecker(store, fake_iterations=ITERATIONS, fake_secret=SECRET)
    monkeypatch.setattr(checkers_module, "fake_record", counting)
    shapes = []
    for user in ("alice", "mallory"):
        server = asyncio.run(checker.server(parse_client_first(f"n,,n={user},r=nonce123")))
        shapes.append(re.sub(r"[^,=]", "x", server.first_message()))
    assert made == ["alice", "mallory"]
    assert shapes[0] == shapes[1]
