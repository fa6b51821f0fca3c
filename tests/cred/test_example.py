"""Issue 6, item 7: the bank example runs, and its generated stubs match its schema."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from pbtyped.cli import main as cli

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
