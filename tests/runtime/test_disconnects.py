"""Disconnects: what runs once when a connection is lost."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable

import pytest

import pbtyped as pb
from pbtyped.runtime.callbacks import Callbacks, Disconnects

from ..support import eventually


class Ref:
    """A reference with its own disconnect callbacks (as RemoteReference has)."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.callbacks: Callbacks[Ref] = Callbacks()
        self.callbacks.add(lambda ref: calls.append(f"ref {name}"))

    def fire_disconnect(self) -> list[Callable[[Ref], object]]:
        return self.callbacks.take()


def test_references_callbacks_run_first_then_the_connections_once() -> None:
    calls: list[str] = []
    notices: Disconnects[str] = Disconnects()
    notices.add(lambda conn: calls.append(f"conn {conn}"))
    ref = Ref("a", calls)
    notices.watch(ref)
    notices.watch(ref)
    notices.fire("c1")
    assert calls == ["ref a", "conn c1"]
    notices.fire("c1")
    assert calls == ["ref a", "conn c1"]


def test_a_removed_callback_does_not_run() -> None:
    calls: list[str] = []
    notices: Disconnects[str] = Disconnects()

    def callback(conn: str) -> None:
        calls.append(conn)

    notices.add(callback)
    notices.add(callback)
    notices.discard(callback)
    notices.discard(lambda conn: None)  # never added: nothing happens
    notices.fire("c")
    assert calls == ["c"]


def test_references_are_watched_weakly() -> None:
    calls: list[str] = []
    notices: Disconnects[str] = Disconnects()
    notices.watch(Ref("gone", calls))
    gc.collect()
    notices.fire("c")
    assert calls == []


def test_a_failing_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    notices: Disconnects[str] = Disconnects()

    def broken(conn: str) -> None:
        raise RuntimeError("broken callback")

    notices.add(broken)
    notices.add(calls.append)
    with caplog.at_level(logging.ERROR, logger="pbtyped"):
        notices.fire("c")
    assert calls == ["c"]
    assert "disconnect callback" in caplog.text
    assert "broken callback" in caplog.text


def test_closed_waits_for_the_tasks_run_before_it(run, caplog: pytest.LogCaptureFixture) -> None:
    """Connection.run_before_closed: ``closed`` (so aclose()) is done only once each task has
    ended; a task that fails is logged and the close still completes."""

    async def body() -> None:
        release = asyncio.Event()
        ended: list[str] = []

        async def slow() -> None:
            await release.wait()
            ended.append("slow")

        async def broken() -> None:
            raise RuntimeError("task broke")

        async with pb.serve(pb.Root()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            connection = client.connection
            connection.run_before_closed(slow())
            connection.run_before_closed(broken())
            connection.close()
            await eventually(lambda: connection.is_closed)
            assert not connection.closed.done()
            release.set()
            await client.aclose()
            assert ended == ["slow"]
            assert connection.closed.done()

    with caplog.at_level(logging.ERROR, logger="pbtyped"):
        run(body)
    (record,) = caplog.records
    assert record.getMessage().startswith("a task run before <pbtyped.Connection client side")
    assert "RuntimeError: task broke" in caplog.text
