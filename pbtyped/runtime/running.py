"""``pbtyped.run``: run a program's main coroutine, on uvloop when asked and available."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = False) -> T:
    """Run ``main`` to completion, like ``asyncio.run``.

    With ``use_uvloop=True`` the loop is uvloop's when the ``uvloop`` package is installed
    (``pip install 'pbtyped[uvloop]'``), and asyncio's own otherwise: the one setting for the
    fast path, with nothing else to change in the program.
    """
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if use_uvloop:
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            uvloop = None
        if uvloop is not None:
            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)
