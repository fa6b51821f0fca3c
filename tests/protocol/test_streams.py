"""Streams in the sans-IO broker (docs/protocol.md 3.6): ids, credit, ending, and every rule a
hostile peer can break (issue 14 item 6)."""

from __future__ import annotations

import dataclasses
from typing import Any

import cbor2
import pytest

from pbtyped import LimitExceeded, Registry
from pbtyped._exceptions import InsecureTypeError, LocalProtocolError, RemoteProtocolError
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import (
    AnswerReceived,
    CallReceived,
    FailureReceived,
    StreamCancelled,
    StreamCredit,
    StreamEnded,
    StreamItemsReceived,
)
from pbtyped.protocol.streams import StreamReader, StreamWriter, WriterState
from pbtyped.wire import tags
from pbtyped.wire.limits import Limits

from ..costs import assert_linear_cpu, peak_memory
from .wiring import Echoer, Pair, decode_frames, exactly, hello, msg

STREAM = tags.STREAM


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Producer:
    """Stands for an async iterator: the sans-IO broker only needs ``__anext__`` to exist."""

    def __anext__(self) -> Any:
        raise NotImplementedError


class Feeds(Echoer):
    """A root whose ``feed`` returns a stream."""

    def remote_feed(self, arg: Any) -> Producer:
        return Producer()


def peer(**limits: Any) -> Broker:
    """A serving broker whose hand-made peer lists "streams" with a 1 KiB window."""
    broker = Broker(registry=Registry(), root=Echoer(), limits=Limits(**limits))
    broker.initiate()
    broker.receive_data(hello(features=["streams"], stream_window=1024))
    return broker


def stream_call(qid: int, stream_id: int) -> bytes:
    return msg(1, qid, [0, 0], "echo", [cbor2.CBORTag(STREAM, stream_id)])


def returned_stream(pair: Pair) -> tuple[StreamWriter, StreamReader]:
    """The callee returns a stream: its writer (callee side) and reader (caller side)."""
    _qid, data = pair.a.send_call(pair.root_proxy, "feed", [Producer()], {})
    pair.send_to_b(data)
    pair.pump()
    [answer] = [e for e in pair.a_events if isinstance(e, AnswerReceived)]
    pair.a_events.clear()
    assert pair.a.streams is not None
    assert pair.b.streams is not None
    # the caller wrote a stream as the argument, and the callee returned one of its own
    [_caller_writer] = pair.a.streams.take_opened()
    [writer] = pair.b.streams.take_opened()
    assert isinstance(answer.value, StreamReader)
    return writer, answer.value


def test_a_stream_both_ways_in_one_call() -> None:
    pair = Pair(root=Feeds())
    writer, reader = returned_stream(pair)
    assert pair.b.streams is not None
    assert pair.a.streams is not None
    # the callee's argument is the caller's stream 1; its result is the callee's stream 1
    assert (writer.stream_id, reader.stream_id) == (1, 1)
    assert set(pair.a.streams.writers) == {1}
    assert set(pair.b.streams.readers) == {1}
    pair.send_to_a(pair.b.streams.items_frame(writer, ["x", "y"]))
    pair.pump()
    [items] = pair.a_events
    assert isinstance(items, StreamItemsReceived)
    assert (items.reader, items.items) == (reader, ["x", "y"])
    pair.a_events.clear()
    pair.send_to_a(pair.b.end_stream(writer, None))
    pair.pump()
    assert pair.a_events == [StreamEnded(reader=reader, error=None)]
    assert 1 not in pair.a.streams.readers
    assert 1 not in pair.b.streams.writers
    assert pair.b.end_stream(writer, None) == b""  # STREAM_END goes once


