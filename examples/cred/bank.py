"""A small bank: customers log in with a password over TLS and see only their own account.

Run it from the repository root (its certificates need ``pip install 'pbtyped[certs]'``)::

    python -m examples.cred.bank

The interface is declared in ``schemas/bank.py``; ``gen/bank.py`` is generated from it with
``pbtyped generate examples/cred/schemas --out examples/cred/gen``. The server keeps no
passwords, only SCRAM records; each login gets its own ``Account`` avatar, bound to one
customer, and the customer's ``Inbox`` (the login's mind) hears about money received.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pbtyped as pb
from pbtyped.cred import (
    InMemoryScramStore,
    LoginResult,
    Portal,
    ScramChecker,
    client_context,
    login,
    server_context,
)
from pbtyped.cred.devcerts import write_dev_certificates

from .gen.bank import (
    AccountClient,
    AccountServer,
    Entry,
    InboxClient,
    InboxServer,
    InsufficientFunds,
    InvalidAmount,
    UnknownPayee,
)

__all__ = ["Account", "Bank", "Inbox", "main"]


@dataclass(eq=False)
class Ledger:
    """One customer's money: the balance, its history, and the inboxes logged in now."""

    balance: int = 0
    entries: list[Entry] = field(default_factory=list)
    inboxes: list[InboxClient] = field(default_factory=list)

    def move(self, description: str, amount: int) -> int:
        self.balance += amount
        self.entries.append(Entry(description, amount, self.balance))
        return self.balance


class Account(AccountServer):
    """The avatar of one login: every method acts on its owner's ledger and no other."""

    def __init__(self, bank: Bank, owner: str) -> None:
        self._bank = bank
        self._owner = owner
        self._ledger = bank.ledgers[owner]

    def remote_owner(self) -> str:
        return self._owner

    def remote_balance(self) -> int:
        return self._ledger.balance

    def remote_deposit(self, amount: int) -> int:
        return self._ledger.move("deposit", _positive(amount))

    def remote_withdraw(self, amount: int) -> int:
        self._check_funds(_positive(amount))
        return self._ledger.move("withdrawal", -amount)

    def remote_transfer(self, payee: str, amount: int) -> int:
        target = self._bank.ledgers.get(payee)
        if target is None or payee == self._owner:
            raise UnknownPayee(f"no other customer is called {payee!r}")
        self._check_funds(_positive(amount))
        balance = self._ledger.move(f"to {payee}", -amount)
        target.move(f"from {self._owner}", amount)
        # One-way: each inbox is told without waiting for it, so a slow or stuck customer's
        # side delays neither the others nor this transfer.
        for inbox in list(target.inboxes):
            try:
                inbox.credited(amount, self._owner)
            except pb.PbtypedError:
                pass  # that line dropped or is not read; the money has arrived all the same
        return balance

    def remote_statement(self) -> list[Entry]:
        return list(self._ledger.entries)

    def _check_funds(self, amount: int) -> None:
        if amount > self._ledger.balance:
            raise InsufficientFunds(
                f"the balance is {self._ledger.balance} cents, {amount} were asked for"
            )


def _positive(amount: int) -> int:
    if amount <= 0:
        raise InvalidAmount(f"{amount} is not a positive amount of cents")
    return amount


class Bank:
    """The realm: one ledger per customer, one ``Account`` avatar per login."""

    def __init__(self, customers: list[str]) -> None:
        self.ledgers = {name: Ledger() for name in customers}

    def request_avatar(self, user_id: str | None, mind: pb.RemoteReference | None) -> LoginResult:
        """An Account for ``user_id``; its inbox gets news until logout."""
        if user_id is None:  # the portal has no AllowAnonymous checker: cannot happen
            raise pb.UnauthorizedLogin("the bank has no anonymous accounts")
        ledger = self.ledgers[user_id]
        inbox = InboxClient(mind) if mind is not None else None
        if inbox is not None:
            ledger.inboxes.append(inbox)

        def logout() -> None:
            if inbox is not None:
                ledger.inboxes.remove(inbox)
            print(f"bank: {user_id} logged out")

        print(f"bank: {user_id} logged in")
        return Account(self, user_id), logout


class Inbox(InboxServer):
    """The client's mind: prints what the bank tells it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def remote_credited(self, amount: int, payer: str) -> None:
        print(f"{self._name}'s inbox: {payer} sent you {amount / 100:.2f}")


async def customer_session(port: int, ca: Path) -> None:
    """Alice and Bob each log in (over TLS) and use their own accounts."""
    tls = client_context(ca)
    async with (
        # No registry= here: login(..., stub=AccountClient) brings gen.bank's REGISTRY.
        pb.connect("127.0.0.1", port, ssl=tls) as alice_line,
        pb.connect("127.0.0.1", port, ssl=tls) as bob_line,
    ):
        try:
            await login(alice_line, "alice", "not my password")
        except pb.UnauthorizedLogin as exc:
            print(f"a wrong password: {exc}")
        alice = await login(
            alice_line, "alice", "wonderland", stub=AccountClient, mind=Inbox("alice")
        )
        bob = await login(bob_line, "bob", "builder", stub=AccountClient, mind=Inbox("bob"))
        print(f"logged in as {await alice.owner()} and {await bob.owner()}")
        await alice.deposit(10_000)
        await alice.transfer("bob", 2_500)
        try:
            await bob.withdraw(5_000)
        except InsufficientFunds as exc:
            print(f"bob cannot withdraw 50.00: {exc}")
        print(f"alice's balance: {await alice.balance() / 100:.2f}")
        for entry in await bob.statement():
            print(f"bob's statement: {entry.description:12} {entry.amount / 100:+8.2f}")


async def main() -> None:
    """Serve the bank over TLS on a free port and run two customers against it."""
    users = InMemoryScramStore()
    users.add_user("alice", "wonderland")  # PBKDF2 with 600,000 iterations: slow on purpose
    users.add_user("bob", "builder")
    # In production, set PBTYPED_SCRAM_FAKE_SECRET (or pass fake_secret=) to one secret shared
    # by every process of the deployment: unknown users then keep their fake salts across
    # restarts, as real users keep theirs. Without it a warning says what that exposes.
    portal = Portal(Bank(["alice", "bob"]), [ScramChecker(users)])
    with tempfile.TemporaryDirectory() as tmp:
        # Throw-away certificates, as `pbtyped certs DIR` writes them. In production yours come
        # from your CA, and the client trusts that CA (client_context(cafile=...)).
        certs = write_dev_certificates(tmp)
        tls = server_context(certs.server_cert, certs.server_key)
        # No registry= either: each Account avatar brings gen.bank's REGISTRY when sent.
        async with pb.serve(portal.root(), "127.0.0.1", 0, ssl=tls) as server:
            await customer_session(server.port, certs.ca)
            await asyncio.sleep(0.1)  # let the logouts of the closed lines print


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
