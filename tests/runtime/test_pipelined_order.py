"""E-order on the callee over TCP, for calls that waited for answers (docs/protocol.md 3.8,
3.9): they start after the calls on their target read before them, even when one read brings
them all, and a one-way call that waited behind them is delivered, or dropped and logged,
in its turn."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import cbor2
import pytest

import pbtyped as pb
from pbtyped.wire import tags

from ..protocol.wiring import hello, msg
from .conftest import eventually, silent_peer

pytestmark = pytest.mark.filterwarnings("error")

FEATURES = ["pipelining", "oneway"]
RETAIN = {"retain": True}


class Thing(pb.Referenceable):
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def remote_ping(self, value: Any = None) -> str:
        self.log.append(("ping", value))
        return "pong"


class Recorder(pb.Root):
    """Records the order in which calls and one-way calls start."""

    def __init__(self) -> None:
        self.started: list[Any] = []
        self.gate = asyncio.Event()

    def remote_note(self, value: Any, answer: Any = None) -> dict[str, Any]:
        self.started.append(value)
        return {"value": value}

    def remote_make(self) -> Thing:
        return Thing(self.started)

    def remote_slow(self) -> Awaitable[bool]:
        return self.gate.wait()


def answer_ref(qid: int) -> cbor2.CBORTag:
    return cbor2.CBORTag(tags.ANSWER_REF, [qid, []])


def test_calls_an_answer_lets_go_start_after_the_calls_read_before_them(run) -> None:
    """One read brings five messages on the root: call 1 (its answer kept), call 2, call 3
    naming answer 1 (it waits), a SEND and call 5 (they wait behind it). Answering call 1
    lets 3, the SEND and 5 go: after call 2, which was read before them."""
    batch = (
        msg(1, 1, [0, 0], "note", [1], {}, RETAIN)
        + msg(1, 2, [0, 0], "note", [2])
        + msg(1, 3, [0, 0], "note", [3, answer_ref(1)])
        + msg(14, [0, 0], "note", [4])
        + msg(1, 5, [0, 0], "note", [5])
    )

    async def body() -> None:
        service = Recorder()
        async with pb.serve(service) as server:
            peer = await silent_peer(server.port, hello(features=FEATURES) + batch)
            await eventually(lambda: len(service.started) == 5)
            assert service.started == [1, 2, 3, 4, 5]
            peer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await peer

    run(body)


def test_a_send_that_waited_is_dropped_and_logged_if_its_object_went(run, caplog) -> None:
    """A call on an object waits for an answer (a slow method's); a SEND to that object
    waits behind it; the peer releases the object. When the answer comes, the call fails
    (its object is gone) and the SEND is dropped and logged, never run."""
    make = msg(1, 1, [0, 0], "make", [])  # the Thing: export 1, once answered
    batch = (
        msg(1, 2, [0, 0], "slow", [], {}, RETAIN)
        + msg(1, 3, [0, 1], "ping", [answer_ref(2)])
        + msg(14, [0, 1], "ping", ["one-way"])
        + msg(5, 1, 1)  # RELEASE
    )

    async def body() -> None:
        service = Recorder()
        async with pb.serve(service) as server:
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(hello(features=FEATURES) + make)
            [conn] = server.connections
            await eventually(lambda: conn.broker.export_count == 2)
            writer.write(batch)
            await eventually(lambda: conn.broker.frames_received == 6)
            assert conn.broker.waiting_calls == 2
            service.gate.set()
            await eventually(lambda: conn.broker.owed_answers == 0)
            assert conn.broker.waiting_calls == 0
            assert service.started == []  # neither ping ran
            assert conn.broker.held_bytes == 0
            assert not conn.is_closed
            writer.close()
            await writer.wait_closed()

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1
    assert dropped[0].endswith(": one-way call 'ping' dropped: no object #1 on this connection")
