"""One-way calls over TCP (issue 14 item 5): ``RemoteReference.send`` and their dispatch.

A one-way call starts in its place among the calls on its target, counts against
``max_calls_in_flight`` like a call, and is never answered: what it raises is logged by the
callee (rate-limited) and never sent; one the callee cannot deliver is dropped and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import cbor2
import pytest

import pbtyped as pb
from pbtyped.protocol import messages

from ..protocol.wiring import exactly, frame, hello, msg
from .conftest import eventually, silent_peer

pytestmark = pytest.mark.filterwarnings("error")


class Recorder(pb.Root):
    """Records the order in which calls and one-way calls start."""

    def __init__(self) -> None:
        self.started: list[Any] = []
        self.gate = asyncio.Event()

    def remote_note(self, value: Any) -> str:
        self.started.append(value)
        return "noted"

    def remote_slow_note(self, value: Any) -> Awaitable[bool]:
        # Recorded when it is delivered, as E-order means: a coroutine's body would first
        # run a loop turn later, after a sync method delivered behind it.
        self.started.append(value)
        return self.gate.wait()

    def remote_seen(self) -> list[Any]:
        return self.started

    def remote_boom(self, value: Any) -> None:
        raise KeyError(value)

    def remote_refuse(self) -> None:
        raise pb.LimitExceeded("an expected kind of error")

    async def remote_later_boom(self) -> None:
        await asyncio.sleep(0)
        raise ValueError("raised after an await")


def test_sends_start_in_order_with_the_calls_on_the_same_reference(run) -> None:
    async def body() -> None:
        service = Recorder()
        async with pb.serve(service) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            calls = []
            for i in range(40):
                if i % 3 == 0:
                    calls.append(asyncio.ensure_future(root.call_remote("note", i)))
                    await asyncio.sleep(0)  # the call's task sends it now
                elif i % 3 == 1:
                    root.send("note", i)
                else:
                    root.send("slow_note", i)
                if i % 7 == 0:
                    await asyncio.sleep(0)  # let some leave in a burst, some alone
            assert await asyncio.gather(*calls) == ["noted"] * len(calls)
            assert await root.call_remote("seen") == list(range(40))
            service.gate.set()

    run(body)


def test_a_send_returns_none_and_nothing_comes_back(run) -> None:
    async def body() -> None:
        service = Recorder()
        async with pb.serve(service) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            broker = client.connection.broker
            before = broker.frames_received
            assert root.send("note", "x") is None
            assert root.send("boom", "y") is None
            assert await root.call_remote("seen") == ["x"]
            # One frame came back: the answer to "seen". Neither send was answered.
            assert broker.frames_received == before + 1
            assert broker.pending_questions == 0

    run(body)


def test_what_a_send_raises_is_logged_on_the_callee_and_never_sent(run, caplog) -> None:
    async def body() -> None:
        async with pb.serve(Recorder()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            broker = client.connection.broker
            before = broker.frames_received
            root.send("boom", "key")
            root.send("refuse")
            root.send("later_boom")
            root.send("no_such_method")
            await root.call_remote("seen")
            await eventually(lambda: len(_oneway_lines(caplog)) == 4)
            assert broker.frames_received == before + 1  # only the answer to "seen"

    with caplog.at_level(logging.DEBUG, logger="pbtyped"):
        run(body)
    lines = {r.getMessage(): r for r in _oneway_lines(caplog)}
    boom = lines["Recorder.remote_boom raised KeyError('key') in a one-way call (nobody is told)"]
    assert boom.levelno == logging.ERROR
    assert boom.exc_info is not None
    later = lines[
        "Recorder.remote_later_boom raised ValueError('raised after an await') in a one-way "
        "call (nobody is told)"
    ]
    assert later.levelno == logging.ERROR
    assert later.exc_info is not None
    refuse = lines[
        "Recorder.remote_refuse raised LimitExceeded('an expected kind of error') in a one-way "
        "call (nobody is told)"
    ]
    assert refuse.levelno == logging.WARNING
    assert refuse.exc_info is None
    missing = [m for m in lines if m.startswith("Recorder.remote_no_such_method raised")]
    assert missing == [
        "Recorder.remote_no_such_method raised NoSuchMethod('Recorder has no remote method "
        '"no_such_method"\') in a one-way call (nobody is told)'
    ]


def _oneway_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "in a one-way call" in r.getMessage()]


def test_undeliverable_sends_are_dropped_and_logged_rate_limited(run, caplog) -> None:
    """A raw peer sends SENDs to an object it was never given: each is dropped; the log
    takes ``log_rate_per_minute`` lines of them and counts the rest; the connection goes on."""
    bad = msg(14, [0, 99], "note", ["x"])
    good = msg(1, 1, [0, 0], "seen", [])

    async def body() -> None:
        limits = pb.Limits(log_rate_per_minute=3)
        async with pb.serve(Recorder(), limits=limits) as server:
            peer = await silent_peer(server.port, hello(features=["oneway"]) + bad * 10 + good)
            [conn] = server.connections
            await eventually(lambda: conn.broker.frames_received == 12)
            peer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await peer
            assert conn._logs.suppressed == 7

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 3
    assert dropped[0].endswith(": one-way call 'note' dropped: no object #99 on this connection")


def test_a_send_refused_by_its_arguments_is_dropped_and_logged(run, caplog) -> None:
    refused = frame(cbor2.dumps([14, [0, 0], "note", [cbor2.CBORTag(35, "a+")]]))

    async def body() -> None:
        service = Recorder()
        async with pb.serve(service) as server:
            peer = await silent_peer(server.port, hello(features=["oneway"]) + refused)
            [conn] = server.connections
            await eventually(lambda: conn.broker.frames_received == 2)
            assert service.started == []
            peer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await peer

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    assert any(
        r.getMessage().endswith(
            "one-way call 'note' dropped: arguments refused: CBOR tag 35 is not allowed"
        )
        for r in caplog.records
    )


def test_sends_count_against_the_calls_in_flight_and_wait_in_order(run) -> None:
    async def body() -> None:
        service = Recorder()
        limits = pb.Limits(max_calls_in_flight=2)
        async with (
            pb.serve(service, limits=limits) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            for i in range(5):
                root.send("slow_note", i)
            root.send("note", "after")
            [conn] = server.connections
            await eventually(lambda: len(service.started) == 2)
            calls = conn._calls
            assert calls.running is not None
            assert len(calls.running) == 2
            assert calls.waiting is not None
            assert len(calls.waiting) == 4
            service.gate.set()
            await eventually(lambda: len(service.started) == 6)
            assert service.started == [0, 1, 2, 3, 4, "after"]
            await eventually(lambda: not calls.running and not calls.waiting)

    run(body)


def test_a_send_while_the_peer_does_not_read_raises_and_sends_nothing(run) -> None:
    async def body() -> None:
        service = Recorder()
        async with pb.serve(service) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            conn = client.connection
            conn.pause_writing()  # as the transport says when the peer stops reading
            with pytest.raises(
                pb.PeerNotReading,
                match=exactly("note() was not sent: the peer does not read what this side sends"),
            ):
                root.send("note", 1)
            conn.resume_writing()
            root.send("note", 2)
            assert await root.call_remote("seen") == [2]

    run(body)


def test_a_send_on_a_closed_connection_raises_dead_reference(run) -> None:
    async def body() -> None:
        async with pb.serve(Recorder()) as server:
            async with pb.connect("127.0.0.1", server.port) as client:
                root = await client.root()
            with pytest.raises(pb.DeadReferenceError):
                root.send("note", 1)

    run(body)


def test_a_peer_without_oneway_gets_a_call_whose_answer_is_dropped(run, monkeypatch) -> None:
    """The fallback for a peer of before one-way calls: an ordinary CALL; it runs there, and
    its answer (a result or an error) is dropped here without a trace."""
    monkeypatch.setattr(messages, "FEATURES", ("columns", "interfaces"))

    async def body() -> None:
        service = Recorder()
        async with pb.serve(service) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            broker = client.connection.broker
            assert not broker.oneway
            root.send("note", 1)
            root.send("boom", 2)
            assert await root.call_remote("seen") == [1]
            await eventually(lambda: broker.pending_questions == 0)
            assert not client.connection._pending

    run(body)


def test_a_send_holds_its_bytes_in_the_budget_until_it_ends(run) -> None:
    """A one-way call's arguments count in what the connection holds (the server-wide
    ``max_bytes_held`` budget) from receipt until its method ends, as a call's do until it
    is answered: a flood of sends to a slow method is bounded like a flood of calls."""

    async def body() -> None:
        service = Recorder()
        async with pb.serve(service) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            [conn] = server.connections
            root.send("slow_note", "x" * 5000)
            await eventually(lambda: service.started != [])
            assert conn.broker.held_bytes > 5000
            service.gate.set()
            await eventually(lambda: conn.broker.held_bytes == 0)
            root.send("note", "sync")
            root.send("boom", "raises")
            assert await root.call_remote("seen") == ["x" * 5000, "sync"]
            assert conn.broker.held_bytes == 0

    run(body)
