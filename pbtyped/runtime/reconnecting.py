"""``Reconnecting``: a client that connects again after a loss, and a root that follows it.

PB had ``ReconnectingClientFactory``; here one object keeps a connection to a server: it
connects, runs the user's ``setup`` (log in, subscribe, register callbacks), binds its typed
``root`` to what ``setup`` chose on that connection, and when the line is lost (or the server
said GOODBYE and stopped taking calls) does it all again, backing off with jitter. A call
through ``root`` waits for a connection; a call that was sent when the line broke fails with
ConnectionLost and is never sent again (it may have run).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from .._exceptions import CallTimeout, DeadReferenceError, GoingAway, PbtypedError
from .arguments import check_timeout
from .endpoints import Client, connect
from .reference import RemoteReference, Stub

__all__ = ["Backoff", "Reconnecting"]

log = logging.getLogger("pbtyped")

T = TypeVar("T")

#: Failed attempts in a row after which a warning is logged (the first one is logged at INFO).
_WARN_AFTER = 10

#: What ``setup`` gives ``Reconnecting.root`` to stand for on a new connection (None: the
#: server's root): a reference, or a typed stub wrapping one (the avatar a login returned).
Bound = RemoteReference | Stub | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """How long to wait between connection attempts: ``initial`` seconds after the first
    failure, ``factor`` times longer after each next one, at most ``cap``; each delay is
    shortened by a random part of up to ``jitter`` (0 to 1) of itself, so that many clients
    that lost one server do not all come back at the same instant."""

    #: Seconds to wait after the first failed attempt.
    initial: float = 0.1
    #: How much longer each next wait is than the one before (at least 1).
    factor: float = 2.0
    #: The longest wait, in seconds.
    cap: float = 30.0
    #: The largest part of a wait (0 to 1) taken off at random.
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError("Backoff needs 0 < initial <= cap")
        if self.factor < 1:
            raise ValueError("Backoff.factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff.jitter must be between 0 and 1")

    def delay(self, failures: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failures`` failed attempts in a row (1 or more)."""
        exponent = min(max(failures - 1, 0), 64)  # beyond this the cap applies anyway
        base = min(self.cap, self.initial * self.factor**exponent)
        return base * (1 - self.jitter * draw())


class Reconnecting(Generic[T]):
    """Keep a connection to ``host:port``, connecting again whenever it is lost.

    ``root`` is the server's root as ``stub`` (a generated ``XClient``; a RemoteReference
    without one), bound again to each new connection: hold on to it. ``setup(client)`` runs
    after each connect, before any call of yours goes through: log in, subscribe, register
    callbacks; it returns what ``root`` stands for on this connection (the avatar a login
    gave, say), or None for the server's root. If it raises, that connection is closed and
    the next attempt follows the backoff.

    A call through ``root`` made while there is no connection waits for the next one, within
    its timeout (``pb_timeout=``, or ``timeout=`` of ``call``). So does a call refused with
    GoingAway by a server that is draining (it did not run). A call in flight when the line
    breaks fails with ConnectionLost and is never retried: it may have run. The other
    arguments are those of ``connect()``. Use ``async with Reconnecting(...) as rc:``, or
    ``start()`` and ``aclose()``.
    """

    @overload
    def __init__(
        self: Reconnecting[RemoteReference],
        host: str,
        port: int,
        stub: None = None,
        *,
        setup: Callable[[Client], Awaitable[Bound]] | None = None,
        backoff: Backoff = ...,
        **connect_options: Any,
    ) -> None: ...
    @overload
    def __init__(
        self,
        host: str,
        port: int,
        stub: type[T],
        *,
        setup: Callable[[Client], Awaitable[Bound]] | None = None,
        backoff: Backoff = ...,
        **connect_options: Any,
    ) -> None: ...
    def __init__(
        self,
        host: str,
        port: int,
        stub: type[Any] | None = None,
        *,
        setup: Callable[[Client], Awaitable[Bound]] | None = None,
        backoff: Backoff = Backoff(),
        **connect_options: Any,
    ) -> None:
        connect(host, port, **connect_options)  # checks the options now, not at each attempt
        self._host = host
        self._port = port
        self._options = connect_options
        self._stub = stub
        self._setup = setup
        self._backoff = backoff
        self._reference = _Rebound(self)
        root: Any = self._reference if stub is None else stub(self._reference)
        #: The server's root (or what ``setup`` returned), bound to each connection in turn.
        self.root: T = root
        #: The client of the connection in use, None while there is none.
        self.client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._change: asyncio.Future[None] | None = None  # done at the next change
        self._unusable: asyncio.Event | None = None  # set when the connection is of no use
        #: Connections made so far (the first one included).
        self.connections = 0

    @property
    def is_connected(self) -> bool:
        """True while calls through ``root`` go out at once (there is a connection, and its
        server did not say it is going away)."""
        client = self.client
        return (
            client is not None
            and client.is_connected
            and client.connection.broker.peer_leaving is None
        )

    async def start(self) -> Reconnecting[T]:
        """Start connecting (in a task of its own); returns at once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a connection is up and set up (TimeoutError after ``timeout``)."""
        async with asyncio.timeout(timeout):
            await self._bound()

    async def aclose(self) -> None:
        """Stop reconnecting and close the connection; waiting calls fail with
        DeadReferenceError."""
        self._closed = True
        self._changed()
        client, self.client = self.client, None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> Reconnecting[T]:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the connection's life ---------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._closed:
            client = await self._connect(failures)
            if client is None:
                failures += 1
                delay = self._backoff.delay(failures)
                await asyncio.sleep(delay)
                continue
            failures = 0
            await self._use(client)
            log.info("connection to %s lost; connecting again", self._address)

    async def _use(self, client: Client) -> None:
        """Let calls through ``client`` until it is lost or takes no new call."""
        unusable = self._unusable = asyncio.Event()
        client.notify_on_disconnect(lambda _: unusable.set())
        if client.connection.is_closed:
            unusable.set()
        self._changed()
        try:
            await unusable.wait()
        finally:
            self.client = None
            self._unusable = None

    async def _connect(self, failures: int) -> Client | None:
        """One attempt: connect and set up; the client, or None (logged) if it failed."""
        try:
            client = await connect(self._host, self._port, **self._options)
        except (OSError, TimeoutError, PbtypedError) as exc:
            # Retrying is the normal course (a server restarting): a warning only when it
            # lasts, at the tenth attempt in a row.
            level = logging.DEBUG
            if failures in (0, _WARN_AFTER - 1):
                level = logging.INFO if failures == 0 else logging.WARNING
            why = str(exc) or type(exc).__name__
            log.log(
                level, "could not connect to %s (attempt %d): %s", self._address, failures + 1, why
            )
            return None
        try:
            # Typed: the interfaces are checked and the stub's module registry brought in.
            ref = (
                (await client.root(self._stub)).pb_reference if self._stub else await client.root()
            )
            bound = await self._setup(client) if self._setup is not None else None
        except Exception as exc:
            log.warning("setup of the connection to %s failed: %r", self._address, exc)
            await client.aclose()
            return None
        if isinstance(bound, Stub):
            bound = bound.pb_reference
        self._reference.bind(ref if bound is None else bound)
        self.client = client
        self.connections += 1
        return client

    @property
    def _address(self) -> str:
        return f"{self._host}:{self._port}"

    def _changed(self) -> None:
        change, self._change = self._change, None
        if change is not None and not change.done():
            change.set_result(None)

    def _give_up(self, ref: RemoteReference) -> None:
        """The connection of ``ref`` takes no new call (GoingAway): move to the next one."""
        if self._unusable is not None and self._reference.target is ref:
            self.client = None
            self._unusable.set()

    async def _bound(self) -> RemoteReference:
        """The reference ``root`` stands for now, once a connection is up (waits for it)."""
        while True:
            if self._closed:
                raise DeadReferenceError("this Reconnecting client is closed")
            target = self._reference.target
            if self.client is not None and target is not None:
                return target
            change = self._change
            if change is None:
                change = self._change = asyncio.get_running_loop().create_future()
            await asyncio.shield(change)


