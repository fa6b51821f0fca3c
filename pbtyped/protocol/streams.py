"""Streams (the ``"streams"`` feature): items under byte credit, sans-IO.

A stream is a value, ``41007(stream_id)``, in a call's arguments or result. The side that
sends the tag is the stream's writer and chose its id; the other side reads it. One
``Streams`` table per connection holds both directions: made by the broker the first time a
stream is sent or received, never before (most connections have none).

Writer: ``open_writer`` (from the encoder's reference hook) gives an id; ``items_frame``
sends a batch while the credit is positive, ``end`` frees the id once (the broker's
``end_stream`` makes the STREAM_END, its error fitted to the peer's limits as a FAIL is).
Reader: ``open_reader`` (from the decoder) records the stream; ``receive_items``/
``receive_end`` check each message; ``consumed`` grants bytes as the consumer takes items;
``cancel_frame`` asks the writer to stop. Every rule a peer can break closes the connection
with RemoteProtocolError (docs/protocol.md 3.10); every table is bounded by
``Limits.max_streams``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from .._exceptions import LimitExceeded, LocalProtocolError, RemoteProtocolError

__all__ = [
    "CANCEL",
    "CREDIT",
    "DEFAULT_WINDOW",
    "END",
    "FEATURE",
    "ITEMS",
    "ReaderEnd",
    "StreamReader",
    "StreamWriter",
    "Streams",
    "WriterState",
    "cancel_wire",
    "credit_wire",
    "end_wire",
    "items_wire",
    "parse_cancel",
    "parse_credit",
    "parse_end",
    "parse_items",
]

#: The Hello feature that defines the STREAM tag and kinds 7-10.
FEATURE = "streams"
ITEMS, END, CREDIT, CANCEL = 7, 8, 9, 10
#: A peer's window when its Hello lists "streams" but says no ``stream_window``.
DEFAULT_WINDOW = 256 * 1024
_MAX_ID = 2**63 - 1


class WriterState(enum.Enum):
    """Where a stream we write stands. Every stream ends in exactly one STREAM_END."""

    #: Items may go while the credit is positive.
    OPEN = enum.auto()
    #: The reader sent STREAM_CANCEL: stop the producer, then send STREAM_END.
    CANCELLED = enum.auto()


class ReaderEnd(enum.Enum):
    """Why the reader side of a stream stopped taking items before STREAM_END."""

    #: We sent STREAM_CANCEL (the consumer stopped, or an item was refused): items still in
    #: flight are dropped until the writer's STREAM_END frees the id.
    CANCELLED = enum.auto()


class StreamWriter:
    """A stream we write: its id, the credit the reader gave, and the producer (any object
    the runtime drives; this module never touches it)."""

    __slots__ = ("credit", "producer", "state", "stream_id")

    def __init__(self, stream_id: int, producer: object, credit: int) -> None:
        self.stream_id = stream_id
        self.producer = producer
        #: Bytes of frames we may still send; may go below zero by at most one frame.
        self.credit = credit
        self.state = WriterState.OPEN


class StreamReader:
    """A stream we read: its id, the credit we have left outstanding at the writer, and
    ``handle``, which the runtime may set to find the consumer's iterator again."""

    __slots__ = ("cancelled", "credit", "granted", "handle", "held", "stream_id", "window")

    def __init__(self, stream_id: int, credit: int) -> None:
        self.stream_id = stream_id
        #: Bytes of frames received whose items the consumer has not taken (nor dropped).
        self.held = 0
        #: This stream's window: what the writer may have in flight (see ``widen``).
        self.window = credit
        #: Bytes the writer may still send before it runs out: ours to check.
        self.credit = credit
        #: Bytes taken by the consumer but not granted back yet (sent in batches).
        self.granted = 0
        self.cancelled: ReaderEnd | None = None
        self.handle: object = None


# -- wire forms ------------------------------------------------------------------------------


def items_wire(stream_id: int, items: list[Any]) -> list[Any]:
    """Wire form of a STREAM_ITEMS message."""
    return [ITEMS, stream_id, items]


def end_wire(stream_id: int, error: dict[str, Any] | None) -> list[Any]:
    """Wire form of a STREAM_END: ``error`` is an error map (6), or None for a normal end."""
    return [END, stream_id, error]


