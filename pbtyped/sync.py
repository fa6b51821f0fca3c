"""The blocking client: pbtyped from scripts, notebooks and threads that run no event loop.

    from pbtyped import sync

    with sync.connect("127.0.0.1", 8800) as client:
        root = client.root()                    # a SyncReference (or client.root(XSyncClient))
        print(root.call_remote("echo", "hi"))   # blocks until the answer, returns it

Each blocking client runs its connection on an event loop in a thread of its own (an
``EventLoopThread``; several clients may share one), so the thread that calls it needs no loop
and may be any thread, including a worker thread of an application whose main thread runs an
event loop. What can go wrong goes wrong as in the async API: the same exception classes,
``pb_timeout``/``timeout`` with the same meaning (CallTimeout names the method and the time);
a call through a closed client raises DeadReferenceError.

Callbacks the server makes into objects of ours (a ``mind``, a ``Referenceable`` passed as an
argument) and disconnect callbacks run on the client's loop thread: they must not block and
must not call a blocking client (that would wait on the very loop that has to answer; it raises
RuntimeError instead of hanging).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, overload

from typing_extensions import Unpack

from ._exceptions import DeadReferenceError
from .cred.client import login as _login
from .cred.client import login_anonymous as _login_anonymous
from .protocol.objects import Referenceable
from .runtime.endpoints import Client
from .runtime.endpoints import connect as _connect
from .runtime.options import ConnectOptions
from .runtime.reference import RemoteReference, Stub
from .typed.support import sent as _sent

__all__ = ["EventLoopThread", "SyncClient", "SyncReference", "SyncStub", "connect"]

T = TypeVar("T")
A = TypeVar("A", bound=Stub)
B = TypeVar("B", bound=Stub)
SS = TypeVar("SS", bound="SyncStub[Any]")
B_co = TypeVar("B_co", bound=Stub, covariant=True)


class _Runs(Protocol[B_co]):
    """A blocking stub, typed by the async stub its ``pb_stub`` gives. A derived interface's
    blocking stub extends its first base's, so mypy sees a ``SyncStub`` of that base's async
    stub; its own ``pb_stub`` property names the interface's own, and ``pb_unwrap`` reads that.
    """

    @property
    def pb_stub(self) -> B_co: ...


class EventLoopThread:
    """An event loop running in a daemon thread, and a way to run coroutines on it and block.

    Made by ``connect`` for each client unless one is passed in, so that several blocking
    clients share one thread. Close it when done (``with`` does): its thread ends.
    """

    def __init__(self, *, name: str = "pbtyped-sync") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the thread runs (for ``asyncio.run_coroutine_threadsafe`` and friends)."""
        return self._loop

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and block until it ends; return or raise its outcome.

        If the waiting thread is interrupted (KeyboardInterrupt), the coroutine is cancelled:
        a remote call in it is then cancelled on the peer, as in the async API.
        """
        if self._closed:
            coro.close()
            raise RuntimeError("this EventLoopThread is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a blocking pbtyped call was made on the client's own loop thread (inside a "
                "callback from the server?): it would wait forever; use the async API there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        """Stop the loop and wait for its thread to end (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _call(runner: EventLoopThread, coro: Coroutine[Any, Any, T]) -> T:
    """Run one call of a blocking client and wait for it. A call through a closed client
    fails as the async API's does on a closed connection (DeadReferenceError), not with the
    loop thread's own RuntimeError."""
    if runner.closed:
        coro.close()
        raise DeadReferenceError("the connection of this reference is closed")
    return runner.run(coro)


def _release(runner: EventLoopThread, reference: RemoteReference) -> None:
    """Release ``reference`` on its loop thread; nothing to do once the client is closed
    (its connection, and so every reference of it, is gone)."""
    if not runner.closed:
        runner.loop.call_soon_threadsafe(reference.release)


class SyncReference:
    """A blocking view of a RemoteReference: ``call_remote`` waits for the answer.

    References in results are returned as they arrive (RemoteReference); wrap one with
    ``client.wrap(ref)`` to call it blockingly.
    """

    __slots__ = ("_runner", "pb_reference")

    def __init__(self, reference: RemoteReference, runner: EventLoopThread) -> None:
        #: The async reference this one calls through (on the client's loop thread).
        self.pb_reference = reference
        self._runner = runner

    def call_remote(
        self, name: str, /, *args: Any, pb_timeout: float | None = None, **kwargs: Any
    ) -> Any:
        """Call ``remote_<name>(*args, **kwargs)`` on the peer and return its result.

        ``pb_timeout`` (seconds) bounds the call as ``RemoteReference.call``'s ``timeout``.
        """
        return _call(self._runner, self.pb_reference.call(name, args, kwargs, timeout=pb_timeout))

    def send(self, name: str, /, *args: Any, **kwargs: Any) -> None:
        """Call ``remote_<name>(*args, **kwargs)`` on the peer without an answer (a one-way
        call, ``RemoteReference.send``): returns once the call is on its way, raising what
        ``send`` raises (nothing is sent then)."""
        _call(self._runner, _sent(self.pb_reference.send, name, *args, **kwargs))

    def release(self) -> None:
        """Tell the peer now that we are done with its object (idempotent)."""
        _release(self._runner, self.pb_reference)

    @property
    def is_connected(self) -> bool:
        """True while the reference's connection is open."""
        return self.pb_reference.is_connected

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<pbtyped.sync.SyncReference for {self.pb_reference!r}>"


class SyncStub(Generic[A]):
    """Base of the generated blocking stubs: ``XSyncClient`` runs the async ``XClient``.

    Each method of a generated ``XSyncClient`` calls the same method of the async stub it
    holds (``pb_stub``) on the client's loop thread and waits for its outcome, so it takes the
    same arguments, raises the same errors and honours ``pb_timeout=`` the same way.
    ``client.root(XSyncClient)``, ``client.login(..., stub=XSyncClient)`` and
    ``client.wrap(...)`` make them. Interfaces at the top level of a parameter also take a
    blocking stub; a result declared ``X`` or ``X | None`` comes back as ``XSyncClient``;
    interfaces anywhere else (in a list, dict or tuple, or in a wider union) are the async
    stubs, as in ``XClient``: ``pb_wrap`` or ``client.wrap`` makes one blocking, ``pb_stub``
    gives a blocking stub's async one.
    """

    __slots__ = ("_pb_stub", "pb_runner")
    #: The async stub class whose methods this one runs (``XClient`` for ``XSyncClient``).
    pb_async: ClassVar[type[Stub]]

    def __init__(self, stub: A, runner: EventLoopThread) -> None:
        # A blocking stub over another interface's stub would fail later, at a method the
        # async stub lacks: refuse it where the mistake is made.
        if not isinstance(stub, self.pb_async):
            raise TypeError(
                f"{type(self).__name__} runs a {self.pb_async.__name__}, "
                f"not a {type(stub).__name__}"
            )
        self._pb_stub = stub
        #: The loop thread the async stub's calls run on.
        self.pb_runner = runner

    @property
    def pb_stub(self) -> A:
        """The async stub whose methods this one runs."""
        return self._pb_stub

    def pb_run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one call of the async stub on the loop thread and block until it ends."""
        return _call(self.pb_runner, coro)

    def pb_iterate(self, stream: AsyncIterator[T]) -> Iterator[T]:
        """Iterate a stream of the async stub from this thread, one item per step on the
        loop thread; leaving the loop early closes the stream (the writer is told)."""

        async def step() -> T:
            return await anext(stream)

        try:
            while True:
                try:
                    yield self.pb_run(step())
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                self.pb_run(aclose())

    @overload
    def pb_wrap(self, stub: B, into: Callable[[B, EventLoopThread], SS]) -> SS: ...
    @overload
    def pb_wrap(self, stub: None, into: Callable[[B, EventLoopThread], SS]) -> None: ...
    def pb_wrap(self, stub: B | None, into: Callable[[B, EventLoopThread], SS]) -> SS | None:
        """An async stub (from a result) as the blocking stub ``into``, on the same loop
        thread; None stays None."""
        return None if stub is None else into(stub, self.pb_runner)

    @overload
    @staticmethod
    def pb_unwrap(value: _Runs[B]) -> B: ...
    @overload
    @staticmethod
    def pb_unwrap(value: T) -> T: ...
    @staticmethod
    def pb_unwrap(value: Any) -> Any:
        """A blocking stub's async stub (to pass it as an argument); any other value as is."""
        return value.pb_stub if isinstance(value, SyncStub) else value

    def pb_release(self) -> None:
        """Tell the peer now that we are done with its object (idempotent).

        Named ``pb_release`` because a schema method may be called ``release``.
        """
        reference = self._pb_stub.pb_reference
        if isinstance(reference, RemoteReference):
            _release(self.pb_runner, reference)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.pb_release()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self._pb_stub.pb_reference!r}>"


