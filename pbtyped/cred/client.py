"""The client side of logging in: ``login`` (SCRAM-SHA-256) and ``login_anonymous``."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar, overload

from .._exceptions import RemoteProtocolError, UnauthorizedLogin
from ..protocol.interfaces import check_root
from ..protocol.objects import Referenceable
from ..runtime.endpoints import Client, bring_registry
from ..runtime.reference import RemoteReference, Stub
from .saslprep import saslprep
from .scram import MAX_ITERATIONS, MIN_ITERATIONS, ScramClient, salted_password

__all__ = ["login", "login_anonymous"]

S = TypeVar("S", bound=Stub)


class _Caller(Referenceable):
    """Sent with each login step: the server tells our connection by it. No remote methods."""

    __slots__ = ()


async def _login_root(target: Client | RemoteReference) -> RemoteReference:
    return await target.root() if isinstance(target, Client) else target


def _malformed(root: RemoteReference, what: str) -> RemoteProtocolError:
    """The server broke the login protocol: close its connection (nothing it says can be
    trusted now) and say so, as RemoteProtocolError promises."""
    root.pb_connection.close()
    return RemoteProtocolError(f"{what}; the connection is closed")


def _reference(root: RemoteReference, value: object) -> RemoteReference:
    if not isinstance(value, RemoteReference):
        raise _malformed(root, f"the login answer is not a reference but {type(value).__name__}")
    return value


def _wrap(avatar: RemoteReference, stub: type[S], call: str) -> S:
    """The avatar in its stub, its connection admitting what the stub's module declares;
    ValidationError (as ``client.root`` raises) if the avatar implements another interface
    (the reference is dropped: the server logs it out)."""
    check_root(avatar, stub, call, "the avatar")
    bring_registry(avatar.pb_connection, stub)
    return stub(avatar)


@overload
async def login(
    target: Client | RemoteReference,
    username: str,
    password: str,
    *,
    mind: Referenceable | None = ...,
    stub: None = ...,
    min_iterations: int = ...,
    max_iterations: int = ...,
) -> RemoteReference: ...
@overload
async def login(
    target: Client | RemoteReference,
    username: str,
    password: str,
    *,
    mind: Referenceable | None = ...,
    stub: type[S],
    min_iterations: int = ...,
    max_iterations: int = ...,
) -> S: ...
async def login(
    target: Client | RemoteReference,
    username: str,
    password: str,
    *,
    mind: Referenceable | None = None,
    stub: type[S] | None = None,
    min_iterations: int = MIN_ITERATIONS,
    max_iterations: int = MAX_ITERATIONS,
) -> RemoteReference | S:
    """Log in with a password; return the avatar (wrapped in ``stub`` if given).

    ``target`` is a connected client (its root is the portal's login root) or a reference to
    a login root. The password never leaves this process: SCRAM-SHA-256 proves we know it, and
    the server's signature proves it knows the verifier, or UnauthorizedLogin is raised.
    ``mind`` is an object of ours the realm receives (e.g. for the server to call back).
    Each call gives a new avatar reference; dropping the last reference to it logs out.
    The slow PBKDF2 step runs in a worker thread.
    """
    saslprep(password, allow_unassigned=True)  # ValueError now, before anything is sent
    scram = ScramClient(username, min_iterations=min_iterations, max_iterations=max_iterations)
    root = await _login_root(target)
    answer: Any = await root.call_remote("scram_start", _Caller(), scram.first_message())
    if not (isinstance(answer, list) and len(answer) == 2 and isinstance(answer[1], str)):
        raise _malformed(root, "the server's answer to scram_start is malformed")
    exchange = _reference(root, answer[0])
    salt, iterations = scram.receive_server_first(answer[1])
    salted = await asyncio.to_thread(salted_password, password, salt, iterations)
    answer = await exchange.call_remote("finish", scram.final_message(salted), mind)
    if not (isinstance(answer, list) and len(answer) == 2 and isinstance(answer[0], str)):
        raise _malformed(root, "the server's answer to finish is malformed")
    avatar = _reference(root, answer[1])
    try:
        scram.verify_server_final(answer[0])
    except UnauthorizedLogin:
        # Drop every reference now (the traceback keeps this frame): the server logs out.
        del answer, avatar
        raise
    return avatar if stub is None else _wrap(avatar, stub, "login()")


@overload
async def login_anonymous(
    target: Client | RemoteReference, *, mind: Referenceable | None = ..., stub: None = ...
) -> RemoteReference: ...
@overload
async def login_anonymous(
    target: Client | RemoteReference, *, mind: Referenceable | None = ..., stub: type[S]
) -> S: ...
async def login_anonymous(
    target: Client | RemoteReference,
    *,
    mind: Referenceable | None = None,
    stub: type[S] | None = None,
) -> RemoteReference | S:
    """Log in without credentials, if the server's portal allows it (else UnauthorizedLogin)."""
    root = await _login_root(target)
    avatar = _reference(root, await root.call_remote("login_anonymous", _Caller(), mind))
    return avatar if stub is None else _wrap(avatar, stub, "login_anonymous()")
