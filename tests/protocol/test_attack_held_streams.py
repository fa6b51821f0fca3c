"""A call held on an answer not known yet keeps the streams it carries (docs/protocol.md 3.9,
3.10): its message was not refused, it only waits. The broker used to settle a frame's
streams as soon as the frame was handled, and a held call gives no event, so its streams were
cancelled at once (STREAM_CANCEL); once delivered, its method read a stream that never ended.
Over real sockets, ``root.call_remote("slow_two").call_remote("total", numbers())`` never
answered (tests/runtime/test_promises.py has that case).
"""

from __future__ import annotations

import cbor2

from pbtyped import Registry
from pbtyped.protocol.broker import Broker

from .test_pipelining import RETAIN, Chain, Two, call
from .wiring import decode_frames, hello, msg

STREAM = 41007


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


def test_a_held_call_that_never_runs_cancels_its_streams() -> None:
    """The other half: a held call that fails instead of running (here its caller finished
    it before its answer was known) cancels the streams it carried when its turn comes, as a
    call refused on arrival does; none is left open for a reader nobody has."""
    broker = Broker(registry=Registry(), root=Chain())
    broker.initiate()
    broker.receive_data(hello(features=["pipelining", "streams"]))
    [head] = broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))
    assert broker.receive_data(msg(1, 2, [1, 1], "three", [cbor2.CBORTag(STREAM, 1)])) == []
    broker.receive_data(msg(4, 2))  # FINISH: the held call will not run
    sent = broker.send_return(head.question_id, Two(2)) + broker.take_pending()
    kinds = [(message[0], message[1]) for message in decode_frames(sent)]
    assert (10, 1) in kinds  # STREAM_CANCEL for stream 1
    assert (3, 2) in kinds  # the held call's FAIL (CallCancelled)
    assert broker.streams is not None
    assert broker.streams.readers[1].cancelled is not None
