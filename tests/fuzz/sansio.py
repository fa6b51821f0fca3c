"""Drive sans-IO brokers with hostile bytes and check what the broker promises.

The only outcomes allowed for bytes fed to ``Broker.receive_data`` are: events, a Fail answer
the broker writes by itself for that call, or ``RemoteProtocolError`` / ``FrameTooLarge``
(the connection must close). Any other exception escapes to the test and fails it. After every
chunk the broker's tables must stay within their limits.
"""

from __future__ import annotations

import gc
import struct
from typing import Any

import cbor2

import pbtyped as pb
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import (
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

from .peers import FuzzRoot, Thing, make_registry

__all__ = ["ALLOWED", "LIMITS", "Side", "well_formed_output"]

#: What may escape ``receive_data``: the connection is then closed by the caller.
ALLOWED = (pb.RemoteProtocolError, pb.FrameTooLarge)

#: Small limits so the tables' bounds are reached within a few messages.
LIMITS = pb.Limits(
    max_exports=6,
    max_imports=6,
    max_frame_size=1 << 20,
    max_body_size=1 << 16,
    max_depth=32,
    max_streams=3,
)

#: A closing reason longer than this would let one peer write very long log lines.
MAX_REASON = 2_000

_HEADER = struct.Struct(">II")
_OUT_KINDS = {0, 1, 2, 3, 4, 5, 6, 9, 10, 12}  # credit, cancel (a reader); PONG (to a PING)


def well_formed_output(data: bytes) -> list[Any]:
    """Split what a broker wants to send into messages; each must be a well-formed frame."""
    out = []
    while data:
        assert len(data) >= 8, "broker produced a truncated header"
        body_len, att_len = _HEADER.unpack_from(data)
        end = 8 + body_len + att_len
        assert len(data) >= end, "broker produced a truncated frame"
        message = cbor2.loads(data[8 : 8 + body_len])
        assert type(message) is list, message
        assert message[0] in _OUT_KINDS, message
        out.append(message)
        data = data[end:]
    return out


class Side:
    """One broker and the code around it, behaving as the asyncio runtime does.

    Calls are answered synchronously (like a sync ``remote_*`` method); whatever the broker
    wants to send is collected in ``sent``. ``feed`` raises only what ``receive_data`` may.
    """

    def __init__(self, *, server: bool) -> None:
        self.root = FuzzRoot() if server else Thing()
        self.broker = Broker(registry=make_registry(), limits=LIMITS, root=self.root)
        self.sent: list[Any] = []
        self.outbox = bytearray()
        self._emit(self.broker.initiate())
        self.asked: set[int] = set()
        self.answered: set[int] = set()
        self.closed: str | None = None
        self.values: list[Any] = []  # what the runtime would hand to application code

    def feed(self, data: bytes) -> list[Event]:
        """Feed bytes; on an allowed error, close like the runtime and re-raise."""
        broker = self.broker
        try:
            events = broker.receive_data(data)
        except ALLOWED as exc:
            reason = str(exc)
            assert reason, "a protocol error must say why"
            assert len(reason) <= MAX_REASON, f"closing reason of {len(reason)} characters"
            self.closed = reason
            self._emit(broker.abort(reason))
            self.check_closed()
            raise
        out: list[bytes] = []
        todo = list(events)
        while todo:
            event = todo.pop(0)
            if isinstance(event, CallReceived):
                out.append(self._answer(event))
                # Pipelined calls (and one-way calls behind them) that waited for that
                # answer, and for theirs, go after the calls read with them (E-order).
                todo.extend(broker.ready_calls())
            elif isinstance(event, SendReceived):
                self._run(event)  # one-way: nothing to send back
            elif isinstance(event, SendDropped):
                assert len(event.reason) <= MAX_REASON, f"{len(event.reason)}-character reason"
            elif isinstance(event, AnswerReceived | FailureReceived):
                qid = event.question_id
                assert qid in self.asked, f"answer to question {qid} we never asked"
                assert qid not in self.answered, f"second answer to question {qid}"
                self.answered.add(qid)
                if isinstance(event, FailureReceived):
                    assert isinstance(event.error, Exception)
                    str(event.error)  # must not raise either
                else:
                    self.values.append(event.value)
            elif isinstance(event, StreamItemsReceived):
                self.values.append(event.items)
            elif isinstance(event, StreamEnded):
                assert event.error is None or isinstance(event.error, Exception)
            else:
                assert isinstance(
                    event,
                    HandshakeComplete
                    | CancelReceived
                    | PeerAborted
                    | PeerLeaving
                    | StreamCredit
                    | StreamCancelled,
                )
        out.append(broker.take_pending())
        self._emit(b"".join(out))
        self.check_tables()
        return events

    def _emit(self, data: bytes) -> None:
        self.sent += well_formed_output(data)
        self.outbox += data

    def take_output(self) -> bytes:
        """Bytes the broker produced since the last call (to carry to the peer)."""
        data = bytes(self.outbox)
        self.outbox.clear()
        return data

    def call(self, method: str, *args: Any) -> bytes:
        """Our own call on the peer's root (the broker must be open)."""
        qid, data = self.broker.send_call(self.broker.root_reference(), method, args, {})
        self.asked.add(qid)
        return data

    def _answer(self, event: CallReceived) -> bytes:
        target = event.target
        try:
            assert isinstance(target, pb.Referenceable)
            result = target.pb_dispatch(event.method, event.args, event.kwargs)
        except Exception as exc:  # the application raised: that is its answer
            return self.broker.send_failure(event.question_id, exc)
        finally:
            self.values.append((event.args, event.kwargs))
        return self.broker.send_return(event.question_id, result)

    def _run(self, event: SendReceived) -> None:
        target = event.target
        try:
            assert isinstance(target, pb.Referenceable)
            target.pb_dispatch(event.method, event.args, event.kwargs)
        except Exception:  # the application raised: logged by the runtime, never sent
            pass
        finally:
            self.values.append((event.args, event.kwargs))
            self.broker.send_done(event.size)

    def check_tables(self) -> None:
        """The broker's tables stay within the limits, and nothing is owed or leaked."""
        broker = self.broker
        limits = broker.limits
        assert broker.export_count <= limits.max_exports
        assert broker.kept_answers <= limits.max_retained_answers
        assert broker.waiting_calls == 0, "every answer is known, yet calls still wait"
        assert broker.import_count <= limits.max_imports
        assert not broker._answers, "calls were answered, yet the broker still owes answers"
        assert broker._answer_bytes == 0, "every call and one-way call ended, yet bytes held"
        assert broker._questions.keys() <= self.asked
        assert broker._reader.buffered <= 8 + limits.max_frame_size
        for export_id, count in broker.exports.counts().items():
            assert count >= (0 if export_id == 0 else 1)
        streams = broker.streams
        if streams is not None:
            assert len(streams.readers) <= 2 * limits.max_streams
            assert len(streams.writers) <= limits.max_streams
            assert not streams.frame_readers, "streams of a message left unsettled"
            assert streams.held >= 0
            assert not any(r.held for r in streams.readers.values() if r.cancelled is not None)

    def finish(self) -> None:
        """The application drops everything; releases flow; then the line closes cleanly."""
        self.values.clear()
        if hasattr(self.root, "kept"):
            self.root.kept.clear()
        if self.closed is None:
            self._emit(self.broker.take_pending())
            if self.broker.import_count:  # a reference cycle holds a proxy: collect it
                gc.collect()
                self._emit(self.broker.take_pending())
            assert self.broker.import_count == 0, "dropped references were not released"
        self.broker.connection_lost()
        self.check_closed()

    def check_closed(self) -> None:
        broker = self.broker
        assert not broker.is_open
        assert broker.export_count == 0
        assert broker.import_count == 0
        assert broker.pending_questions == 0
        streams = broker.streams
        assert streams is None or not (streams.readers or streams.writers or streams.held)
        assert broker.receive_data(b"\x00" * 16) == []  # closed: input is ignored
