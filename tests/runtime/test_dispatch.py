"""Dispatcher: the peer's calls run at once while there is room, and wait in order otherwise."""

from __future__ import annotations

import asyncio
from typing import Any

import pbtyped as pb
from pbtyped.protocol.events import CallReceived
from pbtyped.runtime.dispatch import Dispatcher
from pbtyped.runtime.flow import Flow
from pbtyped.runtime.logs import LogLimiter


class Broker:
    """Answers as readable bytes instead of frames."""

    registry = pb.Registry()
    answers = None  # never pipelines

    def send_return(self, qid: int, value: Any) -> bytes:
        return f"R{qid}={value!r};".encode()

    def send_failure(self, qid: int, exc: BaseException) -> bytes:
        return f"F{qid}={type(exc).__name__};".encode()


class Outbox:
    def __init__(self) -> None:
        self.out = b""

    def write_later(self, data: bytes) -> None:
        self.out += data


class Conn:
    log_key = "192.0.2.1"  # whose share of the log budget a line spends

    def __init__(self) -> None:
        self.is_closed = False
        self.answered_times = 0

    def _answered(self) -> None:
        self.answered_times += 1


class Service(pb.Root):
    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.seen: list[object] = []

    def remote_now(self, x: int) -> int:
        self.seen.append(pb.current_connection())
        return x

    async def remote_later(self, x: int) -> int:
        self.seen.append(pb.current_connection())
        gate = self.gates.setdefault(x, asyncio.Event())
        await gate.wait()
        return x

    def remote_fail(self) -> None:
        raise KeyError("no")


class Setup:
    def __init__(self, max_running: int = 2) -> None:
        self.conn = Conn()
        self.outbox = Outbox()
        self.flow = Flow()
        self.service = Service()
        self.calls = Dispatcher(
            self.conn,
            Broker(),
            self.outbox,
            self.flow,
            LogLimiter(100),
            max_running,
        )

    def call(self, qid: int, method: str, *args: Any) -> None:
        event = CallReceived(
            question_id=qid, target=self.service, method=method, args=list(args), kwargs={}
        )
        self.calls.receive(event)

    async def open_gate(self, x: int) -> None:
        self.service.gates.setdefault(x, asyncio.Event()).set()
        for _ in range(3):
            await asyncio.sleep(0)


def test_a_call_answered_at_once_sees_its_connection(run) -> None:
    async def body() -> None:
        s = Setup()
        s.call(1, "now", 7)
        s.call(2, "fail")
        assert s.outbox.out == b"R1=7;F2=KeyError;"
        assert s.service.seen == [s.conn]
        assert s.calls.waiting is None  # no queue made: nothing had to wait
        assert s.calls.running is None  # no table made: nothing ran as a task

    run(body)


def test_calls_beyond_the_limit_wait_and_start_in_arrival_order(run) -> None:
    async def body() -> None:
        s = Setup(max_running=2)
        for qid in range(1, 6):
            s.call(qid, "later", qid)
        await asyncio.sleep(0)
        assert sorted(s.calls.running) == [1, 2]
        assert [e.question_id for e in s.calls.waiting or ()] == [3, 4, 5]
        s.call(6, "now", 6)  # behind the waiting ones, though it would finish at once
        assert s.outbox.out == b""
        await s.open_gate(2)
        assert s.outbox.out == b"R2=2;"
        assert sorted(s.calls.running) == [1, 3]
        assert s.conn.answered_times == 1
        for x in (1, 3, 4):
            await s.open_gate(x)
        # Each end started the next in line; 6 was answered as soon as it started.
        assert s.outbox.out == b"R2=2;R1=1;R3=3;R4=4;R6=6;"
        assert list(s.calls.running) == [5]
        assert not s.calls.waiting
        assert all(seen is s.conn for seen in s.service.seen)

    run(body)


def test_calls_wait_while_the_peer_does_not_read_our_answers(run) -> None:
    async def body() -> None:
        s = Setup()
        s.flow.pause_writing()
        s.call(1, "now", 1)
        assert s.outbox.out == b""
        s.calls.start_waiting()
        assert s.outbox.out == b""  # still not reading
        s.flow.resume_writing()
        s.calls.start_waiting()
        assert s.outbox.out == b"R1=1;"

    run(body)


def test_waiting_calls_do_not_start_on_a_closed_connection(run) -> None:
    async def body() -> None:
        s = Setup(max_running=1)
        s.call(1, "later", 1)
        s.call(2, "now", 2)
        s.conn.is_closed = True
        await s.open_gate(1)
        assert s.outbox.out == b"R1=1;"
        assert len(s.calls.waiting or ()) == 1

    run(body)


def test_a_cancelled_call_stops_running_or_leaves_the_queue(run) -> None:
    async def body() -> None:
        s = Setup(max_running=1)
        s.call(1, "later", 1)
        s.call(2, "now", 2)
        s.call(3, "now", 3)
        await asyncio.sleep(0)
        s.calls.cancel(2)  # waiting: dropped, answered at once
        assert s.outbox.out == b"F2=CallCancelled;"
        s.calls.cancel(1)  # running: its task is cancelled, then the queue moves on
        for _ in range(3):
            await asyncio.sleep(0)
        assert s.outbox.out == b"F2=CallCancelled;F1=CallCancelled;R3=3;"
        s.calls.cancel(99)  # unknown: nothing happens
        assert s.outbox.out == b"F2=CallCancelled;F1=CallCancelled;R3=3;"

    run(body)


def test_stop_cancels_the_running_calls_and_drops_the_waiting_ones(run) -> None:
    async def body() -> None:
        s = Setup(max_running=1)
        s.call(1, "later", 1)
        s.call(2, "now", 2)
        await asyncio.sleep(0)
        (task,) = s.calls.running.values()
        s.calls.stop()
        await asyncio.sleep(0)
        assert task.cancelled()
        assert not s.calls.waiting
        assert not s.calls.running

    run(body)
