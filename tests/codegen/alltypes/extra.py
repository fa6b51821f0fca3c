"""A sibling schema: its types are imported by ``alltypes``."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Tag:
    """A label."""

    name: str


class Tagger(Protocol):
    """Tags things."""

    def tag(self, name: str) -> Tag: ...
