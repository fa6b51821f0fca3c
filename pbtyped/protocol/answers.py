"""Promise pipelining's tables for one connection (docs/protocol.md 3.6).

The callee keeps the answers the caller asked it to keep (``retain``) until the caller's
FINISH, and holds calls that name answers not known yet, in one queue per target, delivering
them in arrival order (E-order) once what they name is known; a one-way call (SEND) on an
object whose queue is not empty waits in it too, in its place. The caller remembers which of
its questions the peer keeps, so that it names only those.

Sans-IO like the broker that owns it: ``receive`` says what to do with a call, ``resolve``
what an answer lets happen. The broker makes this table with the first pipelined message of a
connection (never before: a connection that does not pipeline pays nothing for it).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from .._exceptions import (
    CallCancelled,
    DeadReferenceError,
    LimitExceeded,
    NoSuchMethod,
    ProtocolError,
    ValidationError,
)
from ..wire import tags
from ..wire.limits import Limits
from . import messages as m
from .events import CallReceived, SendDropped, SendReceived
from .objects import Referenceable

__all__ = [
    "AnswerRef",
    "Answers",
    "Failed",
    "HeldCall",
    "HeldSend",
    "Outcome",
    "Released",
    "dead_target",
    "step_into",
]


class AnswerRef:
    """An answer named as a value. On the caller: our question ``question_id`` (the broker
    sends it as ``ANSWER_REF``); on the callee, the placeholder a decoded ``ANSWER_REF``
    leaves in a call's arguments until the call is delivered with the value in its place."""

    __slots__ = ("path", "question_id")

    def __init__(self, question_id: int, path: tuple[str | int, ...] = ()) -> None:
        self.question_id = question_id
        self.path = path

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AnswerRef)
            and other.question_id == self.question_id
            and other.path == self.path
        )

    def __hash__(self) -> int:
        return hash((self.question_id, self.path))

    def __repr__(self) -> str:
        return f"<answer of call {self.question_id} at {_where(self.path)}>"


class Failed:
    """A kept answer that is an error: the error map its FAIL carried."""

    __slots__ = ("info",)

    def __init__(self, info: m.ErrorInfo) -> None:
        self.info = info


#: What a call comes to: delivered to its object, failed, or None (it waits).
Outcome = CallReceived | BaseException | m.ErrorInfo | None


@dataclasses.dataclass(slots=True)
class HeldCall:
    """A call that names answers, as it arrived; held until the answers it ``needs`` (those
    not known yet) are known."""

    question_id: int
    target: int | m.AnswerTarget
    method: str
    args: list[Any]
    kwargs: dict[str, Any]
    #: A tuple, not a frozenset: most hold one id, and a tuple of one is a quarter the size.
    needs: tuple[int, ...] = ()
    #: The readers of the streams its arguments carry: they wait with it, and are cancelled
    #: if it fails instead of running.
    streams: tuple[Any, ...] = ()


@dataclasses.dataclass(slots=True)
class HeldSend:
    """A one-way call on our object ``export_id`` that arrived while calls on that object
    were held: it goes as ``send`` in its turn, behind them (E-order)."""

    export_id: int
    send: SendReceived


#: A held call that an answer lets go, and what it comes to; a one-way call comes to its
#: ``send``, or to None if its object was released while it waited.
Released = tuple[HeldCall | HeldSend, Outcome | SendReceived]


def dead_target(export_id: int) -> DeadReferenceError:
    """What a call on an object we do not export (or no longer) fails with."""
    return DeadReferenceError(
        f"no object #{export_id} on this connection: it was never given to you, or it was released"
    )


