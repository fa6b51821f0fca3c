"""The sans-IO broker: bytes in, events out; calls in, bytes out. No sockets, no event loop.

One ``Broker`` per connection. It owns the question ids of our calls, the answers we owe, the
export table (our objects the peer may call) and the import table (the peer's objects we hold),
with distributed reference counts: an export stays alive while the peer holds a reference to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import cbor2

from .._exceptions import (
    DeadReferenceError,
    DecodeError,
    FrameTooLarge,
    InsecureTypeError,
    LimitExceeded,
    LocalProtocolError,
    NoSuchMethod,
    PbtypedError,
    ProtocolError,
    RemoteProtocolError,
)
from ..wire import tags
from ..wire.codec import Codec
from ..wire.frames import FrameReader
from ..wire.limits import Limits
from ..wire.registry import Registry, registry_of
from ..wire.show import show
from . import messages as m
from .answers import AnswerRef, Answers, Failed, HeldCall, HeldSend, Outcome, dead_target
from .errors import error_info, exception_from_info
from .events import (
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
from .interfaces import FEATURE, NameSets, sendable
from .liveness import GOODBYE, KEEPALIVE, Farewell
from .objects import Referenceable, is_method_name
from .state import ConnectionState, transition
from .streams import (
    DEFAULT_WINDOW,
    StreamReader,
    Streams,
    StreamWriter,
    end_wire,
    parse_cancel,
    parse_credit,
    parse_end,
    parse_items,
)
from .streams import FEATURE as STREAMS
from .tables import ROOT_ID, ExportTable, ImportTable

__all__ = ["ROOT_ID", "Broker", "BrokerOwner", "ImportedReference", "PlainOwner"]

_AWAIT_HELLO = ConnectionState.AWAIT_HELLO
#: The questions of a broker that has asked none: shared, so never written (``send_call``
#: makes a table of its own first).
_NO_QUESTIONS: dict[int, None] = {}
_DEFAULT_LIMITS = Limits()  # frozen: one for every broker given none
#: The answer to a call on a pending answer: the caller's message asks for promise pipelining,
#: which this side does not offer yet. Only that call fails; the caller's registry raises it as
#: LocalProtocolError (its side sent what this one does not take).
_NO_PIPELINING = m.ErrorInfo(
    type_name="pbtyped.ProtocolError",
    message="promise pipelining is not supported by this peer yet",
    registered=True,
)


class ImportedReference:
    """Base of proxies for the peer's objects; the runtime's RemoteReference extends it.

    ``pb_interfaces``: the wire names of the interfaces the peer says its object implements
    (most derived first; empty for an object of no declared interface), or None if the peer
    did not say (it does not offer the ``"interfaces"`` feature).
    """

    __slots__ = ("__weakref__", "pb_broker", "pb_export_id", "pb_interfaces")

    def __init__(self, broker: Broker, export_id: int) -> None:
        #: The broker of the connection this reference was received on (and is valid on).
        self.pb_broker = broker
        #: The id the peer exports its object under on that connection.
        self.pb_export_id = export_id
        #: What the peer says its object implements (see the class's docstring).
        self.pb_interfaces: tuple[str, ...] | None = None


class BrokerOwner(Protocol):
    """What a broker asks of the layer that owns it (the runtime's Connection)."""

    def make_reference(self, broker: Broker, export_id: int) -> ImportedReference:
        """The proxy for an object the peer exports as ``export_id``."""

    def wakeup(self) -> None:
        """Released references wait in ``take_pending()``. Called from any thread, possibly
        from a garbage-collector callback: it may only schedule work."""

    def unexported(self, obj: object) -> None:
        """The peer no longer holds any reference to ``obj`` (released, or the line closed)."""

    def make_stream(self, broker: Broker, reader: StreamReader) -> object:
        """What a stream the peer writes decodes to (the consumer's async iterator)."""


class PlainOwner:
    """The owner of a broker given none: plain ``ImportedReference`` proxies, no wakeups.
    Subclass it to override one hook."""

    __slots__ = ()

    def make_reference(self, broker: Broker, export_id: int) -> ImportedReference:
        """A plain ``ImportedReference``."""
        return ImportedReference(broker, export_id)

    def wakeup(self) -> None:
        """Nothing to schedule: ``take_pending()`` is read when the caller chooses."""

    def unexported(self, obj: object) -> None:
        """Nothing to tell."""

    def make_stream(self, broker: Broker, reader: StreamReader) -> object:
        """The sans-IO reader itself: there is no runtime to consume it."""
        return reader


_PLAIN_OWNER = PlainOwner()


class Broker:
    """One connection's protocol state machine.

    ``owner`` (a ``BrokerOwner``) builds the proxies for the peer's objects, is woken when
    released references wait in ``take_pending()``, and is told when the peer no longer holds
    one of our objects, and makes what a stream the peer writes decodes to (the consumer's
    async iterator). One object rather than three callables: a bound method is 64 bytes
    per connection.
    """

    # One per connection: slots, and containers that stay small or empty on most of them.
    __slots__ = (
        "__weakref__",
        "_answer_bytes",
        "_answers",
        "_codec",
        "_farewell",
        "_frame_size",
        "_frames",
        "_name_sets",
        "_next_question",
        "_owed",
        "_owner",
        "_peer_root_interfaces",
        "_peer_stream_window",
        "_questions",
        "_reader",
        "answers",
        "exports",
        "goodbye",
        "imports",
        "interfaces",
        "keepalive",
        "limits",
        "oneway",
        "peer_max_body_size",
        "peer_max_frame_size",
        "pipelining",
        "registry",
        "send_tracebacks",
        "state",
        "streams",
    )

    def __init__(
        self,
        *,
        registry: Registry,
        limits: Limits | None = None,
        root: Referenceable | None = None,
        owner: BrokerOwner = _PLAIN_OWNER,
        send_tracebacks: bool = False,
    ) -> None:
        self.registry = registry
        self.limits = limits or _DEFAULT_LIMITS
        self.state = ConnectionState.AWAIT_HELLO
        self.send_tracebacks = send_tracebacks
        self.peer_max_frame_size = self.limits.max_frame_size
        self.peer_max_body_size = self.limits.max_frame_size
        self._owner = owner
        self._reader = FrameReader(
            self.limits.max_frame_size,
            self.limits.max_body_size,
            first_frame_size=m.MAX_GREETING_SIZE,
        )
        self._codec = Codec(registry, self.limits, self)
        self._next_question = 1
        # Our calls awaiting an answer: a dict as a set (an empty set is 216 bytes, a dict 64),
        # the shared empty one until our first call (a server seldom calls its client).
        self._questions: dict[int, None] = _NO_QUESTIONS
        # Peer calls we have not answered yet, each with the size of the frame that carried
        # it: what its arguments hold until it is answered (the server-wide budget counts it).
        # One-way calls count in _answer_bytes too, from receipt until ``send_done``.
        self._answers: dict[int, int] = {}
        self._answer_bytes = 0
        self._frame_size = 0  # of the frame being handled
        self.exports = ExportTable(root, self.limits.max_exports)
        self.imports = ImportTable(self.limits.max_imports, self)
        self._owed: list[bytes] | None = None  # answers given by ourselves, to send
        self._frames = 0
        #: Both Hellos list "interfaces": references carry the names of their interfaces.
        self.interfaces = False
        self._peer_root_interfaces: tuple[str, ...] | None = None
        self._name_sets: NameSets | None = None  # made with the first names received
        #: Both Hellos list "keepalive" (PING, PONG) and "goodbye" (GOODBYE).
        self.keepalive = False
        self.goodbye = False
        self._farewell: Farewell | None = None  # made by the first GOODBYE either way
        #: Both Hellos list "oneway": one-way calls travel as SEND messages.
        self.oneway = False
        #: Both Hellos list "pipelining": calls may name answers (``answers.py``).
        self.pipelining = False
        #: The pipelining tables (``answers.py``): None until the first pipelined message.
        self.answers: Answers | None = None
        # Both Hellos list "streams": the peer's window (None: streams are not negotiated).
        self._peer_stream_window: int | None = None
        #: The streams of this connection, made when the first one is sent or received.
        self.streams: Streams | None = None

    # -- connection life -------------------------------------------------------------------

    def initiate(self) -> bytes:
        """Our Hello: send it first, as soon as the transport is up."""
        root = self.exports.get(ROOT_ID)
        hello = m.Hello(
            version=m.PROTOCOL_VERSION,
            max_frame_size=self.limits.max_frame_size,
            max_body_size=min(self.limits.max_body_size, self.limits.max_frame_size),
            features=m.FEATURES,
            root_interfaces=None if root is None else tuple(sendable(type(root))),
            stream_window=self.limits.stream_window,
        )
        return self._codec.encode(m.hello_wire(hello))

    def abort(self, reason: str) -> bytes:
        """An Abort message to send before closing; the connection is closed from here on."""
        data = b""
        if self.state is not ConnectionState.CLOSED:
            try:
                data = self._codec.encode(m.abort_wire(reason))
            except ProtocolError:
                data = b""
        self.connection_lost()
        return data

    def connection_lost(self) -> list[int]:
        """The line is gone: drop every table and return the question ids that were pending."""
        self.state = transition(self.state, ConnectionState.CLOSED)
        pending = sorted(self._questions)
        self._questions = _NO_QUESTIONS
        self._answers.clear()
        self._answer_bytes = 0
        self.answers = None
        gone = self.exports.clear()
        self.imports.clear()
        if self.streams is not None:
            self.streams.clear()
        self._owed = None
        for obj in gone:
            self._owner.unexported(obj)
        return pending

    @property
    def is_open(self) -> bool:
        """True while calls can be sent."""
        return self.state is ConnectionState.OPEN

    @property
    def export_count(self) -> int:
        """Objects the peer currently holds references to (the root included)."""
        return len(self.exports)

    @property
    def import_count(self) -> int:
        """The peer's objects we currently hold live references to."""
        return len(self.imports)

    @property
    def frames_received(self) -> int:
        """Frames received whole so far, PING and PONG not counted: keepalive traffic is not
        activity (a peer answering pings does not keep an idle connection open)."""
        return self._frames

    @property
    def has_partial_frame(self) -> bool:
        """True while part of a frame has arrived but not all of it."""
        return self._reader.buffered > 0

    @property
    def held_bytes(self) -> int:
        """Bytes this connection holds for the peer: a partial frame, the frames of the
        peer's calls not yet answered and one-way calls not yet done (their arguments live
        until then), and those of stream items not yet taken by their consumers."""
        streams = self.streams
        held = self._reader.buffered + self._answer_bytes
        return held if streams is None else held + streams.held

    @property
    def kept_answers(self) -> int:
        """Answers the peer asked this side to keep (pipelining), known or not yet."""
        return 0 if self.answers is None else self.answers.retained

    @property
    def waiting_calls(self) -> int:
        """Calls of the peer waiting for answers they name (pipelining)."""
        return 0 if self.answers is None else self.answers.waiting

    @property
    def pending_questions(self) -> int:
        """Our calls still waiting for an answer."""
        return len(self._questions)

    @property
    def owed_answers(self) -> int:
        """The peer's calls we have read and not answered yet."""
        return len(self._answers)

    @property
    def leaving(self) -> bool:
        """We said GOODBYE (``send_goodbye``): the peer's later calls fail with GoingAway."""
        return self._farewell is not None and self._farewell.ours is not None

    @property
    def peer_leaving(self) -> str | None:
        """The reason of the peer's GOODBYE, or None if it sent none."""
        return None if self._farewell is None else self._farewell.theirs

    def release(self, ref: ImportedReference) -> None:
        """Release ``ref`` now instead of when it is garbage collected (explicit disposal).

        The Release goes out with the next ``take_pending()``; calls through ``ref`` raise
        DeadReferenceError from here on. Releasing twice is harmless.
        """
        if ref.pb_broker is self:
            self.imports.release(ref)

    def new_reference(self, export_id: int) -> ImportedReference:
        """The proxy for the peer's object ``export_id`` (the import table's maker)."""
        return self._owner.make_reference(self, export_id)

    def wakeup(self) -> None:
        """Released references wait in ``take_pending()`` (the import table's alarm)."""
        self._owner.wakeup()

    def use_registry(self, registry: Registry) -> None:
        """Admit what ``registry`` holds from now on: one that holds at least as much as the
        current one (``Registry.joined``), for the generated modules this connection uses."""
        self.registry = registry
        self._codec.use_registry(registry)

    def bring_registry(self, cls: type[Any]) -> None:
        """Admit what the generated module of the stub or skeleton class ``cls`` declares.

        The registry becomes a layer over the one we had (``Registry.joined``), made only
        when the module declares what that one lacks: no registry a user passed is changed.
        ValueError when the two register one wire name or one class differently.
        """
        module_registry = registry_of(cls)
        if module_registry is not None:
            registry = self.registry.joined(module_registry)
            if registry is not self.registry:
                self.use_registry(registry)

    def root_reference(self) -> ImportedReference:
        """The proxy for the peer's root object (export id 0), with the interfaces the peer's
        Hello named for it."""
        return self.imports.receive(ROOT_ID, self._peer_root_interfaces)

    # -- outbound --------------------------------------------------------------------------

    def send_call(
        self,
        target: ImportedReference,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
    ) -> tuple[int, bytes]:
        """Encode a call on ``target``; returns its question id and the bytes to send.

        Raises DeadReferenceError if the connection is not open, InsecureTypeError or
        FrameTooLarge if the arguments cannot be sent (nothing is sent, nothing is pending).
        """
        self._check_call(target, method)
        qid = self._next_question
        head = m.call_head(qid, target.pb_export_id, method, bool(kwargs))
        data = self._encode_after(head, (list(args), kwargs) if kwargs else (list(args),))
        self._next_question = qid + 1
        self._ask(qid)
        return qid, data

    def send_oneway(
        self,
        target: ImportedReference,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
    ) -> bytes:
        """Encode a one-way call on ``target``: the bytes to send; no answer will come.

        Raises as ``send_call`` does. A peer that does not offer "oneway" gets an ordinary
        CALL instead, whose answer nobody awaits: it is dropped when it arrives (so a peer
        of before one-way calls still runs them).
        """
        if not self.oneway:
            return self.send_call(target, method, args, kwargs)[1]
        self._check_call(target, method)
        return self._encode_tracked(m.send_wire(target.pb_export_id, method, list(args), kwargs))

    def send_done(self, size: int) -> None:
        """The peer's one-way call of ``size`` bytes (``SendReceived.size``) has ended: its
        arguments are no longer held."""
        if self.state is ConnectionState.OPEN:  # else the close forgot every count
            self._answer_bytes -= size

    def _ask(self, qid: int) -> None:
        """Our call ``qid`` waits for its answer."""
        if self._questions is _NO_QUESTIONS:
            self._questions = {}  # our own: the shared empty one is never written
        self._questions[qid] = None

    def _check_call(self, target: ImportedReference | None, method: str) -> None:
        """Raise unless ``method`` may be called on ``target`` (None: on an answer) now (see
        ``send_call``)."""
        if self.state is not ConnectionState.OPEN:
            if self.state is ConnectionState.AWAIT_HELLO:
                raise LocalProtocolError("the handshake is not complete yet: await it first")
            raise DeadReferenceError("the connection of this reference is closed")
        if not is_method_name(method):
            raise NoSuchMethod(f"{method[:60]!r} can never name a remote method")
        if self._farewell is not None and self._farewell.theirs is not None:
            raise self._farewell.unsent()
        if target is None:
            return
        if target.pb_broker is not self:
            raise LocalProtocolError("reference used with a broker it does not belong to")
        if not self.imports.holds(target):
            raise DeadReferenceError("this reference was released")

    def send_pipelined_call(
        self,
        target: ImportedReference | AnswerRef,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        *,
        retain: bool,
    ) -> tuple[int, bytes]:
        """Like ``send_call``, for a call that needs promise pipelining: on ``target``, the
        answer of one of our calls the peer keeps (an ``AnswerRef``), or with ``retain``: the
        peer keeps this call's answer, which later calls may name (as their target, or as an
        argument: an ``AnswerRef``), until the answer arrives (then we send FINISH).

        Raises LocalProtocolError if the peer does not offer pipelining or does not keep the
        answer named; otherwise as ``send_call``.
        """
        if not self.pipelining:
            self._check_call(None, method)
            raise LocalProtocolError("the peer does not offer promise pipelining")
        pipe = self._pipe()
        wire_target: int | m.AnswerTarget
        if isinstance(target, AnswerRef):
            self._check_call(None, method)
            if target.question_id not in pipe.asked:
                raise LocalProtocolError(f"answer {target.question_id} is not kept by the peer")
            wire_target = m.AnswerTarget(question_id=target.question_id, path=target.path)
        else:
            self._check_call(target, method)
            wire_target = target.pb_export_id
        qid = self._next_question
        options = _RETAIN if retain else {}
        data = self._encode_tracked(
            m.pipelined_call_wire(qid, wire_target, method, list(args), kwargs, options)
        )
        self._next_question = qid + 1
        self._ask(qid)
        if retain:
            pipe.asked.add(qid)
        return qid, data

    def ready_calls(self) -> Iterator[CallReceived | SendReceived | SendDropped]:
        """Calls of the peer that answers made ready (they waited for them), in the order to
        deliver them, as if they had just arrived: iterate after each ``send_return`` or
        ``send_failure``, which may make some ready, but only once every event of the last
        ``receive_data`` is handled (calls read with them arrived before them, and start
        before them on their target: E-order). Answering one may make more ready: they
        come in the same iteration (an iteration started meanwhile yields nothing, so
        delivering a chain never nests). One-way calls that waited behind calls on their
        object come in their place too, or as a ``SendDropped`` if it was released."""
        pipe = self.answers
        if pipe is None or pipe.draining:
            return
        pipe.draining = True
        try:
            while pipe.ready:
                yield pipe.ready.popleft()
        finally:
            pipe.draining = False

    def _pipe(self) -> Answers:
        pipe = self.answers
        if pipe is None:
            pipe = self.answers = Answers(self.limits, self.exports.get)
        return pipe

    def send_return(self, question_id: int, value: Any) -> bytes:
        """Answer the peer's call. If the value cannot be sent, a Fail says why instead."""
        if not self._answer_done(question_id):
            return b""
        try:
            data = self._encode_after(m.return_head(question_id), (value,))
            if self.answers is not None:
                self._settle(question_id, value)
            return data
        except FrameTooLarge as exc:  # the caller's limit: the error that names a limit
            problem: PbtypedError = LimitExceeded(
                f"the result could not be sent: {exc} (the calling side's "
                "Limits.max_frame_size and max_body_size bound it)"
            )
        except (InsecureTypeError, LimitExceeded, DeadReferenceError) as exc:
            problem = type(exc)(f"the result could not be sent: {exc}")
        info = error_info(problem, self.registry, send_traceback=False)
        return self._failed(question_id, info)

    def send_failure(self, question_id: int, exc: BaseException) -> bytes:
        """Answer the peer's call with an error (traceback text only if opted in)."""
        if not self._answer_done(question_id):
            return b""
        info = error_info(exc, self.registry, send_traceback=self.send_tracebacks)
        return self._failed(question_id, info)

    def _failed(self, question_id: int, info: m.ErrorInfo) -> bytes:
        """The Fail answering ``question_id`` (owed no longer), kept if the peer asked."""
        if self.answers is not None:
            self._settle(question_id, Failed(info))
        return self._fail_frame(question_id, info)

    def _settle(self, question_id: int, outcome: Any) -> None:
        """Our answer to ``question_id`` is known: keep it if the peer asked, and let the
        calls that waited for it go (to ``ready_calls``), or fail them (the error map flows
        down the chain)."""
        pipe = self.answers
        if pipe is None or question_id not in pipe.pending:
            return
        failed: list[tuple[int, BaseException | m.ErrorInfo]] = []
        for held, result in pipe.resolve(question_id, outcome):
            if isinstance(result, CallReceived | SendReceived):
                pipe.ready.append(result)
            elif isinstance(held, HeldSend):  # its object was released while it waited
                self.send_done(held.send.size)
                pipe.ready.append(_dropped(held.send.method, _no_object(held.export_id)))
            elif result is not None:
                failed.append((held.question_id, result))
                if held.streams:  # it never runs: nobody will read them
                    assert self.streams is not None
                    self._owe(b"".join(map(self.streams.cancel_frame, held.streams)))
        # Failing a call settles its answer too, which lets go the calls that waited for it:
        # they were behind every call let go above (in its queue), so they come after them.
        for qid, failure in failed:
            self._fail_owed(qid, failure)

    def _fail_frame(self, question_id: int, info: m.ErrorInfo) -> bytes:
        """A Fail that fits the peer's limits, however small (see ``_error_frame``)."""
        return self._error_frame(lambda error: m.fail_wire(question_id, error), info)

    def _error_frame(self, wire: Callable[[m.ErrorInfo], list[Any]], info: m.ErrorInfo) -> bytes:
        """The message ``wire(info)`` (a FAIL, a STREAM_END) fitted to the peer's limits,
        however small: too big, it goes without its traceback and with its message cut, then
        with no message, and at last (a type name too long for the peer) as
        ``pbtyped.LimitExceeded`` with no message: at most 60 bytes, within the 64 every peer
        admits."""
        room = min(self.peer_max_frame_size, self.peer_max_body_size) + 8
        data = self._codec.encode(wire(info))
        if len(data) <= room:
            return data
        name, registered = info.type_name, info.registered
        cut = info.message[:200] + " [cut: too long for the peer's limit]"
        for shorter in (
            m.ErrorInfo(type_name=name, message=cut, registered=registered),
            m.ErrorInfo(type_name=name, message="", registered=registered),
            m.ErrorInfo(type_name="pbtyped.LimitExceeded", message="", registered=True),
        ):
            data = self._codec.encode(wire(shorter))
            if len(data) <= room:
                break
        return data

    def send_finish(self, question_id: int) -> bytes:
        """Tell the peer we no longer want the answer to our call (cancellation).

        The question stays reserved until the peer's answer arrives, so ids are never reused
        while a late answer could still come.
        """
        if self.state is not ConnectionState.OPEN:
            return b""
        pipe = self.answers
        if pipe is not None and question_id in pipe.asked:
            pipe.asked.discard(question_id)  # a kept answer: finished even once answered
        elif question_id not in self._questions:
            return b""
        return self._codec.encode(m.finish_wire(question_id))

    def send_ping(self, nonce: int) -> bytes:
        """A Ping, if both Hellos list "keepalive" and the connection is open; else b""."""
        if not self.keepalive or self.state is not ConnectionState.OPEN:
            return b""
        return self._codec.encode(m.ping_wire(nonce))

    def send_goodbye(self, reason: str, grace: float) -> bytes:
        """Say we are going away: every call of the peer read from now on fails with
        GoingAway (it does not run). Returns the GOODBYE to send (b"" if the peer's Hello did
        not list "goodbye", the connection is not open, or we said it already): it promises
        the peer an answer to each call we owe within ``grace`` seconds."""
        farewell = self._farewell
        if farewell is None:
            farewell = self._farewell = Farewell()
        if farewell.ours is not None or self.state is not ConnectionState.OPEN:
            farewell.ours = farewell.ours or reason
            return b""
        farewell.ours = reason
        if not self.goodbye:
            return b""
        # The answers already sent precede the GOODBYE on the line: the calls it speaks for
        # are those not answered yet, and each CALL read after it is refused.
        last = max(self._answers, default=0)
        grace_ms = min(max(0, round(grace * 1000)), m.MAX_ID)
        return self._codec.encode(m.goodbye_wire(reason, grace_ms, last))

    def take_pending(self) -> bytes:
        """Bytes the broker owes the peer: answers it gave by itself while receiving, and
        Release messages for references dropped or released since the last call."""
        out = self._owed
        if out is None:
            if not self.imports.owes_releases():
                return b""
            out = []
        self._owed = None
        released = self.imports.take_released()
        if self.state is ConnectionState.OPEN:
            out.extend(self._codec.encode(m.release_wire(i, n)) for i, n in released)
        return b"".join(out)

    def _answer_done(self, question_id: int) -> bool:
        answers = self._answers
        size = answers.pop(question_id, None)
        if size is None:
            return False  # connection closed meanwhile, or already answered
        if not answers:
            answers.clear()  # an emptied dict keeps its table (160 bytes); clear() frees it
        self._answer_bytes -= size
        return self.state is ConnectionState.OPEN

    def _encode_tracked(self, message: list[Any]) -> bytes:
        """Encode, rolling back export-table changes if the message cannot be sent."""
        return self._encode_after(b"", (message,))

    def _encode_after(self, head: bytes, items: tuple[Any, ...]) -> bytes:
        """``_encode_tracked`` for a message written in parts (``Codec.encode_after``)."""
        self.exports.begin()
        try:
            data = self._codec.encode_after(head, items)
            size = len(data) - 8
            if size > self.peer_max_frame_size:
                raise FrameTooLarge(
                    f"message of {size} bytes exceeds the peer's limit of "
                    f"{self.peer_max_frame_size} bytes; nothing was sent"
                )
            # The body is part of the frame: read its length only when the frame is over.
            if size > self.peer_max_body_size:
                body_len = int.from_bytes(data[:4], "big")
                if body_len > self.peer_max_body_size:
                    raise FrameTooLarge(
                        f"message body of {body_len} bytes exceeds the peer's limit of "
                        f"{self.peer_max_body_size} bytes; nothing was sent (large bytes "
                        "values travel outside the body)"
                    )
        except BaseException:
            self.exports.rollback()
            if self.streams is not None:
                self.streams.rollback()
            raise
        self.exports.commit()
        if self.streams is not None:
            self.streams.commit()
        return data

    # -- the codec's reference hooks -------------------------------------------------------

    def encode_reference(self, obj: Any) -> cbor2.CBORTag | None:
        """Tag a reference-like value for the wire (export it if it is a local object)."""
        holder = getattr(obj, "pb_reference", None)
        if holder is not None and not isinstance(obj, ImportedReference | Referenceable):
            obj = holder  # a typed stub: send what it stands for
        if isinstance(obj, ImportedReference):
            if obj.pb_broker is not self:
                raise InsecureTypeError(
                    "a RemoteReference is valid only on the connection it was received on; "
                    "it cannot be passed to another peer"
                )
            if not self.imports.holds(obj):
                raise DeadReferenceError("this reference was already released")
            return cbor2.CBORTag(tags.RECEIVER_REF, obj.pb_export_id)
        if type(obj) is AnswerRef:
            pipe = self.answers
            if pipe is None or obj.question_id not in pipe.asked:
                raise InsecureTypeError(f"answer {obj.question_id} is not kept by the peer")
            return cbor2.CBORTag(tags.ANSWER_REF, [obj.question_id, list(obj.path)])
        if isinstance(obj, Referenceable):
            export_id, named = self.exports.send(obj)
            if named:
                # A skeleton brings its module's registry the first time it is sent (as a
                # served root does): the types its methods take and return are admitted from
                # the next message on (this one's encoders are already chosen).
                self.bring_registry(type(obj))
            if named and self.interfaces:
                return cbor2.CBORTag(tags.SENDER_REF, [export_id, sendable(type(obj))])
            return cbor2.CBORTag(tags.SENDER_REF, export_id)
        if hasattr(type(obj), "__anext__"):  # an async iterator: it travels as a stream
            return cbor2.CBORTag(tags.STREAM, self._use_streams().open_writer(obj))
        return None

    def _use_streams(self) -> Streams:
        """The stream table, made on first use; InsecureTypeError if the peer takes none."""
        streams = self.streams
        if streams is None:
            window = self._peer_stream_window
            if window is None:
                raise InsecureTypeError(
                    "an async iterator cannot be sent: the peer does not take streams "
                    '(its Hello does not list "streams")'
                )
            limits = self.limits
            streams = self.streams = Streams(
                encode=self._encode_tracked,
                window=limits.stream_window,
                peer_window=window,
                frame_size=limits.stream_frame_size,
                max_streams=limits.max_streams,
            )
        return streams

    def end_stream(self, writer: StreamWriter, error: BaseException | None) -> bytes:
        """The STREAM_END of a stream we write, once (b"" if it went already): ``error`` is
        what its producer raised, sent as an error map (6) fitted to the peer's limits as a
        FAIL is (6.6), or None for a normal end."""
        streams = self.streams
        if streams is None or not streams.end(writer):
            return b""
        stream_id = writer.stream_id
        if error is None:
            return self._codec.encode(end_wire(stream_id, None))
        info = error_info(error, self.registry, send_traceback=self.send_tracebacks)
        return self._error_frame(lambda shorter: end_wire(stream_id, m.error_wire(shorter)), info)

    def decode_stream(self, stream_id: Any) -> object:
        """A STREAM tag: record the stream we read and return its handle, made by
        the owner's ``make_stream(broker, reader)``. DecodeError if streams were not negotiated,
        LimitExceeded beyond ``Limits.max_streams``; RemoteProtocolError for a reused id
        (kept until the frame is decoded: see ``receive_data``)."""
        try:
            reader = self._use_streams().open_reader(stream_id)
        except InsecureTypeError:
            raise DecodeError("a stream arrived, but streams were not negotiated") from None
        except RemoteProtocolError as exc:  # Streams.violation keeps it
            raise DecodeError(str(exc)) from None
        return self._owner.make_stream(self, reader)

    def decode_sender_ref(self, content: Any) -> ImportedReference:
        """The proxy for the peer's object (one live proxy per id): ``content`` is its export
        id, or ``[export id, [interface name, ...]]`` once "interfaces" is negotiated."""
        if type(content) is int and 0 <= content <= m.MAX_ID:
            root = self._peer_root_interfaces if content == ROOT_ID else None
            return self.imports.receive(content, root)
        if not (self.interfaces and type(content) is list and len(content) == 2):
            raise DecodeError(f"malformed reference id {show(content)}")
        export_id, names = content
        if type(export_id) is not int or not 0 <= export_id <= m.MAX_ID:
            raise DecodeError(f"malformed reference id {show(export_id)}")
        sets = self._name_sets
        if sets is None:
            sets = self._name_sets = NameSets()
        return self.imports.receive(export_id, sets.intern(names))

    def decode_receiver_ref(self, export_id: Any) -> object:
        """Our own object coming home: the original, if we gave it on this connection."""
        obj = self.exports.get(export_id) if type(export_id) is int else None
        if obj is None:
            raise DecodeError(
                f"reference #{show(export_id, 20)} was never given on this connection or was "
                "released"
            )
        return obj

    def decode_answer_ref(self, content: Any) -> AnswerRef:
        """The placeholder for ``ANSWER_REF([question id, path])`` in a call's arguments:
        the call that carries it is delivered with the value in its place."""
        if not self.pipelining:
            raise DecodeError(f"CBOR tag {tags.ANSWER_REF} is not allowed")
        path = None
        if type(content) is list and len(content) == 2:
            path = m.parse_path(content[1])
        if path is None or type(content[0]) is not int or not 0 <= content[0] <= m.MAX_ID:
            raise DecodeError(f"malformed answer reference {show(content, 60)}")
        ref = AnswerRef(content[0], path)
        self._pipe().frame_refs.append(ref)
        return ref

    # -- inbound ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer; return what happened.

        Raises RemoteProtocolError (a malformed frame or message, a protocol violation) or
        FrameTooLarge (a frame over our limits): the caller then sends ``abort(...)`` and
        closes the connection. Events of earlier frames in the same ``data`` are lost then.
        """
        if self.state is ConnectionState.CLOSED:
            return []
        events: list[Event] = []
        for body, attachments in self._reader.frames(data):
            self._frames += 1
            if self.state is _AWAIT_HELLO:
                # Only the first frame can get here: it is a Hello, an Abort, or the end.
                greeted = self._on_greeting(m.decode_greeting(body, attachments))
                events.append(greeted)
                if type(greeted) is PeerAborted:
                    break  # the peer is leaving: nothing after its Abort is decoded
                continue
            try:
                raw, problem = self._codec.decode(body, attachments)
            except DecodeError as exc:
                raise RemoteProtocolError(str(exc)) from None
            self._frame_size = len(body) + len(attachments)
            kind = m.kind_of(raw)
            if self.answers is not None and kind != _CALL:  # a CALL takes its references
                problem = self.answers.stray_refs(problem)
            event = _ON_MESSAGE[kind](self, raw, problem)
            if self.streams is not None:
                self._settle_streams(event)
            if event is not None:
                events.append(event)
        return events

    def _settle_streams(self, event: Event | None) -> None:
        """After a message: close on a stream rule it broke; cancel the streams it opened
        unless its call or value was taken (3.6: a STREAM tag in a refused message)."""
        streams = self.streams
        assert streams is not None
        if streams.violation is not None:
            raise streams.violation
        if not streams.frame_readers:
            return
        if type(event) in _DELIVERS_VALUES:
            streams.frame_readers.clear()
        else:
            self._owe(streams.refuse_frame())

    def _on_greeting(self, raw: Any) -> Event:
        """The peer's first message: the handshake completes, or the peer leaves."""
        kind = m.kind_of(raw)
        if kind == m.Kind.ABORT:
            reason = m.parse_abort(raw)
            self.state = transition(self.state, ConnectionState.CLOSED)
            return PeerAborted(reason=reason)
        if kind != m.Kind.HELLO:
            m.PARSERS[kind](raw)  # a malformed message is named as such
            raise RemoteProtocolError(f"expected Hello first, got {m.Kind(kind).name.title()}")
        hello = m.parse_hello(raw)
        if hello.version != m.PROTOCOL_VERSION:
            raise RemoteProtocolError(
                f"peer speaks protocol version {hello.version}; "
                f"this side speaks {m.PROTOCOL_VERSION}"
            )
        self.peer_max_frame_size = min(hello.max_frame_size, 0xFFFF_FFFF)
        body = hello.max_body_size
        self.peer_max_body_size = self.peer_max_frame_size if body is None else body
        self._codec.peer_takes_columns = "columns" in hello.features
        self.pipelining = _PIPELINING in hello.features and _PIPELINING in m.FEATURES
        if STREAMS in hello.features:
            self._peer_stream_window = hello.stream_window or DEFAULT_WINDOW
        if FEATURE in hello.features:
            self.interfaces = True
            self._peer_root_interfaces = hello.root_interfaces
        self.keepalive = KEEPALIVE in hello.features
        self.goodbye = GOODBYE in hello.features
        self.oneway = "oneway" in hello.features and "oneway" in m.FEATURES
        self.state = transition(self.state, ConnectionState.OPEN)
        return HandshakeComplete()

    # One method per message kind after the handshake (``_ON_MESSAGE``); each parses its
    # message with the kind's parser and says what happened. ``problem`` is the decoder's
    # refusal of a value inside the message: it fails the call or answer that carries it.

    def _on_call(self, raw: list[Any], problem: str | None) -> Event | None:
        qid, export_id, method, args, kwargs, options = m.parse_call(raw)
        if self._farewell is not None and self._farewell.ours is not None:
            # We said GOODBYE: no call read from now on runs, whatever it names (3.7).
            if self.answers is not None:
                self.answers.take_frame_refs()
            self._refuse_call(qid, self._farewell.refused())
            return None
        if options is not None or type(export_id) is not int or self.answers is not None:
            return self._on_pipelined_call(qid, export_id, method, args, kwargs, options, problem)
        failure: BaseException | m.ErrorInfo
        if (target := self.exports.get(export_id)) is None:
            failure = dead_target(export_id)
        elif problem is not None:
            failure = self._codec.problem_error(f"arguments refused: {problem}")
        else:
            self._owe_answer(qid)
            return CallReceived(
                question_id=qid, target=target, method=method, args=args, kwargs=kwargs
            )
        self._refuse_call(qid, failure)
        return None

    def _on_send(self, raw: list[Any], problem: str | None) -> Event | None:
        if not self.oneway:  # the peer may not send it: as version 1 would, close
            raise RemoteProtocolError(f"unknown message kind {raw[0]}")
        export_id, method, args, kwargs = m.parse_send(raw)
        if type(export_id) is not int:
            why = "a one-way call cannot be addressed to an answer"
        elif (target := self.exports.get(export_id)) is None:
            why = _no_object(export_id)
        elif problem is not None:
            why = f"arguments refused: {problem}"
        else:
            size = self._frame_size
            send = SendReceived(target=target, method=method, args=args, kwargs=kwargs, size=size)
            # It goes after the calls on its object that wait for answers (E-order, 3.8).
            held = send if self.answers is None else self.answers.receive_send(export_id, send)
            if not isinstance(held, str):
                self._answer_bytes += size  # until ``send_done``, held or not
                return held
            why = held
        return _dropped(method, why)

    def _on_pipelined_call(
        self,
        qid: int,
        target: int | m.AnswerTarget,
        method: str,
        args: list[Any],
        kwargs: dict[str, Any],
        options: dict[str, Any] | None,
        problem: str | None,
    ) -> Event | None:
        """A call with options, on an answer, or on a connection that has pipelined: the
        answers table says whether it runs now, waits, or fails (docs/protocol.md 3.6)."""
        pipe = self.answers
        refs = pipe.take_frame_refs() if pipe is not None else []
        self._owe_answer(qid)
        outcome: Outcome
        held: HeldCall | None = None
        if not self.pipelining and type(target) is not int:
            outcome = _NO_PIPELINING
        elif options is not None and (why := _options_problem(options, self)) is not None:
            outcome = ProtocolError(why)
        else:
            pipe = self._pipe()
            if problem is None:
                held = HeldCall(qid, target, method, args, kwargs)
                outcome = pipe.receive(held, retain=bool(options), refs=refs)
            else:  # refused arguments: it fails, and its failure is kept if asked
                outcome = self._codec.problem_error(f"arguments refused: {problem}")
                if options:
                    outcome = pipe.keep(qid) or outcome
        if isinstance(outcome, CallReceived):
            return outcome
        if outcome is not None:
            self._fail_owed(qid, outcome)
        elif held is not None and self.streams is not None and self.streams.frame_readers:
            # It waits, not refused: the streams it carries wait with it (3.10).
            held.streams, self.streams.frame_readers = tuple(self.streams.frame_readers), []
        return None

    def _on_return(self, raw: list[Any], problem: str | None) -> Event:
        question_id, value = m.parse_return(raw)
        self._take_question(question_id)
        if self.answers is not None:
            self._answered_kept(question_id)
        if problem is not None:
            return FailureReceived(
                question_id=question_id,
                error=self._codec.problem_error(f"the answer could not be decoded: {problem}"),
            )
        return AnswerReceived(question_id=question_id, value=value)

    def _on_fail(self, raw: list[Any], problem: str | None) -> Event:
        question_id, info = m.parse_fail(raw)
        self._take_question(question_id)
        if self.answers is not None:
            self._answered_kept(question_id)
        return FailureReceived(
            question_id=question_id, error=exception_from_info(info, self.registry)
        )

    def _on_finish(self, raw: list[Any], problem: str | None) -> Event | None:
        question_id = m.parse_finish(raw)
        if self.answers is not None:
            self.answers.finish(question_id)
        if question_id in self._answers:
            return CancelReceived(question_id=question_id)
        return None  # already answered: the Finish crossed our answer

    def _on_release(self, raw: list[Any], problem: str | None) -> None:
        export_id, count = m.parse_release(raw)
        gone = self.exports.release(export_id, count)
        if gone is not None:
            self._owner.unexported(gone)

    def _on_abort(self, raw: list[Any], problem: str | None) -> Event:
        return PeerAborted(reason=m.parse_abort(raw))

    def _on_ping(self, raw: list[Any], problem: str | None) -> None:
        nonce = m.parse_ping(raw)
        self._negotiated(self.keepalive, KEEPALIVE)
        self._frames -= 1  # not activity (frames_received)
        self._owe(self._codec.encode(m.pong_wire(nonce)))  # goes out with this read

    def _on_pong(self, raw: list[Any], problem: str | None) -> None:
        m.parse_ping(raw)
        self._negotiated(self.keepalive, KEEPALIVE)
        self._frames -= 1  # its arrival is all that counts, and it is not activity

    def _on_goodbye(self, raw: list[Any], problem: str | None) -> Event:
        reason, grace_ms, last = m.parse_goodbye(raw)
        self._negotiated(self.goodbye, GOODBYE)
        farewell = self._farewell
        if farewell is None:
            farewell = self._farewell = Farewell()
        if farewell.theirs is None:
            farewell.theirs = reason
        return PeerLeaving(reason=reason, grace_ms=grace_ms, last_question_id=last)

    def _negotiated(self, used: bool, feature: str) -> None:
        """A message of ``feature``'s kinds arrived: a protocol error unless both Hellos
        list ``feature``."""
        if not used:
            raise RemoteProtocolError(
                f"message of the {feature!r} feature, which both Hellos did not list"
            )

    def _stream_table(self, raw: list[Any]) -> Streams:
        """The streams, for a stream message: one the peer may send only if both Hellos list
        "streams" (else it is a kind this side does not know)."""
        if self._peer_stream_window is None:
            raise RemoteProtocolError(f"unknown message kind {raw[0]}")
        return self._use_streams()

    def _on_stream_items(self, raw: list[Any], problem: str | None) -> Event | None:
        streams = self._stream_table(raw)
        stream_id, items = parse_items(raw, refused=problem is not None)
        reader = streams.receive_items(stream_id, self._frame_size + 8)
        if reader.cancelled is not None:
            return None  # in flight when we cancelled: dropped
        if problem is not None:
            self._owe(streams.cancel_frame(reader))
            error = self._codec.problem_error(f"a stream item was refused: {problem}")
            return StreamEnded(reader=reader, error=error)
        return StreamItemsReceived(reader=reader, items=items, size=self._frame_size + 8)

    def _on_stream_end(self, raw: list[Any], problem: str | None) -> Event | None:
        streams = self._stream_table(raw)
        stream_id, error = parse_end(raw)
        info = None if error is None else m.parse_error(error)
        reader = streams.receive_end(stream_id)
        if reader.cancelled is not None:
            return None  # the consumer was told already
        failure = None if info is None else exception_from_info(info, self.registry)
        return StreamEnded(reader=reader, error=failure)

    def _on_stream_credit(self, raw: list[Any], problem: str | None) -> Event | None:
        writer = self._stream_table(raw).receive_credit(*parse_credit(raw))
        return None if writer is None else StreamCredit(writer=writer)

    def _on_stream_cancel(self, raw: list[Any], problem: str | None) -> Event | None:
        writer = self._stream_table(raw).receive_cancel(parse_cancel(raw))
        return None if writer is None else StreamCancelled(writer=writer)

    def _on_hello(self, raw: list[Any], problem: str | None) -> None:
        m.parse_hello(raw)  # a malformed one is named as such
        raise RemoteProtocolError("unexpected Hello after the handshake")

    def _take_question(self, question_id: int) -> None:
        try:
            del self._questions[question_id]
        except KeyError:
            raise RemoteProtocolError(
                f"answer to question {question_id}, which was never asked"
            ) from None

    def _answered_kept(self, question_id: int) -> None:
        """Our call ``question_id`` is answered: if the peer keeps its answer, we no longer
        need it (later calls use the value we now have), so FINISH frees it."""
        pipe = self.answers
        if pipe is not None and question_id in pipe.asked:
            self._owe(self.send_finish(question_id))

    def _refuse_call(self, qid: int, failure: BaseException | m.ErrorInfo) -> None:
        """Answer a call that cannot run with ``failure``, by ourselves (no event)."""
        self._owe_answer(qid)  # a question id in use closes the connection even so
        self._fail_owed(qid, failure)

    def _fail_owed(self, qid: int, failure: BaseException | m.ErrorInfo) -> None:
        """Answer the call ``qid`` we owe an answer with ``failure``, by ourselves."""
        if isinstance(failure, BaseException):
            data = self.send_failure(qid, failure)
        elif self._answer_done(qid):
            data = self._failed(qid, failure)
        else:
            return
        self._owe(data)

    def _owe(self, data: bytes) -> None:
        """Send ``data`` with what this read gives back (``take_pending``)."""
        if self._owed is None:
            self._owed = []
        self._owed.append(data)

    def _owe_answer(self, qid: int) -> None:
        """Record that we owe the peer one answer to ``qid`` (a duplicate id closes)."""
        if qid in self._answers:
            raise RemoteProtocolError(f"question id {qid} is already in use by a pending call")
        self._answers[qid] = self._frame_size
        self._answer_bytes += self._frame_size


_PIPELINING = "pipelining"
_RETAIN = {"retain": True}
_CALL = int(m.Kind.CALL)


def _dropped(method: str, why: str) -> SendDropped:
    """A one-way call on ``method`` is dropped, and why."""
    return SendDropped(reason=f"one-way call {method[:60]!r} dropped: {why}")


def _no_object(export_id: int) -> str:
    """Why a one-way call on ``export_id`` cannot be delivered."""
    return f"no object #{export_id} on this connection"


def _options_problem(options: Any, broker: Broker) -> str | None:
    """Why a call's options map is refused, or None (``retain`` is the one option built);
    RemoteProtocolError if it is not a map of strings."""
    for key, value in m.parse_options(options).items():
        if key != "retain" or not broker.pipelining:
            return f"call option {show(key, 60)} is not supported by this peer"
        if value is not True:
            return f'call option "retain" must be true, got {show(value, 60)}'
    return None


#: What the broker does with each kind of message after the handshake.
_ON_MESSAGE: dict[int, Callable[[Broker, list[Any], str | None], Event | None]] = {
    int(m.Kind.HELLO): Broker._on_hello,
    int(m.Kind.CALL): Broker._on_call,
    int(m.Kind.RETURN): Broker._on_return,
    int(m.Kind.FAIL): Broker._on_fail,
    int(m.Kind.FINISH): Broker._on_finish,
    int(m.Kind.RELEASE): Broker._on_release,
    int(m.Kind.ABORT): Broker._on_abort,
    int(m.Kind.PING): Broker._on_ping,
    int(m.Kind.PONG): Broker._on_pong,
    int(m.Kind.GOODBYE): Broker._on_goodbye,
    int(m.Kind.SEND): Broker._on_send,
    int(m.Kind.STREAM_ITEMS): Broker._on_stream_items,
    int(m.Kind.STREAM_END): Broker._on_stream_end,
    int(m.Kind.STREAM_CREDIT): Broker._on_stream_credit,
    int(m.Kind.STREAM_CANCEL): Broker._on_stream_cancel,
}
#: Events that hand the values of their message to the application (its streams live on).
_DELIVERS_VALUES = frozenset({CallReceived, AnswerReceived, StreamItemsReceived})
