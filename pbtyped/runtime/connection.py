"""The asyncio adapter around one Broker: a Protocol that moves bytes and resolves futures."""

from __future__ import annotations

import asyncio
import collections
import contextvars
import enum
import logging
import weakref
from collections.abc import Callable
from typing import Any, cast

from .._exceptions import (
    CallCancelled,
    CallTimeout,
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
from ..protocol.objects import Referenceable, is_awaitable
from ..wire.limits import Limits
from ..wire.registry import Registry
from .callbacks import Callbacks
from .logs import LogLimiter
from .reference import RemoteReference
from .slots import ServerSide

__all__ = ["Connection", "current_connection"]

log = logging.getLogger("pbtyped")

_current: contextvars.ContextVar[Connection] = contextvars.ContextVar("pbtyped_connection")


def current_connection() -> Connection:
    """The connection whose peer made the remote call now running.

    Call it inside a ``remote_*`` method (or code it awaits) to learn who is calling: the
    peer's address (``.peer``), or to close that connection. Raises LookupError elsewhere.
    """
    try:
        return _current.get()
    except LookupError:
        raise LookupError("current_connection() is only known inside a remote call") from None


#: Bytes of messages (answers within one read, calls within one loop turn) gathered before
#: they are written. Small on purpose: the peer starts on the first messages while we produce
#: the rest (measured: 48k -> 84k calls/s with 100 in flight, against 64 KiB), yet far fewer
#: writes than one per message.
_OUT_FLUSH = 1024

#: Shared, always empty: a connection's ``_deferred`` until a call first has to wait.
_NO_CALLS: collections.deque[CallReceived] = collections.deque(maxlen=0)


class _Timer(enum.Enum):
    """Which deadline the connection's one timer stands for."""

    NONE = enum.auto()
    #: The peer's Hello must arrive (Limits.handshake_timeout).
    HANDSHAKE = enum.auto()
    #: A started frame must arrive whole (Limits.frame_timeout).
    FRAME = enum.auto()
    #: An idle line closes (Limits.idle_timeout, Limits.prelogin_idle_timeout).
    IDLE = enum.auto()


_IDLE = _Timer.IDLE
_HANDSHAKE = _Timer.HANDSHAKE


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
        logs: LogLimiter | None = None,
        server: ServerSide | None = None,
    ) -> None:
        # Attributes stay under 30: beyond it CPython stops sharing the keys of instance
        # dicts, and each connection would take 1.3 KiB more (measured with micro.py).
        self._loop = asyncio.get_running_loop()
        self.limits = limits
        self._logs = logs or LogLimiter(limits.log_rate_per_minute)
        self._server = server
        self._timer: asyncio.TimerHandle | None = None
        self._timer_kind = _Timer.NONE
        self._idle_on = limits.idle_timeout is not None or (
            server is not None and server.prelogin_idle is not None
        )
        self._reading_paused = False
        self._writing_paused = False
        self._can_write: asyncio.Event | None = None
        self._last_activity = 0.0
        # Why the line closed, as ConnectionLost will say it: the peer's Abort, or ours.
        self._lost_reason: str | None = None
        self.broker = Broker(
            registry=registry,
            limits=limits,
            root=root,
            make_reference=self._make_reference,
            send_tracebacks=send_tracebacks,
            wakeup=self._wakeup,
            on_unexported=self._unexported,
        )
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._running: dict[int, asyncio.Future[Any]] = {}
        # Calls that must wait (backpressure), and references with disconnect callbacks: both
        # rare, so both are made when first needed (an empty deque alone is ~600 bytes).
        self._deferred: collections.deque[CallReceived] = _NO_CALLS
        self._watched: weakref.WeakSet[RemoteReference] | None = None
        self._callbacks: Callbacks[Connection] | None = None  # made when first needed
        self._on_close = on_close
        self._flush_scheduled = False
        self._out: list[bytes] = []
        self._out_size = 0
        # A call went out at once since data last arrived (or the last burst ended): calls
        # after it in this turn of the loop are gathered and leave together at its end.
        self._burst = False
        self._burst_flush = False  # the end-of-burst write is scheduled
        self._frames_at_arm = 0
        self.handshake: asyncio.Future[None] = self._loop.create_future()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.peer: Any = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not always an asyncio.Transport subclass (uvloop's).
        self._transport = cast(asyncio.Transport, transport)
        transport = self._transport
        self.peer = transport.get_extra_info("peername")
        # Admission happens here, not when asyncio builds the protocol: a TLS handshake that
        # fails never reaches connection_made, so it must never count as a connection.
        refusal = self._server.admit(self) if self._server is not None else None
        if refusal is not None:
            self._logs.warning("pbtyped: refusing connection from %s: %s", self.peer, refusal)
            self._abort(refusal)
            return
        try:
            transport.write(self.broker.initiate())
        except Exception as exc:  # fail connect() now, not at its timeout
            log.exception("pbtyped: could not start the connection to %s", self.peer)
            if not self.handshake.done():
                failure = ConnectionLost(f"could not start the connection: {exc}")
                failure.__cause__ = exc
                self.handshake.set_exception(failure)
            transport.abort()
            return
        self._arm(_Timer.HANDSHAKE, self.limits.handshake_timeout)

    def data_received(self, data: bytes) -> None:
        # The read path of every call, inline on purpose (67 lines, complexity 30: each hop
        # costs here); issue 11 gives its jobs (dispatch, timers, budget) classes of their own.
        self._burst = False  # a new turn of the loop: the next call may go out at once
        broker = self.broker
        try:
            events = broker.receive_data(data)
        except (RemoteProtocolError, FrameTooLarge) as exc:
            self._logs.warning("pbtyped: closing connection from %s: %s", self.peer, exc)
            self._abort(str(exc))
            return
        except Exception as exc:  # a bug of ours: cost only this connection, never the process
            self._logs.log(
                logging.ERROR,
                "pbtyped: internal error, closing connection from %s",
                self.peer,
                exc_info=exc,
            )
            self._abort("internal error")
            return
        max_running = self.limits.max_calls_in_flight
        for event in events:
            if type(event) is AnswerReceived:
                fut = self._pending.pop(event.question_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(event.value)
            elif type(event) is CallReceived:
                # A new call waits while calls already wait, too many run, or the peer is not
                # reading our answers.
                if self._deferred or self._writing_paused or len(self._running) >= max_running:
                    if self._deferred is _NO_CALLS:
                        self._deferred = collections.deque()
                    self._deferred.append(event)  # bounded: reading pauses below
                else:
                    self._dispatch(event)
            elif type(event) is FailureReceived:
                fut = self._pending.pop(event.question_id, None)
                if fut is not None and not fut.done():
                    fut.set_exception(event.error)
            elif type(event) is CancelReceived:
                task = self._running.get(event.question_id)
                if task is not None:
                    task.cancel()
                else:
                    self._cancel_deferred(event.question_id)
            elif type(event) is HandshakeComplete:
                if not self.handshake.done():
                    self.handshake.set_result(None)
                self._disarm()
            elif type(event) is PeerAborted:
                self._logs.log(  # a peer may Abort to close normally: not a warning
                    logging.INFO,
                    "pbtyped: peer %s closed the connection: %s",
                    self.peer,
                    event.reason,
                )
                self._lost_reason = f"connection closed by the peer: {event.reason}"
                self.close()
                return
        self._write(b"")  # the answers produced while reading, in one write
        kind = self._timer_kind
        if kind is _IDLE and not broker.has_partial_frame:
            self._last_activity = self._loop.time()  # the common case, inline: see _watch_timers
        elif kind is not _HANDSHAKE and (
            self._timer is not None or self._idle_on or broker.has_partial_frame
        ):
            self._watch_timers()
        server = self._server
        if server is not None and (server.held or broker.held_bytes):
            self._account()
        if self._deferred:
            self._pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed.done():
            return
        self._disarm()
        if self._can_write is not None:
            self._can_write.set()
        try:
            self.broker.connection_lost()
        except PbtypedError:
            pass
        server = self._server
        if server is not None:
            server.budget.forget(self)
            server.budget.change(-server.held)
            server.held = 0
        if self._lost_reason is not None:
            lost = ConnectionLost(self._lost_reason)
        elif exc is None:
            lost = ConnectionLost("connection closed")
        else:
            lost = ConnectionLost(f"connection lost: {exc}")
        if exc is not None:
            lost.__cause__ = exc
        if not self.handshake.done():
            self.handshake.set_exception(lost)
            self.handshake.exception()  # mark retrieved: nobody may be waiting
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(lost)
        self._deferred.clear()
        running, self._running = self._running, {}
        for task in running.values():
            task.cancel()
        for ref in list(self._watched or ()):
            for ref_callback in ref.fire_disconnect():
                self._run_callback(ref_callback, ref)
        self._watched = None
        callbacks = self._callbacks.take() if self._callbacks is not None else []
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
        """Send a call and await its answer (see RemoteReference.call_remote).

        ``timeout`` covers everything: waiting for a peer that is not reading, and the answer.
        """
        if timeout is not None:
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    return await self.call(ref, method, args, kwargs, None)
            except TimeoutError:
                if not deadline.expired():
                    raise  # not ours: a TimeoutError the call itself ended with
                raise CallTimeout(
                    f"{method}() got no answer within {timeout} s; the peer was told to stop"
                ) from None
        if self._writing_paused:
            await self._writable()  # the peer is not reading: do not buffer without bound
        transport = self._transport
        if transport is None or transport.is_closing():
            raise DeadReferenceError("the connection of this reference is closed")
        qid, data = self.broker.send_call(ref, method, args, kwargs)
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._pending[qid] = fut
        if not self._burst:
            self._burst = True
            self._write(data)  # the first call of a turn goes out at once: no added latency
        else:
            # More calls in this turn: they leave together at its end, a few KiB at a time.
            self._write_later(data)
            if not self._burst_flush:
                self._burst_flush = True
                self._loop.call_soon(self._end_burst)
        if self._timer is None and self._idle_on:
            self._watch_timers()
        if self._server is not None and self._server.paused:
            self._budget_resume()  # we await its answer now: it must be read
        try:
            return await fut
        except asyncio.CancelledError:
            if self._pending.pop(qid, None) is not None:
                self._write(self.broker.send_finish(qid))
            raise

    async def _writable(self) -> None:
        if self._can_write is not None:
            await self._can_write.wait()

    # -- calls in --------------------------------------------------------------------------

    def _dispatch(self, event: CallReceived) -> None:
        qid = event.question_id
        target = event.target
        token = _current.set(self)  # a task made below copies this context: it sees it too
        try:
            if not isinstance(target, Referenceable):
                raise NoSuchMethod(f"{type(target).__name__} has no remote methods")
            result = target.pb_dispatch(event.method, event.args, event.kwargs)
            if is_awaitable(result):
                task = asyncio.ensure_future(result)
                self._running[qid] = task
                task.add_done_callback(lambda t: self._finished(qid, t, target, event.method))
                return
        except Exception as exc:  # the remote method raised: that is its answer
            self._report(target, event.method, exc)
            self._write_later(self.broker.send_failure(qid, exc))
            return
        finally:
            _current.reset(token)
        self._write_later(self.broker.send_return(qid, result))

    def _drain_deferred(self) -> None:
        """Start waiting calls while there is room; read again once none wait."""
        limit = self.limits.max_calls_in_flight
        while (
            self._deferred
            and len(self._running) < limit
            and not self._writing_paused
            and not self.closed.done()
        ):
            self._dispatch(self._deferred.popleft())
        self._write(b"")
        if self._server is not None:
            self._account()
        if self._reading_paused and not self._deferred:
            self._resume_reading()

    def _cancel_deferred(self, qid: int) -> None:
        for event in self._deferred:
            if event.question_id == qid:
                self._deferred.remove(event)
                cancelled = CallCancelled("the caller cancelled the call")
                self._write_later(self.broker.send_failure(qid, cancelled))
                return

    def _finished(self, qid: int, task: asyncio.Future[Any], target: object, method: str) -> None:
        self._running.pop(qid, None)
        if task.cancelled():
            data = self.broker.send_failure(qid, CallCancelled("the caller cancelled the call"))
        elif (exc := task.exception()) is not None:
            self._report(target, method, exc)
            data = self.broker.send_failure(qid, exc)
        else:
            data = self.broker.send_return(qid, task.result())
        self._write_later(data)
        self._drain_deferred()  # starts waiting calls, then writes everything at once

    def _report(self, target: object, method: str, exc: BaseException) -> None:
        if is_expected(exc, self.broker.registry) or isinstance(exc, PbtypedError | Error):
            log.debug("remote_%s raised %r (sent to the caller)", method, exc)
            return
        self._logs.log(
            logging.ERROR,
            "unexpected error in %s.remote_%s (the caller receives it as RemoteError)",
            type(target).__name__,
            method,
            exc_info=exc,
        )

    # -- output ----------------------------------------------------------------------------

    def _write_later(self, data: bytes) -> None:
        # Answers produced inside data_received go out in one write at its end, unless they
        # pile up: then out they go now, so the transport can tell us to stop (pause_writing)
        # before the rest of the batch is answered.
        if data:
            self._out.append(data)
            self._out_size += len(data)
            if self._out_size >= _OUT_FLUSH:
                self._write(b"")

    def _write(self, data: bytes) -> None:
        pending = self.broker.take_pending()
        if self._out:
            self._out.append(data)
            data = b"".join(self._out)
            self._out.clear()
            self._out_size = 0
        if pending:
            data = data + pending
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _end_burst(self) -> None:
        self._burst = self._burst_flush = False
        self._write(b"")

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

    # -- flow control and timers -----------------------------------------------------------

    def pause_writing(self) -> None:
        # The peer is not reading what we send: stop producing answers for it until it does.
        self._writing_paused = True
        if self._can_write is None:
            self._can_write = asyncio.Event()
        self._can_write.clear()
        self._pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._can_write is not None:
            self._can_write.set()
        self._loop.call_soon(self._drain_deferred)

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if (
            self._reading_paused
            and self._transport is not None
            and not self._writing_paused
            and not (self._server is not None and self._server.paused)
            and not self._deferred
        ):
            self._reading_paused = False
            if not self._transport.is_closing():
                self._transport.resume_reading()

    # -- the server-wide budget --------------------------------------------------------------

    def _account(self) -> None:
        """Report what this connection holds to the budget; stop reading while it is over.

        A connection whose answers we await is never paused: the call that waits on it may be
        what holds the budget (reading it is how the budget frees, not a deadlock).
        """
        server = self._server
        assert server is not None
        budget = server.budget
        held = self.broker.held_bytes
        if held != server.held:
            budget.change(held - server.held)
            server.held = held
        if not held:
            if server.paused:
                self._budget_resume()  # it adds nothing now: read it again
        elif budget.used > budget.limit and not server.paused and not self._pending:
            server.paused = True
            budget.wait(self, self._budget_resume)
            self._pause_reading()

    def _budget_resume(self) -> None:
        server = self._server
        if server is not None and server.paused:
            server.paused = False
            server.budget.forget(self)
            self._resume_reading()

    # -- timers ------------------------------------------------------------------------------

    def _arm(self, kind: _Timer, delay: float) -> None:
        self._disarm()
        self._timer_kind = kind
        self._timer = self._loop.call_later(delay, self._expired, kind)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_kind = _Timer.NONE

    def _idle_limit(self) -> tuple[float, str] | None:
        """Seconds of silence after which the line closes now, and the limit that says so."""
        idle = self.limits.idle_timeout
        prelogin = self._server.prelogin_idle if self._server is not None else None
        if prelogin is not None and (idle is None or prelogin < idle):
            broker = self.broker
            if broker.export_count <= 1 and broker.import_count == 0:
                return prelogin, "holding no reference (Limits.prelogin_idle_timeout)"
        if idle is None:
            return None
        return idle, "(Limits.idle_timeout)"

    def _watch_timers(self) -> None:
        # After each read: a half-arrived frame must complete in time; an idle line may close.
        if self.broker.has_partial_frame:
            # Timed from the start of the frame now arriving: a fast peer whose frames
            # straddle reads completes frames, so its clock restarts.
            frames = self.broker.frames_received
            if self._timer_kind is not _Timer.FRAME or frames != self._frames_at_arm:
                self._frames_at_arm = frames
                self._arm(_Timer.FRAME, self.limits.frame_timeout)
        elif self._timer_kind is _Timer.IDLE:
            self._last_activity = self._loop.time()  # the timer checks it when it fires
        elif self._idle_on and (limit := self._idle_limit()) is not None:
            self._last_activity = self._loop.time()
            self._arm(_Timer.IDLE, limit[0])
        elif self._timer is not None:
            self._disarm()

    def _expired(self, kind: _Timer) -> None:
        self._timer = None
        self._timer_kind = _Timer.NONE
        if self.closed.done():
            return
        if kind is _Timer.IDLE:
            limit = self._idle_limit()
            if limit is None:
                return  # only the pre-login limit applied, and the peer now holds something
            idle, which = limit
            busy = self._pending or self._running or self._deferred or self.broker.pending_questions
            remaining = self._last_activity + idle - self._loop.time()
            if busy or remaining > 0:
                self._arm(_Timer.IDLE, remaining if remaining > 0 else idle)
                return
            reason = f"idle for {idle} s {which}"
        elif kind is _Timer.HANDSHAKE:
            reason = f"no handshake within {self.limits.handshake_timeout} s"
        else:
            reason = f"a frame took longer than {self.limits.frame_timeout} s to arrive"
        self._logs.warning("pbtyped: closing connection from %s: %s", self.peer, reason)
        self._abort(reason)

    # -- references and life ---------------------------------------------------------------

    def _unexported(self, obj: object) -> None:
        if isinstance(obj, Referenceable):
            try:
                obj.pb_detached(self)
            except Exception:
                log.exception("pbtyped: %r.pb_detached failed", obj)

    def _make_reference(self, broker: Broker, export_id: int) -> RemoteReference:
        return RemoteReference(broker, export_id, self)

    def release(self, ref: RemoteReference) -> None:
        """Release ``ref`` on the peer now (see RemoteReference.release)."""
        self.broker.release(ref)
        self._write(b"")

    def watch(self, ref: RemoteReference) -> None:
        """Remember ``ref`` so its disconnect callbacks run when the line drops."""
        if self.closed.done():
            for callback in ref.fire_disconnect():
                self._run_callback(callback, ref)
        else:
            if self._watched is None:
                self._watched = weakref.WeakSet()
            self._watched.add(ref)

    def notify_on_disconnect(self, callback: Callable[[Connection], object]) -> None:
        """Call ``callback(connection)`` once when this connection is lost."""
        if self._callbacks is None:
            self._callbacks = Callbacks()
        self._callbacks.add(callback)

    def dont_notify_on_disconnect(self, callback: Callable[[Connection], object]) -> None:
        """Remove a callback added with ``notify_on_disconnect``."""
        if self._callbacks is not None:
            self._callbacks.discard(callback)

    def _run_callback(self, callback: Callable[[Any], object], arg: object) -> None:
        try:
            callback(arg)
        except Exception:
            log.exception("pbtyped: disconnect callback %r failed", callback)

    def _abort(self, reason: str) -> None:
        if self._lost_reason is None:
            self._lost_reason = f"connection closed: {reason}"
        data = b""
        try:
            data = self.broker.abort(reason)
        except PbtypedError:
            pass
        if self._transport is not None:
            if data and not self._transport.is_closing():
                self._transport.write(data)
            self.close()

    def close(self, grace: float = 2.0) -> None:
        """Close the connection; pending calls fail with ConnectionLost.

        Buffered output gets ``grace`` seconds to drain; a peer that does not read it by then
        is cut off, so closing never waits on a peer.
        """
        transport = self._transport
        if transport is None or self.closed.done():
            return
        transport.close()
        self._loop.call_later(grace, self._force_close)

    def _force_close(self) -> None:
        if self._transport is not None and not self.closed.done():
            self._transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the connection is fully closed."""
        await asyncio.shield(self.closed)
