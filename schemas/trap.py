"""PB's trap example: telling errors apart at the caller."""

from typing import Protocol

import pbtyped as pb


class MyException(pb.Error):
    """Raised when told to panic."""


class MyOtherException(pb.Error):
    """Declared by the example's client; never raised by its server."""


class One(Protocol):
    """The root."""

    def foo_method(self, arg: str) -> str:
        """Return "response", or raise MyException if ``arg`` is "panic!"."""
        ...

    def shutdown(self) -> None:
        """Stop the server."""
        ...
