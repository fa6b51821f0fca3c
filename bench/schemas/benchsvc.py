"""The bench's service: the four workloads' methods and the typed record of workload 4."""

from dataclasses import dataclass
from typing import Protocol


@dataclass
class Record:
    """A typed record: int, str, float and list[int] fields."""

    id: int
    name: str
    score: float
    values: list[int]


class Bench(Protocol):
    """Echoes what it is given."""

    def echo(self, st: str) -> str:
        """Return ``st`` unchanged."""
        ...

    def echo_bytes(self, data: bytes) -> bytes:
        """Return ``data`` unchanged."""
        ...

    def echo_records(self, records: list[Record]) -> list[Record]:
        """Return ``records`` unchanged."""
        ...
