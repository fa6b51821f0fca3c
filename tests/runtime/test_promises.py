"""Issue 13: promises over a real connection. Round trips are counted by a proxy (not timed),
errors and cancellation flow down a chain, dropped promises leak nothing, and calls on one
target start in the order they were made, pipelined or not (E-order)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.protocol import messages

from .conftest import eventually
from .link import CountingLink


class Two(pb.Referenceable):
    def __init__(self, n: int, log: list[int] | None = None) -> None:
        self.n = n
        self.log = log if log is not None else []

    def remote_next(self) -> Two:
        return Two(self.n + 1)

    def remote_three(self, x: int) -> int:
        return self.n * 100 + x

    def remote_hit(self, i: int) -> None:
        self.log.append(i)

    async def remote_total(self, numbers: AsyncIterator[int]) -> int:
        return self.n * 100 + sum([n async for n in numbers])

    def remote_hit_later(self, i: int) -> Awaitable[None]:
        # Logged as the call starts (an async def would log as its task first runs, after
        # any sync call started meanwhile), answered as an async method is.
        self.log.append(i)
        return asyncio.sleep(0)


class Chain(pb.Root):
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.counter = Two(0)

    def remote_get_two(self) -> Two:
        return Two(2)

    def remote_point(self) -> dict[str, int]:
        return {"x": 1, "y": 2}

    def remote_move(self, point: dict[str, int], by: int) -> dict[str, int]:
        return {"x": point["x"] + by, "y": point["y"] + by}

    def remote_fails(self) -> Two:
        raise pb.ValidationError("no two today")

    async def remote_slow_two(self) -> Two:
        await self.gate.wait()
        return Two(2)

    def remote_counter(self) -> Two:
        return self.counter


@asynccontextmanager
async def linked(root: pb.Root) -> AsyncIterator[tuple[pb.RemoteReference, CountingLink, Any]]:
    """A client whose root reference goes through a counting link to a server of ``root``."""
    async with pb.serve(root) as server, CountingLink(server.port) as link:
        async with pb.connect("127.0.0.1", link.port) as client:
            ref = await client.root()
            link.reset()
            yield ref, link, server


def test_a_chain_of_three_calls_costs_one_round_trip_pipelined_and_three_awaited(run) -> None:
    async def body() -> None:
        async with linked(Chain()) as (root, link, _):
            assert (
                await root.call_remote("get_two").call_remote("next").call_remote("three", 1) == 301
            )
            assert (link.rounds, link.calls) == (1, 3)

            link.reset()
            two = await root.call_remote("get_two")
            three = await two.call_remote("next")
            assert await three.call_remote("three", 1) == 301
            assert (link.rounds, link.calls) == (3, 3)

    run(body)


def test_a_promised_value_as_an_argument_never_comes_back_first(run) -> None:
    async def body() -> None:
        async with linked(Chain()) as (root, link, _):
            moved = await root.call_remote("move", root.call_remote("point"), 2)
            assert moved == {"x": 3, "y": 4}
            assert link.rounds == 1
            # Both calls went up before any answer came down.
            assert link.log[:2] == [("up", 1), ("up", 1)]
            # A value inside a promise, as an argument.
            link.reset()
            assert await root.call_remote(
                "move", {"x": 0, "y": 0}, root.call_remote("point").at("y")
            ) == {"x": 2, "y": 2}
            assert link.rounds == 1

    run(body)


def test_awaiting_a_promise_gives_what_awaiting_a_call_gave(run) -> None:
    async def body() -> None:
        async with linked(Chain()) as (root, link, _):
            promise = root.call_remote("point")
            assert link.calls == 0  # nothing is sent before it is awaited or used
            assert await promise == {"x": 1, "y": 2}
            assert await promise == {"x": 1, "y": 2}  # awaited again: the same answer
            task = asyncio.create_task(root.call_remote("point"))  # still a coroutine
            assert await task == {"x": 1, "y": 2}
            assert (
                await asyncio.gather(root.call_remote("point"), root.call("point"))
                == [{"x": 1, "y": 2}] * 2
            )
            two = await root.call_remote("get_two")
            assert isinstance(two, pb.RemoteReference)

    run(body)


def test_errors_flow_down_the_chain(run) -> None:
    async def body() -> None:
        async with linked(Chain()) as (root, _, server):
            head = root.call_remote("fails")
            dependent = head.call_remote("next").call_remote("three", 1)
            with pytest.raises(pb.ValidationError, match=r"^no two today$"):
                await dependent
            with pytest.raises(pb.ValidationError, match=r"^no two today$"):
                await head
            with pytest.raises(pb.ValidationError, match=r"^no two today$"):
                await root.call_remote("move", root.call_remote("fails"), 1)
            # A promise whose answer is known already: its error is raised here at once.
            with pytest.raises(pb.ValidationError, match=r"^no two today$"):
                await head.call_remote("three", 1)
            [conn] = server.connections
            await eventually(lambda: conn.broker.kept_answers == 0)

    run(body)


def test_a_path_that_leads_nowhere_fails_the_call_on_it(run) -> None:
    async def body() -> None:
        async with linked(Chain()) as (root, _, _):
            with pytest.raises(pb.ValidationError, match=r"answer \d+ has no value at \$.result.z"):
                await root.call_remote("move", root.call_remote("point").at("z"), 1)

    run(body)


def test_cancelling_the_head_fails_its_dependents(run) -> None:
    async def body() -> None:
        chain = Chain()
        async with linked(chain) as (root, _, server):
            head = root.call_remote("slow_two")
            dependent = asyncio.ensure_future(head.call_remote("three", 1))
            await asyncio.sleep(0)  # both calls are sent
            waiting = asyncio.ensure_future(head)
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(pb.CallCancelled):
                await dependent
            [conn] = server.connections
            await eventually(lambda: conn.broker.kept_answers == 0)

    run(body)


def test_a_timeout_on_the_head_fails_its_dependents(run) -> None:
    async def body() -> None:
        async with linked(Chain()) as (root, _, _):
            head = root.call("slow_two", timeout=0.05)
            # The dependent goes first: the head is sent for it, asking the peer to keep it.
            dependent = head.call_remote("three", 1)
            results = await asyncio.gather(dependent, head, return_exceptions=True)
            assert [type(r) for r in results] == [pb.CallCancelled, pb.CallTimeout]
            # A call made on a head already awaited waits for its value, and is never sent.
            head = root.call("slow_two", timeout=0.05)
            results = await asyncio.gather(
                head, head.call_remote("three", 1), return_exceptions=True
            )
            assert [type(r) for r in results] == [pb.CallTimeout, pb.CallCancelled]

    run(body)


def test_a_promise_dropped_unawaited_releases_what_its_answer_held(run) -> None:
    async def body() -> None:
        async with linked(Chain()) as (root, _, server):
            [conn] = server.connections
            before = conn.broker.export_count
            for _ in range(20):
                promise = root.call_remote("get_two")
                assert await promise.call_remote("three", 1) == 201
                del promise
            await eventually(
                lambda: (conn.broker.kept_answers, conn.broker.export_count) == (0, before)
            )
            assert root.pb_broker.import_count == 1  # the root alone

    run(body)


def test_without_the_feature_a_chain_still_works_one_call_at_a_time(
    run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "FEATURES", ("columns", "interfaces"))

    async def body() -> None:
        async with linked(Chain()) as (root, link, _):
            chain = root.call_remote("get_two").call_remote("next").call_remote("three", 1)
            assert await chain == 301
            assert link.rounds == 3
            assert await root.call_remote("move", root.call_remote("point"), 2) == {
                "x": 3,
                "y": 4,
            }

    run(body)


@pytest.mark.parametrize("seed", range(25))
def test_calls_on_one_target_start_in_the_order_they_were_made(run, seed: int) -> None:
    """E-order under seeded random schedules: calls on a promise (pipelined, before its
    answer is known), on the reference it resolves to, on a value inside another promise,
    with pauses between, all start on the server in the order they were made."""

    async def body() -> None:
        chain = Chain()
        rng = random.Random(seed)
        async with linked(chain) as (root, _, _):
            promise = root.call_remote("counter")
            resolved: pb.RemoteReference | None = None
            calls: list[asyncio.Future[Any]] = []
            for i in range(30):
                move = rng.randrange(5)
                if move == 0 and resolved is None:
                    resolved = await promise
                method = rng.choice(["hit", "hit_later"])
                if move == 1 and resolved is not None:
                    calls.append(asyncio.ensure_future(resolved.call_remote(method, i)))
                else:
                    calls.append(asyncio.ensure_future(promise.call_remote(method, i)))
                if move == 2:
                    await asyncio.sleep(0)
                elif move == 3:
                    await asyncio.sleep(rng.random() / 500)
            await asyncio.gather(*calls)
            assert chain.counter.log == list(range(30))

    run(body)


def test_cancelling_a_call_waiting_for_its_head_leaves_the_head_alone(run) -> None:
    async def body() -> None:
        chain = Chain()
        async with linked(chain) as (root, _, _):
            head = root.call_remote("slow_two")
            awaited = asyncio.ensure_future(head)
            await asyncio.sleep(0)  # sent as a plain call: a call on it waits for its value
            dependent = asyncio.ensure_future(head.call_remote("three", 1))
            await asyncio.sleep(0.02)
            dependent.cancel()
            await asyncio.gather(dependent, return_exceptions=True)
            chain.gate.set()
            two = await awaited
            assert await two.call_remote("three", 2) == 202

    run(body)


def test_cancelling_one_of_two_tasks_awaiting_a_promise(run) -> None:
    """Two tasks await one promise and one is cancelled: the call is cancelled on the peer,
    and the other task gets CallCancelled, which says why, rather than a CancelledError it
    cannot tell from its own cancellation (asyncio's rule for a shared future)."""

    async def body() -> None:
        async with linked(Chain()) as (root, _, server):
            head = root.call_remote("slow_two")

            async def wait() -> Any:
                return await head

            first, second = asyncio.ensure_future(wait()), asyncio.ensure_future(wait())
            await asyncio.sleep(0.05)  # both wait on the answer
            first.cancel()
            with pytest.raises(pb.CallCancelled, match="another task"):
                await second
            assert first.cancelled()
            [conn] = server.connections
            await eventually(lambda: not conn._calls.running)  # stopped on the server

    run(body)


def test_a_call_on_a_promise_carries_a_stream(run) -> None:
    """A pipelined call with a stream argument waits on the server for the answer it is
    addressed to, and its stream waits with it: once the answer is known, the method reads
    the whole stream (the stream was cancelled on arrival before, and the call never
    answered)."""

    async def numbers() -> AsyncIterator[int]:
        for n in (1, 2, 3):
            yield n

    async def body() -> None:
        chain = Chain()
        async with linked(chain) as (root, _, _):
            head = root.call_remote("slow_two")
            total = asyncio.ensure_future(head.call_remote("total", numbers()))
            await asyncio.sleep(0.05)  # the call and its stream wait on the server
            chain.gate.set()
            assert await asyncio.wait_for(total, 5) == 206

    run(body)
