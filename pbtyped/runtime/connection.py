"""The asyncio adapter around one Broker: a Protocol that moves bytes and resolves futures.

Each of its jobs has a class of its own: ``Outbox`` (how messages leave), ``Dispatcher`` (the
peer's calls on our objects), ``Flow`` (when to stop reading or writing), ``Deadlines`` (the
one timer) and ``Disconnects`` (what runs when the line drops). The connection feeds the
broker, routes its events, keeps the futures of our own calls and closes the line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal, cast

from .._exceptions import (
    ConnectionLost,
    DeadReferenceError,
    FrameTooLarge,
    PbtypedError,
    PeerNotReading,
    RemoteProtocolError,
)
from ..protocol import messages as m
from ..protocol.answers import AnswerRef
from ..protocol.broker import Broker
from ..protocol.events import (
    AnswerReceived,
    CallReceived,
    CancelReceived,
    Event,
    FailureReceived,
    HandshakeComplete,
    PeerAborted,
    PeerLeaving,
    SendDropped,
    SendReceived,
    StreamCancelled,
    StreamCredit,
    StreamEnded,
    StreamItemsReceived,
)
from ..protocol.objects import Referenceable
from ..protocol.state import ConnectionState
from ..protocol.streams import StreamReader
from .callbacks import Disconnects, run_callbacks
from .deadlines import Deadlines
from .dispatch import Dispatcher, current_connection
from .flow import Flow, Pause
from .logs import LogLimiter
from .options import Options
from .outbox import Outbox
from .promise import Promise
from .reference import RemoteReference
from .slots import ServerSide, address_of
from .streams import IncomingStream, StreamRuntime

__all__ = ["Connection", "current_connection"]

log = logging.getLogger("pbtyped")

_BUDGET = Pause.BUDGET
_STREAM_EVENTS = frozenset({StreamItemsReceived, StreamEnded, StreamCredit, StreamCancelled})
_BACKLOG = Pause.BACKLOG
#: The reason of the GOODBYE a normal close sends.
_CLOSING = "connection closed normally"
#: Seconds between two looks at whether a line whose peer is leaving is idle (a drain is
#: rare: nothing is added to the per-call path for it).
_LEAVE_POLL = 0.02


class Connection(asyncio.Protocol):
    """One pbtyped connection on an asyncio transport (server or client side).

    ``peer`` is the peer's socket address, ``broker`` the protocol state, ``handshake`` a
    future done once the Hellos are exchanged and ``closed`` one done once the line is gone.
    """

    __slots__ = (
        "__weakref__",
        "_calls",
        "_closed",
        "_deadlines",
        "_disconnects",
        "_first_tls",
        "_flow",
        "_greeting",
        "_handshake",
        "_holds",
        "_is_closed",
        "_leaving",
        "_logs",
        "_loop",
        "_lost_reason",
        "_outbox",
        "_pending",
        "_server",
        "_streams",
        "_transport",
        "broker",
        "limits",
        "peer",
    )

    def __init__(self, options: Options, server: ServerSide | None = None) -> None:
        self._loop = loop = asyncio.get_running_loop()
        #: The limits this connection enforces on its peer (its server's, on a server).
        self.limits = limits = options.limits
        self._server = server
        self._logs = server.logs if server is not None else LogLimiter(limits.log_rate_per_minute)
        #: The sans-IO protocol state of this connection (``pbtyped.protocol.Broker``): its
        #: registry, export and import tables, calls in flight.
        self.broker = broker = Broker(
            registry=options.registry,
            limits=limits,
            root=options.root,
            owner=self,
            send_tracebacks=options.send_tracebacks,
        )
        self._transport: asyncio.Transport | None = None
        self._outbox = Outbox(loop, broker)
        self._flow = Flow(server.budget if server is not None else None)
        self._calls = Dispatcher(
            self, broker, self._outbox, self._flow, self._logs, limits.max_calls_in_flight
        )
        prelogin_idle = server.prelogin_idle if server is not None else None
        self._deadlines = Deadlines(loop, limits, broker, self, prelogin_idle)
        # Futures of our calls awaiting their answer, by question id; made by the first call
        # (a server connection seldom calls its client).
        self._pending: dict[int, asyncio.Future[Any]] | None = None
        self._disconnects: Disconnects[Connection] | None = None  # made when first needed
        self._streams: StreamRuntime | None = None  # made with the first stream
        # Why the line closed, as ConnectionLost will say it: the peer's Abort, or ours.
        self._lost_reason: str | None = None
        # How the handshake ended: None while it runs, then True, or the ConnectionLost it
        # failed with. The futures below are made only when asked for (a server never asks
        # for the handshake's; two futures are 300 bytes a connection).
        self._greeting: ConnectionLost | Literal[True] | None = None
        self._handshake: asyncio.Future[None] | None = None
        self._is_closed = False
        self._leaving = False  # the peer's GOODBYE with a grace: we watch for an idle line
        self._closed: asyncio.Future[None] | None = None
        # Tasks that ``closed`` waits for (run_before_closed): made by the first one.
        self._holds: set[asyncio.Task[object]] | None = None
        # Whether what arrived first began as a TLS record does (None: nothing yet): it tells
        # why a line that fails before the handshake did. A bool, not the bytes: no allocation.
        self._first_tls: bool | None = None
        #: The peer's socket address (``("127.0.0.1", 51234)``), once connected; else None.
        self.peer: Any = None

    def __repr__(self) -> str:
        side = "client side to" if self._server is None else "server side from"
        return f"<pbtyped.Connection {side} {_address(self.peer)}, {self._state_text()}>"

    def _state_text(self) -> str:
        if self._is_closed:
            return "closed"
        transport = self._transport
        if transport is None:
            return "not connected"
        if transport.is_closing() or self.broker.state is ConnectionState.CLOSED:
            return "closing"
        return "open" if self._greeting is True else "awaiting the peer's Hello"

    @property
    def logs(self) -> LogLimiter:
        """The rate limiter of the lines this connection's peer can cause to be logged (the
        server's, shared by its connections: ``Limits.log_rate_per_minute``)."""
        return self._logs

    # -- the handshake and the end -----------------------------------------------------------

    @property
    def handshake(self) -> asyncio.Future[None]:
        """Done once the Hellos are exchanged; ConnectionLost if the line drops first."""
        fut = self._handshake
        if fut is None:
            fut = self._handshake = self._loop.create_future()
            self._settle_handshake()
        return fut

    def _greeted(self, outcome: ConnectionLost | Literal[True]) -> None:
        if self._greeting is None:
            self._greeting = outcome
            self._settle_handshake()

    def _settle_handshake(self) -> None:
        fut, outcome = self._handshake, self._greeting
        if fut is None or outcome is None or fut.done():
            return
        if outcome is True:
            fut.set_result(None)
        else:
            fut.set_exception(outcome)
            fut.exception()  # mark retrieved: nobody may be waiting

    @property
    def closed(self) -> asyncio.Future[None]:
        """Done once the line is gone, everything the connection held is released and the
        tasks given to ``run_before_closed`` have ended."""
        fut = self._closed
        if fut is None:
            fut = self._closed = self._loop.create_future()
            self._settle_closed()
        return fut

    def _settle_closed(self) -> None:
        fut = self._closed
        if fut is not None and not fut.done() and self._is_closed and not self._holds:
            fut.set_result(None)

    @property
    def is_closed(self) -> bool:
        """True once the line is gone (``closed`` may still wait for run_before_closed)."""
        return self._is_closed

    @property
    def is_closing(self) -> bool:
        """True once the line is closing or closed: no call can be sent on it any more."""
        transport = self._transport
        return self._is_closed or transport is None or transport.is_closing()

    def run_before_closed(self, work: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
        """Run ``work`` as a task of its own; ``closed``, so ``wait_closed()`` and the
        ``aclose()`` of a Client or Server, is not done before it ends.

        The connection only waits: bound ``work`` yourself (a portal's async logout runs
        under ``Portal(logout_timeout=)``). An exception it ends with is logged, never raised
        into the close.
        """
        task: asyncio.Task[object] = self._loop.create_task(work)
        holds = self._holds
        if holds is None:
            holds = self._holds = set()
        holds.add(task)
        task.add_done_callback(self._held_done)
        return task

    def _held_done(self, task: asyncio.Task[object]) -> None:
        if self._holds is not None:
            self._holds.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("a task run before %r closed failed", self, exc_info=exc)
        self._settle_closed()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not always an asyncio.Transport subclass (uvloop's).
        self._transport = stream = cast(asyncio.Transport, transport)
        self._outbox.transport = self._flow.transport = stream
        if self.peer is None:  # else a PROXY header named the client (runtime/proxied.py)
            self.peer = stream.get_extra_info("peername")
        # Admission happens here, not when asyncio builds the protocol: a TLS handshake that
        # fails never reaches connection_made, so it must never count as a connection.
        refusal = self._server.admit(self) if self._server is not None else None
        if refusal is not None:
            self._logs.warning(
                "refusing connection from %s: %s", self.peer, refusal, key=self.log_key
            )
            self._abort(refusal)
            return
        try:
            stream.write(self.broker.initiate())
        except Exception as exc:  # fail connect() now, not at its timeout
            log.exception("could not start the connection to %s", self.peer)
            failure = ConnectionLost(f"could not start the connection: {exc}")
            failure.__cause__ = exc
            self._greeted(failure)
            stream.abort()
            return
        self._deadlines.start_handshake()

    def data_received(self, data: bytes) -> None:
        # The read path of every call: answers and calls, the two common events, are handled
        # here; the others in _on_event.
        broker = self.broker
        if self._greeting is None and self._first_tls is None:
            self._first_tls = len(data) >= 2 and 0x14 <= data[0] <= 0x17 and data[1] == 3
        try:
            events = broker.receive_data(data)
        except Exception as exc:
            self._refuse(exc)
            return  # the connection is closing
        calls = self._calls
        pending = self._pending
        pipelined = broker.answers is not None
        if pipelined:
            calls.reading = True
        for event in events:
            if type(event) is CallReceived:
                calls.receive(event)
            elif type(event) is AnswerReceived:
                fut = pending.pop(event.question_id, None) if pending else None
                if fut is not None and not fut.done():
                    fut.set_result(event.value)
            elif self._on_event(event):
                return  # the connection is closing
        if pipelined:  # calls that answers given while reading let go: after this read's
            calls.reading = False
            calls.deliver_ready()
        self._outbox.write(b"")  # the answers produced while reading, in one write
        if broker.streams is not None:
            self._start_streams()
        self._deadlines.after_read()
        flow = self._flow
        if self._server is not None and (flow.held or broker.held_bytes):
            self._account()
        if calls.waiting:
            flow.pause_reading(_BACKLOG)

    def _refuse(self, exc: Exception) -> None:
        """What the peer sent made the broker raise ``exc``: close the line (logged, aborted,
        with a hint when it looks like TLS on one side only)."""
        if isinstance(exc, RemoteProtocolError | FrameTooLarge):
            hint = self._tls_mismatch()
            if hint is not None:
                self._lost_reason = f"connection closed: {exc}; {hint}"
            self._logs.warning(
                "closing connection from %s: %s%s",
                self.peer,
                exc,
                f"; {hint}" if hint else "",
                key=self.log_key,
            )
            self._abort(str(exc))
            return
        # A bug of ours: cost only this connection, never the process.
        self._logs.log(
            logging.ERROR,
            "internal error of pbtyped, closing connection from %s",
            self.peer,
            exc_info=exc,
            key=self.log_key,
        )
        self._abort("internal error")

    def _on_event(self, event: Event) -> bool:
        """Handle an event other than a call or an answer; True if the connection closes."""
        if type(event) is FailureReceived:
            fut = self._pending.pop(event.question_id, None) if self._pending else None
            if fut is not None and not fut.done():
                fut.set_exception(event.error)
        elif type(event) is SendReceived:
            self._calls.receive(event)
        elif type(event) is SendDropped:
            self._logs.warning("from %s: %s", self.peer, event.reason, key=self.log_key)
        elif type(event) is CancelReceived:
            self._calls.cancel(event.question_id)
        elif type(event) is HandshakeComplete:
            self._greeted(True)
            self._deadlines.handshake_done()
        elif type(event) in _STREAM_EVENTS:
            self._stream_runtime().on_event(event)
        elif type(event) is PeerAborted:
            reason = event.reason
            # A peer may ABORT to close normally (docs/protocol.md): not a warning.
            self._logs.log(
                logging.INFO,
                "peer %s closed the connection: %s",
                self.peer,
                reason,
                key=self.log_key,
            )
            self._lost_reason = f"connection closed by the peer: {reason}"
            self._shut()
            return True
        elif type(event) is PeerLeaving and event.grace_ms and not self._leaving:
            # A drain is news; a normal close (no grace: nothing more comes) is not logged,
            # as an end of stream is not. One watch per line, however many GOODBYEs come.
            self._logs.log(
                logging.INFO, "peer %s is going away: %s", self.peer, event.reason, key=self.log_key
            )
            self._leaving = True
            self._leave_when_idle()
        return False

    def _leave_when_idle(self) -> None:
        """The peer said GOODBYE with a grace: close our side once no call is under way in
        either direction. The peer waits for that close (docs/protocol.md 3.7), so a call of
        ours that crossed its GOODBYE comes back as GoingAway (it did not run) instead of
        being cut off by the peer's close."""
        if self._is_closed:
            return
        if self._busy:
            self._loop.call_later(_LEAVE_POLL, self._leave_when_idle)
        else:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._is_closed:
            return
        self._deadlines.disarm()
        self._flow.lost()
        try:
            self.broker.connection_lost()
        except PbtypedError:
            pass
        lost = self._lost_error(exc)
        self._greeted(lost)
        pending, self._pending = self._pending, None
        for fut in pending.values() if pending else ():
            if not fut.done():
                fut.set_exception(lost)
        self._calls.stop()
        if self._streams is not None:
            self._streams.lost(lost)
        if self._disconnects is not None:
            self._disconnects.fire(self)
        self._is_closed = True
        self._settle_closed()
        if self._server is not None:
            self._server.closed(self)

    def _lost_error(self, exc: Exception | None) -> ConnectionLost:
        """What pending calls fail with: why we closed, or what the transport said (and the
        likely cause, if the line closed before the handshake)."""
        if self._lost_reason is not None:
            lost = ConnectionLost(self._lost_reason)
        else:
            text = "connection closed" if exc is None else f"connection lost: {exc}"
            hint = self._tls_mismatch()
            lost = ConnectionLost(text if hint is None else f"{text} {hint}")
        if exc is not None:
            lost.__cause__ = exc
        return lost

    def _tls_mismatch(self) -> str | None:
        """Why a line that fails before the peer's Hello likely did: TLS on one side only.

        A TLS server drops a plaintext Hello without a word (asyncio tells its application
        nothing), so a client of ours without TLS sees the line close with nothing received;
        a TLS peer's first bytes are a TLS record (0x14-0x17, then version 3.x).
        """
        transport = self._transport
        if self._greeting is not None or transport is None:
            return None
        if transport.get_extra_info("ssl_object") is not None:
            return None  # our line is TLS already: the peer did answer in TLS
        tls = self._first_tls is True
        if self._server is not None:
            if not tls:
                return None
            return (
                "the client sent a TLS record instead of its Hello: it uses TLS, and this "
                "server was started without ssl= (see pbtyped.cred.server_context)"
            )
        if tls:
            return (
                "before the handshake: the server answered in TLS; "
                "pass ssl=pbtyped.cred.client_context(...) to connect()"
            )
        if self._first_tls is None:
            return (
                "before the handshake, with nothing received: is the server using TLS? "
                "If so, pass ssl=pbtyped.cred.client_context(...) to connect()"
            )
        return None

    def pause_writing(self) -> None:
        # The peer is not reading what we send: stop producing answers for it until it does.
        self._flow.pause_writing()

    def resume_writing(self) -> None:
        self._flow.resume_writing()
        self._loop.call_soon(self._drain)

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
        return await Promise(self, ref, method, args, kwargs, timeout)

    @property
    def writing_paused(self) -> bool:
        """The peer is not reading what we send: new calls wait (``writable``)."""
        return self._flow.writing_paused

    async def writable(self) -> None:
        """Return once the peer reads what we send (at once, unless it stopped)."""
        flow = self._flow
        if flow.writing_paused:
            await flow.writable()  # the peer is not reading: do not buffer without bound

    def start_call(
        self,
        target: RemoteReference | AnswerRef,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        *,
        retain: bool = False,
    ) -> tuple[int, asyncio.Future[Any]]:
        """Send a call now; its question id and the future of its answer.

        ``target`` is a reference, or the answer of a call the peer keeps; with ``retain``
        the peer keeps this one's (promise pipelining, see ``Promise``).
        """
        transport = self._transport
        if transport is None or transport.is_closing():
            raise DeadReferenceError("the connection of this reference is closed")
        broker = self.broker
        if retain or type(target) is AnswerRef:
            qid, data = broker.send_pipelined_call(target, method, args, kwargs, retain=retain)
        else:
            assert isinstance(target, RemoteReference)
            qid, data = broker.send_call(target, method, args, kwargs)
        fut: asyncio.Future[Any] = self._loop.create_future()
        pending = self._pending
        if pending is None:
            pending = self._pending = {}
        pending[qid] = fut
        self._outbox.write_call(data)
        if self.broker.streams is not None:
            self._start_streams()
        if self._deadlines.idle_on:  # most lines have none: no call to make then
            self._deadlines.after_call()
        flow = self._flow
        if _BUDGET in flow.paused:
            flow.budget_resume()  # we await its answer now: it must be read
        return qid, fut

    def give_up(self, qid: int) -> None:
        """We no longer wait for the answer to our call ``qid``: tell the peer to stop."""
        if self._pending and self._pending.pop(qid, None) is not None:
            self._outbox.write(self.broker.send_finish(qid))

    def send(
        self,
        ref: RemoteReference,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
    ) -> None:
        """Send a one-way call (see RemoteReference.send); nothing to await."""
        if self._flow.writing_paused:
            raise PeerNotReading(
                f"{method}() was not sent: the peer does not read what this side sends"
            )
        transport = self._transport
        if transport is None or transport.is_closing():
            raise DeadReferenceError("the connection of this reference is closed")
        self._outbox.write_call(self.broker.send_oneway(ref, method, args, kwargs))
        if self._deadlines.idle_on:
            self._deadlines.after_call()

    # -- what the parts ask of the connection ----------------------------------------------

    def _answered(self) -> None:
        """A call of the peer's ended (and waiting calls started): write the answers, account
        for what is held now, and read again if no call waits."""
        self._outbox.write(b"")
        if self.broker.streams is not None:
            self._start_streams()
        flow = self._flow
        if self._server is not None:
            self._account()
        if not self._calls.waiting:
            flow.resume_reading(_BACKLOG)

    def _account(self) -> None:
        """Tell the server's budget what this connection holds now (``Flow.account``). It is
        read whatever the budget while it is how something held goes on: an answer we await,
        or the items a consumer of a stream the peer writes waits for, as long as it holds at
        most one frame and one window (else the peer could fill every other stream it opened,
        each with a frame as large as ``max_frame_size``, while that consumer waits)."""
        streams = self._streams
        held = self.broker.held_bytes
        limits = self.limits
        goes_on = bool(self._pending) or (
            streams is not None
            and streams.waiting > 0
            and held <= limits.max_frame_size + limits.stream_window
        )
        self._flow.account(held, goes_on)

    def _drain(self) -> None:
        self._calls.start_waiting()
        self._answered()
        if self._streams is not None:
            self._streams.writable()  # stream frames go behind the answers

    @property
    def _busy(self) -> bool:
        """Calls are under way in either direction (the line is not idle)."""
        calls = self._calls
        return bool(
            self._pending or calls.running or calls.waiting or self.broker.pending_questions
        )

    def _deadline_passed(self, reason: str) -> None:
        """A deadline passed (see Deadlines): close the line, saying ``reason``."""
        if self._is_closed:
            return
        self._logs.warning("closing connection from %s: %s", self.peer, reason, key=self.log_key)
        self._abort(reason)

    @property
    def _stalled(self) -> bool:
        """We do not read the peer now, or it does not read us (see Deadlines)."""
        flow = self._flow
        return flow.writing_paused or bool(flow.paused)

    def _ping(self) -> None:
        """Keepalive: ask the peer for a sign of life (see Deadlines). The nonce is our
        clock in milliseconds: a PONG need not be matched, any frame is a sign of life."""
        nonce = int(self._loop.time() * 1000) & m.MAX_NONCE
        self._outbox.write(self.broker.send_ping(nonce))

    # -- the broker's owner hooks (protocol.broker.BrokerOwner) ----------------------------

    def wakeup(self) -> None:
        """Releases wait in the broker: write them soon. Called from weakref callbacks (any
        thread, maybe inside the GC): it only schedules."""
        self._outbox.wakeup()

    def unexported(self, obj: object) -> None:
        """The peer holds ``obj`` no more: its ``pb_detached`` hook runs."""
        if isinstance(obj, Referenceable):
            try:
                obj.pb_detached(self)
            except Exception:
                log.exception("%r.pb_detached failed", obj)

    def make_reference(self, broker: Broker, export_id: int) -> RemoteReference:
        """The proxy for the peer's object ``export_id``."""
        return RemoteReference(broker, export_id, self)

    # -- streams ---------------------------------------------------------------------------

    def _stream_runtime(self) -> StreamRuntime:
        runtime = self._streams
        if runtime is None:
            runtime = self._streams = StreamRuntime(self, self.broker)
        return runtime

    def make_stream(self, broker: Broker, reader: StreamReader) -> IncomingStream[Any]:
        """A stream the peer writes: the async iterator its consumer reads (BrokerOwner)."""
        return self._stream_runtime().make_reader(reader)

    def _start_streams(self) -> None:
        """Drive the producers of the streams the messages just written carry."""
        streams = self.broker.streams
        if streams is not None and (opened := streams.take_opened()):
            self._stream_runtime().start(opened)

    def _stream_released(self) -> None:
        """Items of a stream the peer writes were taken or dropped: the budget learns it (and
        may let this connection be read again)."""
        if self._server is not None and not self._is_closed:
            self._account()

    def _stream_waits(self) -> None:
        """A consumer waits for items of a stream the peer writes: read the peer, whatever
        the budget (see ``_account``)."""
        if _BUDGET in self._flow.paused:
            self._flow.budget_resume()

    def _write_stream(self, data: bytes) -> None:
        """A stream message: after the answers gathered so far (they go first)."""
        if data:
            self._outbox.write(data)

    # -- references and life ---------------------------------------------------------------

    def release(self, ref: RemoteReference) -> None:
        """Release ``ref`` on the peer now (see RemoteReference.release)."""
        self.broker.release(ref)
        self._outbox.write(b"")

    def watch(self, ref: RemoteReference) -> None:
        """Remember ``ref`` so its disconnect callbacks run when the line drops."""
        if self._is_closed:
            run_callbacks(ref.fire_disconnect(), ref)
        else:
            self._notices().watch(ref)

    def notify_on_disconnect(self, callback: Callable[[Connection], object]) -> None:
        """Call ``callback(connection)`` once when this connection is lost."""
        self._notices().add(callback)

    def dont_notify_on_disconnect(self, callback: Callable[[Connection], object]) -> None:
        """Remove a callback added with ``notify_on_disconnect``."""
        if self._disconnects is not None:
            self._disconnects.discard(callback)

    def _notices(self) -> Disconnects[Connection]:
        if self._disconnects is None:
            self._disconnects = Disconnects()
        return self._disconnects

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

        A peer that offers "goodbye" is told first (a GOODBYE with no grace: no answer
        follows). Buffered output gets ``grace`` seconds to drain; a peer that does not read
        it by then is cut off, so closing never waits on a peer.
        """
        if self._transport is not None and not self._is_closed:
            self._outbox.write(self.broker.send_goodbye(_CLOSING, 0.0))
        self._shut(grace)

    def say_goodbye(self, reason: str, grace: float) -> None:
        """Tell the peer we are going away (``Server.drain``): calls it makes from now on fail
        with GoingAway, and those we owe are answered within ``grace`` seconds. The line stays
        open; close it when ``owes_answers`` is False or the grace is over."""
        if not self._is_closed:
            self._outbox.write(self.broker.send_goodbye(reason, grace))

    @property
    def log_key(self) -> str:
        """Whose share of the server's log budget a line about this connection spends: the
        peer's address (``Limits.log_rate_per_peer``). Made when a line is logged, never
        kept."""
        return address_of(self.peer)

    @property
    def owes_answers(self) -> bool:
        """The peer waits for answers to calls of its that we have read."""
        return self.broker.owed_answers > 0

    @property
    def drained(self) -> bool:
        """After ``say_goodbye``: nothing more to wait for before closing. We owe no answer,
        and a peer that was sent the GOODBYE has closed its side: until then a call of its
        that crossed the GOODBYE is read and answered with GoingAway (docs/protocol.md 3.7)."""
        return self._is_closed or (not self.owes_answers and not self.broker.goodbye)

    def _shut(self, grace: float = 2.0) -> None:
        """Close the transport, sending nothing more of our own (see ``close``)."""
        transport = self._transport
        if transport is None or self._is_closed:
            return
        transport.close()
        self._loop.call_later(grace, self._force_close)

    def _force_close(self) -> None:
        if self._transport is not None and not self._is_closed:
            self._transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the connection is fully closed."""
        await asyncio.shield(self.closed)


def _address(peer: Any) -> str:
    """A socket address as people write it: ``127.0.0.1:8000``, ``[::1]:8000``."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return "an unknown address" if peer is None else str(peer)
