"""The two reference tables of a connection, with distributed reference counts.

``ExportTable``: our objects the peer may call, and how many references to each we sent.
``ImportTable``: proxies for the peer's objects, and how many references to each we received.
When the last proxy for an import dies, the count goes back in a Release so the exporter can
subtract exactly what it sent, however the messages cross.
"""

from __future__ import annotations

import collections
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .._exceptions import LimitExceeded, RemoteProtocolError

if TYPE_CHECKING:
    from .broker import ImportedReference

__all__ = ["ROOT_ID", "ExportTable", "ImportTable"]

ROOT_ID = 0


class _Export:
    __slots__ = ("count", "named", "obj")

    def __init__(self, obj: object, named: bool = False) -> None:
        self.obj = obj
        self.count = 0
        # Whether the peer was told the object's interface names since it last released it.
        self.named = named


#: The tables of an ExportTable that has exported nothing beside its root: shared, so never
#: written (``send`` makes a table of its own first; only entries found in them are deleted).
_NO_EXPORTS: dict[int, _Export] = {}
_NO_IDS: dict[int, int] = {}


class ExportTable:
    """Our objects the peer holds references to. Ids are never reused; the root is pinned.

    Additions made while encoding one message are journaled, so a message that cannot be sent
    leaves the table as it was (``begin`` / ``rollback`` / ``commit``). The root's interface
    names travel in the Hello: it counts as named from the start.
    """

    __slots__ = ("_entries", "_ids", "_journal", "_max", "_next", "_root", "_root_count")

    def __init__(self, root: object | None, max_exports: int) -> None:
        # The root lives beside the tables, never in them: every connection has one, and an
        # entry for it in both dicts was 400 bytes a connection. It is pinned (never
        # released) and named from the start, so a count is all it needs.
        self._root = root
        self._root_count = 0
        # Export id -> entry, and id(obj) -> export id: made with the first object exported
        # beside the root (two empty dicts are 128 bytes; most connections export none).
        self._entries: dict[int, _Export] = _NO_EXPORTS
        self._ids: dict[int, int] = _NO_IDS
        self._next = ROOT_ID + 1
        self._max = max_exports
        # (export id, whether the entry is new, whether it was named before)
        self._journal: list[tuple[int, bool, bool]] | None = None

    def __len__(self) -> int:
        return len(self._entries) + (self._root is not None)

    def get(self, export_id: int) -> object | None:
        """The object exported as ``export_id``, or None."""
        if export_id == ROOT_ID:
            return self._root
        entry = self._entries.get(export_id)
        return None if entry is None else entry.obj

    def counts(self) -> dict[int, int]:
        """Export id -> references the peer holds (for checks and tests)."""
        root = {} if self._root is None else {ROOT_ID: self._root_count}
        return root | {export_id: e.count for export_id, e in self._entries.items()}

    def add(self, obj: object) -> int:
        """Count one more reference to ``obj`` sent to the peer; its export id."""
        return self.send(obj)[0]

    def send(self, obj: object) -> tuple[int, bool]:
        """Count one more reference to ``obj`` sent to the peer: its export id, and whether
        this reference is the one to carry the object's interface names (the first sent, or
        the first since the peer released some: the peer may have forgotten them)."""
        if obj is self._root:
            self._root_count += 1
            if self._journal is not None:
                self._journal.append((ROOT_ID, False, True))
            return ROOT_ID, False
        export_id = self._ids.get(id(obj))
        is_new = export_id is None
        if export_id is None:
            if len(self) >= self._max:
                raise LimitExceeded(
                    f"this connection already exports {len(self)} objects "
                    "(Limits.max_exports); the peer must release some first"
                )
            export_id = self._next
            self._next += 1
            if self._entries is _NO_EXPORTS:
                self._entries, self._ids = {}, {}
            self._entries[export_id] = _Export(obj)
            self._ids[id(obj)] = export_id
        entry = self._entries[export_id]
        entry.count += 1
        named = entry.named
        entry.named = True
        if self._journal is not None:
            self._journal.append((export_id, is_new, named))
        return export_id, not named

    def begin(self) -> None:
        """Start journaling additions (one message being encoded)."""
        self._journal = []

    def commit(self) -> None:
        """Keep the journaled additions."""
        self._journal = None

    def rollback(self) -> None:
        """Undo the journaled additions: the message was not sent."""
        journal, self._journal = self._journal or [], None
        for export_id, is_new, named in reversed(journal):
            if export_id == ROOT_ID:
                self._root_count -= 1
                continue
            entry = self._entries[export_id]
            entry.count -= 1
            entry.named = named
            if is_new:
                del self._entries[export_id]
                del self._ids[id(entry.obj)]

    def release(self, export_id: int, count: int) -> object | None:
        """The peer dropped ``count`` references: the object if none are left, else None."""
        if export_id == ROOT_ID:
            return None  # the root is pinned for the life of the connection (or absent)
        entry = self._entries.get(export_id)
        if entry is None:
            raise RemoteProtocolError(f"release of reference #{export_id}, which is not held")
        if count > entry.count:
            raise RemoteProtocolError(
                f"release of {count} references to #{export_id}; only {entry.count} given"
            )
        entry.count -= count
        if entry.count:
            # A reference that crossed this release is still on its way; the next one
            # names the interfaces again, as the peer forgets them with its last receipt.
            entry.named = False
            return None
        del self._entries[export_id]
        del self._ids[id(entry.obj)]
        return entry.obj

    def clear(self) -> list[object]:
        """Forget everything (the connection closed); the objects that were exported."""
        gone = [e.obj for e in self._entries.values()]
        self._root = None
        self._entries, self._ids = _NO_EXPORTS, _NO_IDS
        return gone


