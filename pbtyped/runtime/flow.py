"""Flow control of one connection: when to stop reading from the peer, and writing to it.

Reading stops for any of three reasons (``Pause``) and resumes when none is left; that the
peer does not read what we send also holds back our own calls (``writable``). A server
connection also counts what it holds in the server-wide byte budget (``account``).
"""

from __future__ import annotations

import asyncio
import enum

from .slots import Budget

__all__ = ["Flow", "Pause"]


class Pause(enum.Enum):
    """Why a connection does not read from its peer now."""

    #: The peer does not read what we send (the transport's ``pause_writing``): reading
    #: more calls would only pile up answers.
    PEER_NOT_READING = enum.auto()
    #: Calls wait for room (``Limits.max_calls_in_flight``).
    BACKLOG = enum.auto()
    #: The server's connections hold more than ``Limits.max_bytes_held`` together.
    BUDGET = enum.auto()

    # Members are singletons: identity hashing is right, and a set lookup then runs no Python
    # (Enum's own __hash__ is a Python function: one call on every call sent).
    __hash__ = object.__hash__


_NOT_PAUSED: frozenset[Pause] = frozenset()
_BUDGET = Pause.BUDGET


class Flow:
    """Reading and writing of one connection: paused, and why.

    ``paused`` is the set of reasons reading stopped (a frozenset, empty while reading).
    ``writing_paused`` is True while the peer does not read what we send.
    """

    __slots__ = ("_budget", "_can_write", "held", "paused", "transport", "writing_paused")

    def __init__(self, budget: Budget | None = None) -> None:
        #: Set once the connection is made.
        self.transport: asyncio.ReadTransport | None = None
        self.paused = _NOT_PAUSED
        self.writing_paused = False
        self._can_write: asyncio.Event | None = None  # made when writing first pauses
        self._budget = budget
        #: Bytes this connection counts in the server's budget now.
        self.held = 0

    # -- reading -----------------------------------------------------------------------------

    def pause_reading(self, reason: Pause) -> None:
        """Stop reading from the peer (if not stopped already) for ``reason``."""
        paused = self.paused
        if reason in paused or self.transport is None:
            return
        if not paused:
            self.transport.pause_reading()
        self.paused = paused | {reason}

    def resume_reading(self, reason: Pause) -> None:
        """``reason`` no longer holds: read again if no other reason does."""
        if reason not in self.paused:
            return
        self.paused = self.paused - {reason}
        transport = self.transport
        if not self.paused and transport is not None and not transport.is_closing():
            transport.resume_reading()

    # -- writing -----------------------------------------------------------------------------

    def pause_writing(self) -> None:
        """The peer does not read what we send: hold back answers and calls, and stop reading."""
        self.writing_paused = True
        if self._can_write is None:
            self._can_write = asyncio.Event()
        self._can_write.clear()
        self.pause_reading(Pause.PEER_NOT_READING)

    def resume_writing(self) -> None:
        """The peer reads again."""
        self.writing_paused = False
        if self._can_write is not None:
            self._can_write.set()
        self.resume_reading(Pause.PEER_NOT_READING)

    async def writable(self) -> None:
        """Wait until the peer reads what we send (or the connection is lost)."""
        if self._can_write is not None:
            await self._can_write.wait()

    # -- the server-wide budget ----------------------------------------------------------------

    def account(self, held: int, awaiting: bool) -> None:
        """This connection now holds ``held`` bytes: report it to the budget, and stop reading
        while the budget is exceeded.

        A connection ``awaiting`` answers is never paused: the call that waits on it may be
        what holds the budget (reading it is how the budget frees, not a deadlock).
        """
        budget = self._budget
        if budget is None:
            return
        if held != self.held:
            budget.change(held - self.held)
            self.held = held
        if not held:
            self.budget_resume()  # it adds nothing now: read it again
        elif budget.used > budget.limit and not awaiting and _BUDGET not in self.paused:
            budget.wait(self, self.budget_resume)
            self.pause_reading(_BUDGET)

    def budget_resume(self) -> None:
        """Read again, as far as the budget is concerned (it freed, or we await an answer)."""
        if _BUDGET in self.paused:
            if self._budget is not None:
                self._budget.forget(self)
            self.resume_reading(_BUDGET)

    def lost(self) -> None:
        """The connection is gone: wake whoever waits to write, give back what it held."""
        if self._can_write is not None:
            self._can_write.set()
        budget = self._budget
        if budget is not None:
            budget.forget(self)
            budget.change(-self.held)
            self.held = 0