class Answers:
    """Answers kept for the peer, calls waiting on answers, and our questions the peer keeps.

    ``exports_get`` finds our exported object by id (the broker's export table).
    """

    __slots__ = (
        "_exports_get",
        "_finished_held",
        "_held",
        "_limits",
        "_queues",
        "_sends",
        "_waits",
        "_watchers",
        "asked",
        "draining",
        "dropped",
        "frame_refs",
        "kept",
        "pending",
        "ready",
    )

    def __init__(self, limits: Limits, exports_get: Any) -> None:
        self._limits = limits
        self._exports_get = exports_get
        #: Answers the caller asked us to keep that are not known yet: id -> chain depth.
        self.pending: dict[int, int] = {}
        #: Pending answers the caller finished: not kept once known.
        self.dropped: set[int] = set()
        #: Answers known and kept until the caller's FINISH: the result, or ``Failed``.
        self.kept: dict[int, Any] = {}
        # Calls waiting, one queue per target: key N for the answer N, -1 - X for export X.
        # A queue's first item is always a HeldCall (a HeldSend waits for nothing itself).
        self._queues: dict[int, collections.deque[HeldCall | HeldSend]] = {}
        # Answer id -> keys of the queues whose first call waits for it.
        self._watchers: dict[int, set[int]] = {}
        # Queue key -> how many answers its first call still waits for. Each answer a first
        # call waits for is counted once and watched once, so letting k calls go that name
        # k answers each costs k * k steps in all, as their bytes do (not k * k * k).
        self._waits: dict[int, int] = {}
        # The question ids of the calls in the queues (each owed an answer, so none twice),
        # and those of them the caller finished (they never run: each fails with
        # CallCancelled when its turn comes).
        self._held: set[int] = set()
        self._finished_held: set[int] = set()
        self._sends = 0  # one-way calls in the queues
        #: ANSWER_REF placeholders decoded in the frame being handled.
        self.frame_refs: list[AnswerRef] = []
        #: Calls that answers made ready, for the runtime to deliver (``Broker.ready_calls``),
        #: and one-way calls dropped in their turn (their object was released meanwhile).
        self.ready: collections.deque[CallReceived | SendReceived | SendDropped] = (
            collections.deque()
        )
        #: ``ready`` is being delivered (by an iteration of ``Broker.ready_calls``).
        self.draining = False
        #: Our questions the peer keeps the answers of (we asked ``retain``, sent no FINISH).
        self.asked: set[int] = set()

    @property
    def retained(self) -> int:
        """Answers kept or promised to be kept for the peer."""
        return len(self.pending) + len(self.kept)

    @property
    def waiting(self) -> int:
        """Calls of the peer waiting for answers, one-way calls waiting behind them included."""
        return len(self._held) + self._sends

    def take_frame_refs(self) -> list[AnswerRef]:
        """The answer references the last frame decoded (and forget them)."""
        refs = self.frame_refs
        if refs:
            self.frame_refs = []
        return refs

    def stray_refs(self, problem: str | None) -> str | None:
        """The refusal of a message other than a CALL, ``problem`` or its answer references:
        an answer is an argument of a call, nowhere else (3.9), so they are refused values,
        and forgotten with their message (never left for the next call)."""
        if not self.frame_refs:
            return problem
        self.frame_refs = []
        return problem or f"tag {tags.ANSWER_REF} may only be an argument of a call"

    # -- the callee ------------------------------------------------------------------------

    def receive(self, call: HeldCall, *, retain: bool, refs: list[AnswerRef]) -> Outcome:
        """A call arrived (its question id is owed an answer): deliver it, fail it, or hold
        it (None). With ``retain``, its answer is kept once known, whatever it is."""
        limits = self._limits
        qid = call.question_id
        failure: Outcome = self.keep(qid) if retain else None
        if failure is None:
            failure = self._name_answers(call, refs)
        if failure is not None:
            return failure
        depth = 1 + max((self.pending[n] for n in call.needs), default=-1)
        if depth > limits.max_pipeline_depth:
            return LimitExceeded(
                f"a chain of calls on answers deeper than {limits.max_pipeline_depth} "
                "(Limits.max_pipeline_depth); this call did not run"
            )
        if retain:
            self.pending[qid] = depth
        key = _key(call.target)
        if not call.needs and key not in self._queues:
            return self._deliver(call)
        if self.waiting >= limits.max_calls_in_flight:
            return LimitExceeded(f"{self._too_many()}; this call did not run")
        queue = self._queues.setdefault(key, collections.deque())
        queue.append(call)
        self._held.add(qid)
        if len(queue) == 1:
            self._wait_for(key, call)
        return None

    def receive_send(self, export_id: int, send: SendReceived) -> SendReceived | str | None:
        """A one-way call on our object ``export_id`` arrived: it goes now (``send``) unless
        calls on that object wait, then it waits behind them (None), or is dropped (why)."""
        queue = self._queues.get(-1 - export_id)
        if queue is None:
            return send
        if self.waiting >= self._limits.max_calls_in_flight:
            return self._too_many()
        queue.append(HeldSend(export_id, send))
        self._sends += 1
        return None

    def _too_many(self) -> str:
        limit = self._limits.max_calls_in_flight
        return f"more than {limit} calls waiting on answers (Limits.max_calls_in_flight)"

    def keep(self, qid: int) -> LimitExceeded | None:
        """Keep the answer to ``qid`` once it is known (the call asked ``retain``), or the
        failure of a call that would keep too many."""
        limit = self._limits.max_retained_answers
        if self.retained >= limit:
            return LimitExceeded(
                f"more than {limit} answers kept at once (Limits.max_retained_answers); "
                "this call did not run"
            )
        self.pending[qid] = 0
        return None

    def _name_answers(self, call: HeldCall, refs: list[AnswerRef]) -> Outcome:
        """Check the answers ``call`` names (its target, its arguments ``refs``), and note in
        ``call.needs`` those not known yet; the failure it comes to, or None."""
        names = [r.question_id for r in refs]
        if isinstance(call.target, m.AnswerTarget):
            names.append(call.target.question_id)
        needs = []
        for n in names:
            if n == call.question_id:
                return ProtocolError(f"call {n} cannot wait for its own answer")
            if n in self.pending and n not in self.dropped:
                needs.append(n)
            elif n not in self.kept:
                return ProtocolError(f"answer {n} is not kept")
            elif type(failed := self.kept[n]) is Failed:
                return failed.info  # failure flows down: the same error map
        if refs and len(refs) != _whole_arguments(call.args, call.kwargs):
            return ProtocolError("an answer may be passed only as a whole argument")
        if needs:
            call.needs = tuple(needs)
        return None

    def resolve(self, qid: int, outcome: Any) -> list[Released]:
        """Answer ``qid`` (one the caller asked to keep) is known: ``outcome`` is its result,
        or ``Failed``. Returns the calls this lets go, in the order they go: each delivered
        (a ``CallReceived``, a ``SendReceived``) or failed."""
        del self.pending[qid]
        self.kept[qid] = outcome
        ready = []
        waits = self._waits
        for key in self._watchers.pop(qid, ()):
            left = waits[key] - 1
            if left:
                waits[key] = left
            else:
                del waits[key]
                ready.append(key)
        ready.sort(key=lambda key: (key != qid, key))  # the calls on the answer itself first
        released: list[Released] = []
        for key in ready:
            self._drain(key, released)
        if qid in self.dropped:  # finished while it ran: its queued calls had it, no more
            self.dropped.discard(qid)
            del self.kept[qid]
        return released

    def finish(self, qid: int) -> None:
        """The caller's FINISH for ``qid``: forget its answer (now, or once it is known). A
        call still waiting in a queue will not run: its turn fails it with CallCancelled
        (the calls behind it keep their order, and those on its answer fail the same way)."""
        if self.kept.pop(qid, None) is None and qid in self.pending:
            self.dropped.add(qid)
        if qid in self._held:
            self._finished_held.add(qid)

    def _wait_for(self, key: int, call: HeldCall) -> bool:
        """``call``, first in queue ``key``, waits for the answers it names that are not
        known yet (each counted once): True if there are any."""
        needs = tuple(n for n in dict.fromkeys(call.needs) if n in self.pending)
        call.needs = needs
        if not needs:
            return False
        watchers = self._watchers
        for n in needs:
            watchers.setdefault(n, set()).add(key)
        self._waits[key] = len(needs)
        return True

    def _drain(self, key: int, released: list[Released]) -> None:
        """Deliver the calls at the front of queue ``key`` while nothing holds them."""
        queue = self._queues.get(key)
        while queue:
            call = queue[0]
            if isinstance(call, HeldSend):  # it waited only for the calls before it
                queue.popleft()
                self._sends -= 1
                alive = self._exports_get(call.export_id) is not None
                released.append((call, call.send if alive else None))
                continue
            if self._wait_for(key, call):
                return
            queue.popleft()
            qid = call.question_id
            self._held.discard(qid)
            if qid in self._finished_held:
                self._finished_held.discard(qid)
                released.append((call, CallCancelled("the caller cancelled the call")))
            else:
                released.append((call, self._deliver(call)))
        self._queues.pop(key, None)

    def _deliver(self, call: HeldCall) -> Outcome:
        """The call with its target and arguments known: a CallReceived, or its failure."""
        target = call.target
        if isinstance(target, int):
            obj = self._exports_get(target)
            if obj is None:
                return dead_target(target)
        else:
            found = self._value(target.question_id, target.path)
            if isinstance(found, BaseException | m.ErrorInfo):
                return found
            if not isinstance(found, Referenceable):
                where = _where(target.path)
                if hasattr(found, "pb_broker"):  # the caller's own object, home again
                    return ProtocolError(
                        f"{where} of answer {target.question_id} is an object of yours: "
                        "call it directly (calls are not forwarded back yet)"
                    )
                return NoSuchMethod(
                    f"{where} of answer {target.question_id} is not a reference, "
                    f"it has no method {call.method!r}"
                )
            obj = found
        args, kwargs = call.args, call.kwargs
        if any(type(a) is AnswerRef for a in args) or any(
            type(v) is AnswerRef for v in kwargs.values()
        ):
            try:
                args = [self._argument(a) for a in args]
                kwargs = {k: self._argument(v) for k, v in kwargs.items()}
            except _Stop as stop:
                return stop.failure
        return CallReceived(
            question_id=call.question_id, target=obj, method=call.method, args=args, kwargs=kwargs
        )

    def _argument(self, value: Any) -> Any:
        if type(value) is not AnswerRef:
            return value
        found = self._value(value.question_id, value.path)
        if isinstance(found, BaseException | m.ErrorInfo):
            raise _Stop(found)
        return found

    def _value(self, qid: int, path: tuple[str | int, ...]) -> Any:
        """The value at ``path`` in kept answer ``qid``, or the failure naming it gives."""
        if qid not in self.kept:
            return ProtocolError(f"answer {qid} is not kept")
        value = self.kept[qid]
        if type(value) is Failed:
            return value.info
        try:
            return step_into(value, path)
        except ValidationError as exc:
            return ValidationError(f"answer {qid} has {exc}")


