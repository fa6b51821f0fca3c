"""The one error the generator reports: a schema it cannot compile, and where."""

from __future__ import annotations

__all__ = ["SchemaError"]


class SchemaError(Exception):
    """A schema uses something the generator does not support; ``str()`` is ``file:line: why``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message
