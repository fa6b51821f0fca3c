"""Credential checkers: which ways of logging in a ``Portal`` accepts, and the user store."""

from __future__ import annotations

import inspect
import logging
import os
import secrets
from collections.abc import Awaitable
from typing import ClassVar, Protocol

from .saslprep import saslprep
from .scram import (
    DEFAULT_ITERATIONS,
    MECHANISM,
    SALT_LENGTH,
    ClientFirst,
    ScramRecord,
    ScramServer,
    create_record,
    fake_record,
)

__all__ = [
    "FAKE_SECRET_ENV",
    "AllowAnonymous",
    "Checker",
    "InMemoryScramStore",
    "ScramChecker",
    "ScramStore",
]

log = logging.getLogger("pbtyped")

#: The environment variable read when ``ScramChecker`` is given no ``fake_secret``.
FAKE_SECRET_ENV = "PBTYPED_SCRAM_FAKE_SECRET"
_MIN_SECRET = 16  # bytes: the fake salts are as unguessable as this secret
_process_secret: bytes | None = None


class Checker:
    """Base of the checkers a ``Portal`` is given; ``mechanism`` names the login they allow.

    The two provided are ``ScramChecker`` (passwords, SCRAM-SHA-256) and ``AllowAnonymous``.
    """

    #: The name of the login mechanism this checker allows (one checker per mechanism).
    mechanism: ClassVar[str]


class AllowAnonymous(Checker):
    """Give this to a ``Portal`` to let clients log in without credentials.

    The realm is then asked for an avatar with ``user_id=None``. Without it, anonymous logins
    fail with UnauthorizedLogin.
    """

    #: Logins without credentials.
    mechanism: ClassVar[str] = "ANONYMOUS"


class ScramStore(Protocol):
    """Where ``ScramChecker`` finds a user's ``ScramRecord``: a dict, a file, a database."""

    def lookup(self, username: str) -> ScramRecord | Awaitable[ScramRecord | None] | None:
        """The user's record, or None if there is no such user (sync or async)."""
        ...


class ScramChecker(Checker):
    """Password logins by SCRAM-SHA-256 against the records of ``store``.

    A user who does not exist gets a fake record, so that a login cannot tell them from one
    who does: its salt is derived from ``fake_secret`` and the name, and shows
    ``fake_iterations`` and ``fake_salt_length`` bytes of salt; keep those what your real
    records use (the defaults are those of new records).

    ``fake_secret`` (at least 16 bytes; text is UTF-8 encoded) must be the same in every
    process of a deployment and across restarts, like a real user's salt; without it, the
    ``PBTYPED_SCRAM_FAKE_SECRET`` environment variable is used. With neither, a random secret
    is drawn once per process and a warning is logged: comparing an unknown user's salt
    before and after a restart, or between two worker processes, then reveals that the user
    does not exist.
    """

    #: SCRAM-SHA-256.
    mechanism: ClassVar[str] = MECHANISM

    def __init__(
        self,
        store: ScramStore,
        *,
        fake_iterations: int = DEFAULT_ITERATIONS,
        fake_salt_length: int = SALT_LENGTH,
        fake_secret: bytes | str | None = None,
    ) -> None:
        #: Where the users' SCRAM records are looked up.
        self.store = store
        #: The iteration count of the fake records of unknown users.
        self.fake_iterations = fake_iterations
        #: The bytes of salt of the fake records of unknown users.
        self.fake_salt_length = fake_salt_length
        #: Seeds the fake salts of unknown users: stable for the deployment, unguessable.
        self.fake_secret = _fake_secret(fake_secret)
        # Refuses a bad fake_salt_length now rather than at the first unknown user.
        fake_record(self.fake_secret, "", fake_iterations, salt_length=fake_salt_length)

    async def server(self, first: ClientFirst) -> ScramServer:
        """The server's half of the exchange ``first`` starts: on the user's record, or on a
        fake one if the store has none (UnauthorizedLogin at the end, like a wrong password).
        """
        # Made for every login, used for unknown users: both cases cost the same.
        fake = fake_record(
            self.fake_secret,
            first.username,
            self.fake_iterations,
            salt_length=self.fake_salt_length,
        )
        record = self.store.lookup(first.username)
        if inspect.isawaitable(record):
            record = await record
        if record is None:
            return ScramServer(first, fake, known=False)
        return ScramServer(first, record, known=True)


def _fake_secret(given: bytes | str | None) -> bytes:
    where = "ScramChecker(fake_secret=)"
    if given is None:
        given = os.environ.get(FAKE_SECRET_ENV) or None
        where = f"the environment variable {FAKE_SECRET_ENV}"
    if given is None:
        return _secret_of_this_process()
    secret = given.encode() if isinstance(given, str) else bytes(given)
    if len(secret) < _MIN_SECRET:
        raise ValueError(
            f"{where} must be at least {_MIN_SECRET} bytes; make one once with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))' and give every "
            "process of the deployment the same"
        )
    return secret


def _secret_of_this_process() -> bytes:
    global _process_secret
    if _process_secret is None:
        _process_secret = secrets.token_bytes(32)
        log.warning(
            "ScramChecker has no fake_secret and %s is not set: unknown users get "
            "fake salts from a random secret of this process, so comparing them across "
            "restarts or worker processes reveals which users exist; set %s to the same "
            "secret in every process",
            FAKE_SECRET_ENV,
            FAKE_SECRET_ENV,
        )
    return _process_secret


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
