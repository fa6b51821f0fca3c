"""The errors the generator reports: a schema it cannot compile, an output it will not write."""

from __future__ import annotations

__all__ = ["OutputError", "SchemaError"]


class SchemaError(Exception):
    """A schema uses something the generator does not support; ``str()`` is ``file:line: why``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


class OutputError(Exception):
    """The output folder, or a file in it, is not one the generator will write (it leads out of
    the project, or is not a file it wrote); ``str()`` says which path and what to do."""
