"""PB example 1: a root that hands out references to new objects."""

from typing import Protocol


class Two(Protocol):
    """The object the root hands out."""

    def three(self, arg: int) -> None: ...


class One(Protocol):
    """The root."""

    def get_two(self) -> Two:
        """A new Two, passed by reference."""
        ...
