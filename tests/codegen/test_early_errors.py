"""Issue 12 item 2 and point 11: a generated stub refuses wrong arguments and timeouts before
anything is sent, naming the method; a wrong result is named alike on both sides and logged
on the server, rate-limited."""

from __future__ import annotations

import datetime
import logging
import math
import uuid
from pathlib import Path
from typing import Any

import pytest

import pbtyped as pb

from .test_behaviour import BAD_CALLS, kitchen_run, run

# The bad calls a stub's own signature lets through (a value for each parameter): the stub
# refuses them with the very message the server gives when they are sent anyway.
STUB_CALLS = [c for c in BAD_CALLS if c[3].startswith(f"{c[0]}(): $.") and "missing" not in c[3]]


@pytest.mark.parametrize(("method", "args", "kwargs", "message"), STUB_CALLS)
def test_a_stub_refuses_bad_arguments_before_sending(
    agen: Path,
    sent: list[str],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        with pytest.raises(pb.ValidationError) as info:
            await getattr(k, method)(*args, **kwargs)
        assert sent == []
        assert str(info.value) == message
        assert await k.flagged() == b"done"
        assert sent == ["flagged"]

    kitchen_run(agen, body)


def test_a_naive_datetime_is_refused_naming_the_parameter(agen: Path, sent: list[str]) -> None:
    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        naive = datetime.datetime(2024, 1, 2, 3, 4)
        with pytest.raises(pb.ValidationError) as info:
            await k.stamps(naive, datetime.date(2024, 1, 2), uuid.UUID(int=1), 1)
        assert str(info.value) == "stamps(): $.when: expected an aware datetime, got a naive one"
        assert sent == []

    kitchen_run(agen, body)


def test_a_stub_refuses_an_object_of_another_interface(agen: Path, sent: list[str]) -> None:
    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        _, _, Sink, Tagger, _, _ = mods
        with pytest.raises(pb.ValidationError) as info:
            await k.sinks(Tagger(), [Sink()])
        assert str(info.value) == (
            "sinks(): $.sink: expected a reference to alltypes.Sink, got one to extra.Tagger"
        )
        with pytest.raises(pb.ValidationError) as info:
            await k.held({"a": Sink(), "b": Tagger()}, None, ([], 0), ())
        assert str(info.value) == (
            "held(): $.by_name['b']: expected a reference to alltypes.Sink, got one to extra.Tagger"
        )
        assert sent == []
        assert calls == []

    kitchen_run(agen, body)


BAD_TIMEOUTS: list[tuple[object, type[Exception], str]] = [
    ("5", TypeError, "pb_timeout must be a number of seconds or None, not str"),
    (datetime.timedelta(seconds=5), TypeError,
     "pb_timeout must be a number of seconds or None, not timedelta (use its .total_seconds())"),
    (True, TypeError, "pb_timeout must be a number of seconds or None, not bool"),
    (-1, ValueError, "pb_timeout must be more than 0 seconds (or None: no limit), not -1"),
    (0, ValueError, "pb_timeout must be more than 0 seconds (or None: no limit), not 0"),
    (math.nan, ValueError, "pb_timeout must be more than 0 seconds (or None: no limit), not nan"),
    (10**400, ValueError, "pb_timeout is too large to be a number of seconds"),
]  # fmt: skip


def test_a_bad_pb_timeout_is_refused_before_sending(agen: Path, sent: list[str]) -> None:
    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        local = mods[0].KitchenClient(mods[4]())  # a stub of one of our own objects
        for stub in (k, local):
            for timeout, error, message in BAD_TIMEOUTS:
                with pytest.raises(error) as info:
                    await stub.flagged(reason="why", pb_timeout=timeout)
                assert str(info.value) == message
        assert sent == []
        assert calls == []
        # No limit at all is a valid timeout, as are ints and floats above 0.
        for timeout in (math.inf, 5, 0.5):
            assert await k.flagged(pb_timeout=timeout) == b"done"
        assert sent == ["flagged"] * 3

    kitchen_run(agen, body)


def test_a_result_refused_by_the_client_names_the_method(agen: Path) -> None:
    from agen import alltypes

    class Unchecked(pb.Root):  # no skeleton: nothing checks its results before they leave
        def remote_literals(self, mode: str, n: int = 1) -> str:
            return "not ok"

        def remote_many(self, n: int) -> list[int]:
            return list(range(n))

    async def scenario() -> None:
        async with (
            pb.serve(Unchecked(), registry=alltypes.REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=alltypes.REGISTRY) as conn,
        ):
            # Its root implements no interface: client.root(KitchenClient) would refuse it, so
            # the stub is made by hand around the untyped reference.
            kitchen = alltypes.KitchenClient(await conn.root())
            with pytest.raises(pb.ValidationError) as info:
                await kitchen.literals("fast")
            assert str(info.value) == 'result of literals(): $: expected "ok", got "not ok"'
            with pytest.raises(pb.ValidationError) as info:
                await kitchen.many(2)
            assert str(info.value) == "result of many(): $[0]: expected Sink, got integer"

    run(scenario())


def test_a_result_the_server_refuses_is_logged_there_rate_limited(
    agen: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The lines count against the server's own budget (``Limits.log_rate_per_minute``)."""
    message = 'result of literals(): $: expected "ok", got "not ok"'

    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        for _ in range(3):
            with pytest.raises(pb.ValidationError) as info:
                await k.literals("slow")
            assert str(info.value) == message

    with caplog.at_level(logging.DEBUG, logger="pbtyped"):
        kitchen_run(agen, body, limits=pb.Limits(log_rate_per_minute=2))
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    line = (
        "Kitchen.remote_literals returned a value its schema refuses "
        f"(the caller receives the refusal): {message}"
    )
    assert logged == [line, line]  # once for each refusal, until the server's budget is spent
