"""What an error costs to describe: bounded by what is sent, not by the stack or the value."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from pbtyped import Registry, RemoteError
from pbtyped.protocol.errors import error_info
from pbtyped.protocol.events import FailureReceived
from pbtyped.protocol.tracebacks import exception_message, format_traceback
from tests.costs import cpu_seconds

from .wiring import Echoer, Pair

LIMIT = 64 * 1024


@pytest.fixture(autouse=True)
def deep_stacks() -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(40_000)
    yield
    sys.setrecursionlimit(old)


def ping(n: int) -> None:
    if n <= 0:
        raise ValueError("the innermost frame")
    pong(n - 1)


def pong(n: int) -> None:
    ping(n - 1)  # two functions in turn: no run of identical frames to fold


def failure_at_depth(frames: int) -> BaseException:
    """An exception raised ``frames`` frames down (a frame or two more, with the caller's)."""
    try:
        ping(frames - 1)
    except ValueError as exc:
        return exc
    raise AssertionError("ping did not raise")


def cost_of(exc: BaseException) -> float:
    return cpu_seconds(lambda: error_info(exc, Registry(), send_traceback=True))


def test_traceback_cost_does_not_grow_with_the_depth_of_the_stack() -> None:
    """Attack (issue 10 row 11): calls that fail under a deep stack, with send_tracebacks on,
    made the server format every frame (~50 us each) and then keep the last 64 KiB: 64 KiB of
    calls cost 45 s of CPU. Frames beyond the budget are now only walked, never formatted:
    each costs a small fraction of formatting it (compared in the same run, no absolute
    time)."""
    shallow, deep = 1_000, 16_000  # both beyond the 64 KiB budget (~150 characters a frame)
    exc = failure_at_depth(shallow)
    formatting = cpu_seconds(lambda: traceback.format_exception(exc)) / shallow
    low, high = cost_of(exc), cost_of(failure_at_depth(deep))
    per_extra_frame = (high - low) / (deep - shallow)
    assert per_extra_frame < formatting / 10, (
        f"a frame beyond the budget costs {per_extra_frame * 1e6:.2f} us, formatting one "
        f"{formatting * 1e6:.2f} us: not bounded"
    )


def test_a_deep_traceback_is_cut_to_its_budget_and_ends_with_the_innermost_frame() -> None:
    """The text sent keeps what matters (the innermost frames and the exception line) and
    says how much was left out; it never exceeds the budget, whatever the depth."""
    for depth in (3_000, 30_000):
        text = format_traceback(failure_at_depth(depth))
        assert len(text) <= LIMIT
        assert text.startswith("Traceback (most recent call last):\n  [... ")
        assert " outer frames not shown ...]\n" in text
        assert text.endswith(
            ', in ping\n    raise ValueError("the innermost frame")\n'
            "ValueError: the innermost frame\n"
        )
    for limit in (1_000, 100):
        small = format_traceback(failure_at_depth(3_000), limit=limit)
        assert len(small) <= limit
        assert small.endswith("ValueError: the innermost frame\n")


def test_recursion_folds_repeated_frames_as_the_traceback_module_does() -> None:
    def down(n: int) -> None:
        if n == 0:
            raise KeyError("bottom")
        down(n - 1)

    try:
        down(50)
    except KeyError as exc:
        text = format_traceback(exc)
    assert text.count(", in down\n") == 4  # three of the run, and the one that raised
    assert "  [The frame below repeated 47 more times]\n" in text


def test_chained_exceptions_are_kept_while_they_fit() -> None:
    try:
        try:
            ping(3)
        except ValueError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as exc:
        chained = exc
    link = "\nThe above exception was the direct cause of the following exception:\n\n"
    text = format_traceback(chained)
    earlier, own = text.split(link)
    assert earlier.endswith("ValueError: the innermost frame\n")
    assert own.endswith("RuntimeError: outer\n")
    reserve = 200  # kept for the markers
    partly = format_traceback(chained, limit=len(text) + reserve - 60)
    assert partly.startswith("Traceback (most recent call last):\n  [... 1 outer frames not")
    assert partly.endswith(own)
    cut = format_traceback(chained, limit=len(own) + reserve + 10)
    assert cut == "[... earlier chained exceptions not shown ...]\n" + own


class Stored:
    """A value whose repr is slow and huge (as a peer's 4 MiB argument kept in a KeyError)."""


def test_message_of_a_huge_key_costs_what_is_sent_not_the_key() -> None:
    """Attack: a method fails with ``KeyError(value)`` on a value the peer sent; ``str()`` of
    it built the repr of the whole value (megabytes, for a 4 MiB argument) to send 16 KiB.
    The message is now written within its budget, so the cost no longer grows with the value."""

    def cost(n: int) -> float:
        exc = KeyError([{"k": "v" * 10, "n": i} for i in range(n)])
        return cpu_seconds(lambda: error_info(exc, Registry(), send_traceback=True))

    growth = cost(200_000) / cost(12_500)
    assert growth < 3, f"16x the value cost {growth:.1f}x the CPU per failure"
    text = exception_message(KeyError([{"k": "v" * 10, "n": i} for i in range(100_000)]))
    assert len(text) == 16 * 1024 + 1
    assert text.startswith("[{'k': 'vvvvvvvvvv', 'n': 0}, {'k': 'vvvvvvvvvv', 'n': 1}, ")


class Text(str):
    """A str subclass: str() of an exception shows it as text, not as its repr."""


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (ValueError("plain"), "plain"),
        (ValueError(), ""),
        (ValueError(1, "two"), "(1, 'two')"),
        (KeyError("key"), "'key'"),
        (KeyError((1,)), "(1,)"),
        (
            ValueError({"a": {1, 2}, "b": frozenset(), "c": set(), "d": b"x"}),
            "{'a': {1, 2}, 'b': frozenset(), 'c': set(), 'd': b'x'}",
        ),
        (OSError(2, "No such file"), "[Errno 2] No such file"),
        (ValueError(Decimal("1.5")), "1.5"),
        (KeyError(Decimal("1.5")), "Decimal('1.5')"),
        (ValueError(Text("sub")), "sub"),
        (ValueError([Decimal("2")]), "[Decimal('2')]"),
    ],
)
def test_messages_read_as_str_would(exc: BaseException, message: str) -> None:
    assert exception_message(exc) == str(exc) == message


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("a bug in __str__")