def test_credit_is_spent_and_granted() -> None:
    pair = Pair(root=Feeds(), a_limits=Limits(stream_window=4096))
    writer, reader = returned_stream(pair)
    streams = pair.b.streams
    assert streams is not None
    assert pair.a.streams is not None
    assert writer.credit == 4096  # the reader's Hello window
    sent = 0
    while writer.credit > 0:
        data = streams.items_frame(writer, [b"z" * 1000])
        sent += len(data)
        pair.send_to_a(data)
    assert writer.credit == 4096 - sent
    assert -1100 < writer.credit <= 0
    with pytest.raises(LocalProtocolError, match=exactly("stream 1 has no credit")):
        streams.items_frame(writer, ["more"])
    pair.pump()
    assert len(pair.a_events) == 5
    # the consumer takes the items: credit is granted in batches of a quarter window
    grant = pair.a.streams.consumed(reader, sent, idle=True)
    pair.send_to_b(grant)
    pair.pump()
    assert decode_frames(grant) == [[9, 1, sent]]
    assert pair.b_events == [StreamCredit(writer=writer)]
    assert writer.credit == 4096


def test_small_grants_wait_for_a_quarter_window_or_an_empty_buffer() -> None:
    pair = Pair(root=Feeds(), a_limits=Limits(stream_window=4096))
    _, reader = returned_stream(pair)
    streams = pair.a.streams
    assert streams is not None
    assert streams.consumed(reader, 100, idle=False) == b""
    assert decode_frames(streams.consumed(reader, 1000, idle=False)) == [[9, 1, 1100]]
    assert decode_frames(streams.consumed(reader, 10, idle=True)) == [[9, 1, 10]]


def test_cancel_asks_the_writer_to_stop_and_items_in_flight_are_dropped() -> None:
    pair = Pair(root=Feeds())
    writer, reader = returned_stream(pair)
    assert pair.a.streams is not None
    assert pair.b.streams is not None
    in_flight = pair.b.streams.items_frame(writer, [1])
    cancel = pair.a.streams.cancel_frame(reader)
    assert decode_frames(cancel) == [[10, 1]]
    assert pair.a.streams.cancel_frame(reader) == b""  # once
    pair.send_to_b(cancel)
    pair.send_to_a(in_flight)
    pair.pump()
    assert pair.a_events == []  # dropped
    assert pair.b_events == [StreamCancelled(writer=writer)]
    assert writer.state is WriterState.CANCELLED
    pair.send_to_a(pair.b.end_stream(writer, None))
    pair.pump()
    assert pair.a_events == []  # the consumer was told already; the id is free
    assert pair.a.streams.readers == {}
    assert pair.b.streams.writers == {}


def test_an_error_ends_the_stream_as_its_registered_class() -> None:
    pair = Pair(root=Feeds())
    writer, _reader = returned_stream(pair)
    assert pair.b.streams is not None
    pair.send_to_a(pair.b.end_stream(writer, LimitExceeded("too many")))
    pair.pump()
    [ended] = pair.a_events
    assert isinstance(ended, StreamEnded)
    assert type(ended.error) is LimitExceeded
    assert str(ended.error) == "too many"


def test_an_error_too_long_for_the_reader_is_cut_as_a_fail_is() -> None:
    """STREAM_END's error follows the FAIL rule (spec 6.6): cut to fit the reader's limits."""
    pair = Pair(root=Feeds(), a_limits=Limits(max_frame_size=1024, max_body_size=1024))
    writer, _reader = returned_stream(pair)
    data = pair.b.end_stream(writer, LimitExceeded("y" * 5000))
    assert len(data) <= 1024 + 8
    pair.send_to_a(data)
    pair.pump()
    [ended] = pair.a_events
    assert isinstance(ended, StreamEnded)
    assert type(ended.error) is LimitExceeded
    assert str(ended.error) == "y" * 200 + " [cut: too long for the peer's limit]"


def test_a_lost_connection_ends_every_stream() -> None:
    pair = Pair(root=Feeds())
    returned_stream(pair)
    assert pair.a.streams is not None
    assert pair.b.streams is not None
    pair.a.connection_lost()
    pair.b.connection_lost()
    assert pair.a.streams.writers == pair.a.streams.readers == {}
    assert pair.b.streams.writers == pair.b.streams.readers == {}


