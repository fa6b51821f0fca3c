"""Flow: reading stops for any of three reasons and resumes once none is left."""

from __future__ import annotations

import asyncio

import pytest

from pbtyped.runtime.flow import Flow, Pause
from pbtyped.runtime.slots import Budget

from .fakes import FakeTransport


def flow(budget: Budget | None = None) -> tuple[Flow, FakeTransport]:
    found, transport = Flow(budget), FakeTransport()
    found.transport = transport
    return found, transport


def test_reading_resumes_only_when_every_reason_is_gone() -> None:
    f, transport = flow()
    f.pause_reading(Pause.BACKLOG)
    f.pause_reading(Pause.BACKLOG)  # once is enough
    f.pause_reading(Pause.BUDGET)
    assert transport.pauses == 1
    assert f.paused == {Pause.BACKLOG, Pause.BUDGET}
    f.resume_reading(Pause.BACKLOG)
    assert not transport.reading
    f.resume_reading(Pause.PEER_NOT_READING)  # not a reason now: nothing changes
    assert not transport.reading
    f.resume_reading(Pause.BUDGET)
    assert transport.reading
    assert f.paused == frozenset()


def test_a_closing_transport_is_not_told_to_read_again() -> None:
    f, transport = flow()
    f.pause_reading(Pause.BACKLOG)
    transport.closing = True
    f.resume_reading(Pause.BACKLOG)
    assert f.paused == frozenset()
    assert transport.resumes == 0


def test_a_peer_not_reading_stops_our_reading_and_holds_back_writers(run) -> None:
    async def body() -> None:
        f, transport = flow()
        await f.writable()  # never paused: no wait
        f.pause_writing()
        assert f.writing_paused
        assert f.paused == {Pause.PEER_NOT_READING}
        writer = asyncio.ensure_future(f.writable())
        await asyncio.sleep(0)
        assert not writer.done()
        f.resume_writing()
        await writer
        assert not f.writing_paused
        assert transport.reading

    run(body)


def test_a_lost_connection_releases_whoever_waits_to_write(run) -> None:
    async def body() -> None:
        f, _ = flow()
        f.pause_writing()
        writer = asyncio.ensure_future(f.writable())
        await asyncio.sleep(0)
        f.lost()
        await writer

    run(body)


def test_over_the_budget_reading_stops_until_it_frees() -> None:
    budget = Budget(100)
    mine, transport = flow(budget)
    other, _ = flow(budget)
    other.account(80, awaiting=False)
    assert other.paused == frozenset()
    mine.account(50, awaiting=False)  # 130 held, over the limit of 100
    assert mine.paused == {Pause.BUDGET}
    assert budget.waiting == 1
    other.account(0, awaiting=False)  # 50 held: the waiting connection reads again
    assert transport.reading
    assert mine.paused == frozenset()
    assert budget.used == 50


def test_a_connection_awaiting_answers_is_never_paused_by_the_budget() -> None:
    budget = Budget(100)
    f, transport = flow(budget)
    f.account(500, awaiting=True)
    assert transport.reading
    f.account(600, awaiting=False)
    assert f.paused == {Pause.BUDGET}
    f.budget_resume()  # we await an answer from it now: it must be read
    assert transport.reading
    assert budget.waiting == 0


@pytest.mark.parametrize("paused", [False, True])
def test_a_lost_connection_gives_back_what_it_held(paused: bool) -> None:
    budget = Budget(100)
    f, _ = flow(budget)
    f.account(150 if paused else 50, awaiting=False)
    assert (Pause.BUDGET in f.paused) is paused
    f.lost()
    assert budget.used == 0
    assert budget.waiting == 0
    assert f.held == 0


def test_a_client_has_no_budget_to_account_to() -> None:
    f, transport = flow()
    f.account(10**9, awaiting=False)
    assert transport.reading
    assert f.held == 0
