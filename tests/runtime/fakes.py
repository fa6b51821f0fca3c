"""Stand-ins for a transport and an event loop, for the unit tests of a connection's parts."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any


class FakeTransport:
    """Records writes and reading pauses; ``closing`` makes it look closed."""

    def __init__(self, peer: object = None) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.reading = True
        self.pauses = 0
        self.resumes = 0
        self.peer = peer

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        assert self.reading, "paused twice"
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        assert not self.reading, "resumed while reading"
        self.reading = True
        self.resumes += 1


class FakeHandle:
    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: FakeHandle) -> bool:
        return self.when < other.when


class FakeLoop:
    """A loop whose clock moves only when told (``advance``), and whose ``call_soon``
    callbacks run only in ``run_soon``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.soon: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.timers: list[FakeHandle] = []
        self.closed = False

    def time(self) -> float:
        return self.now

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        self.soon.append((callback, args))

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        if self.closed:
            raise RuntimeError("Event loop is closed")
        self.soon.append((callback, args))

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> FakeHandle:
        handle = FakeHandle(self.now + delay, callback, args)
        heapq.heappush(self.timers, handle)
        return handle

    def run_soon(self) -> None:
        soon, self.soon = self.soon, []
        for callback, args in soon:
            callback(*args)

    def advance(self, seconds: float) -> None:
        """Move the clock, running the timers due on the way, in order."""
        end = self.now + seconds
        while self.timers and self.timers[0].when <= end:
            handle = heapq.heappop(self.timers)
            if not handle.cancelled:
                self.now = handle.when
                handle.callback(*handle.args)
        self.now = end

    @property
    def armed(self) -> list[FakeHandle]:
        """Timers not yet run nor cancelled."""
        return [h for h in self.timers if not h.cancelled]