def test_a_stream_not_sent_is_forgotten() -> None:
    """A message that cannot be sent leaves no stream behind (the id is not reused)."""
    pair = Pair(root=Feeds(), b_limits=Limits(max_frame_size=1024, max_body_size=1024))
    with pytest.raises(Exception, match="exceeds the peer's limit"):
        pair.a.send_call(pair.root_proxy, "echo", [Producer(), "x" * 2000], {})
    assert pair.a.streams is not None
    assert pair.a.streams.writers == {}
    assert pair.a.streams.take_opened() == []
    pair.a.send_call(pair.root_proxy, "echo", [Producer()], {})
    [writer] = pair.a.streams.take_opened()
    assert writer.stream_id == 2


def test_no_stream_goes_to_a_peer_that_does_not_list_the_feature() -> None:
    broker = Broker(registry=Registry())
    broker.initiate()
    broker.receive_data(hello())
    with pytest.raises(InsecureTypeError, match="the peer does not take streams"):
        broker.send_call(broker.root_reference(), "echo", [Producer()], {})


def test_our_streams_are_bounded_by_max_streams() -> None:
    broker = peer(max_streams=2)
    root = broker.root_reference()
    broker.send_call(root, "echo", [Producer(), Producer()], {})
    with pytest.raises(LimitExceeded, match="2 streams are open already"):
        broker.send_call(root, "echo", [Producer()], {})


# -- hostile input: each rule a peer can break -------------------------------------------------


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (msg(7, 1, [1]), "unknown message kind 7"),
        (msg(8, 1, None), "unknown message kind 8"),
        (msg(9, 1, 10), "unknown message kind 9"),
        (msg(10, 1), "unknown message kind 10"),
    ],
)
def test_stream_kinds_close_unless_negotiated(message: bytes, error: str) -> None:
    broker = Broker(registry=Registry(), root=Echoer())
    broker.initiate()
    broker.receive_data(hello())
    with pytest.raises(RemoteProtocolError, match=exactly(error)):
        broker.receive_data(message)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (msg(7, 5, [1]), "STREAM_ITEMS for stream 5, which was never opened"),
        (msg(8, 5, None), "STREAM_END for stream 5, which was never opened"),
        (msg(9, 5, 10), "STREAM_CREDIT for stream 5, which was never opened"),
        (msg(10, 5), "STREAM_CANCEL for stream 5, which was never opened"),
        (msg(7, 0, [1]), "stream id must be an integer from 1 to 2**63-1, got 0"),
        (msg(7, 1, []), "stream items must be a non-empty array"),
        (msg(9, 1, 0), "stream credit must be a positive integer, got 0"),
        (msg(7, 1), "malformed STREAM_ITEMS message (2 items)"),
        (msg(10, 1, 2), "malformed STREAM_CANCEL message (3 items)"),
    ],
)
def test_stream_messages_for_unknown_streams_close(message: bytes, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=exactly(error)):
        peer().receive_data(message)


def test_items_after_the_end_close() -> None:
    broker = peer()
    [call] = broker.receive_data(stream_call(1, 1))
    assert isinstance(call, CallReceived)
    assert broker.receive_data(msg(8, 1, None)) == [StreamEnded(reader=call.args[0], error=None)]
    with pytest.raises(
        RemoteProtocolError, match=exactly("STREAM_ITEMS for stream 1, which has ended")
    ):
        broker.receive_data(msg(7, 1, [1]))