def credit_wire(stream_id: int, size: int) -> list[Any]:
    """Wire form of a STREAM_CREDIT granting ``size`` more bytes."""
    return [CREDIT, stream_id, size]


def cancel_wire(stream_id: int) -> list[Any]:
    """Wire form of a STREAM_CANCEL."""
    return [CANCEL, stream_id]


def _stream_id(value: Any) -> int:
    if type(value) is not int or not 1 <= value <= _MAX_ID:
        raise RemoteProtocolError(
            f"stream id must be an integer from 1 to 2**63-1, got {value!r:.40}"
        )
    return value


def _check_len(raw: list[Any], n: int, name: str) -> None:
    if len(raw) != n:
        raise RemoteProtocolError(f"malformed {name} message ({len(raw)} items)")


def parse_items(raw: list[Any], *, refused: bool = False) -> tuple[int, Any]:
    """A STREAM_ITEMS's stream id and items (a non-empty array). ``refused``: a value in the
    message was refused, maybe the items themselves (columns of a type this side lacks), so
    they need not be an array: the stream ends with that refusal."""
    _check_len(raw, 3, "STREAM_ITEMS")
    items = raw[2]
    if refused:
        return _stream_id(raw[1]), items
    if type(items) is not list or not items:
        raise RemoteProtocolError("stream items must be a non-empty array")
    return _stream_id(raw[1]), items


def parse_end(raw: list[Any]) -> tuple[int, Any]:
    """A STREAM_END's stream id and error (None, or the raw error map the broker parses)."""
    _check_len(raw, 3, "STREAM_END")
    return _stream_id(raw[1]), raw[2]


def parse_credit(raw: list[Any]) -> tuple[int, int]:
    """A STREAM_CREDIT's stream id and bytes granted (positive)."""
    _check_len(raw, 3, "STREAM_CREDIT")
    size = raw[2]
    if type(size) is not int or not 1 <= size <= _MAX_ID:
        raise RemoteProtocolError(f"stream credit must be a positive integer, got {size!r:.40}")
    return _stream_id(raw[1]), size


def parse_cancel(raw: list[Any]) -> int:
    """A STREAM_CANCEL's stream id."""
    _check_len(raw, 2, "STREAM_CANCEL")
    return _stream_id(raw[1])


# -- the table -------------------------------------------------------------------------------


