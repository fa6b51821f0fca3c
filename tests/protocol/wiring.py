"""In-memory plumbing for the sans-IO broker: hand-made frames and two brokers back to back.

No sockets and no event loop: bytes move between two ``Broker`` objects by hand, and calls are
answered synchronously, the way the asyncio runtime answers a sync ``remote_*`` method.
"""

from __future__ import annotations

import contextlib
import re
import struct
from collections.abc import Callable
from typing import Any

import cbor2

from pbtyped import Referenceable, Registry, Root
from pbtyped.protocol.broker import Broker, ImportedReference
from pbtyped.protocol.events import (
    AnswerReceived,
    CallReceived,
    Event,
    FailureReceived,
    HandshakeComplete,
    SendReceived,
)
from pbtyped.wire.limits import Limits

HEADER = struct.Struct(">II")


def frame(body: bytes, attachments: bytes = b"") -> bytes:
    """A frame as the wire carries it: 8-byte header, CBOR body, raw attachment section."""
    return HEADER.pack(len(body), len(attachments)) + body + attachments


def msg(*items: Any) -> bytes:
    """A frame whose body is the CBOR array ``items`` (a message as a hostile peer writes it)."""
    return frame(cbor2.dumps(list(items)))


def hello(version: int = 1, max_frame_size: int = 1 << 20, **extra: Any) -> bytes:
    """A Hello frame from a well-behaved peer (or not, depending on the arguments)."""
    info = {"protocol": "pbtyped", "version": version, "max_frame_size": max_frame_size}
    info.update(extra)
    return msg(0, info)


def attachment_bomb(tags: int = 20_000, section: int = 64 * 1024) -> bytes:
    """Issue 10 row 1: a CALL whose ``tags`` attachment tags each name almost the whole
    ``section``-byte attachment section (220 KiB with the defaults)."""
    ref = cbor2.CBORTag(41006, [1, section - 1])
    return frame(cbor2.dumps([1, 1, [0, 0], "echo", [ref] * tags]), b"\xff" * section)


def decimal_bomb(size: int = 512 * 1024) -> bytes:
    """Issue 10 row 2: ``4([0, 2(h'ff...')])``, a decimal whose mantissa is a ``size``-byte
    bignum (building it costs the square of its size)."""
    return frame(cbor2.dumps(cbor2.CBORTag(4, [0, cbor2.CBORTag(2, b"\xff" * size)])))


def split_frames(data: bytes) -> list[tuple[int, int, bytes, bytes]]:
    """Cut bytes a broker produced into ``(body_len, att_len, body, attachments)`` frames."""
    out = []
    while data:
        body_len, att_len = HEADER.unpack_from(data)
        end = 8 + body_len + att_len
        assert len(data) >= end, "truncated frame in broker output"
        out.append((body_len, att_len, data[8 : 8 + body_len], data[8 + body_len : end]))
        data = data[end:]
    return out


