"""Issue 10 row 7: at most ``max_failures`` wrong proofs are ever checked on one connection.

A password guesser used to start several exchanges while its failures were below the cap and
then finish them all with wrong proofs: each finish was checked, beyond the cap. Every
exchange in progress now holds a failure slot from its start until it ends.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.cred import Portal, ScramChecker
from pbtyped.cred.scram import ScramClient, ScramServer, salted_password

from .conftest import ITERATIONS
from .realms import Mind, Realm

REFUSED = (pb.LimitExceeded, pb.UnauthorizedLogin)


class ProofCount:
    """Counts the proofs the server checks and finds wrong (``ScramServer.final_message``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.wrong = 0
        original = ScramServer.final_message

        def counting(server: ScramServer, client_final: str) -> str:
            try:
                return original(server, client_final)
            except pb.UnauthorizedLogin as exc:
                self.wrong += str(exc).startswith("login failed")
                raise

        monkeypatch.setattr(ScramServer, "final_message", counting)


class Attempt:
    """One password exchange started on the server, finished later by ``finish``."""

    def __init__(self, exchange: pb.RemoteReference, client: ScramClient, first: str) -> None:
        self.exchange = exchange
        self.client = client
        self.salt, self.iterations = client.receive_server_first(first)

    @classmethod
    async def start(cls, root: pb.RemoteReference) -> Attempt:
        client = ScramClient("alice")
        exchange, first = await root.call_remote("scram_start", Mind(), client.first_message())
        return cls(exchange, client, first)

    async def finish(self, password: str) -> Any:
        salted = salted_password(password, self.salt, self.iterations)
        return await self.exchange.call_remote("finish", self.client.final_message(salted))


async def _start_while_allowed(root: pb.RemoteReference, most: int) -> list[Attempt]:
    started = []
    for _ in range(most):
        try:
            started.append(await Attempt.start(root))
        except REFUSED:
            break
    return started


def test_exchanges_started_before_failing_count_against_the_cap(run, store, monkeypatch) -> None:
    """Attack (the issue's sequence): start 4 exchanges while failures are below the cap,
    finish all 4 with wrong proofs, repeat. With max_failures=5 that checked 8 guesses."""
    proofs = ProofCount(monkeypatch)

    async def body() -> None:
        portal = Portal(Realm(), [ScramChecker(store, fake_iterations=ITERATIONS)])
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            for _ in range(3):
                for attempt in await _start_while_allowed(root, 4):
                    with pytest.raises(pb.UnauthorizedLogin, match="login failed"):
                        await attempt.finish("guess")
            with pytest.raises(pb.UnauthorizedLogin, match="too many failed logins"):
                await Attempt.start(root)

    run(body)
    assert proofs.wrong == 5


async def _random_logins(root: pb.RemoteReference, rng: random.Random) -> None:
    """Start, finish (right or wrong), or drop exchanges in a random order."""
    open_: list[Attempt] = []
    for _ in range(30):
        step = rng.choice(("start", "start", "wrong", "right", "drop"))
        if step == "start":
            try:
                open_.append(await Attempt.start(root))
            except REFUSED:
                pass
        elif open_:
            attempt = open_.pop(rng.randrange(len(open_)))
            if step == "drop":
                attempt.exchange.release()
                continue
            try:
                await attempt.finish("wonderland" if step == "right" else "guess")
            except pb.UnauthorizedLogin:
                assert step == "wrong"
    for attempt in open_:
        try:
            await attempt.finish("guess")
        except pb.UnauthorizedLogin:
            pass


@pytest.mark.parametrize("seed", range(12))
def test_no_interleaving_checks_more_wrong_proofs_than_the_cap(
    run, store, monkeypatch, seed
) -> None:
    """Attack: any interleaving of starts, wrong and right finishes and dropped exchanges,
    under any max_failures and max_pending: the wrong proofs checked never exceed the cap."""
    rng = random.Random(seed)
    max_failures, max_pending = rng.randint(1, 6), rng.randint(1, 5)
    proofs = ProofCount(monkeypatch)

    async def body() -> None:
        checker = ScramChecker(store, fake_iterations=ITERATIONS)
        portal = Portal(Realm(), [checker], max_failures=max_failures, max_pending=max_pending)
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            await _random_logins(await client.root(), rng)

    run(body)
    assert proofs.wrong <= max_failures
