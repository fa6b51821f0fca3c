"""RemoteReference: a proxy for an object on the other side of a connection."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ..protocol.broker import Broker, ImportedReference
from .arguments import check_timeout
from .callbacks import Callbacks
from .promise import Promise

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["RemoteReference", "Stub"]


class RemoteReference(ImportedReference):
    """A reference to a peer's object. Call its ``remote_*`` methods with ``call_remote``.

    Valid only on the connection it arrived on. When the last Python reference to it is
    dropped, the peer is told to release the object (distributed reference counting).
    """

    __slots__ = ("_callbacks", "_connection")

    #: Calls on it may be pipelined (typed stubs call through its connection directly);
    #: False for a reference that routes its calls itself (``Reconnecting.root``).
    pb_pipelines: ClassVar[bool] = True

    def __init__(self, broker: Broker, export_id: int, connection: Connection) -> None:
        super().__init__(broker, export_id)
        self._connection = connection
        # Made on the first notify_on_disconnect: most references never get a callback.
        self._callbacks: Callbacks[RemoteReference] | None = None

    def call_remote(self, name: str, /, *args: Any, **kwargs: Any) -> Promise[Any]:
        """Call ``remote_<name>(*args, **kwargs)`` on the peer's object: await the promise
        for the result, or call on it, or pass it on, before it arrives (``Promise``).

        Awaiting raises DeadReferenceError if the connection is gone, InsecureTypeError
        before sending if an argument may not be sent, the remote error if the method
        raised, and ConnectionLost if the line drops first. Cancelling the awaiting task
        cancels the call.
        """
        return Promise(self._connection, self, name, args, kwargs)

    def send(self, name: str, /, *args: Any, **kwargs: Any) -> None:
        """Call ``remote_<name>(*args, **kwargs)`` on the peer's object without waiting for,
        or ever getting, an answer (a one-way call). Returns once the call is on its way.

        It starts on the peer after the calls sent before it on this reference, like any
        call. What the method raises is logged by the peer, never sent back; a call the peer
        cannot deliver is dropped there. Raises DeadReferenceError, InsecureTypeError and
        FrameTooLarge as ``call_remote`` does (nothing is sent), and PeerNotReading when the
        peer does not read what this side sends. A peer that does not offer one-way calls
        gets an ordinary call, whose answer is dropped.
        """
        self._connection.send(self, name, args, kwargs)

    def call(
        self,
        name: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Promise[Any]:
        """Like ``call_remote`` with explicit arguments and a ``timeout`` in seconds.

        On timeout the peer is told to stop the work and CallTimeout (a TimeoutError naming
        the method and the time) is raised.
        """
        check_timeout(timeout, "timeout")
        return Promise(self._connection, self, name, args, dict(kwargs or {}), timeout)

    def release(self) -> None:
        """Tell the peer now that we are done with its object (idempotent).

        Without it, the release happens when this proxy is garbage collected. Afterwards,
        calls through this proxy raise DeadReferenceError. ``with ref: ...`` releases on exit.
        """
        self._connection.release(self)

    def __enter__(self) -> RemoteReference:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    @property
    def is_connected(self) -> bool:
        """True while the reference's connection is open."""
        return self.pb_broker.is_open

    @property
    def pb_connection(self) -> Connection:
        """The connection the reference arrived on (and is only valid on)."""
        return self._connection

    def notify_on_disconnect(self, callback: Callable[[RemoteReference], object]) -> None:
        """Call ``callback(self)`` once when the connection is lost."""
        if self._callbacks is None:
            self._callbacks = Callbacks()
        self._callbacks.add(callback)
        self._connection.watch(self)

    def dont_notify_on_disconnect(self, callback: Callable[[RemoteReference], object]) -> None:
        """Remove a callback added with ``notify_on_disconnect`` (no error if absent)."""
        if self._callbacks is not None:
            self._callbacks.discard(callback)

    def fire_disconnect(self) -> list[Callable[[RemoteReference], object]]:
        """Take the callbacks to run now that the connection is gone."""
        return [] if self._callbacks is None else self._callbacks.take()

    def __repr__(self) -> str:
        return f"<pbtyped.RemoteReference #{self.pb_export_id} at {id(self):#x}>"


class Stub:
    """Base of generated typed client stubs: wraps the reference it calls through."""

    __slots__ = ("pb_reference",)

    def __init__(self, reference: RemoteReference) -> None:
        #: The reference the stub calls through (our own object, if the reference came home):
        #: pass it to ``call_remote`` for what the stub does not declare, or ``release()`` it.
        self.pb_reference = reference

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # A stub may wrap one of our own objects (a reference come home): nothing to release.
        if isinstance(self.pb_reference, RemoteReference):
            self.pb_reference.release()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.pb_reference!r}>"
