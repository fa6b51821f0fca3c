"""A sibling schema: its types are imported by ``alltypes``."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Tag:
    """A label."""

    name: str


@dataclass(frozen=True)
class Badge:
    """Fields that all default: a sibling schema's dataclass can make a default."""

    text: str = "new"


class Tagger(Protocol):
    """Tags things."""

    def tag(self, name: str) -> Tag: ...
