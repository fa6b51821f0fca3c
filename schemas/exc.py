"""PB's exception example: an expected error and an unexpected one."""

from typing import Protocol

import pbtyped as pb


class MyError(pb.Error):
    """An expected error: arrives at the caller as itself."""


class One(Protocol):
    """The root."""

    def broken(self) -> None:
        """Raises MyError."""
        ...

    def broken2(self) -> None:
        """Raises an unregistered exception: the caller gets a RemoteError."""
        ...
