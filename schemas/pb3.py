"""PB example 3: the client passes a reference to its own object, which the server calls."""

from typing import Protocol


class Two(Protocol):
    """An object on the client side."""

    def print(self, arg: int) -> None: ...


class One(Protocol):
    """The root."""

    def take_two(self, two: Two) -> None:
        """Call ``two.print(12)`` back on the caller's side."""
        ...