class Streams:
    """The streams of one connection, both directions, with their credit.

    ``window``: the credit every stream we read starts with (our Hello's ``stream_window``);
    ``peer_window``: the peer's, for the streams we write. ``encode(message)`` makes a frame
    (the broker's tracked encoder: the peer's size limits apply).
    """

    __slots__ = (
        "_active",
        "_encode",
        "_last_peer_id",
        "_next_id",
        "_opened",
        "_pending",
        "frame_readers",
        "frame_size",
        "held",
        "max_streams",
        "peer_window",
        "readers",
        "violation",
        "window",
        "writers",
    )

    def __init__(
        self,
        *,
        encode: Callable[[list[Any]], bytes],
        window: int,
        peer_window: int,
        frame_size: int,
        max_streams: int,
    ) -> None:
        self._encode = encode
        self.window = window
        self.peer_window = peer_window
        self.frame_size = frame_size
        self.max_streams = max_streams
        #: Streams we write, by id (until their STREAM_END is sent).
        self.writers: dict[int, StreamWriter] = {}
        #: Streams we read, by id (until the writer's STREAM_END arrives).
        self.readers: dict[int, StreamReader] = {}
        #: Bytes of frames received on every stream we read whose items the consumers have
        #: not taken nor dropped: what the connection holds for them (``Broker.held_bytes``).
        self.held = 0
        self._next_id = 1
        self._active = 0  # readers not cancelled: what max_streams bounds
        self._last_peer_id = 0
        # Writers opened by the message being encoded (dropped if it is not sent) and those
        # committed since the runtime last took them.
        self._pending: list[StreamWriter] = []
        self._opened: list[StreamWriter] = []
        #: A rule the peer broke inside a value being decoded: the broker closes on it.
        self.violation: RemoteProtocolError | None = None
        #: Readers opened by the frame being decoded: cancelled if its message is refused.
        self.frame_readers: list[StreamReader] = []

    # -- writing -------------------------------------------------------------------------

    def open_writer(self, producer: object) -> int:
        """A new stream for ``producer`` in the message being encoded; its id for the tag.
        LimitExceeded if ``max_streams`` streams we write are open."""
        if len(self.writers) + len(self._pending) >= self.max_streams:
            raise LimitExceeded(f"{self.max_streams} streams are open already (Limits.max_streams)")
        writer = StreamWriter(self._next_id, producer, self.peer_window)
        self._next_id += 1  # never reused, even if the message is not sent
        self._pending.append(writer)
        return writer.stream_id

    def commit(self) -> None:
        """The message being encoded will be sent: its streams are open."""
        if self._pending:
            for writer in self._pending:
                self.writers[writer.stream_id] = writer
            self._opened.extend(self._pending)
            self._pending.clear()

    def rollback(self) -> None:
        """The message being encoded will not be sent: forget its streams."""
        self._pending.clear()

    def take_opened(self) -> list[StreamWriter]:
        """Writers opened by messages sent since the last call: the runtime drives them."""
        opened, self._opened = self._opened, []
        return opened

    def items_frame(self, writer: StreamWriter, items: list[Any]) -> bytes:
        """A STREAM_ITEMS frame for ``items``; its size is taken from the credit.

        LocalProtocolError if the stream is not open or has no credit left (the runtime's
        fault: it must wait for credit)."""
        if self.writers.get(writer.stream_id) is not writer:
            raise LocalProtocolError(f"stream {writer.stream_id} has ended")
        if writer.credit <= 0:
            raise LocalProtocolError(f"stream {writer.stream_id} has no credit")
        data = self._encode(items_wire(writer.stream_id, items))
        writer.credit -= len(data)
        return data

    def end(self, writer: StreamWriter) -> bool:
        """``writer``'s STREAM_END goes now (the broker's ``end_stream`` makes it): its id is
        freed. False if it went already."""
        return self.writers.pop(writer.stream_id, None) is not None

    def receive_credit(self, stream_id: int, size: int) -> StreamWriter | None:
        """The reader grants ``size`` bytes: the writer to wake, or None if the stream ended
        (the credit crossed our STREAM_END)."""
        writer = self._writer(stream_id, "STREAM_CREDIT")
        if writer is None:
            return None
        if writer.credit + size > _MAX_ID:
            raise RemoteProtocolError(f"stream {stream_id}: credit overflows 2**63-1")
        writer.credit += size
        return writer

    def receive_cancel(self, stream_id: int) -> StreamWriter | None:
        """The reader wants no more items: the writer to stop, or None if it ended already
        (or was cancelled before)."""
        writer = self._writer(stream_id, "STREAM_CANCEL")
        if writer is None or writer.state is WriterState.CANCELLED:
            return None
        writer.state = WriterState.CANCELLED
        return writer

    def _writer(self, stream_id: int, what: str) -> StreamWriter | None:
        writer = self.writers.get(stream_id)
        if writer is None and stream_id >= self._next_id:
            raise RemoteProtocolError(f"{what} for stream {stream_id}, which was never opened")
        return writer

    # -- reading -------------------------------------------------------------------------

    def open_reader(self, stream_id: Any) -> StreamReader:
        """A STREAM tag arrived: record the stream. RemoteProtocolError for an id not above
        every id the peer used before; LimitExceeded (the value is refused, the stream
        cancelled) beyond ``max_streams``, and RemoteProtocolError beyond twice that, counting
        cancelled streams whose end has not come (memory stays bounded)."""
        try:
            stream_id = _stream_id(stream_id)
            if stream_id <= self._last_peer_id:
                raise RemoteProtocolError(
                    f"stream id {stream_id} reused (ids must count up; the last was "
                    f"{self._last_peer_id})"
                )
            if len(self.readers) >= 2 * self.max_streams:
                raise RemoteProtocolError(
                    f"the peer opened more than {2 * self.max_streams} streams without ending them"
                )
        except RemoteProtocolError as exc:
            self.violation = exc
            raise
        self._last_peer_id = stream_id
        reader = self.readers[stream_id] = StreamReader(stream_id, self.window)
        self.frame_readers.append(reader)
        self._active += 1
        if self._active > self.max_streams:
            raise LimitExceeded(
                f"the peer opened more than {self.max_streams} streams (Limits.max_streams)"
            )
        return reader

    def refuse_frame(self) -> bytes:
        """The message just decoded was refused (its call failed, its value could not be
        taken): cancel the streams it opened. Returns the STREAM_CANCEL frames."""
        readers, self.frame_readers = self.frame_readers, []
        return b"".join(self.cancel_frame(r) for r in readers)

    def receive_items(self, stream_id: int, size: int) -> StreamReader:
        """STREAM_ITEMS of ``size`` bytes (the whole frame) arrived: the reader they belong
        to (check ``cancelled``: then drop them). RemoteProtocolError for an unknown or ended
        stream, or a frame sent with no credit left."""
        reader = self._reader(stream_id, "STREAM_ITEMS")
        if reader.credit <= 0:
            raise RemoteProtocolError(f"stream {stream_id}: items sent beyond the credit granted")
        reader.credit -= size
        if reader.cancelled is None:
            reader.held += size
            self.held += size
        return reader

    def receive_end(self, stream_id: int) -> StreamReader:
        """STREAM_END arrived: the reader, now forgotten (its id is free)."""
        reader = self._reader(stream_id, "STREAM_END")
        del self.readers[stream_id]
        if reader.cancelled is None:
            self._active -= 1
        return reader

    def _reader(self, stream_id: int, what: str) -> StreamReader:
        reader = self.readers.get(stream_id)
        if reader is None:
            if stream_id <= self._last_peer_id:
                raise RemoteProtocolError(f"{what} for stream {stream_id}, which has ended")
            raise RemoteProtocolError(f"{what} for stream {stream_id}, which was never opened")
        return reader

    def consumed(self, reader: StreamReader, size: int, *, idle: bool) -> bytes:
        """The consumer took items worth ``size`` bytes: a STREAM_CREDIT when enough is owed
        (a quarter of the window, or anything once nothing is left to read, ``idle``), else
        b"". Batching grants keeps credit frames few while the writer never starves."""
        self._release(reader, size)
        if reader.cancelled is not None or self.readers.get(reader.stream_id) is not reader:
            return b""
        owed = reader.granted + size
        if owed and (idle or owed * 4 >= reader.window):
            reader.granted = 0
            reader.credit += owed
            return self._encode(credit_wire(reader.stream_id, owed))
        reader.granted = owed
        return b""

    def widen(self, reader: StreamReader, window: int) -> bytes:
        """Give one stream a larger window than the Hello's (a fast consumer of large items):
        the difference is granted at once. A smaller one is refused (credit granted cannot
        be taken back): ValueError."""
        if window < reader.window:
            raise ValueError(
                f"a stream's window can only grow (it is {reader.window} bytes, not {window})"
            )
        extra = window - reader.window
        reader.window = window
        if not extra or reader.cancelled is not None:
            return b""
        if self.readers.get(reader.stream_id) is not reader:
            return b""
        reader.credit += extra
        return self._encode(credit_wire(reader.stream_id, extra))

    def _release(self, reader: StreamReader, size: int) -> None:
        # ``held`` is the sum of every reader's, also of those ended: only after ``clear``
        # (which cannot reach those) can a reader hold more than the table.
        size = min(size, reader.held, self.held)
        reader.held -= size
        self.held -= size

    def cancel_frame(self, reader: StreamReader) -> bytes:
        """Ask the writer to stop (b"" if asked already, or if the stream ended); the items
        its consumer had not taken are dropped (no longer held)."""
        self._release(reader, reader.held)
        if reader.cancelled is not None or self.readers.get(reader.stream_id) is not reader:
            return b""
        reader.cancelled = ReaderEnd.CANCELLED
        self._active -= 1
        return self._encode(cancel_wire(reader.stream_id))

    # -- the end -------------------------------------------------------------------------

    def clear(self) -> tuple[list[StreamWriter], list[StreamReader]]:
        """The connection is gone: every stream ends; returns them so the runtime can stop
        producers and fail consumers."""
        writers = list(self.writers.values())
        readers = list(self.readers.values())
        for reader in readers:
            reader.held = 0
        self.writers.clear()
        self.readers.clear()
        self.held = self._active = 0
        self._pending.clear()
        self._opened.clear()
        return writers, readers
