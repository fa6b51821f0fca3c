"""A sibling schema: the bases of ``every``'s derived interfaces."""

from typing import Protocol


class Base(Protocol):
    def ping(self) -> int: ...


class Other(Protocol):
    def other(self) -> int: ...
