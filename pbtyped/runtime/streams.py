"""Streams on an asyncio connection: async iterators in, async iterators out.

An async iterator passed as an argument or returned as a result is *written*: a ``_Pump``
task pulls its items only while the reader's credit allows (the producer is never more than
the window, plus the batch being gathered, ahead of the consumer) and while the transport
takes data, batches the items that are ready together into one frame, and ends the stream
once. A stream the peer writes arrives as an ``IncomingStream``, the consumer's async
iterator: it grants credit as items are taken, and cancels the stream when the consumer
stops early (``break``, ``aclose()``, a cancelled task, a timeout, or dropping it).

One ``StreamRuntime`` per connection, made when its first stream is sent or received.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._exceptions import ConnectionLost, Error, PbtypedError
from ..protocol.errors import is_expected
from ..protocol.events import StreamCancelled, StreamCredit, StreamEnded, StreamItemsReceived
from ..protocol.streams import StreamReader, Streams, StreamWriter, WriterState
from ..wire.columns import Columns

if TYPE_CHECKING:
    from ..protocol.broker import Broker
    from .connection import Connection

__all__ = ["CheckedItems", "ColumnItems", "IncomingStream", "StreamRuntime"]

log = logging.getLogger("pbtyped")

T = TypeVar("T")

_END = object()  # the stream ended normally


class IncomingStream(AsyncIterator[T], Generic[T]):
    """A stream the peer writes, as an async iterator for its consumer.

    Iterate it once with ``async for``. Each item taken grants the writer credit again.
    Leaving early (``break``, ``aclose()``, cancelling the task, a timeout, or just dropping
    the iterator) tells the writer to stop its producer. An error raised by the producer is
    raised here, at the item where it happened, as its registered class; ``ConnectionLost``
    if the line drops first.
    """

    __slots__ = (
        "__weakref__",
        "_end",
        "_frames",
        "_next",
        "_runtime",
        "_taken",
        "_waiter",
        "check",
        "reader",
    )
    #: How error messages name it (``show.kind``).
    wire_kind = "stream"

    def __init__(self, runtime: StreamRuntime, reader: StreamReader) -> None:
        self._runtime = runtime
        self.reader = reader
        # The items of each frame not all taken yet, with the frame's size (granted once its
        # last item is taken), as they arrived: nothing is built per item.
        self._frames: collections.deque[tuple[list[Any], int]] = collections.deque()
        self._next = 0  # the index of the next item to take in the first frame
        #: None while open; ``_END``, or the error to raise once the items are taken.
        self._end: object = None
        self._waiter: asyncio.Future[None] | None = None
        self._taken = 0
        #: Called with each item and its index (``$.items[k]``) before it is returned; raises
        #: ValidationError for a bad one (set by typed stubs and skeletons).
        self.check: Callable[[Any, int], Any] | None = None

    def __repr__(self) -> str:
        return f"<pbtyped.IncomingStream {self.reader.stream_id}>"

    def __aiter__(self) -> IncomingStream[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            frames = self._frames
            if frames:
                items, size = frames[0]
                item = items[self._next]
                self._next += 1
                if self._next == len(items):
                    frames.popleft()
                    self._next = 0
                    self._runtime.consumed(self.reader, size, idle=not frames)
                index = self._taken
                self._taken += 1
                check = self.check
                if check is not None:
                    try:
                        item = check(item, index)
                    except BaseException:
                        self._stop(None)
                        raise
                return item  # type: ignore[no-any-return]
            end = self._end
            if end is _END:
                raise StopAsyncIteration
            if isinstance(end, BaseException):
                raise end
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            runtime = self._runtime
            runtime.waits(1)
            try:
                await waiter
            except asyncio.CancelledError:
                self._stop(None)  # the consumer's task was cancelled (or timed out)
                raise
            finally:
                self._waiter = None
                runtime.waits(-1)

    def set_window(self, size: int) -> None:
        """Let the writer run up to ``size`` bytes ahead on this stream instead of
        ``Limits.stream_window`` (a window only grows: ValueError for a smaller one)."""
        self._runtime.widen(self.reader, size)

    async def aclose(self) -> None:
        """Stop reading: the writer is told to stop its producer. Idempotent."""
        self._stop(None)

    def __del__(self) -> None:
        if self._end is None or self._frames:  # to cancel, or ended with items to release
            runtime = self._runtime
            try:
                runtime.loop.call_soon_threadsafe(runtime.cancel, self.reader)
            except RuntimeError:  # the loop is closed: so is the connection
                pass

    # -- what the runtime tells it ---------------------------------------------------------

    def _feed(self, items: list[Any], size: int) -> None:
        if self._end is None:
            self._frames.append((items, size))
            self._wake()

    def _finish(self, error: BaseException | None) -> None:
        if self._end is None:
            self._end = _END if error is None else error
            self._wake()

    def _stop(self, error: BaseException | None) -> None:
        """The consumer stopped: cancel the stream, drop what is buffered (also after the
        stream ended: what its items held is released)."""
        if self._end is None or self._frames:
            if self._end is None:
                self._end = error if error is not None else StopAsyncIteration()
            self._frames.clear()
            self._runtime.cancel(self.reader)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Wrapped(AsyncIterator[Any]):
    """A stream that passes on the items of ``source``; closing it closes ``source``."""

    __slots__ = ("source",)

    def __init__(self, source: AsyncIterator[Any]) -> None:
        self.source = source

    def __aiter__(self) -> _Wrapped:
        return self

    async def aclose(self) -> None:
        """Close ``source`` (an async generator's ``finally`` runs)."""
        await _close(self.source)


class ColumnItems(_Wrapped):
    """A stream whose items are lists that may travel in columns: each list ``source`` gives
    is marked ``Columns`` (the peer still receives a plain list). Generated code wraps the
    streams declared ``AsyncIterator[list[SomeDataclass]]`` in it, as it marks the lists
    declared ``list[SomeDataclass]``; closing it closes ``source``."""

    __slots__ = ()

    async def __anext__(self) -> Any:
        item = await self.source.__anext__()
        return Columns(item) if type(item) is list else item


class CheckedItems(_Wrapped):
    """A stream of our own object, called in place (a stub of a reference come home): each
    item ``source`` gives is checked as it is taken, as an ``IncomingStream``'s would be
    (``check(item, index)``); a refused one closes ``source`` and raises."""

    __slots__ = ("_check", "_taken")

    def __init__(self, source: AsyncIterator[Any], check: Callable[[Any, int], Any]) -> None:
        # A stream marked for the wire by our skeleton: its lists are plain lists here.
        super().__init__(source.source if type(source) is ColumnItems else source)
        self._check = check
        self._taken = 0

    async def __anext__(self) -> Any:
        item = await self.source.__anext__()
        index = self._taken
        self._taken += 1
        try:
            return self._check(item, index)
        except BaseException:
            await _close(self.source)
            raise


class _Pump:
    """Drives one stream we write: pulls the producer while credit allows, sends batches."""

    __slots__ = ("batch", "estimate", "failed", "scheduled", "task", "wake", "writer")

    def __init__(self, writer: StreamWriter) -> None:
        self.writer = writer
        self.batch: list[Any] = []
        self.estimate = 0  # bytes the batch will take, roughly
        self.scheduled = False  # a flush is scheduled for when the pump next waits
        self.task: asyncio.Task[None] | None = None
        self.wake: asyncio.Future[None] | None = None
        #: Why a batch could not be sent (an item that cannot be encoded): ends the stream.
        self.failed: Exception | None = None


#: Fewest items of a batch sent as ``Columns``: a frame's items all of one registered
#: dataclass then travel field by field. Measured on 2-field records (in-process, per
#: record, encode + decode): 4 records 3.9 -> 3.8 us, 16: 3.8 -> 1.2 us, 512: 3.3 -> 0.6 us;
#: a single record costs more in columns (6.1 -> 8.6 us).
COLUMN_BATCH = 4


def _estimate(item: Any) -> int:
    """Bytes an item takes in a frame, roughly (a batch is cut near the frame size)."""
    if isinstance(item, bytes | str):
        return len(item) + 5
    if isinstance(item, list):  # a list of records, say
        return 48 * len(item) + 8
    return 48


class StreamRuntime:
    """The streams of one connection: pumps for those we write, iterators for those we
    read, both ended when the connection is lost."""

    __slots__ = ("_broker", "_conn", "_pumps", "_readers", "loop", "waiting")

    def __init__(self, conn: Connection, broker: Broker) -> None:
        self._conn = conn
        self._broker = broker
        self.loop = asyncio.get_running_loop()
        self._pumps: dict[StreamWriter, _Pump] = {}
        self._readers: weakref.WeakSet[IncomingStream[Any]] = weakref.WeakSet()
        #: Consumers waiting for items now (the connection is then read whatever the budget).
        self.waiting = 0

    @property
    def _streams(self) -> Streams | None:
        return self._broker.streams

    # -- reading ---------------------------------------------------------------------------

    def make_reader(self, reader: StreamReader) -> IncomingStream[Any]:
        """The consumer's iterator for a stream the peer writes (held weakly, so that a
        dropped iterator is cancelled)."""
        stream: IncomingStream[Any] = IncomingStream(self, reader)
        reader.handle = weakref.ref(stream)
        self._readers.add(stream)
        return stream

    def consumed(self, reader: StreamReader, size: int, *, idle: bool) -> None:
        """The consumer took an item worth ``size`` bytes: grant credit when it is due, and
        tell the budget what is no longer held."""
        streams = self._streams
        if streams is not None and (size or idle):
            self._conn._write_stream(streams.consumed(reader, size, idle=idle))
            if size:
                self._conn._stream_released()

    def waits(self, change: int) -> None:
        """A consumer starts (1) or stops (-1) waiting for items."""
        self.waiting += change
        if change > 0:
            self._conn._stream_waits()

    def widen(self, reader: StreamReader, size: int) -> None:
        """A larger window for one stream (``IncomingStream.set_window``)."""
        streams = self._streams
        if streams is not None:
            self._conn._write_stream(streams.widen(reader, size))

    def cancel(self, reader: StreamReader) -> None:
        """Ask the writer to stop (the consumer left early or dropped the iterator); what its
        items held is released."""
        streams = self._streams
        if streams is not None and not self._conn.is_closed:
            held = reader.held
            self._conn._write_stream(streams.cancel_frame(reader))
            if held:
                self._conn._stream_released()

    def on_event(self, event: object) -> None:
        """A stream message arrived (``StreamItemsReceived`` ... ``StreamCancelled``)."""
        if type(event) is StreamItemsReceived:
            stream = _handle(event.reader)
            if stream is None:
                self.cancel(event.reader)  # dropped, its cancel not yet sent
            else:
                stream._feed(event.items, event.size)
        elif type(event) is StreamEnded:
            stream = _handle(event.reader)
            if stream is not None:
                stream._finish(event.error)
        elif type(event) is StreamCredit:
            pump = self._pumps.get(event.writer)
            if pump is not None:
                _wake(pump)
        elif type(event) is StreamCancelled:
            pump = self._pumps.get(event.writer)
            if pump is not None and pump.task is not None:
                pump.task.cancel()

    # -- writing ---------------------------------------------------------------------------

    def start(self, writers: list[StreamWriter]) -> None:
        """Drive the producers of streams just sent (their tag is on its way already)."""
        for writer in writers:
            pump = self._pumps[writer] = _Pump(writer)
            pump.task = self.loop.create_task(self._run(pump))

    async def _run(self, pump: _Pump) -> None:
        writer = pump.writer
        producer: Any = writer.producer
        error: Exception | None = None
        try:
            await self._pull(pump, producer)
        except asyncio.CancelledError:
            error = pump.failed
            if error is None and (
                writer.state is not WriterState.CANCELLED or self._conn.is_closed
            ):
                await _close(producer)
                raise  # the connection is gone: nothing more to send
        except Exception as exc:  # the producer raised: the items before it go first
            error = exc
            with contextlib.suppress(Exception):  # the producer's error is the one to tell
                self._flush(pump)
        finally:
            self._pumps.pop(writer, None)
        if error is not None:
            self._report(error)
        await _close(producer)
        self._end(pump, error)

    async def _pull(self, pump: _Pump, producer: Any) -> None:
        writer = pump.writer
        flow = self._conn._flow
        limit = self._broker.limits.stream_frame_size
        while True:
            if writer.credit - pump.estimate <= 0 or flow.writing_paused:
                self._flush(pump)
                # The estimate guesses high: credit may be left once the batch is sent.
                if writer.credit <= 0 or flow.writing_paused:
                    await self._wait(pump)
                continue
            try:
                item = await producer.__anext__()
            except StopAsyncIteration:
                self._flush(pump)
                return
            pump.batch.append(item)
            pump.estimate += _estimate(item)
            if pump.estimate >= limit:
                self._flush(pump)
            elif not pump.scheduled:
                # Sent when the producer next waits (this callback runs then), so items
                # ready together go in one frame.
                pump.scheduled = True
                self.loop.call_soon(self._flush_soon, pump)

    def writable(self) -> None:
        """The transport takes data again, and the calls and answers that waited for it
        are written: pumps go on, behind them."""
        for pump in self._pumps.values():
            _wake(pump)

    async def _wait(self, pump: _Pump) -> None:
        """Until the reader grants credit or the transport takes data again (``writable``,
        called once waiting answers are written: they go first)."""
        wake = pump.wake = self.loop.create_future()
        try:
            await wake
        finally:
            pump.wake = None

    def _flush_soon(self, pump: _Pump) -> None:
        """The scheduled flush: a batch that cannot be sent ends the stream with why."""
        try:
            self._flush(pump)
        except Exception as exc:
            pump.failed = exc
            if pump.task is not None:
                pump.task.cancel()

    def _flush(self, pump: _Pump) -> None:
        pump.scheduled = False
        batch = pump.batch
        streams = self._streams
        if not batch or streams is None or pump.writer.credit <= 0:
            return
        pump.batch = []
        pump.estimate = 0
        if len(batch) >= COLUMN_BATCH and hasattr(type(batch[0]), "__dataclass_fields__"):
            batch = Columns(batch)  # the encoder checks they are all of one registered class
        self._conn._write_stream(streams.items_frame(pump.writer, batch))

    def _end(self, pump: _Pump, error: BaseException | None) -> None:
        if not self._conn.is_closed:
            self._conn._write_stream(self._broker.end_stream(pump.writer, error))

    def _report(self, exc: BaseException) -> None:
        registry = self._broker.registry
        if is_expected(exc, registry) or isinstance(exc, PbtypedError | Error):
            log.debug("a stream's producer raised %r (sent to the reader)", exc)
        else:
            self._conn._logs.log(
                logging.ERROR,
                "unexpected error in a stream's producer (the reader receives RemoteError)",
                exc_info=exc,
            )

    # -- the end ---------------------------------------------------------------------------

    def lost(self, error: ConnectionLost) -> None:
        """The connection is gone: producers stop, consumers raise ``error``."""
        pumps = list(self._pumps.values())
        self._pumps.clear()
        for pump in pumps:
            if pump.task is not None:
                pump.task.cancel()
        for stream in list(self._readers):
            stream._finish(error)


def _handle(reader: StreamReader) -> IncomingStream[Any] | None:
    ref = reader.handle
    return ref() if isinstance(ref, weakref.ref) else None


def _wake(pump: _Pump) -> None:
    wake = pump.wake
    if wake is not None and not wake.done():
        wake.set_result(None)


async def _close(producer: Any) -> None:
    """Close an async generator (its ``finally`` runs); other iterators have nothing to close."""
    aclose = getattr(producer, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            log.exception("closing a stream's producer failed")
