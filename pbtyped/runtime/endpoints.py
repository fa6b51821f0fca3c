"""``serve()`` and ``connect()``: the two ways into pbtyped, both async context managers."""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

from .._exceptions import ConnectionLost
from ..protocol.interfaces import check_root
from ..protocol.objects import Referenceable, Root
from ..wire.limits import Limits
from ..wire.proxy import ProxyPolicy
from ..wire.registry import Registry, registry_of
from .arguments import check_endpoint, check_stub_class
from .connection import Connection
from .logs import LogLimiter
from .options import Options
from .proxied import ProxyGate
from .reference import RemoteReference, Stub
from .slots import Budget, ServerSide, Slots, plan_descriptors
from .tls import handshake_failure, watch_handshakes

try:
    import resource
except ImportError:  # not on Windows: there is no soft limit to check there
    resource = None  # type: ignore[assignment]

__all__ = ["Client", "Server", "bring_registry", "connect", "registry_of", "serve"]

log = logging.getLogger("pbtyped")

S = TypeVar("S", bound=Stub)

#: Seconds between two looks at what the connections of a draining server still owe.
_DRAIN_POLL = 0.05


def bring_registry(connection: Connection, stub: type[Any]) -> None:
    """Let ``connection`` admit what the generated module of ``stub`` declares (see
    ``Broker.bring_registry``)."""
    connection.broker.bring_registry(stub)


