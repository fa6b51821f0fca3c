"""Values a peer can send that once made a check raise something other than ValidationError
(an OverflowError, a ValueError, a RecursionError): each is refused, naming where."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Literal

import pytest

import pbtyped as pb
from pbtyped.typed import support
from pbtyped.typed.checks import checker_for

HUGE = 10**400  # beyond the float range
TOO_MANY_DIGITS = 10**5000  # beyond Python's int-to-str limit (4,300 digits)


def refusal(check: Any, *args: Any) -> str:
    with pytest.raises(pb.ValidationError) as info:
        check(*args)
    return str(info.value)


class Scaler(pb.Root):
    def remote_scale(self, x: float, y: float | str = 1.0) -> float:
        raise AssertionError("a refused call must not run")


@pytest.mark.parametrize("value", [HUGE, -HUGE], ids=["10**400", "-10**400"])
def test_an_int_beyond_the_float_range_is_refused_for_a_float_parameter(
    hostile: types.ModuleType, value: int
) -> None:
    """Pins issue 10 row 9: ``10**400`` for a ``float`` parameter leaked an OverflowError
    (the caller got RemoteError('builtins.OverflowError'), the server logged a traceback)."""

    spec = hostile._SPEC_Costly
    expected = "scale(): $.x: expected float, got an integer too large for a float"
    assert refusal(support.dispatch, spec, Scaler(), "scale", [value], {}) == expected
    # Everywhere a float is declared: in a union, a list, a dict, a dataclass, a result.
    unions = refusal(support.dispatch, spec, Scaler(), "scale", [1.0, value], {})
    assert unions == "scale(): $.y: expected float | str, got integer"
    floats = spec.methods["floats"]
    assert refusal(floats.bind, [[1.5, value]], {}) == expected.replace(
        "scale(): $.x", "floats(): $.xs[1]"
    )
    dicts = spec.methods["dicts"]
    assert refusal(dicts.bind, [{"a": value}], {}) == expected.replace(
        "scale(): $.x", "dicts(): $.xs['a']"
    )
    record = hostile.Record(1, "n", value, [])
    records = spec.methods["records"]
    assert refusal(records.bind, [[record]], {}).startswith("records(): $.xs[0].score: ")
    # A hostile server's result, checked by the client.
    assert refusal(spec.methods["scale"].result_in, value, "$").startswith("$: expected float")


def test_a_key_or_member_without_a_repr_is_named_by_its_type() -> None:
    """Pins: a dict key or set member whose ``repr`` raises (an int of 5,000 digits) made the
    explaining walk raise ValueError instead of naming the wrong part."""
    assert refusal(checker_for(dict[str, int]), {TOO_MANY_DIGITS: 1}, "$") == (
        f"$[<integer of {TOO_MANY_DIGITS.bit_length()} bits>]: expected str, got integer"
    )
    assert refusal(checker_for(set[str]), {"a", TOO_MANY_DIGITS}, "$") == (
        f"$[<integer of {TOO_MANY_DIGITS.bit_length()} bits>]: expected str, got integer"
    )
    assert refusal(checker_for(Literal[1, 2]), TOO_MANY_DIGITS, "$") == (
        f"$: expected 1 | 2, got <integer of {TOO_MANY_DIGITS.bit_length()} bits>"
    )


@dataclass(frozen=True)
class Positive:
    """A class that checks its own fields, including their type."""

    x: float

    def __post_init__(self) -> None:
        if type(self.x) is not int:
            raise ValueError("x must stay an int")


def test_a_dataclass_that_refuses_its_converted_fields_is_refused() -> None:
    """Pins: a registered dataclass whose ``__post_init__`` refuses the converted copy (an int
    made a float) let its ValueError out of the checker."""
    assert refusal(checker_for(list[Positive]), [Positive(1)], "$.args[0]") == (
        "$.args[0]: refused as list[Positive]"
    )


@dataclass
class Chain:
    value: float
    next: Chain | None


def test_a_value_nested_deeper_than_the_stack_is_refused() -> None:
    """Pins: a value nested deeper than Python's recursion limit (a peer whose
    ``Limits.max_depth`` was raised far) made the checker raise RecursionError."""
    chain: Chain | None = None
    for _ in range(5000):
        chain = Chain(1.5, chain)
    assert refusal(checker_for(Chain), chain, "$") == (
        "$: nested too deep to check (lower Limits.max_depth)"
    )
