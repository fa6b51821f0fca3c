"""SCRAM-SHA-256 (RFC 5802, RFC 7677), sans-IO, standard library only.

The password never crosses the wire: the client proves it knows it, the server proves it knows
the stored verifier. The server keeps only a ``ScramRecord`` (salt, iteration count, StoredKey,
ServerKey); a stolen record does not let anyone log in without first guessing the password
through the deliberately slow PBKDF2. The slow part runs on the client, so a login costs the
server only a few HMACs.

No channel binding (the ``n,,`` GS2 header); over TLS the server is authenticated by its
certificate as well, and SCRAM's server signature stands alone without TLS.

Why not ``scramp`` (maintained, MIT-0, SCRAM-SHA-256 on both sides): its server asks for the
user's record through a synchronous callback (our stores may be async), tells an unknown
user apart (``e=unknown-user``) unless that callback fakes a record, has no caps on message
or user-name length and no caller-chosen iteration bounds on the client, ships no type hints,
and pulls in ``asn1crypto`` for channel binding we do not use. The fake records, the failure
accounting and the record format would stay ours; what it would replace is the parsing below.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from .._exceptions import UnauthorizedLogin
from .saslprep import saslprep

__all__ = [
    "DEFAULT_ITERATIONS",
    "MECHANISM",
    "MIN_ITERATIONS",
    "SALT_LENGTH",
    "ClientFirst",
    "ScramClient",
    "ScramRecord",
    "ScramServer",
    "create_record",
    "fake_record",
    "parse_client_first",
    "salted_password",
]

#: The SASL mechanism name.
MECHANISM = "SCRAM-SHA-256"
#: Iterations for new records: OWASP's 2023 figure for PBKDF2-HMAC-SHA256 (~0.2 s per login).
DEFAULT_ITERATIONS = 600_000
#: Bytes of salt in new records (``create_record``) and, by default, in the fake ones.
SALT_LENGTH = 16
#: The floor RFC 7677 sets; a client refuses a server that asks for fewer (a downgrade).
MIN_ITERATIONS = 4096
#: A client refuses more than this: a hostile server could otherwise stall it for hours.
MAX_ITERATIONS = 10_000_000

_GS2_HEADER = "n,,"  # no channel binding, no authorisation identity
_CHANNEL_BINDING = base64.b64encode(_GS2_HEADER.encode()).decode()  # "biws"
_MAX_MESSAGE = 2048
_MAX_USERNAME = 256
_NONCE = re.compile(r"[\x21-\x2b\x2d-\x7e]{8,256}\Z")  # printable ASCII except ","
_KEY_LEN = hashlib.sha256().digest_size


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.digest(key, msg, "sha256")


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise UnauthorizedLogin(f"malformed SCRAM message: {what} is not base64") from None


@dataclass(frozen=True, slots=True)
class ScramRecord:
    """What the server stores for one user: never the password, only its SCRAM verifiers.

    ``to_text()``/``from_text()`` use PostgreSQL's format,
    ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` (base64 fields).
    """

    #: The random salt of the user's PBKDF2 (not secret).
    salt: bytes
    #: PBKDF2's iteration count: what a guess costs an attacker who has the record.
    iterations: int
    #: H(ClientKey): what the client's proof is checked against.
    stored_key: bytes
    #: HMAC(SaltedPassword, "Server Key"): signs the server's final message.
    server_key: bytes

    def __post_init__(self) -> None:
        if not self.salt or self.iterations < 1:
            raise ValueError("a SCRAM record needs a salt and a positive iteration count")
        if len(self.stored_key) != _KEY_LEN or len(self.server_key) != _KEY_LEN:
            raise ValueError(f"StoredKey and ServerKey must be {_KEY_LEN} bytes")

    def to_text(self) -> str:
        """The record as one line of text, for a password file or a database column."""
        return (
            f"{MECHANISM}${self.iterations}:{_b64(self.salt)}"
            f"${_b64(self.stored_key)}:{_b64(self.server_key)}"
        )

    @classmethod
    def from_text(cls, text: str) -> ScramRecord:
        """Parse ``to_text()``'s format; ValueError if it is not one."""
        match = re.fullmatch(r"SCRAM-SHA-256\$(\d{1,9}):([^$:]+)\$([^$:]+):([^$:]+)", text.strip())
        if match is None:
            raise ValueError("not a SCRAM-SHA-256 record")
        try:
            salt, stored, server = (base64.b64decode(g, validate=True) for g in match.groups()[1:])
        except binascii.Error:
            raise ValueError("SCRAM-SHA-256 record: a field is not base64") from None
        return cls(salt, int(match.group(1)), stored, server)


def salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """SaltedPassword := Hi(Normalize(password), salt, i): the slow part (PBKDF2-HMAC-SHA256)."""
    return hashlib.pbkdf2_hmac(
        "sha256", saslprep(password, allow_unassigned=True).encode(), salt, iterations
    )


def create_record(
    password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> ScramRecord:
    """A new record for ``password`` with a fresh ``SALT_LENGTH``-byte salt from ``secrets``.

    ValueError if the password is empty, or has characters SASLprep forbids in stored strings.
    """
    if not saslprep(password):
        raise ValueError("the password is empty after SASLprep")
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"use at least {MIN_ITERATIONS} iterations (RFC 7677)")
    salt = secrets.token_bytes(SALT_LENGTH) if salt is None else salt
    salted = salted_password(password, salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return ScramRecord(salt, iterations, _h(client_key), _hmac(salted, b"Server Key"))


def fake_record(
    secret: bytes, username: str, iterations: int, *, salt_length: int = SALT_LENGTH
) -> ScramRecord:
    """A record for a user who does not exist, the same every time for the same name.

    An unknown user must get the same salt on every try, as a real one does, or comparing two
    logins would reveal that it is unknown: the salt is a function of ``secret`` and the name
    only, so every process given the same secret shows the same one. The keys match no
    password. ``salt_length`` (1 to 64 bytes) should be the length of the real salts.
    """
    if not 1 <= salt_length <= 64:
        raise ValueError("a fake salt must be 1 to 64 bytes long")
    seed = _hmac(secret, b"pbtyped fake SCRAM user\0" + username.encode())
    salt = (_hmac(seed, b"salt 1") + _hmac(seed, b"salt 2"))[:salt_length]
    return ScramRecord(salt, iterations, _hmac(seed, b"stored"), _hmac(seed, b"server"))


def _attributes(message: str, what: str) -> list[tuple[str, str]]:
    if len(message) > _MAX_MESSAGE:
        raise UnauthorizedLogin(f"malformed SCRAM message: {what} is too long")
    out = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=" or not "a" <= part[0] <= "z":
            raise UnauthorizedLogin(f"malformed SCRAM message: bad attribute in {what}")
        out.append((part[0], part[2:]))
    if any(key == "m" for key, _ in out):
        raise UnauthorizedLogin("SCRAM: mandatory extensions are not supported")
    return out


def _expect(attrs: list[tuple[str, str]], keys: str, what: str) -> list[str]:
    if len(attrs) < len(keys) or "".join(k for k, _ in attrs[: len(keys)]) != keys:
        raise UnauthorizedLogin(f"malformed SCRAM message: {what} must start with {keys!r}")
    return [value for _, value in attrs[: len(keys)]]


def _check_nonce(nonce: str, what: str) -> str:
    if not _NONCE.match(nonce):
        raise UnauthorizedLogin(f"malformed SCRAM message: bad nonce in {what}")
    return nonce


def _encode_name(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _decode_name(text: str) -> str:
    if re.search(r"=(?!2C|3D)", text):
        raise UnauthorizedLogin("malformed SCRAM message: bad escape in the user name")
    return text.replace("=2C", ",").replace("=3D", "=")


@dataclass(frozen=True, slots=True)
class ClientFirst:
    """A parsed client-first-message: the user name, the client's nonce, the bare message."""

    username: str
    nonce: str
    bare: str


def parse_client_first(message: str) -> ClientFirst:
    """Parse a client-first-message (UnauthorizedLogin if malformed or unsupported)."""
    if not message.startswith(_GS2_HEADER):
        raise UnauthorizedLogin(
            "SCRAM: only the GS2 header 'n,,' is supported (no channel binding, no authzid)"
        )
    bare = message[len(_GS2_HEADER) :]
    name, nonce = _expect(_attributes(bare, "client-first"), "nr", "client-first")
    try:
        username = saslprep(_decode_name(name), allow_unassigned=True)
    except ValueError as exc:
        raise UnauthorizedLogin(f"malformed SCRAM message: user name: {exc}") from None
    if not username or len(username) > _MAX_USERNAME:
        raise UnauthorizedLogin(f"SCRAM: the user name must be 1 to {_MAX_USERNAME} characters")
    return ClientFirst(username, _check_nonce(nonce, "client-first"), bare)


class ScramServer:
    """The server's half of one exchange, after the user's record was looked up.

    ``known=False`` runs the exchange for a user who does not exist (with ``fake_record``):
    every step costs and looks the same, and the last one fails like a wrong password.
    """

    def __init__(
        self, first: ClientFirst, record: ScramRecord, *, known: bool, nonce: str | None = None
    ) -> None:
        self._first = first
        self._record = record
        self._known = known
        self._nonce = first.nonce + (nonce if nonce is not None else secrets.token_urlsafe(24))
        self._server_first = f"r={self._nonce},s={_b64(record.salt)},i={record.iterations}"

    @property
    def username(self) -> str:
        """The (SASLprep-ed) user name the client asked to log in as."""
        return self._first.username

    @property
    def user_known(self) -> bool:
        """False when this exchange runs on a fake record (for the server's own log only)."""
        return self._known

    def first_message(self) -> str:
        """The server-first-message: the combined nonce, the salt, the iteration count."""
        return self._server_first

    def final_message(self, client_final: str) -> str:
        """Check the client's proof; return the server-final-message (``v=`` signature).

        Raises UnauthorizedLogin, with the same message for an unknown user and a wrong
        password.
        """
        attrs = _attributes(client_final, "client-final")
        binding, nonce = _expect(attrs, "cr", "client-final")
        if attrs[-1][0] != "p" or len(attrs) < 3:
            raise UnauthorizedLogin("malformed SCRAM message: client-final must end with a proof")
        proof = _unb64(attrs[-1][1], "the proof")
        if binding != _CHANNEL_BINDING:
            raise UnauthorizedLogin("SCRAM: the channel binding does not match the GS2 header")
        if nonce != self._nonce:
            raise UnauthorizedLogin("SCRAM: the nonce does not match this exchange")
        without_proof = client_final[: client_final.rindex(",p=")]
        auth = f"{self._first.bare},{self._server_first},{without_proof}".encode()
        record = self._record
        signature = _hmac(record.stored_key, auth)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=False))
        matches = len(proof) == _KEY_LEN and hmac.compare_digest(_h(client_key), record.stored_key)
        server_signature = _hmac(record.server_key, auth)
        if not (matches and self._known):
            raise UnauthorizedLogin("login failed: unknown user or wrong password")
        return "v=" + _b64(server_signature)


class ScramClient:
    """The client's half of one exchange; the caller runs the slow ``salted_password``.

    ``min_iterations``/``max_iterations`` bound what the server may ask for: too few would be
    a downgrade, too many a way to stall the client.
    """

    def __init__(
        self,
        username: str,
        *,
        nonce: str | None = None,
        min_iterations: int = MIN_ITERATIONS,
        max_iterations: int = MAX_ITERATIONS,
    ) -> None:
        prepared = saslprep(username, allow_unassigned=True)
        if not prepared or len(prepared) > _MAX_USERNAME:
            raise ValueError(f"the user name must be 1 to {_MAX_USERNAME} characters")
        self._nonce = nonce if nonce is not None else secrets.token_urlsafe(24)
        self._bare = f"n={_encode_name(prepared)},r={self._nonce}"
        self._min = min_iterations
        self._max = max_iterations
        self._server_first = ""
        self._combined = ""
        self._auth = b""
        self._server_key = b""

    def first_message(self) -> str:
        """The client-first-message."""
        return _GS2_HEADER + self._bare

    def receive_server_first(self, message: str) -> tuple[bytes, int]:
        """Check the server-first-message; return the salt and iteration count to hash with."""
        attrs = _attributes(message, "server-first")
        nonce, salt_text, iterations_text = _expect(attrs, "rsi", "server-first")
        nonce = _check_nonce(nonce, "server-first")
        if not nonce.startswith(self._nonce) or nonce == self._nonce:
            raise UnauthorizedLogin("SCRAM: the server's nonce does not extend ours")
        salt = _unb64(salt_text, "the salt")
        if not salt or not iterations_text.isdigit() or len(iterations_text) > 9:
            raise UnauthorizedLogin("malformed SCRAM message: bad salt or iteration count")
        iterations = int(iterations_text)
        if not self._min <= iterations <= self._max:
            raise UnauthorizedLogin(
                f"SCRAM: the server asks for {iterations} iterations; this client accepts "
                f"{self._min} to {self._max}"
            )
        self._server_first = message
        self._combined = nonce
        return salt, iterations

    def final_message(self, salted: bytes) -> str:
        """The client-final-message, with the proof computed from ``salted_password(...)``."""
        if not self._combined:
            raise RuntimeError("receive_server_first() must come first")
        without_proof = f"c={_CHANNEL_BINDING},r={self._combined}"
        self._auth = f"{self._bare},{self._server_first},{without_proof}".encode()
        client_key = _hmac(salted, b"Client Key")
        signature = _hmac(_h(client_key), self._auth)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_key = _hmac(salted, b"Server Key")
        return f"{without_proof},p={_b64(proof)}"

    def verify_server_final(self, message: str) -> None:
        """Check the server's signature: UnauthorizedLogin unless it knew our verifier."""
        if not self._auth:
            raise RuntimeError("final_message() must come first")
        attrs = _attributes(message, "server-final")
        if attrs and attrs[0][0] == "e":
            raise UnauthorizedLogin(f"SCRAM: the server refused: {attrs[0][1][:200]}")
        (verifier,) = _expect(attrs, "v", "server-final")
        expected = _hmac(self._server_key, self._auth)
        if not hmac.compare_digest(_unb64(verifier, "the server signature"), expected):
            raise UnauthorizedLogin(
                "SCRAM: the server could not prove that it knows the password verifier"
            )