def decode_frames(data: bytes) -> list[Any]:
    """The messages in ``data``, decoded by plain cbor2 (our tags stay ``CBORTag`` objects)."""
    return [cbor2.loads(body) for _, _, body, _ in split_frames(data)]


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern that matches ``message`` whole and literally."""
    return f"^{re.escape(message)}\\Z"


class Echoer(Root):
    """The root every test serves: a few methods, nothing else."""

    def remote_echo(self, value: Any) -> Any:
        return value

    def remote_kind(self, value: Any) -> str:
        return type(value).__name__

    def remote_make(self) -> Referenceable:
        return Thing()

    def remote_keep(self, ref: Any) -> None:
        self.kept = ref

    def remote_drop(self) -> None:
        self.kept = None


class Thing(Referenceable):
    """An ordinary exported object."""

    __slots__ = ()

    def remote_ping(self) -> str:
        return "pong"


def open_broker(
    *, root: Referenceable | None = None, registry: Registry | None = None, **kw: Any
) -> Broker:
    """A serving broker that has received a Hello from a hand-crafted peer (so it is OPEN)."""
    broker = Broker(registry=registry or Registry(), root=root or Echoer(), **kw)
    broker.initiate()
    assert broker.receive_data(hello()) == [HandshakeComplete()]
    return broker


def answer_call(broker: Broker, event: CallReceived) -> bytes:
    """Run a call and answer it: the RETURN, or the FAIL of what the method raised."""
    target = event.target
    try:
        assert isinstance(target, Referenceable)
        result = target.pb_dispatch(event.method, event.args, event.kwargs)
    except Exception as exc:
        return broker.send_failure(event.question_id, exc)
    return broker.send_return(event.question_id, result)


def answer_calls(
    broker: Broker, events: list[Event], hold: Callable[[CallReceived], bool] | None = None
) -> tuple[bytes, list[Event]]:
    """Answer every CallReceived at once (as the runtime does for sync methods), and the
    calls each answer makes ready (pipelined calls that waited for it), after the rest;
    run every SendReceived in its place (what it raises is dropped, as nobody is told).
    A call for which ``hold`` returns True is left unanswered: whoever holds it answers it
    later, as an async method ends (``Pair.answer_held``).

    Returns the bytes to send back (answers, then whatever ``take_pending`` owes) and the
    events that were not calls.
    """
    out: list[bytes] = []
    rest: list[Event] = []
    events = list(events)
    while events:
        event = events.pop(0)
        if isinstance(event, SendReceived):
            target = event.target
            assert isinstance(target, Referenceable)
            with contextlib.suppress(Exception):
                target.pb_dispatch(event.method, event.args, event.kwargs)
            broker.send_done(event.size)
        elif isinstance(event, CallReceived):
            if hold is not None and hold(event):
                continue
            out.append(answer_call(broker, event))
            # Calls that waited for this answer go next, after the calls read with them,
            # which arrived before them (E-order).
            events.extend(broker.ready_calls())
        else:
            rest.append(event)
    out.append(broker.take_pending())
    return b"".join(out), rest


class Pair:
    """Two brokers wired back to back: ``a`` is the client, ``b`` serves ``root``.

    ``pump()`` moves bytes both ways until both sides are quiet, answering calls on either
    side; the other events each side saw collect in ``a_events`` / ``b_events``.
    """

    def __init__(
        self,
        *,
        root: Referenceable | None = None,
        registry: Registry | None = None,
        a_registry: Registry | None = None,
        b_registry: Registry | None = None,
        a_limits: Limits | None = None,
        b_limits: Limits | None = None,
        a_root: Referenceable | None = None,
        b_tracebacks: bool = False,
        b_options: dict[str, Any] | None = None,
        b_hold: Callable[[CallReceived], bool] | None = None,
    ) -> None:
        shared = registry or Registry()
        self.root = root if root is not None else Echoer()
        self.a = Broker(registry=a_registry or shared, limits=a_limits, root=a_root)
        self.b = Broker(
            registry=b_registry or shared,
            limits=b_limits,
            root=self.root,
            send_tracebacks=b_tracebacks,
            **(b_options or {}),
        )
        self._b_hold = b_hold
        self.a_events: list[Event] = []
        self.b_events: list[Event] = []
        self._to_a = bytearray()
        self._to_b = bytearray()
        self._to_b += self.a.initiate()
        self._to_a += self.b.initiate()
        self.pump()
        assert self.a_events == [HandshakeComplete()]
        assert self.b_events == [HandshakeComplete()]
        self.a_events.clear()
        self.b_events.clear()
        # Held for the pair's life: a fresh root proxy per call would die after each call
        # and owe a Release of the (pinned) root every time.
        self.root_proxy = self.a.root_reference()

    def send_to_a(self, data: bytes) -> None:
        self._to_a += data

    def send_to_b(self, data: bytes) -> None:
        self._to_b += data

    def pump(self) -> None:
        """Deliver until quiet; also flushes what either broker owes (``take_pending``)."""
        self._to_a += self.b.take_pending()
        self._to_b += self.a.take_pending()
        while self._to_a or self._to_b:
            if self._to_b:
                data = bytes(self._to_b)
                self._to_b.clear()
                out, rest = answer_calls(self.b, self.b.receive_data(data), self._b_hold)
                self._to_a += out
                self.b_events += rest
            if self._to_a:
                data = bytes(self._to_a)
                self._to_a.clear()
                out, rest = answer_calls(self.a, self.a.receive_data(data))
                self._to_b += out
                self.a_events += rest

    def answer_held(self, event: CallReceived) -> None:
        """Answer a call of ``b``'s that ``b_hold`` held (as an async method ends), and the
        calls that waited for its answer; then pump."""
        data = answer_call(self.b, event)
        out, rest = answer_calls(self.b, list(self.b.ready_calls()), self._b_hold)
        self._to_a += data + out
        self.b_events += rest
        self.pump()

    def root_ref(self) -> ImportedReference:
        """``a``'s proxy for ``b``'s root."""
        return self.root_proxy

    def call(self, ref: ImportedReference, method: str, *args: Any, **kwargs: Any) -> Event:
        """Call through whichever broker owns ``ref``; return the event that answered it."""
        broker = ref.pb_broker
        qid, data = broker.send_call(ref, method, args, kwargs)
        if broker is self.a:
            self.send_to_b(data)
        else:
            self.send_to_a(data)
        self.pump()
        events = self.a_events if broker is self.a else self.b_events
        for event in events:
            if isinstance(event, AnswerReceived | FailureReceived) and event.question_id == qid:
                events.remove(event)
                return event
        raise AssertionError(f"no answer to question {qid}; events: {events!r}")

    def value(self, ref: ImportedReference, method: str, *args: Any, **kwargs: Any) -> Any:
        """The result of a call, or its error raised."""
        event = self.call(ref, method, *args, **kwargs)
        if isinstance(event, FailureReceived):
            raise event.error
        assert isinstance(event, AnswerReceived)
        return event.value
