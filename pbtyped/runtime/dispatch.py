"""Calls in: the peer's calls run on our objects, a bounded number at once, in order.

One-way calls (``SendReceived``) take their place among the calls in the same way: they
count against the same limit and wait in the same queue; they are never answered, and what
they raise is logged (rate-limited) instead of sent.

A call runs at once when there is room (``Limits.max_calls_in_flight``) and the peer reads
our answers; otherwise it waits in a queue, in arrival order, and the connection stops
reading until the queue is empty again (so the queue is bounded by one read).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
from typing import TYPE_CHECKING, Any

from .._exceptions import CallCancelled, Error, NoSuchMethod, PbtypedError
from ..protocol.broker import Broker
from ..protocol.errors import is_expected
from ..protocol.events import CallReceived, SendDropped, SendReceived
from ..protocol.objects import Referenceable, is_awaitable
from .flow import Flow
from .logs import LogLimiter
from .outbox import Outbox

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Dispatcher", "current_connection"]

log = logging.getLogger("pbtyped")

_current: contextvars.ContextVar[Connection] = contextvars.ContextVar("pbtyped_connection")


def current_connection() -> Connection:
    """The connection whose peer made the remote call now running.

    Call it inside a ``remote_*`` method (or code it awaits) to learn who is calling: the
    peer's address (``.peer``), or to close that connection. Raises LookupError elsewhere.
    """
    try:
        return _current.get()
    except LookupError:
        raise LookupError("current_connection() is only known inside a remote call") from None


def _cancelled() -> CallCancelled:
    return CallCancelled("the caller cancelled the call")


class Dispatcher:
    """The peer's calls on one connection: those running (``running``) and those waiting.

    ``receive`` each call as it arrives. A call waits while the peer does not read our
    answers (``flow.writing_paused``) or too many run. Answers are gathered in the outbox;
    when a running call ends, waiting calls start and ``conn._answered()`` writes them.
    """

    __slots__ = (
        "_broker",
        "_conn",
        "_flow",
        "_logs",
        "_max",
        "_outbox",
        "reading",
        "running",
        "waiting",
    )

    def __init__(
        self,
        conn: Connection,
        broker: Broker,
        outbox: Outbox,
        flow: Flow,
        logs: LogLimiter,
        max_running: int,
    ) -> None:
        self._conn = conn
        self._broker = broker
        self._outbox = outbox
        self._flow = flow
        self._logs = logs
        self._max = max_running
        #: Tasks of the calls running now, by question id (read it, never change it): None
        #: until a call first runs as a task (a sync method answers at once). A one-way call
        #: has no question id: its key is negative, which no question id is.
        self.running: dict[int, asyncio.Future[Any]] | None = None
        #: Calls waiting for room, in arrival order (read it, never change it): None until a
        #: call first has to wait (an empty deque is ~600 bytes; most connections need none).
        self.waiting: collections.deque[CallReceived | SendReceived] | None = None
        #: The calls of one read are being received (the connection sets it while the peer
        #: pipelines): the calls an answer lets go meanwhile wait for ``deliver_ready``, as
        #: the calls read with them arrived before them (E-order).
        self.reading = False

    def receive(self, event: CallReceived | SendReceived) -> None:
        """A call arrived: run it now, or queue it behind the calls already waiting."""
        waiting = self.waiting
        running = self.running
        if waiting or (running and len(running) >= self._max) or self._flow.writing_paused:
            if waiting is None:
                waiting = self.waiting = collections.deque()
            waiting.append(event)  # bounded: the connection stops reading while calls wait
        else:
            self._start(event)

    def start_waiting(self) -> None:
        """Start waiting calls while there is room and the connection is open."""
        waiting = self.waiting
        flow = self._flow
        conn = self._conn
        while (
            waiting
            and len(self.running or ()) < self._max
            and not flow.writing_paused
            and not conn.is_closed
        ):
            self._start(waiting.popleft())

    def cancel(self, qid: int) -> None:
        """The caller cancelled call ``qid``: stop it if it runs, drop it if it waits."""
        task = self.running.get(qid) if self.running else None
        if task is not None:
            task.cancel()
            return
        waiting = self.waiting
        if waiting is None:
            return
        for event in waiting:
            if event.question_id == qid:
                waiting.remove(event)
                self._answer(self._broker.send_failure(qid, _cancelled()))
                return

    def stop(self) -> None:
        """The connection is gone: drop waiting calls, cancel running ones."""
        if self.waiting is not None:
            self.waiting.clear()
        running, self.running = self.running, None
        for task in running.values() if running else ():
            task.cancel()

    def _start(self, event: CallReceived | SendReceived) -> None:
        qid = event.question_id  # None: a one-way call
        target = event.target
        token = _current.set(self._conn)  # a task made below copies this context: it sees it
        try:
            if not isinstance(target, Referenceable):
                raise NoSuchMethod(f"{type(target).__name__} has no remote methods")
            result = target.pb_dispatch(event.method, event.args, event.kwargs)
            if is_awaitable(result):
                task = asyncio.ensure_future(result)
                if self.running is None:
                    self.running = {}
                key = -id(task) if qid is None else qid
                self.running[key] = task
                task.add_done_callback(lambda t: self._finished(key, event, t))
                return
        except Exception as exc:  # the remote method raised: that is its answer
            self._report(target, event.method, exc, qid)
            self._end(event, None, exc)
            return
        finally:
            _current.reset(token)
        if qid is not None:  # written out: the path of every sync call
            self._answer(self._broker.send_return(qid, result))
        else:
            self._end(event, result, None)

    def _answer(self, data: bytes) -> None:
        """Gather an answer for the next write; first deliver the calls of the peer that
        waited for it (promise pipelining: they start before the peer can see it), or, while
        a read's calls are received, once they all are: before the next read either way, so
        before any call the peer makes on what it learns from the answer."""
        # answers is None unless the peer pipelines: nothing to look at
        if self._broker.answers is not None and not self.reading:
            self.deliver_ready()
        self._outbox.write_later(data)

    def deliver_ready(self) -> None:
        """Receive the calls of the peer that answers let go (they waited for them), in
        their order; log the one-way calls among them that were dropped."""
        for ready in self._broker.ready_calls():
            if isinstance(ready, SendDropped):  # logged as one dropped on arrival is
                self._conn._on_event(ready)
            else:
                self.receive(ready)

    def _finished(
        self, key: int, event: CallReceived | SendReceived, task: asyncio.Future[Any]
    ) -> None:
        if self.running is not None:
            self.running.pop(key, None)
        if task.cancelled():
            self._end(event, None, _cancelled())
        elif (exc := task.exception()) is not None:
            self._report(event.target, event.method, exc, event.question_id)
            self._end(event, None, exc)
        else:
            self._end(event, task.result(), None)
        self.start_waiting()
        self._conn._answered()  # writes everything at once

    def _end(
        self, event: CallReceived | SendReceived, result: Any, error: BaseException | None
    ) -> None:
        """A call ended: gather its answer, the result or the error. A one-way call has
        none: the arguments it held are released."""
        if type(event) is SendReceived:
            self._broker.send_done(event.size)
        elif type(event) is CallReceived:
            qid = event.question_id
            broker = self._broker
            answer = (
                broker.send_return(qid, result)
                if error is None
                else broker.send_failure(qid, error)
            )
            self._answer(answer)

    def _report(self, target: object, method: str, exc: BaseException, qid: int | None) -> None:
        """Log what a method raised: an unexpected error always (rate-limited); an expected
        one only at debug level when it is sent to the caller, and like an unexpected one
        (without its traceback) when it ends a one-way call, which tells nobody."""
        expected = is_expected(exc, self._broker.registry) or isinstance(exc, PbtypedError | Error)
        if qid is None:
            self._logs.log(
                logging.WARNING if expected else logging.ERROR,
                "%s.remote_%s raised %r in a one-way call (nobody is told)",
                type(target).__name__,
                method,
                exc,
                exc_info=None if expected else exc,
                key=self._conn.log_key,
            )
            return
        if expected:
            log.debug("remote_%s raised %r (sent to the caller)", method, exc)
            return
        self._logs.log(
            logging.ERROR,
            "unexpected error in %s.remote_%s (the caller receives it as RemoteError)",
            type(target).__name__,
            method,
            exc_info=exc,
            key=self._conn.log_key,
        )
