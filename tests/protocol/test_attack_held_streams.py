"""A call held on an answer not known yet keeps the streams it carries (docs/protocol.md 3.6,
3.9, 3.10): its message was not refused, it only waits. Today the broker settles a frame's
streams as soon as the frame is handled, and a held call gives no event, so its streams are
cancelled at once (STREAM_CANCEL); once delivered, its method reads a stream that never ends
(the writer's STREAM_END for a cancelled stream gives no event). Over real sockets,
``root.call_remote("slow_two").call_remote("total", numbers())`` never answered (3 s timeout).
"""

from __future__ import annotations

import cbor2
import pytest

from pbtyped import Registry
from pbtyped.protocol.broker import Broker

from .test_pipelining import RETAIN, Chain, call
from .wiring import decode_frames, hello, msg

STREAM = 41007


@pytest.mark.xfail(
    strict=True,
    reason="Broker._settle_streams cancels the streams of a frame whose message gives no "
    "event, which a call held on an answer also does (receive side: branch x-order)",
)
def test_a_call_held_on_an_answer_keeps_its_streams() -> None:
    broker = Broker(registry=Registry(), root=Chain())
    broker.initiate()
    broker.receive_data(hello(features=["pipelining", "streams"]))
    broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))
    held = msg(1, 2, [1, 1], "three", [cbor2.CBORTag(STREAM, 1)])
    assert broker.receive_data(held) == []
    assert broker.waiting_calls == 1
    assert decode_frames(broker.take_pending()) == []  # no STREAM_CANCEL for stream 1
    assert broker.streams is not None
    assert broker.streams.readers[1].cancelled is None
