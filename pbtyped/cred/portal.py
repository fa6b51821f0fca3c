"""The server side of logging in: ``Portal``, the realm it asks for avatars, and the login root.

A client logs in through the portal's login root. Every login step takes, first, a reference
to a fresh object of the caller (``pbtyped.cred.login`` sends one): references are confined to
their connection, so it names the caller's connection without trusting anything it says. The
portal counts failed logins per connection with it, and watches it to log out on disconnect.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._exceptions import DeadReferenceError, LimitExceeded, UnauthorizedLogin, ValidationError
from ..protocol.interfaces import implemented_by
from ..protocol.objects import Referenceable, Root
from ..runtime.connection import current_connection
from ..runtime.logs import LogLimiter
from ..runtime.reference import RemoteReference
from ..runtime.slots import address_of
from ..wire.registry import registry_of
from .checkers import AllowAnonymous, Checker, ScramChecker
from .perspective import as_seen_by, unwrap_arguments
from .scram import MECHANISM, ScramServer, parse_client_first

__all__ = ["LoginResult", "Portal", "Realm"]

log = logging.getLogger("pbtyped")

#: How long an async logout may run, by default (``Portal(logout_timeout=)``): a few round
#: trips to other peers (announcing the leave), not so long that a stuck one holds a
#: server's ``aclose()`` for long.
LOGOUT_TIMEOUT = 5.0

#: What runs once when a login ends: a function, or a coroutine function (awaited).
Logout = Callable[[], Awaitable[None] | None]

#: What a realm returns: the avatar, and the callback to run once when that login ends.
LoginResult = tuple[Referenceable, Logout]


class Realm(Protocol):
    """Makes the avatar of a user who logged in (Twisted cred's realm)."""

    def request_avatar(
        self, user_id: str | None, mind: RemoteReference | None
    ) -> LoginResult | Awaitable[LoginResult]:
        """The avatar of ``user_id`` (None: an anonymous login) and its logout callback.

        ``mind`` is the object the client offered at login, or None. The avatar is usually an
        ``Avatar`` (``perspective_*`` methods) or a generated server skeleton. The logout
        callback runs exactly once: when the client drops its last reference to the avatar
        or disconnects. It may be a coroutine function: it is then awaited, within the
        portal's ``logout_timeout``, and the connection's ``closed`` (so ``wait_closed()``
        and ``Server.aclose()``) waits for it.
        """
        ...


@dataclass(eq=False)
class _ConnectionState:
    """One connection's logins: failures so far, and password logins that may still fail.

    Every password login in progress holds a failure slot from its start until it ends, so
    ``failures + pending`` never exceeds ``max_failures`` and a client cannot have more wrong
    proofs checked than that by starting many exchanges before finishing any.
    """

    failures: int = 0
    #: Password logins between their start and their exchange (awaiting the user's record).
    starting: int = 0
    exchanges: weakref.WeakSet[_ScramExchange] = field(default_factory=weakref.WeakSet)

    @property
    def pending(self) -> int:
        """Password logins in progress: each one holds a failure slot until it ends."""
        return self.starting + len(self.exchanges)


class Portal:
    """Checks credentials and asks the realm for avatars; serve ``portal.root()``.

    ``checkers`` say which logins are allowed (``ScramChecker``, ``AllowAnonymous``). After
    ``max_failures`` failed logins on one connection, every further login on it is refused at
    once (successful logins do not reset the count): a password guesser must reconnect, and a
    server's ``Limits.max_connections`` bounds how many connections it can hold. A password
    login in progress counts as a failure until it succeeds or ends unfinished, so at most
    ``max_failures`` wrong passwords are ever checked on one connection; a login that would
    go beyond is refused with LimitExceeded until one in progress ends.
    ``max_pending`` bounds the password logins in progress at once on one connection.

    A logout that is a coroutine function gets ``logout_timeout`` seconds; then it is
    cancelled and logged, so a stuck logout cannot hold a connection's close (or a
    server's ``aclose()``) for longer.

    Failed logins are logged at most ``log_rate_per_minute`` times a minute, and at most
    ``log_rate_per_peer`` of those for one peer address (one IPv6 /64); the rest are counted
    in a summary line that names the peers over their share.
    """

    def __init__(
        self,
        realm: Realm,
        checkers: Iterable[Checker],
        *,
        max_failures: int = 5,
        max_pending: int = 4,
        log_rate_per_minute: int = 30,
        log_rate_per_peer: int = 5,
        logout_timeout: float = LOGOUT_TIMEOUT,
    ) -> None:
        #: Makes the avatar of each user who logs in.
        self.realm = realm
        self._checkers: dict[str, Checker] = {}
        for checker in checkers:
            if checker.mechanism in self._checkers:
                raise ValueError(f"two checkers for {checker.mechanism}")
            self._checkers[checker.mechanism] = checker
        if max_failures < 1 or max_pending < 1:
            raise ValueError("max_failures and max_pending must be at least 1")
        #: Failed logins one connection may make before its logins are refused.
        self.max_failures = max_failures
        #: Logins one connection may have in progress at once.
        self.max_pending = max_pending
        if not 0 < logout_timeout < math.inf:
            raise ValueError(
                f"logout_timeout must be a positive number of seconds, not {logout_timeout!r}"
            )
        #: Seconds an async logout may run before it is cancelled (and logged).
        self.logout_timeout = logout_timeout
        self._states: weakref.WeakKeyDictionary[object, _ConnectionState] = (
            weakref.WeakKeyDictionary()
        )
        if not 1 <= log_rate_per_peer <= log_rate_per_minute:
            raise ValueError(
                f"log_rate_per_peer must be 1 to log_rate_per_minute ({log_rate_per_minute})"
            )
        # The failed-login lines have their own budget, and each peer address its share of
        # it: a guesser cannot hide the failures of others by using it all.
        self._logs = LogLimiter(log_rate_per_minute, per_key=log_rate_per_peer)
        self._root = _LoginRoot(self)

    @property
    def mechanisms(self) -> list[str]:
        """The names of the logins this portal allows, e.g. ``["SCRAM-SHA-256"]``."""
        return sorted(self._checkers)

    def root(self) -> Root:
        """The login root to serve: ``serve(portal.root(), ...)`` (or hand it out yourself)."""
        return self._root

    # -- used by the login root and exchanges --------------------------------------------

    def _admit(self, caller: object) -> _ConnectionState:
        if not isinstance(caller, RemoteReference):
            raise ValidationError(
                "login: the first argument must be a reference to an object of the caller "
                "(pbtyped.cred.login sends one)"
            )
        if not caller.is_connected:
            raise DeadReferenceError("the connection closed during the login")
        state = self._states.setdefault(caller.pb_broker, _ConnectionState())
        if state.failures >= self.max_failures:
            raise UnauthorizedLogin(
                f"too many failed logins on this connection ({self.max_failures}); "
                "open a new connection to try again"
            )
        if state.failures + state.pending >= self.max_failures:
            raise LimitExceeded(
                f"{state.pending} password logins are in progress on this connection and "
                f"{state.failures} of {self.max_failures} failed: finish one before starting "
                "another (Portal(max_failures=) bounds both together)"
            )
        return state

    def _failed(
        self, state: _ConnectionState, who: str, why: str, error: UnauthorizedLogin
    ) -> UnauthorizedLogin:
        """Count and log a failed login (once); return the error to raise."""
        state.failures += 1
        last = state.failures >= self.max_failures
        try:
            peer = current_connection().peer
        except LookupError:  # not inside a remote call (direct use in tests)
            peer = None
        self._logs.warning(
            "failed login %s from %s: %s (failure %d of %d on this connection%s)",
            who,
            peer,
            why,
            state.failures,
            self.max_failures,
            "; further logins on it are refused" if last else "",
            key=None if peer is None else address_of(peer),  # one rule with the slots'
        )
        return error

    async def _login(self, user_id: str | None, mind: object, caller: RemoteReference) -> _Session:
        if mind is not None and not isinstance(mind, RemoteReference):
            raise ValidationError("login: the mind must be an object of the caller, or None")
        result = self.realm.request_avatar(user_id, mind)
        if inspect.isawaitable(result):
            result = await result
        avatar, logout = result
        if not isinstance(avatar, Referenceable) or not callable(logout):
            raise TypeError("the realm must return (a pbtyped.Referenceable, a logout callback)")
        return _session_class(type(avatar))(avatar, logout, caller, self.logout_timeout)


class _LoginRoot(Root):
    """The steps of logging in, as the client's ``pbtyped.cred.login`` takes them."""

    __slots__ = ("_portal",)

    def __init__(self, portal: Portal) -> None:
        self._portal = portal

    def remote_mechanisms(self) -> list[str]:
        """The logins this server allows."""
        return self._portal.mechanisms

    async def remote_login_anonymous(self, caller: object, mind: object = None) -> _Session:
        """Log in without credentials (if an ``AllowAnonymous`` checker is present)."""
        portal = self._portal
        state = portal._admit(caller)
        assert isinstance(caller, RemoteReference)  # _admit checked it
        if AllowAnonymous.mechanism not in portal._checkers:
            error = UnauthorizedLogin("anonymous login is not allowed on this server")
            raise portal._failed(state, "as anonymous", "anonymous login is not allowed", error)
        return await portal._login(None, mind, caller)

    async def remote_scram_start(self, caller: object, client_first: object) -> list[Any]:
        """SCRAM's first step: returns ``[exchange, server-first-message]``."""
        portal = self._portal
        state = portal._admit(caller)
        assert isinstance(caller, RemoteReference)  # _admit checked it
        checker = portal._checkers.get(MECHANISM)
        if not isinstance(checker, ScramChecker):
            error = UnauthorizedLogin("password login is not enabled on this server")
            raise portal._failed(state, "with a password", "password login is not enabled", error)
        if state.pending >= portal.max_pending:
            raise LimitExceeded(
                f"{portal.max_pending} logins are already in progress on this connection"
            )
        if not isinstance(client_first, str):
            raise ValidationError("login: the client-first message must be a str")
        try:
            first = parse_client_first(client_first)
        except UnauthorizedLogin as exc:
            raise portal._failed(state, "with a password", str(exc), exc) from None
        # The failure slot is held from here: while the record is looked up, then by the
        # exchange until it ends.
        state.starting += 1
        try:
            server = await checker.server(first)
        finally:
            state.starting -= 1
        exchange = _ScramExchange(portal, state, server, caller)
        state.exchanges.add(exchange)
        return [exchange, exchange.first_message]


class _ScramExchange(Referenceable):
    """One password login between server-first and client-final; used once."""

    __slots__ = ("_caller", "_portal", "_server", "_state", "first_message")

    def __init__(
        self,
        portal: Portal,
        state: _ConnectionState,
        server: ScramServer,
        caller: RemoteReference,
    ) -> None:
        self._portal: Portal | None = portal
        self._state = state
        self._server = server
        self._caller: RemoteReference | None = caller
        self.first_message = server.first_message()

    async def remote_finish(self, client_final: object, mind: object = None) -> list[Any]:
        """SCRAM's last step: returns ``[server-final-message, avatar]``."""
        portal, caller, server = self._portal, self._caller, self._server
        if portal is None or caller is None:
            raise UnauthorizedLogin("this login exchange is already finished")
        self._spent()
        if not isinstance(client_final, str):
            raise ValidationError("login: the client-final message must be a str")
        try:
            server_final = server.final_message(client_final)
        except UnauthorizedLogin as exc:
            why = str(exc)
            if why.startswith("login failed"):  # the client cannot tell these apart; we can
                why = "wrong password" if server.user_known else "unknown user"
            who = f"as {server.username[:64]!r}"
            raise portal._failed(self._state, who, why, exc) from None
        return [server_final, await portal._login(server.username, mind, caller)]

    def pb_detached(self, connection: object) -> None:
        self._spent()

    def _spent(self) -> None:
        self._portal = None
        self._caller = None
        self._state.exchanges.discard(self)


class _Session(Referenceable):
    """What the client holds for its avatar: one per login, even for the same avatar.

    Forwards calls to the avatar's ``pb_dispatch`` (turning Viewables into ViewPoints) and
    runs the logout callback once, when the client releases it or the connection closes.
    """

    __slots__ = ("_avatar", "_caller", "_logout", "_timeout")

    def __init__(
        self,
        avatar: Referenceable,
        logout: Logout,
        caller: RemoteReference,
        timeout: float = LOGOUT_TIMEOUT,
    ) -> None:
        self._avatar: Referenceable | None = avatar
        self._logout: Logout | None = logout
        self._caller: RemoteReference | None = caller
        self._timeout = timeout
        # If the answer carrying this session is never delivered (the line dropped first),
        # pb_detached never comes: the disconnect of the caller's connection logs out then.
        caller.notify_on_disconnect(self._disconnected)

    @property
    def avatar(self) -> Referenceable | None:
        """The avatar, until logout."""
        return self._avatar

    def pb_dispatch(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        avatar = self._avatar
        if avatar is None:
            raise DeadReferenceError("this login has ended")
        args, kwargs = unwrap_arguments(args, kwargs)
        return as_seen_by(avatar, avatar.pb_dispatch(method, args, kwargs))

    def pb_detached(self, connection: object) -> None:
        self._end()

    def _disconnected(self, caller: RemoteReference) -> None:
        self._end()

    def _end(self) -> None:
        logout, caller = self._logout, self._caller
        if logout is None:
            return
        self._logout = self._caller = self._avatar = None
        if caller is not None:
            caller.dont_notify_on_disconnect(self._disconnected)
        try:
            ending = logout()
        except Exception:
            log.exception("logout callback %r failed", logout)
            return
        if inspect.isawaitable(ending) and caller is not None:
            caller.pb_connection.run_before_closed(_await_logout(logout, ending, self._timeout))


def _session_class(avatar_class: type[Referenceable]) -> type[_Session]:
    """The class of the sessions of ``avatar_class``'s avatars, made once per avatar class: a
    session names its avatar's interfaces when sent (``pb_implements``) and brings the
    registry of the avatar's generated module into the connection (``pb_registry``), as the
    avatar itself would."""
    made = _SESSION_CLASSES.get(avatar_class)
    if made is None:
        attributes: dict[str, object] = {
            "__slots__": (),
            "pb_implements": implemented_by(avatar_class),
        }
        registry = registry_of(avatar_class)
        if registry is not None:
            attributes["pb_registry"] = registry
        made = _SESSION_CLASSES[avatar_class] = type("_Session", (_Session,), attributes)
    return made


# Session classes by avatar class: an avatar class that goes away takes its entry with it.
_SESSION_CLASSES: weakref.WeakKeyDictionary[type[Referenceable], type[_Session]] = (
    weakref.WeakKeyDictionary()
)


async def _await_logout(logout: Logout, ending: Awaitable[None], timeout: float) -> None:
    """Await an async logout within ``timeout``; log its failure, never raise it."""
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            await ending
    except TimeoutError:
        if not deadline.expired():
            log.exception("logout callback %r failed", logout)
            return
        log.error(
            "logout callback %r did not finish within %s s (Portal(logout_timeout=)): cancelled",
            logout,
            timeout,
        )
    except Exception:
        log.exception("logout callback %r failed", logout)
