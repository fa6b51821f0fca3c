"""Peer values in error messages: short, and safe whatever the peer sent."""

from __future__ import annotations

from typing import Any

__all__ = ["show"]


def show(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters; never raises.

    A peer controls these values: a bignum of 5,000 digits makes ``repr`` raise (Python's
    int-to-str limit), and a long string would flood the log.
    """
    if type(value) is int and value.bit_length() > 64:
        return f"<int of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
