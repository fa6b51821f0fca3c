"""The echo service of Twisted's pbsimple example."""

from typing import Protocol


class Echoer(Protocol):
    """Echoes what it is given."""

    def echo(self, st: str) -> str:
        """Return ``st`` unchanged."""
        ...
