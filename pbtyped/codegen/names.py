"""What a name in a schema refers to: which class kind a schema class is, and where a name
comes from (this schema module, a sibling schema module, or Python)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["ClassKind", "Origin", "QualName"]


class ClassKind(enum.Enum):
    """What a class of a schema is, and so what the generator makes of it."""

    COPY = "copy"  # a ``@dataclass`` passed by copy
    ENUM = "enum"  # an ``enum.Enum`` (or IntEnum/StrEnum) passed by copy
    ERROR = "error"  # a ``pb.Error`` subclass that may cross the wire
    INTERFACE = "interface"  # a ``typing.Protocol``: a client stub and a server skeleton


class Origin(enum.Enum):
    """Where a qualified name leads."""

    LOCAL = "local"  # a class of the schema module being read
    SIBLING = "sibling"  # a schema module of the same folder, or a name in one
    PYTHON = "python"  # anything else: a dotted Python name (``typing.Protocol``)


@dataclass(frozen=True, slots=True)
class QualName:
    """A name of a schema, resolved through its imports: ``path`` is dotted and read from
    ``origin`` (a local ``Name``; a sibling's ``mod`` or ``mod.Name``; ``builtins.int``).

    A sibling's ``path`` is empty for the schema folder itself (``from . import mod``).
    """

    origin: Origin
    path: str

    @classmethod
    def local(cls, name: str) -> QualName:
        """The class ``name`` of the schema module being read."""
        return cls(Origin.LOCAL, name)

    @classmethod
    def sibling(cls, path: str = "") -> QualName:
        """``path`` (``mod`` or ``mod.Name``) in the schema folder; the folder itself if empty."""
        return cls(Origin.SIBLING, path)

    @classmethod
    def python(cls, dotted: str) -> QualName:
        """A name outside the schemas, by its dotted Python name (``typing.Protocol``)."""
        return cls(Origin.PYTHON, dotted)

    def attr(self, name: str) -> QualName:
        """The name ``name`` inside this one (``mod`` -> ``mod.Name``)."""
        return QualName(self.origin, f"{self.path}.{name}" if self.path else name)

    @property
    def module(self) -> str:
        """The sibling schema module a sibling name is in ("" for other origins)."""
        return self.path.partition(".")[0] if self.origin is Origin.SIBLING else ""

    @property
    def name(self) -> str:
        """The name inside its schema module: ``Name`` for a local ``Name`` and for a
        sibling's ``mod.Name``; "" for a sibling module itself; a Python name's whole path."""
        if self.origin is Origin.SIBLING:
            return self.path.partition(".")[2]
        return self.path