class SyncClient:
    """A connected blocking client: ``root()``, ``login()``, ``close()``; ``with`` closes it."""

    def __init__(self, client: Client, runner: EventLoopThread, owns_runner: bool) -> None:
        #: The async client this one runs (its methods need the loop thread: ``runner.run``).
        self.client = client
        #: The loop thread the connection runs on (shared when given to ``connect``).
        self.runner = runner
        self._owns_runner = owns_runner

    @overload
    def root(self) -> SyncReference: ...
    @overload
    def root(self, stub: type[SS]) -> SS: ...
    def root(self, stub: type[SS] | None = None) -> SyncReference | SS:
        """The server's root object, blocking (``stub`` a generated ``XSyncClient``)."""
        return self._open(stub, lambda a: self.client.root(a))

    @overload
    def login(
        self, username: str, password: str, *, mind: Referenceable | None = ..., stub: None = ...
    ) -> SyncReference: ...
    @overload
    def login(
        self, username: str, password: str, *, mind: Referenceable | None = ..., stub: type[SS]
    ) -> SS: ...
    def login(
        self,
        username: str,
        password: str,
        *,
        mind: Referenceable | None = None,
        stub: type[SS] | None = None,
    ) -> SyncReference | SS:
        """Log in with a password (SCRAM-SHA-256, as ``pbtyped.cred.login``); the avatar."""
        return self._open(
            stub, lambda a: _login(self.client, username, password, mind=mind, stub=a)
        )

    @overload
    def login_anonymous(
        self, *, mind: Referenceable | None = ..., stub: None = ...
    ) -> SyncReference: ...
    @overload
    def login_anonymous(self, *, mind: Referenceable | None = ..., stub: type[SS]) -> SS: ...
    def login_anonymous(
        self, *, mind: Referenceable | None = None, stub: type[SS] | None = None
    ) -> SyncReference | SS:
        """Log in without credentials, if the server's portal allows it."""
        return self._open(stub, lambda a: _login_anonymous(self.client, mind=mind, stub=a))

    def _open(
        self, stub: type[SS] | None, opening: Callable[[Any], Coroutine[Any, Any, Any]]
    ) -> SyncReference | SS:
        # ``opening`` is the async API's call, given the async stub class (or None): the
        # checks the async API makes for a stub class are made for the blocking one too.
        if stub is None:
            return SyncReference(_call(self.runner, opening(None)), self.runner)
        return stub(_call(self.runner, opening(stub.pb_async)), self.runner)

    @overload
    def wrap(self, reference: RemoteReference) -> SyncReference: ...
    @overload
    def wrap(self, reference: RemoteReference, stub: type[SS]) -> SS: ...
    @overload
    def wrap(self, reference: B, stub: Callable[[B, EventLoopThread], SS]) -> SS: ...
    def wrap(self, reference: Any, stub: Any = None) -> Any:
        """A reference or an async stub that arrived in a result, as a blocking reference or
        the blocking stub ``stub`` (``client.wrap(sink, SinkSyncClient)``)."""
        if stub is None:
            return SyncReference(reference, self.runner)
        if isinstance(reference, RemoteReference):
            reference = stub.pb_async(reference)
        return stub(reference, self.runner)

    @property
    def is_connected(self) -> bool:
        """True while the connection is open."""
        return self.client.is_connected

    def notify_on_disconnect(self, callback: Callable[[Any], object]) -> None:
        """Call ``callback(connection)`` once when the connection is lost (on the loop thread)."""
        self.runner.loop.call_soon_threadsafe(self.client.notify_on_disconnect, callback)

    def close(self) -> None:
        """Close the connection, wait until it is closed, and end the loop thread if ours."""
        try:
            if not self.runner.closed:
                self.runner.run(self.client.aclose())
        finally:
            if self._owns_runner:
                self.runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def connect(
    host: str,
    port: int,
    *,
    runner: EventLoopThread | None = None,
    **options: Unpack[ConnectOptions],
) -> SyncClient:
    """Connect to a pbtyped server and block until the handshake is done.

    The ``options`` are ``pbtyped.connect``'s (``registry=``, ``limits=``, ``root=``,
    ``send_tracebacks=``, ``timeout=``, ``ssl=``), passed on to it as they are. ``runner``
    shares one loop thread between clients; without it the client makes its own and ends it
    on ``close()``.
    """
    own = runner is None
    loop_thread = EventLoopThread() if runner is None else runner

    async def opening() -> Client:
        return await _connect(host, port, **options)

    try:
        client = loop_thread.run(opening())
    except BaseException:
        if own:
            loop_thread.close()
        raise
    return SyncClient(client, loop_thread, own)