class _Rebound(RemoteReference):
    """The reference behind ``Reconnecting.root``: each call goes to what ``setup`` bound
    on the connection in use, waiting for one if there is none.

    It stands for a reference of the import table (``target``) without being one: dropping
    it releases nothing, and it is never sent as an argument in its own right.
    """

    __slots__ = ("_owner", "target")

    pb_pipelines = False  # its calls may wait for the next connection

    def __init__(self, owner: Reconnecting[Any]) -> None:
        # No broker until the first connection: bind() sets the fields of RemoteReference.
        self._owner = owner
        self.target: RemoteReference | None = None
        self._callbacks = None
        self.pb_interfaces = None

    def bind(self, target: RemoteReference) -> None:
        """Stand for ``target`` (on a new connection) from now on."""
        self.target = target
        self.pb_broker = target.pb_broker
        self.pb_export_id = target.pb_export_id
        self.pb_interfaces = target.pb_interfaces
        self._connection = target.pb_connection

    # Not a Promise: a call through a reconnecting root may wait for the next connection,
    # so it cannot be pipelined on; it is awaited (a coroutine), which is all a Promise
    # of a plain call is used for otherwise.
    async def call_remote(  # type: ignore[override]
        self, name: str, /, *args: Any, **kwargs: Any
    ) -> Any:
        """Call through the connection in use (see ``Reconnecting``)."""
        return await self.call(name, args, kwargs)

    async def call(  # type: ignore[override]
        self,
        name: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Call through the connection in use, waiting for one within ``timeout``."""
        check_timeout(timeout, "timeout")
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                return await self._call(name, args, dict(kwargs or {}))
        except TimeoutError:
            if not deadline.expired():
                raise
            raise CallTimeout(
                f"{name}() got no answer within {timeout} s (waiting for a connection "
                "included); a call that was sent, the peer was told to stop"
            ) from None

    async def _call(self, name: str, args: tuple[Any, ...] | list[Any], kwargs: Any) -> Any:
        owner = self._owner
        while True:
            target = await owner._bound()
            try:
                return await target.call(name, args, kwargs)
            except GoingAway:
                owner._give_up(target)  # it did not run: wait for the next connection
            except DeadReferenceError:
                if not target.pb_connection.is_closing:
                    raise  # the peer's answer, not a closed line
                owner._give_up(target)  # the line closed before it was sent

    def release(self) -> None:
        """Nothing to release: each connection's reference is released with it."""

    @property
    def is_connected(self) -> bool:
        """True while calls go out at once."""
        return self._owner.is_connected

    def __repr__(self) -> str:
        return f"<pbtyped.Reconnecting root at {id(self):#x}>"
