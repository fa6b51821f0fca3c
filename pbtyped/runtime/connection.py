"""The asyncio adapter around one Broker: a Protocol that moves bytes and resolves futures."""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Callable
from typing import Any

from .._exceptions import (
    CallCancelled,
    ConnectionLost,
    DeadReferenceError,
    Error,
    FrameTooLarge,
    NoSuchMethod,
    PbtypedError,
    RemoteProtocolError,
)
from ..protocol.broker import Broker
from ..protocol.errors import is_expected
from ..protocol.events import (
    AnswerReceived,
    CallReceived,
    CancelReceived,
    FailureReceived,
    HandshakeComplete,
    PeerAborted,
)
from ..protocol.objects import Referenceable
from ..wire.limits import Limits
from ..wire.registry import Registry
from .reference import RemoteReference

__all__ = ["Connection"]

log = logging.getLogger("pbtyped")


class Connection(asyncio.Protocol):
    """One pbtyped connection on an asyncio transport (server or client side)."""

    def __init__(
        self,
        *,
        registry: Registry,
        limits: Limits,
        root: Referenceable | None,
        send_tracebacks: bool = False,
        on_close: Callable[[Connection], None] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.broker = Broker(
            registry=registry,
            limits=limits,
            root=root,
            make_reference=self._make_reference,
            send_tracebacks=send_tracebacks,
            wakeup=self._wakeup,
        )
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._running: dict[int, asyncio.Future[Any]] = {}
        self._watched: weakref.WeakSet[RemoteReference] = weakref.WeakSet()
        self._callbacks: list[Callable[[Connection], object]] = []
        self._on_close = on_close
        self._flush_scheduled = False
        self._out: list[bytes] = []
        self.handshake: asyncio.Future[None] = self._loop.create_future()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.peer: Any = None
        self._closing_by_us = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.peer = transport.get_extra_info("peername")
        transport.write(self.broker.initiate())

    def data_received(self, data: bytes) -> None:
        broker = self.broker
        try:
            events = broker.receive_data(data)
        except (RemoteProtocolError, FrameTooLarge) as exc:
            log.warning("pbtyped: closing connection from %s: %s", self.peer, exc)
            self._abort(str(exc))
            return
        except Exception:  # a bug of ours: cost only this connection, never the process
            log.exception("pbtyped: internal error, closing connection from %s", self.peer)
            self._abort("internal error")
            return
        for event in events:
            if type(event) is AnswerReceived:
                fut = self._pending.pop(event.question_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(event.value)
            elif type(event) is CallReceived:
                self._dispatch(event)
            elif type(event) is FailureReceived:
                fut = self._pending.pop(event.question_id, None)
                if fut is not None and not fut.done():
                    fut.set_exception(event.error)
            elif type(event) is CancelReceived:
                task = self._running.get(event.question_id)
                if task is not None:
                    task.cancel()
            elif type(event) is HandshakeComplete:
                if not self.handshake.done():
                    self.handshake.set_result(None)
            elif type(event) is PeerAborted:
                log.warning("pbtyped: peer %s closed the connection: %s", self.peer, event.reason)
                self.close()
                return
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed.done():
            return
        try:
            self.broker.connection_lost()
        except PbtypedError:
            pass
        lost = ConnectionLost("connection closed" if exc is None else f"connection lost: {exc}")
        if exc is not None:
            lost.__cause__ = exc
        if not self.handshake.done():
            self.handshake.set_exception(lost)
            self.handshake.exception()  # mark retrieved: nobody may be waiting
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(lost)
        running, self._running = self._running, {}
        for task in running.values():
            task.cancel()
        for ref in list(self._watched):
            for ref_callback in ref.fire_disconnect():
                self._run_callback(ref_callback, ref)
        self._watched = weakref.WeakSet()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._run_callback(callback, self)
        self.closed.set_result(None)
        if self._on_close is not None:
            self._on_close(self)

    # -- calls out -------------------------------------------------------------------------

    async def call(
        self,
        ref: RemoteReference,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> Any:
        """Send a call and await its answer (see RemoteReference.call_remote)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            raise DeadReferenceError("the connection of this reference is closed")
        qid, data = self.broker.send_call(ref, method, args, kwargs)
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._pending[qid] = fut
        transport.write(data)
        try:
            if timeout is None:
                return await fut
            async with asyncio.timeout(timeout):
                return await fut
        except (asyncio.CancelledError, TimeoutError):
            if self._pending.pop(qid, None) is not None:
                self._write(self.broker.send_finish(qid))
            raise

    # -- calls in --------------------------------------------------------------------------

    def _dispatch(self, event: CallReceived) -> None:
        qid = event.question_id
        target = event.target
        try:
            if not isinstance(target, Referenceable):
                raise NoSuchMethod(f"{type(target).__name__} has no remote methods")
            result = target.pb_dispatch(event.method, event.args, event.kwargs)
        except Exception as exc:  # the remote method raised: that is its answer
            self._report(target, event.method, exc)
            self._write_later(self.broker.send_failure(qid, exc))
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._running[qid] = task
            task.add_done_callback(lambda t: self._finished(qid, t, target, event.method))
            return
        self._write_later(self.broker.send_return(qid, result))

    def _finished(self, qid: int, task: asyncio.Future[Any], target: object, method: str) -> None:
        self._running.pop(qid, None)
        if task.cancelled():
            data = self.broker.send_failure(qid, CallCancelled("the caller cancelled the call"))
        elif (exc := task.exception()) is not None:
            self._report(target, method, exc)
            data = self.broker.send_failure(qid, exc)
        else:
            data = self.broker.send_return(qid, task.result())
        self._write(data)

    def _report(self, target: object, method: str, exc: BaseException) -> None:
        if is_expected(exc, self.broker.registry) or isinstance(exc, PbtypedError | Error):
            log.debug("remote_%s raised %r (sent to the caller)", method, exc)
            return
        log.error(
            "unexpected error in %s.remote_%s (the caller receives it as RemoteError)",
            type(target).__name__,
            method,
            exc_info=exc,
        )

    # -- output ----------------------------------------------------------------------------

    def _write_later(self, data: bytes) -> None:
        # Answers produced inside data_received go out in one write at its end.
        if data:
            self._out.append(data)

    def _write(self, data: bytes) -> None:
        pending = self.broker.take_pending()
        if self._out:
            self._out.append(data)
            data = b"".join(self._out)
            self._out.clear()
        if pending:
            data = data + pending
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._write(b"")

    def _wakeup(self) -> None:
        # Called from weakref callbacks (any thread, maybe inside the GC): just schedule.
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._flush)
        except RuntimeError:  # loop closed: the connection is gone anyway
            pass

    # -- references and life ---------------------------------------------------------------

    def _make_reference(self, broker: Broker, export_id: int) -> RemoteReference:
        return RemoteReference(broker, export_id, self)

    def watch(self, ref: RemoteReference) -> None:
        """Remember ``ref`` so its disconnect callbacks run when the line drops."""
        if self.closed.done():
            for callback in ref.fire_disconnect():
                self._run_callback(callback, ref)
        else:
            self._watched.add(ref)

    def notify_on_disconnect(self, callback: Callable[[Connection], object]) -> None:
        """Call ``callback(connection)`` once when this connection is lost."""
        self._callbacks.append(callback)

    def dont_notify_on_disconnect(self, callback: Callable[[Connection], object]) -> None:
        """Remove a callback added with ``notify_on_disconnect``."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def _run_callback(self, callback: Callable[[Any], object], arg: object) -> None:
        try:
            callback(arg)
        except Exception:
            log.exception("pbtyped: disconnect callback %r failed", callback)

    def _abort(self, reason: str) -> None:
        data = b""
        try:
            data = self.broker.abort(reason)
        except PbtypedError:
            pass
        if self._transport is not None:
            if data and not self._transport.is_closing():
                self._transport.write(data)
            self._transport.close()

    def close(self) -> None:
        """Close the connection; pending calls fail with ConnectionLost."""
        if self._transport is not None:
            self._transport.close()

    async def wait_closed(self) -> None:
        """Wait until the connection is fully closed."""
        await asyncio.shield(self.closed)
