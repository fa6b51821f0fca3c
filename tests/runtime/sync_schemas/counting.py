"""The blocking stubs' schema: references in and out, inheritance, errors and timeouts."""

from typing import Protocol

import pbtyped as pb


class Refused(pb.Error):
    """The server said no."""


class Counter(Protocol):
    """Adds up."""

    def add(self, k: int) -> int:
        """Add ``k``; the sum so far."""
        ...

    def release(self) -> int:
        """The sum, which is then reset (named like nothing a blocking stub has itself)."""
        ...


class Named(Counter, Protocol):
    """A counter with a name."""

    def name(self) -> str: ...


class Service(Protocol):
    """The root."""

    def join(self, a: str, b: str = "", *, sep: str = "-") -> str: ...

    def refuse(self, why: str) -> None: ...

    async def slow(self, seconds: float) -> str: ...

    def counter(self) -> Counter: ...

    def named(self, name: str) -> Named: ...

    def maybe(self, found: bool) -> Counter | None: ...

    def counters(self, n: int) -> list[Counter]: ...

    async def total(self, counter: Counter | None, more: list[Counter]) -> int:
        """The sums of the counters given (``add(0)`` on each: ours are called back)."""
        ...

    def mine(self, counter: Counter) -> bool:
        """Whether ``counter`` is one of the server's own objects, come home."""
        ...
