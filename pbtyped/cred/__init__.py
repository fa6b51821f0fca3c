"""Who is calling: login through a portal to a per-user avatar, ``Viewable``, and TLS helpers.

Server::

    store = InMemoryScramStore()
    store.add_user("alice", "correct horse")
    portal = Portal(MyRealm(), [ScramChecker(store)])
    async with pb.serve(portal.root(), "127.0.0.1", 8800, ssl=server_context(...)) as server:
        ...

Client::

    async with pb.connect("127.0.0.1", 8800, ssl=client_context(...)) as client:
        avatar = await login(client, "alice", "correct horse")
        await avatar.call_remote("balance")
"""

from __future__ import annotations

from .checkers import (
    FAKE_SECRET_ENV,
    AllowAnonymous,
    Checker,
    InMemoryScramStore,
    ScramChecker,
    ScramStore,
)
from .client import login, login_anonymous
from .perspective import Avatar, Viewable, ViewPoint, view_point
from .portal import LoginResult, Portal, Realm
from .scram import DEFAULT_ITERATIONS, ScramRecord, create_record
from .tls import client_context, server_context

__all__ = [
    "DEFAULT_ITERATIONS",
    "FAKE_SECRET_ENV",
    "AllowAnonymous",
    "Avatar",
    "Checker",
    "InMemoryScramStore",
    "LoginResult",
    "Portal",
    "Realm",
    "ScramChecker",
    "ScramRecord",
    "ScramStore",
    "ViewPoint",
    "Viewable",
    "client_context",
    "create_record",
    "login",
    "login_anonymous",
    "server_context",
    "view_point",
]
