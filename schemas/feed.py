"""A market feed: streams of ticks to the client, uploads to the server, and a chat that
streams both ways in one call."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass
class Tick:
    """One trade of a symbol."""

    symbol: str
    price_cents: int


class Feed(Protocol):
    """Ticks out, chunks in."""

    def ticks(self, symbol: str, count: int) -> AsyncIterator[Tick]:
        """The next ``count`` trades of ``symbol``, as they happen."""
        ...

    def upload(self, chunks: AsyncIterator[bytes]) -> int:
        """Store what the chunks hold; the number of bytes stored."""
        ...

    def chat(self, outgoing: AsyncIterator[str]) -> AsyncIterator[str]:
        """A reply to each line, while the lines still come."""
        ...