class _Import(weakref.ref):  # type: ignore[type-arg]
    """The table's weak reference to the live proxy for one export id, with its count.

    One small object per import: the export id and count live here (no dict of counts), and
    every entry shares one callback (no closure per id).
    """

    __slots__ = ("count", "export_id", "interfaces")
    count: int
    export_id: int
    interfaces: tuple[str, ...] | None


class _Dropped:
    """Proxies the garbage collector dropped, queued by the one callback their entries share.

    The callback may run inside the garbage collector, on any thread: it only queues (a
    deque's append is atomic) and wakes the I/O layer.
    """

    __slots__ = ("queue", "wakeup")

    def __init__(self, wakeup: Callable[[], None] | None) -> None:
        self.queue: collections.deque[_Import] = collections.deque()
        self.wakeup = wakeup

    def __call__(self, entry: _Import) -> None:
        self.queue.append(entry)
        if self.wakeup is not None:
            self.wakeup()


class Importer(Protocol):
    """What the import table asks of its broker."""

    def new_reference(self, export_id: int) -> ImportedReference:
        """The proxy for the peer's object ``export_id``."""

    def wakeup(self) -> None:
        """Dropped proxies wait in the table (any thread, maybe inside the GC)."""


#: The tables of an ImportTable with no proxy and no release owed: shared, so never written
#: (``receive`` and ``_settle`` make tables of their own first).
_NO_IMPORTS: dict[int, _Import] = {}
_NO_RELEASES: dict[int, int] = {}


class ImportTable:
    """Proxies for the peer's objects: at most one live proxy per export id.

    A proxy costs one ``_Import`` entry beside itself. Releases owed to the peer are
    coalesced per id until ``take_released``, and count against ``max_imports`` with the live
    proxies: what the table holds or owes a peer stays within ``max_imports`` entries however
    long the Releases wait (for a peer that does not read, say), and each Release answers
    references the peer sent first.
    """

    __slots__ = ("_dropped", "_importer", "_max", "_queue", "_refs", "_released")

    def __init__(self, max_imports: int, importer: Importer) -> None:
        # Export id -> entry, and export id -> count owed: the shared empty tables until the
        # first proxy and the first release (two empty dicts are 128 bytes, and most
        # connections of a server never receive a reference).
        self._refs: dict[int, _Import] = _NO_IMPORTS
        # Made with the first proxy, before any callback can queue: a deque alone is ~600
        # bytes, and most connections of a server never receive a reference.
        self._dropped: _Dropped | None = None
        self._queue: collections.deque[_Import] | None = None  # its queue: read most often
        self._released: dict[int, int] = _NO_RELEASES  # coalesced per id
        self._max = max_imports
        self._importer = importer

    def __len__(self) -> int:
        return len(self._refs)

    def receive(
        self, export_id: int, interfaces: tuple[str, ...] | None = None
    ) -> ImportedReference:
        """The proxy for the peer's object ``export_id``, counting one more reference.

        ``interfaces``: the names the reference carried, None if it carried none (then the
        import keeps the names an earlier reference of the same id carried, if any).
        """
        entry = self._refs.get(export_id)
        if entry is not None:
            live: ImportedReference | None = entry()
            if live is not None:
                entry.count += 1
                if interfaces is not None:
                    entry.interfaces = live.pb_interfaces = interfaces
                return live
            if interfaces is None:
                interfaces = entry.interfaces  # remembered with the import
            self._settle(entry)  # the previous proxy died: its release is owed first
        # A reference whose release is not sent yet is still live for the peer: it counts.
        if len(self._refs) + len(self._released) >= self._max:
            raise LimitExceeded(
                f"the peer sent more than {self._max} live references (Limits.max_imports)"
            )
        ref = self._importer.new_reference(export_id)
        ref.pb_interfaces = interfaces
        dropped = self._dropped
        if dropped is None:
            dropped = self._dropped = _Dropped(self._importer.wakeup)
            self._queue = dropped.queue
        entry = _Import(ref, dropped)
        entry.export_id = export_id
        entry.count = 1
        entry.interfaces = interfaces
        if self._refs is _NO_IMPORTS:
            self._refs = {}
        self._refs[export_id] = entry
        return ref

    def holds(self, ref: ImportedReference) -> bool:
        """True while ``ref`` is the live, unreleased proxy for its id."""
        entry = self._refs.get(ref.pb_export_id)
        return entry is not None and entry() is ref

    def release(self, ref: ImportedReference) -> None:
        """Release ``ref`` now (explicit disposal); no-op if not held."""
        entry = self._refs.get(ref.pb_export_id)
        if entry is not None and entry() is ref:
            self._settle(entry)

    def owes_releases(self) -> bool:
        """True if ``take_released()`` has something to return (cheap: no allocation)."""
        return bool(self._queue or self._released)

    def take_released(self) -> list[tuple[int, int]]:
        """``(export_id, count)`` for each id released since the last call (once per id)."""
        queue = self._queue
        while queue:
            entry = queue.popleft()
            if self._refs.get(entry.export_id) is entry:  # else: already accounted for
                self._settle(entry)
        released = list(self._released.items())
        self._released = _NO_RELEASES
        return released

    def clear(self) -> None:
        """Forget everything (the connection closed): nothing is owed any more."""
        self._refs = _NO_IMPORTS
        if self._queue is not None:
            self._queue.clear()
        self._released = _NO_RELEASES

    def _settle(self, entry: _Import) -> None:
        """Move ``entry``'s count from the live table to the releases owed."""
        export_id = entry.export_id
        del self._refs[export_id]
        if self._released is _NO_RELEASES:
            self._released = {}
        self._released[export_id] = self._released.get(export_id, 0) + entry.count