def test_items_may_come_as_one_columns_value() -> None:
    """Spec 3.10: the items array may be a COLUMNS value, each record one item; one the
    reader refuses ends the stream (and cancels it), the connection goes on."""
    registry = Registry()
    registry.register_type(Point, "t.Point")
    broker = Broker(registry=registry, root=Echoer())
    broker.initiate()
    broker.receive_data(hello(features=["streams", "columns"], stream_window=4096))
    [call] = broker.receive_data(msg(1, 1, [0, 0], "echo", [cbor2.CBORTag(STREAM, 1)]))
    assert isinstance(call, CallReceived)
    columns = cbor2.CBORTag(tags.COLUMNS, ["t.Point", [[1, 3], [2, 4]]])
    [items] = broker.receive_data(msg(7, 1, columns))
    assert isinstance(items, StreamItemsReceived)
    assert items.items == [Point(1, 2), Point(3, 4)]
    unknown = cbor2.CBORTag(tags.COLUMNS, ["t.Nothing", [[1], [2]]])
    [ended] = broker.receive_data(msg(7, 1, unknown))
    assert isinstance(ended, StreamEnded)
    assert isinstance(ended.error, InsecureTypeError)
    assert "t.Nothing" in str(ended.error)
    assert decode_frames(broker.take_pending()) == [[10, 1]]
    empty = cbor2.CBORTag(tags.COLUMNS, ["t.Point", [[], []]])
    broker.receive_data(stream_call(2, 2))
    with pytest.raises(
        RemoteProtocolError, match=exactly("stream items must be a non-empty array")
    ):
        broker.receive_data(msg(7, 2, empty))


def test_items_not_taken_are_held_bytes() -> None:
    """What a consumer has not taken counts in ``held_bytes`` (the server's budget) until it
    is taken or dropped, also after STREAM_END."""
    broker = peer(stream_window=8192)
    [one, two] = [c.args[0] for c in broker.receive_data(stream_call(1, 1) + stream_call(2, 2))]
    base = broker.held_bytes  # the two calls' frames, owed an answer
    first, second = msg(7, 1, ["a" * 100]), msg(7, 2, ["b" * 200, "c"])
    broker.receive_data(first + second)
    assert broker.streams is not None
    assert (one.held, two.held) == (len(first), len(second))
    assert broker.held_bytes == base + len(first) + len(second)
    broker.receive_data(msg(8, 1, None))  # ended: its item is still to be taken
    assert broker.held_bytes == base + len(first) + len(second)
    broker.streams.consumed(one, len(first), idle=True)
    assert broker.held_bytes == base + len(second)
    broker.streams.cancel_frame(two)  # the consumer left: its items are dropped
    assert broker.held_bytes == base
    assert broker.receive_data(msg(7, 2, ["in flight"])) == []  # dropped, never held
    assert broker.held_bytes == base
    three = broker.receive_data(stream_call(3, 3) + msg(7, 3, ["d"]) + msg(8, 3, None))[0]
    four = broker.receive_data(stream_call(4, 4) + msg(7, 4, ["e"]))[0]
    assert broker.streams.held > 0
    broker.connection_lost()
    assert broker.streams.held == 0
    # Items taken after the line is gone (an ended stream's, a cancelled one's) release
    # nothing more.
    broker.streams.consumed(three.args[0], 100, idle=True)
    broker.streams.cancel_frame(four.args[0])
    assert broker.streams.held == 0


def test_items_beyond_the_credit_close() -> None:
    """The writer may overrun its credit by one frame; a frame sent after that closes."""
    broker = peer(stream_window=1024)
    broker.receive_data(stream_call(1, 1))
    [big] = broker.receive_data(msg(7, 1, ["x" * 2000]))  # one frame beyond: allowed
    assert isinstance(big, StreamItemsReceived)
    with pytest.raises(
        RemoteProtocolError, match=exactly("stream 1: items sent beyond the credit granted")
    ):
        broker.receive_data(msg(7, 1, ["y"]))