class _Stop(Exception):
    """An argument names an answer that fails the call."""

    def __init__(self, failure: BaseException | m.ErrorInfo) -> None:
        self.failure = failure


_MISSING = object()


def step_into(value: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` inside ``value``: each step a field of a record or a key of a
    map (text), or an index of a list (integer). ValidationError if there is none."""
    for i, step in enumerate(path):
        value = _step(value, step)
        if value is _MISSING:
            raise ValidationError(f"no value at {_where(path[: i + 1])}")
    return value


def _step(value: Any, step: str | int) -> Any:
    """``value``'s field or key ``step`` (text), or item ``step`` (integer); _MISSING."""
    if type(step) is str:
        if type(value) is dict:
            return value.get(step, _MISSING)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            names = {f.name for f in dataclasses.fields(value)}
            return getattr(value, step) if step in names else _MISSING
        return _MISSING
    if type(value) is dict:
        return value.get(step, _MISSING)
    if isinstance(value, list | tuple) and type(step) is int and step < len(value):
        return value[step]
    return _MISSING


def _where(path: tuple[str | int, ...]) -> str:
    """A path as errors name it: ``$.result.owner[2]``."""
    return "$.result" + "".join(f"[{s}]" if type(s) is int else f".{s}" for s in path)


def _key(target: int | m.AnswerTarget) -> int:
    """The queue of a target: the answer's id, or -1 - the export id."""
    return -1 - target if isinstance(target, int) else target.question_id


def _whole_arguments(args: list[Any], kwargs: dict[str, Any]) -> int:
    """How many arguments are answer references themselves (not inside another value)."""
    return sum(type(a) is AnswerRef for a in args) + sum(
        type(v) is AnswerRef for v in kwargs.values()
    )
