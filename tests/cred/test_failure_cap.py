"""Issue 10 row 7: at most ``max_failures`` wrong proofs are ever checked on one connection.

The cap used to be checked when an exchange started, not counted over exchanges in progress:
four exchanges started while the failures were below the cap, then all finished with wrong
proofs, repeated, had eight password guesses checked with ``max_failures=5``. Every exchange
in progress now holds one of the failures left.
"""

from __future__ import annotations

import base64
import random

import pytest

import pbtyped as pb
from pbtyped.cred import Portal, ScramChecker
from pbtyped.cred.scram import ScramServer

from .conftest import ITERATIONS
from .realms import Mind, Realm

FIRST = "n,,n=alice,r=clientnonce123"
WRONG_PROOF = base64.b64encode(bytes(32)).decode()


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The user names whose proofs the server checked, in order."""
    seen: list[str] = []
    check = ScramServer.final_message

    def counting(self: ScramServer, client_final: str) -> str:
        seen.append(self.username)
        return check(self, client_final)

    monkeypatch.setattr(ScramServer, "final_message", counting)
    return seen


async def _start(root: pb.RemoteReference) -> tuple[pb.RemoteReference, str] | None:
    """Start an exchange; None when the portal refuses to."""
    try:
        exchange, answer = await root.call_remote("scram_start", Mind(), FIRST)
    except (pb.LimitExceeded, pb.UnauthorizedLogin):
        return None
    nonce = answer.split(",")[0].removeprefix("r=")
    return exchange, nonce


async def _guess(exchange: pb.RemoteReference, nonce: str) -> None:
    with pytest.raises(pb.UnauthorizedLogin):
        await exchange.call_remote("finish", f"c=biws,r={nonce},p={WRONG_PROOF}")


def _portal(store) -> Portal:
    return Portal(Realm(), [ScramChecker(store, fake_iterations=ITERATIONS)], max_failures=5)


def test_exchanges_in_progress_count_against_the_cap(run, store, checked) -> None:
    async def body() -> None:
        async with (
            pb.serve(_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            for _ in range(3):  # the sequence: start four, fail them all, again
                started = [s for s in [await _start(root) for _ in range(4)] if s is not None]
                for exchange, nonce in started:
                    await _guess(exchange, nonce)
            with pytest.raises(pb.UnauthorizedLogin, match="too many failed logins"):
                await root.call_remote("scram_start", Mind(), FIRST)

    run(body)
    assert len(checked) == 5


@pytest.mark.parametrize("seed", range(4))
def test_no_interleaving_checks_more_than_the_cap(run, store, checked, seed: int) -> None:
    rng = random.Random(seed)

    async def body() -> None:
        async with (
            pb.serve(_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            open_: list[tuple[pb.RemoteReference, str]] = []
            for _ in range(40):
                if open_ and rng.random() < 0.5:
                    await _guess(*open_.pop(rng.randrange(len(open_))))
                elif (started := await _start(root)) is not None:
                    open_.append(started)
            for exchange, nonce in open_:
                await _guess(exchange, nonce)

    run(body)
    assert len(checked) == 5  # the cap, reached and never passed