def test_credit_overflow_closes() -> None:
    broker = peer()
    broker.send_call(broker.root_reference(), "echo", [Producer()], {})
    broker.receive_data(msg(9, 1, 2**63 - 1 - 1024))  # up to the largest credit: fine
    with pytest.raises(RemoteProtocolError, match=exactly("stream 1: credit overflows 2**63-1")):
        broker.receive_data(msg(9, 1, 1))


def test_a_reused_stream_id_closes() -> None:
    broker = peer()
    broker.receive_data(stream_call(1, 3))
    with pytest.raises(
        RemoteProtocolError, match=exactly("stream id 3 reused (ids must count up; the last was 3)")
    ):
        broker.receive_data(stream_call(2, 3))


def test_a_stream_in_a_refused_call_is_cancelled_at_once() -> None:
    broker = peer()
    events = broker.receive_data(msg(1, 1, [0, 9], "echo", [cbor2.CBORTag(STREAM, 1)]))
    assert events == []
    [fail, cancel] = decode_frames(broker.take_pending())
    assert fail[:2] == [3, 1]
    assert cancel == [10, 1]
    assert broker.streams is not None
    assert broker.streams.readers[1].cancelled is not None
    assert broker.receive_data(msg(7, 1, [1])) == []  # in flight: dropped
    assert broker.receive_data(msg(8, 1, None)) == []
    assert broker.streams.readers == {}


def test_streams_beyond_max_streams_fail_the_call_and_are_cancelled() -> None:
    broker = peer(max_streams=2)
    three = [cbor2.CBORTag(STREAM, i) for i in (1, 2, 3)]
    assert broker.receive_data(msg(1, 1, [0, 0], "echo", three)) == []
    [fail, *cancels] = decode_frames(broker.take_pending())
    assert fail[2]["type"] == "pbtyped.LimitExceeded"
    assert "more than 2 streams (Limits.max_streams)" in fail[2]["message"]
    assert cancels == [[10, 1], [10, 2], [10, 3]]


def test_a_peer_that_never_ends_cancelled_streams_is_cut_off() -> None:
    """Cancelled streams wait for their STREAM_END; a peer that never sends it can hold at
    most twice ``max_streams`` ids, then the connection closes: memory stays bounded."""
    broker = peer(max_streams=2)
    for i in range(1, 5):
        broker.receive_data(msg(1, i, [0, 9], "echo", [cbor2.CBORTag(STREAM, i)]))
    with pytest.raises(
        RemoteProtocolError,
        match=exactly("the peer opened more than 4 streams without ending them"),
    ):
        broker.receive_data(msg(1, 5, [0, 9], "echo", [cbor2.CBORTag(STREAM, 5)]))


def test_a_refused_item_ends_the_stream_and_cancels_it() -> None:
    broker = peer()
    broker.receive_data(stream_call(1, 1))
    [ended] = broker.receive_data(msg(7, 1, [1, cbor2.CBORTag(35, "a+")]))
    assert isinstance(ended, StreamEnded)
    assert isinstance(ended.error, InsecureTypeError)
    assert str(ended.error) == "a stream item was refused: CBOR tag 35 is not allowed"
    assert decode_frames(broker.take_pending()) == [[10, 1]]


def test_a_stream_in_a_refused_answer_is_cancelled() -> None:
    broker = peer()
    root = broker.root_reference()
    qid, _ = broker.send_call(root, "echo", [], {})
    [failed] = broker.receive_data(msg(2, qid, [cbor2.CBORTag(STREAM, 1), cbor2.CBORTag(35, "")]))
    assert isinstance(failed, FailureReceived)
    assert decode_frames(broker.take_pending()) == [[10, 1]]


def test_a_stream_error_map_is_checked() -> None:
    broker = peer()
    broker.receive_data(stream_call(1, 1))
    with pytest.raises(RemoteProtocolError, match=exactly("malformed error: expected a map")):
        broker.receive_data(msg(8, 1, 5))


