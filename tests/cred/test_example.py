"""Issue 6, item 7: the bank example runs, and its generated stubs match its schema."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import pbtyped as pb
from pbtyped.cli import main as cli
from pbtyped.cred import Portal, ScramChecker, login

from .conftest import eventually

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "cred"


def test_generated_stubs_are_up_to_date(capsys) -> None:
    code = cli(["generate", "--check", str(EXAMPLE / "schemas"), "--out", str(EXAMPLE / "gen")])
    assert code == 0, capsys.readouterr().out


def test_bank_example_output(capsys) -> None:
    bank = importlib.import_module("examples.cred.bank")

    async def bounded() -> None:
        async with asyncio.timeout(30):
            await bank.main()

    asyncio.run(bounded())
    lines = capsys.readouterr().out.splitlines()
    assert lines[:8] == [
        "a wrong password: login failed: unknown user or wrong password",
        "bank: alice logged in",
        "bank: bob logged in",
        "logged in as alice and bob",
        "bob's inbox: alice sent you 25.00",
        "bob cannot withdraw 50.00: the balance is 2500 cents, 5000 were asked for",
        "alice's balance: 75.00",
        "bob's statement: from alice     +25.00",
    ]
    assert sorted(lines[8:]) == ["bank: alice logged out", "bank: bob logged out"]


def test_a_slow_inbox_delays_neither_the_transfer_nor_the_other_inboxes(run, store) -> None:
    """Issue 14: the bank used to await each inbox's ``credited`` in turn, so one customer's
    slow (or stuck) side held up the transfer and every inbox after it. ``credited`` is
    one-way now: the transfer returns while the slow inbox still holds its notice."""
    bank = importlib.import_module("examples.cred.bank")
    gen = importlib.import_module("examples.cred.gen.bank")

    class SlowInbox(gen.InboxServer):  # type: ignore[misc]
        def __init__(self) -> None:
            self.gate = asyncio.Event()
            self.heard: list[tuple[int, str]] = []

        async def remote_credited(self, amount: int, payer: str) -> None:
            await self.gate.wait()
            self.heard.append((amount, payer))

    class FastInbox(gen.InboxServer):  # type: ignore[misc]
        def __init__(self) -> None:
            self.heard: list[tuple[int, str]] = []

        def remote_credited(self, amount: int, payer: str) -> None:
            self.heard.append((amount, payer))

    async def body() -> None:
        portal = Portal(bank.Bank(["alice", "bob"]), [ScramChecker(store)])
        slow, fast = SlowInbox(), FastInbox()
        async with (
            pb.serve(portal.root(), "127.0.0.1", 0, registry=gen.REGISTRY) as server,
            pb.connect("127.0.0.1", server.port) as alice_line,
            pb.connect("127.0.0.1", server.port) as phone,
            pb.connect("127.0.0.1", server.port) as laptop,
        ):
            alice = await login(alice_line, "alice", "wonderland", stub=gen.AccountClient)
            # bob's slow side logged in first: the bank tells it first. (Each login lasts
            # while its avatar's stub is held.)
            on_phone = await login(phone, "bob", "builder", stub=gen.AccountClient, mind=slow)
            on_laptop = await login(laptop, "bob", "builder", stub=gen.AccountClient, mind=fast)
            await alice.deposit(1_000)
            # Before, this waited for the slow inbox, which waits for the gate below: it hung.
            assert await alice.transfer("bob", 300) == 700
            await eventually(lambda: fast.heard == [(300, "alice")])
            assert slow.heard == []
            slow.gate.set()
            await eventually(lambda: slow.heard == [(300, "alice")])
            assert await on_phone.balance() == await on_laptop.balance() == 300

    run(body)
