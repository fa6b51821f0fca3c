"""Credential checkers: which ways of logging in a ``Portal`` accepts, and the user store."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
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

log = logging.getLogger("pbtyped")

#: The environment variable a deployment sets once, for every process and every restart.
SECRET_VARIABLE = "PBTYPED_SCRAM_SECRET"
_MIN_SECRET = 16


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

    A user that does not exist gets a fake exchange whose salt is derived from its name and
    from ``secret``, so that it looks like a real user's: the same salt on every try. Give
    every process of a deployment the same secret, kept across restarts (``secret=``, or the
    environment variable ``PBTYPED_SCRAM_SECRET``; at least 16 bytes, e.g. the output of
    ``python -c "import secrets; print(secrets.token_hex(32))"``): otherwise an unknown
    user's salt changes with each restart and differs between worker processes while a real
    user's does not, which tells a client who exists. Without either, a random secret is
    drawn for this checker and a warning says so.

    ``fake_iterations`` is the iteration count shown for users that do not exist: keep it the
    count your real records use (the default for new records unless you chose another).
    """

    mechanism: ClassVar[str] = MECHANISM

    def __init__(
        self,
        store: ScramStore,
        *,
        fake_iterations: int = DEFAULT_ITERATIONS,
        secret: bytes | str | None = None,
    ) -> None:
        self.store = store
        self.fake_iterations = fake_iterations
        #: Seeds the fake salts of unknown users (derived from the deployment's secret).
        self.fake_secret = _fake_secret(secret)


def _fake_secret(secret: bytes | str | None) -> bytes:
    source = "secret="
    if secret is None:
        secret = os.environ.get(SECRET_VARIABLE)
        source = SECRET_VARIABLE
    if secret is None:
        log.warning(
            "pbtyped: ScramChecker has no secret (secret= or %s): unknown users' fake salts "
            "change on every restart and differ between processes, so a client comparing "
            "them can tell which user names exist; set one secret per deployment",
            SECRET_VARIABLE,
        )
        return secrets.token_bytes(32)
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw) < _MIN_SECRET:
        raise ValueError(
            f"the SCRAM secret ({source}) must be at least {_MIN_SECRET} bytes; make one with "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )
    # Derived, so that the fake salts never expose the secret a deployment may reuse.
    return hmac.new(raw, b"pbtyped fake SCRAM users v1", hashlib.sha256).digest()


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
