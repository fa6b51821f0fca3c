"""A small bank: each customer logs in and sees only their own account."""

from dataclasses import dataclass
from typing import Protocol

import pbtyped as pb


@dataclass(frozen=True)
class Entry:
    """One line of a statement; amounts are in cents."""

    description: str
    amount: int
    balance: int


class InsufficientFunds(pb.Error):
    """The account holds less than the amount asked for."""


class UnknownPayee(pb.Error):
    """No customer of this bank has that name."""


class InvalidAmount(pb.Error):
    """Amounts must be positive whole cents."""


class Inbox(Protocol):
    """The customer's side, given at login as the mind."""

    @pb.oneway
    def credited(self, amount: int, payer: str) -> None:
        """``payer`` sent ``amount`` cents to this customer (one-way: the bank does not wait
        for the customer's side to take it)."""
        ...


class Account(Protocol):
    """A customer's own account, and nobody else's."""

    def owner(self) -> str:
        """Whose account this is."""
        ...

    def balance(self) -> int:
        """The balance in cents."""
        ...

    def deposit(self, amount: int) -> int:
        """Pay ``amount`` cents in; returns the new balance."""
        ...

    def withdraw(self, amount: int) -> int:
        """Take ``amount`` cents out; returns the new balance."""
        ...

    def transfer(self, payee: str, amount: int) -> int:
        """Send ``amount`` cents to another customer; returns the new balance."""
        ...

    def statement(self) -> list[Entry]:
        """Every movement on this account, oldest first."""
        ...