class Server:
    """A listening pbtyped server. ``port`` is the bound port; ``connections`` the live ones
    (``slots_in_use`` also counts sockets still in their TLS handshake); ``draining`` is True
    from the start of ``drain()``. Made by ``serve()``."""

    def __init__(
        self,
        host: str | None,
        port: int,
        options: Options,
        *,
        proxy: ProxyPolicy | None = None,
        reuse_port: bool = False,
    ) -> None:
        if not isinstance(options.root, Root):
            raise TypeError("the root object must be a pbtyped.Root")
        #: The object served as every connection's root.
        self.root: Root = options.root
        #: What ``serve()`` was given: the registry, limits, TLS context, tracebacks choice.
        self.options = options
        limits = options.limits
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._proxy = proxy
        self._reuse_port = reuse_port
        #: The connections open now (after their handshake began; see ``slots_in_use``).
        self.connections: set[Connection] = set()
        #: True from the start of ``drain()``: no new connection is admitted.
        self.draining = False
        # A socket asyncio accepted but that never reached connection_made (a TLS handshake
        # that failed or timed out) gets its slot back once asyncio has surely given up on it.
        self._slots = Slots(
            limits.max_connections,
            limits.max_connections_per_address,
            unstarted_after=limits.tls_handshake_timeout + 1.0,
        )
        #: The bytes all connections hold at once, against ``Limits.max_bytes_held``.
        self.budget = Budget(limits.max_bytes_held)
        self._side = ServerSide(
            admit=self._admit,
            closed=self._closed,
            budget=self.budget,
            prelogin_idle=limits.prelogin_idle_timeout,
            logs=LogLimiter(
                limits.log_rate_per_minute,
                per_key=min(limits.log_rate_per_peer, limits.log_rate_per_minute),
            ),
        )

    @property
    def registry(self) -> Registry:
        """The allow-list of copyable types and errors this server's connections use."""
        return self.options.registry

    @property
    def limits(self) -> Limits:
        """The limits of this server and every connection it holds."""
        return self.options.limits

    def _protocol(self) -> asyncio.Protocol:
        conn = Connection(self.options, self._side)
        # Counted at accept: with TLS, connection_made comes only after the handshake.
        self._slots.reserve(conn)
        if self._proxy is not None:
            return ProxyGate(conn, self._proxy, self._side.logs)
        return conn

    def _admit(self, conn: Connection) -> str | None:
        if self.draining:  # accepted before the listener closed, or still in its TLS handshake
            self._slots.release(conn)
            return "server shutting down"
        refusal = self._slots.admit(conn, conn.peer)
        if refusal is None:
            self.connections.add(conn)
        return refusal

    def _closed(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self._slots.release(conn)

    @property
    def slots_in_use(self) -> int:
        """Connections, and sockets still in their TLS handshake: what max_connections bounds."""
        return self._slots.in_use

    @property
    def max_connections(self) -> int:
        """``Limits.max_connections``, or less if the file-descriptor limit does not fit it."""
        return self._slots.max_connections

    def _fit_descriptors(self) -> None:
        """Raise the open-file soft limit toward the hard one if max_connections needs it, or
        serve fewer connections; one log line says which."""
        if resource is None:
            return
        wanted = self.limits.max_connections
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        plan = plan_descriptors(wanted, soft, hard, resource.RLIM_INFINITY)
        if plan.new_soft is not None:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (plan.new_soft, hard))
            except (ValueError, OSError) as exc:
                log.warning("could not raise the open-file soft limit: %s", exc)
                plan = plan_descriptors(wanted, soft, soft, resource.RLIM_INFINITY)
        self._slots.max_connections = plan.max_connections
        if plan.message is not None:
            fits = plan.max_connections == wanted
            log.log(logging.INFO if fits else logging.WARNING, "%s", plan.message)

    async def start(self) -> Server:
        """Start listening (``async with serve(...)`` does this for you)."""
        loop = asyncio.get_running_loop()
        self._fit_descriptors()
        if self.options.ssl is not None:
            watch_handshakes(self.options.ssl, self._side.logs)
        self._server = await loop.create_server(
            self._protocol,
            self._host,
            self._port,
            reuse_port=self._reuse_port or None,
            **self.options.tls_arguments(),
        )
        return self

    @property
    def is_serving(self) -> bool:
        """True while the server accepts connections: started, and neither draining nor
        closed."""
        return self._server is not None and self._server.is_serving() and not self.draining

    @property
    def port(self) -> int:
        """The TCP port the server is bound to (useful with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def drain(self, grace: float = 30.0, reason: str = "server shutting down") -> None:
        """Shut down gracefully: stop accepting, let the calls in flight finish, close.

        Each peer that offers "goodbye" is sent a GOODBYE with ``reason`` and ``grace`` (it
        starts no new call on that connection; a ``Reconnecting`` client moves to its next
        one); a call any peer makes from now on fails with GoingAway and does not run. A
        connection closes once every call it read is answered and, for a peer told GOODBYE,
        once the peer has closed its side (a pbtyped peer does when none of its calls is
        pending, so a call that crossed the GOODBYE gets GoingAway, not ConnectionLost); at
        the latest after ``grace`` seconds (calls still running then are cancelled). Logouts
        and ``pb_detached`` hooks run as on any close; returns once every connection is
        closed.
        """
        self.draining = True
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        conns = list(self.connections)
        for conn in conns:
            conn.say_goodbye(reason, grace)
        owing = set(conns)
        while True:
            for conn in [c for c in owing if c.drained]:
                owing.discard(conn)
                conn.close()
            left = deadline - loop.time()
            if not owing or left <= 0:
                break
            # A few checks a second: a drain is rare, and nothing is kept per connection.
            await asyncio.sleep(min(_DRAIN_POLL, left))
        if owing:
            log.warning(
                "drain: %d connection(s) still running calls after the %s s grace; "
                "those calls are cancelled",
                len(owing),
                grace,
            )
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening, close every connection and wait until they are gone."""
        if self._server is not None:
            self._server.close()
        conns = list(self.connections)
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def serve(
    root: Root,
    host: str | None = "127.0.0.1",
    port: int = 0,
    *,
    registry: Registry | None = None,
    limits: Limits | None = None,
    send_tracebacks: bool = False,
    ssl: _ssl.SSLContext | None = None,
    proxy_protocol_from: Sequence[str] = (),
    reuse_port: bool = False,
) -> Server:
    """Serve ``root`` on TCP: ``async with serve(root, host, port) as server: ...``.

    ``port`` 0 binds a free port (``server.port`` says which). ``registry`` is the allow-list
    of copyable types and errors, besides those of the generated module whose skeleton
    ``root`` is (joined once for the whole server, see ``Registry.joined``) and of the
    skeletons sent later (joined per connection, when first sent). ``limits`` bounds what
    each peer may cost this server (``Limits()``, the defaults, when None). ``ssl`` is a
    server TLS context (``pbtyped.cred.server_context``): every client must then speak TLS.
    ``send_tracebacks`` opts in to sending remote traceback text with errors (off: no server
    frames ever leave the process).

    ``proxy_protocol_from`` (CIDR networks, e.g. ``["10.0.0.0/8"]``) turns on the PROXY
    protocol v2 for connections from those balancers: each must start with a PROXY header,
    whose client address the connection then uses as its ``peer`` (logs, the per-address
    share, login rate limits); a header from any other address closes the connection. Not
    with ``ssl`` (terminate TLS at the balancer). ``reuse_port`` sets SO_REUSEPORT, so that
    several processes can listen on one port (``pbtyped serve --workers``).
    """
    check_endpoint("serve", host, registry)
    module_registry = registry_of(type(root))
    if module_registry is not None:
        # Neither registry is ever changed (a connection that needs more makes a layer), so
        # the module's own serves when none is given.
        registry = module_registry if registry is None else registry.joined(module_registry)
    options = Options.of(
        registry=registry, limits=limits, root=root, send_tracebacks=send_tracebacks, ssl=ssl
    )
    proxy = None
    if proxy_protocol_from:
        if ssl is not None:
            raise ValueError(
                "proxy_protocol_from with ssl is not supported: the PROXY header comes before "
                "the TLS handshake; terminate TLS at the balancer"
            )
        proxy = ProxyPolicy(proxy_protocol_from, options.limits.handshake_timeout)
    return Server(host, port, options, proxy=proxy, reuse_port=reuse_port)


