"""PB example 2: a reference given back to its owner arrives as the original object."""

from typing import Protocol


class Two(Protocol):
    """The root's single Two."""

    def print(self, arg: int) -> None: ...


class One(Protocol):
    """The root."""

    def get_two(self) -> Two:
        """The root's one Two (the same object every time)."""
        ...

    def check_two(self, newtwo: Two) -> bool:
        """Whether ``newtwo`` is the root's own Two."""
        ...
