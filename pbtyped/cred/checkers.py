"""Credential checkers: which ways of logging in a ``Portal`` accepts, and the user store."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from typing import ClassVar, Protocol

from .saslprep import saslprep
from .scram import DEFAULT_ITERATIONS, MECHANISM, ScramRecord, create_record

__all__ = [
    "AllowAnonymous",
    "Checker",
    "InMemoryScramStore",
    "ScramChecker",
    "ScramStore",
]


class Checker:
    """Base of the checkers a ``Portal`` is given; ``mechanism`` names the login they allow.

    The two provided are ``ScramChecker`` (passwords, SCRAM-SHA-256) and ``AllowAnonymous``.
    """

    mechanism: ClassVar[str]


class AllowAnonymous(Checker):
    """Give this to a ``Portal`` to let clients log in without credentials.

    The realm is then asked for an avatar with ``user_id=None``. Without it, anonymous logins
    fail with UnauthorizedLogin.
    """

    mechanism: ClassVar[str] = "ANONYMOUS"


class ScramStore(Protocol):
    """Where ``ScramChecker`` finds a user's ``ScramRecord``: a dict, a file, a database."""

    def lookup(self, username: str) -> ScramRecord | Awaitable[ScramRecord | None] | None:
        """The user's record, or None if there is no such user (sync or async)."""
        ...


class ScramChecker(Checker):
    """Password logins by SCRAM-SHA-256 against the records of ``store``.

    ``fake_iterations`` is the iteration count shown for users that do not exist: keep it the
    count your real records use (the default for new records unless you chose another), so
    that an unknown user looks like a known one.
    """

    mechanism: ClassVar[str] = MECHANISM

    def __init__(self, store: ScramStore, *, fake_iterations: int = DEFAULT_ITERATIONS) -> None:
        self.store = store
        self.fake_iterations = fake_iterations
        #: Seeds the fake salts of unknown users: stable for this process, unguessable.
        self.fake_secret = secrets.token_bytes(32)


class InMemoryScramStore:
    """A ``ScramStore`` in a dict. It holds records only, never passwords."""

    def __init__(self) -> None:
        self._records: dict[str, ScramRecord] = {}

    def add_user(
        self, username: str, password: str, *, iterations: int = DEFAULT_ITERATIONS
    ) -> ScramRecord:
        """Create (or replace) the user's record from ``password``; the password is not kept.

        This runs PBKDF2 (``iterations`` rounds): slow on purpose.
        """
        record = create_record(password, iterations=iterations)
        self.set_record(username, record)
        return record

    def set_record(self, username: str, record: ScramRecord) -> None:
        """Store a record made elsewhere (``create_record``, ``ScramRecord.from_text``).

        The name is stored SASLprep-ed, as logins look it up.
        """
        prepared = saslprep(username)
        if not prepared:
            raise ValueError("the user name must not be empty")
        self._records[prepared] = record

    def remove_user(self, username: str) -> None:
        """Forget a user (no error if absent)."""
        self._records.pop(saslprep(username, allow_unassigned=True), None)

    def lookup(self, username: str) -> ScramRecord | None:
        """The user's record, or None."""
        return self._records.get(username)