def test_credit_and_cancel_that_cross_our_end_are_ignored() -> None:
    broker = peer()
    broker.send_call(broker.root_reference(), "echo", [Producer()], {})
    assert broker.streams is not None
    [writer] = broker.streams.take_opened()
    broker.end_stream(writer, None)
    assert broker.receive_data(msg(9, 1, 100)) == []
    assert broker.receive_data(msg(10, 1)) == []


# -- cost to receive ---------------------------------------------------------------------------


def _tags_call(n: int) -> bytes:
    """A call on an object never exported whose arguments open ``n`` streams: each is
    recorded, then cancelled with the refused call."""
    return msg(1, 1, [0, 9], "echo", [cbor2.CBORTag(STREAM, i) for i in range(1, n + 1)])


def test_stream_tags_cost_linear_cpu_and_bounded_memory() -> None:
    """Attack: a frame of many 5-byte STREAM tags. Each costs a small record and a 10-byte
    STREAM_CANCEL: linear in the frame, and the table never outlives the refused call's
    cancels (at most twice max_streams waiting for their ends)."""

    def make(n: int) -> tuple[Any, int]:
        data = _tags_call(n)

        def run() -> None:
            broker = peer(max_streams=100_000)
            broker.receive_data(data)
            broker.take_pending()

        return run, len(data)

    assert_linear_cpu(make, 300, 4800)
    data = _tags_call(4800)
    broker = peer(max_streams=100_000)
    ratio = peak_memory(lambda: broker.receive_data(data)) / len(data)
    assert ratio < 80, f"{ratio:.0f} bytes held per byte received"


def _columns_items(n: int) -> bytes:
    """STREAM_ITEMS for stream 1 whose items are one COLUMNS value of ``n`` tiny records."""
    return msg(7, 1, cbor2.CBORTag(tags.COLUMNS, ["t.Point", [[0] * n, [1] * n]]))


def _columns_reader() -> Broker:
    """A serving broker reading stream 1 of a peer that lists "streams" and "columns"."""
    registry = Registry()
    registry.register_type(Point, "t.Point")
    broker = Broker(registry=registry, root=Echoer(), limits=Limits(stream_window=2**31))
    broker.initiate()
    broker.receive_data(hello(features=["streams", "columns"]))
    broker.receive_data(stream_call(1, 1))
    return broker


def test_columns_items_cost_linear_cpu_and_bounded_memory() -> None:
    """Attack: a STREAM_ITEMS whose items are one COLUMNS value of 2-byte records (the
    cheapest to send, ~70x as objects). Linear CPU; the decoder weighs the records before it
    builds them, so the frame ends the stream (refused, as any value over the decoded
    ratio) instead of building what it would cost."""

    def make(n: int) -> tuple[Any, int]:
        data = _columns_items(n)

        def run() -> None:
            _columns_reader().receive_data(data)

        return run, len(data)

    assert_linear_cpu(make, 2_000, 64_000)
    broker = _columns_reader()
    data = _columns_items(64_000)
    events: list[Any] = []
    ratio = peak_memory(lambda: events.extend(broker.receive_data(data))) / len(data)
    assert ratio < 40, f"{ratio:.0f} bytes held per byte received"
    [ended] = events
    assert isinstance(ended, StreamEnded)
    assert "max_decoded_ratio" in str(ended.error)


def test_a_stream_may_get_a_larger_window_than_the_hellos() -> None:
    pair = Pair(root=Feeds(), a_limits=Limits(stream_window=4096))
    writer, reader = returned_stream(pair)
    streams = pair.a.streams
    assert streams is not None
    grant = streams.widen(reader, 10_000)
    assert decode_frames(grant) == [[9, 1, 10_000 - 4096]]
    pair.send_to_b(grant)
    pair.pump()
    assert writer.credit == 10_000
    # grants now wait for a quarter of this stream's window
    assert streams.consumed(reader, 2000, idle=False) == b""
    with pytest.raises(ValueError, match="can only grow"):
        streams.widen(reader, 5000)