class Client:
    """A client connection: get the server's root with ``await client.root()``."""

    def __init__(self, connection: Connection) -> None:
        #: The client's one connection to the server.
        self.connection = connection

    @overload
    async def root(self) -> RemoteReference: ...
    @overload
    async def root(self, stub: type[S]) -> S: ...
    async def root(self, stub: type[S] | None = None) -> RemoteReference | S:
        """The server's root object, as a RemoteReference or wrapped in a typed stub."""
        check_stub_class(stub, "root()")
        await asyncio.shield(self.connection.handshake)
        ref = self.connection.broker.root_reference()
        assert isinstance(ref, RemoteReference)
        check_root(ref, stub)
        if stub is None:
            return ref
        bring_registry(self.connection, stub)
        return stub(ref)

    @property
    def is_connected(self) -> bool:
        """True while the connection is open."""
        return self.connection.broker.is_open

    def notify_on_disconnect(self, callback: Callable[[Connection], object]) -> None:
        """Call ``callback(connection)`` once when the connection is lost."""
        self.connection.notify_on_disconnect(callback)

    def dont_notify_on_disconnect(self, callback: Callable[[Connection], object]) -> None:
        """Remove a callback added with ``notify_on_disconnect``."""
        self.connection.dont_notify_on_disconnect(callback)

    async def aclose(self) -> None:
        """Close the connection and wait until it is closed."""
        self.connection.close()
        await self.connection.wait_closed()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class _Connecting:
    """``connect(...)``: await it for a Client, or use it as ``async with``."""

    def __init__(self, host: str, port: int, options: Options, timeout: float | None) -> None:
        self._host = host
        self._port = port
        self._options = options
        self._timeout = timeout
        self._client: Client | None = None

    async def _open(self) -> Client:
        async with asyncio.timeout(self._timeout):
            conn = await self._open_and_greet()
        return Client(conn)

    async def _open_and_greet(self) -> Connection:
        loop = asyncio.get_running_loop()
        options = self._options
        try:
            _, conn = await loop.create_connection(
                lambda: Connection(options), self._host, self._port, **options.tls_arguments()
            )
        except _ssl.SSLError as exc:
            lost = handshake_failure(exc)
            if lost is None:
                raise
            raise lost from exc
        try:
            await asyncio.shield(conn.handshake)
        except ConnectionLost:
            raise
        except BaseException:
            conn.close()
            raise
        return conn

    def __await__(self) -> Generator[Any, None, Client]:
        return self._open().__await__()

    async def __aenter__(self) -> Client:
        self._client = await self._open()
        return self._client

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.aclose()


def connect(
    host: str,
    port: int,
    *,
    registry: Registry | None = None,
    limits: Limits | None = None,
    root: Referenceable | None = None,
    send_tracebacks: bool = False,
    timeout: float | None = 30.0,
    ssl: _ssl.SSLContext | None = None,
) -> _Connecting:
    """Connect to a pbtyped server: ``async with connect(host, port) as client: ...``.

    ``timeout`` bounds the TCP connect and the handshake. ``root`` optionally offers an object
    of ours that the server may fetch as our root. ``registry``, ``limits`` and
    ``send_tracebacks`` are ``serve``'s, for this side. ``ssl`` is a client TLS context
    (``pbtyped.cred.client_context``), needed when the server speaks TLS and refused when it
    does not.
    """
    check_endpoint("connect", host, registry)
    options = Options.of(
        registry=registry, limits=limits, root=root, send_tracebacks=send_tracebacks, ssl=ssl
    )
    return _Connecting(host, port, options, timeout)