class Failing(Echoer):
    def remote_fail(self, make: str) -> None:
        raise FAILURES[make]()


FAILURES: dict[str, Callable[[], BaseException]] = {
    "broken": BrokenStr,
    # str() of an int of more than 4,300 digits raises ValueError (CPython's digit limit).
    "bigint": lambda: KeyError(10**5000),
    "deep": lambda: failure_at_depth(5_000),
}


@pytest.mark.parametrize("tracebacks", [False, True])
def test_an_exception_that_cannot_be_printed_still_answers_the_call(tracebacks: bool) -> None:
    """A failure whose ``str()`` raises (a buggy ``__str__``; a key of more than 4,300
    digits) broke the server's answer; the caller now gets a RemoteError that says so."""
    pair = Pair(root=Failing(), b_tracebacks=tracebacks)
    expected: dict[str, Any] = {
        "broken": "<BrokenStr: str() failed>",
        "bigint": "<int of 16610 bits>",
        "deep": "the innermost frame",
    }
    for make, message in expected.items():
        event = pair.call(pair.root_ref(), "fail", make)
        assert isinstance(event, FailureReceived)
        error = event.error
        assert isinstance(error, RemoteError)
        assert error.message == message
        assert (error.remote_traceback is not None) is tracebacks
        if tracebacks:
            assert error.remote_traceback.endswith(f": {message}\n")
