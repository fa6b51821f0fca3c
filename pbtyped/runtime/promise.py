"""Promises: the answer of a remote call, to await, to call on, or to pass on before it arrives.

A call on a reference returns a ``Promise`` at once; nothing is sent yet. Awaiting it sends
the call and gives its result, exactly as awaiting the call did before promises existed (a
promise is a coroutine too: ``asyncio.create_task`` and ``gather`` take it). Calling a method
on a promise (``promise.call_remote("next")``), or passing it as an argument, sends its call
first, asking the peer to keep its answer, and sends the new call addressed to that answer
(docs/protocol.md 3.6): a chain of dependent calls costs one round trip. When the peer does
not offer pipelining, or the answer is known already, the new call waits for the answer and
goes to the value, as it would have been written by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator, Iterable
from typing import TYPE_CHECKING, Any, Self, TypeAlias, TypeVar

from .._exceptions import CallCancelled, CallTimeout, NoSuchMethod
from ..protocol.answers import AnswerRef, step_into
from ..protocol.broker import ImportedReference
from .arguments import check_timeout

if TYPE_CHECKING:
    from .connection import Connection
    from .reference import RemoteReference

__all__ = ["Promise", "Promised"]

T = TypeVar("T", covariant=True)  # a promise of a subtype is a promise of the type


class _Known:
    """A promise's value, known on this side (its answer arrived)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Promise(Coroutine[Any, Any, T]):
    """The answer of a remote call: await it for the result, or use it before it arrives.

    ``call_remote``/``call`` on a promise call a method of the object it will be (one round
    trip for the whole chain, when the peer offers pipelining); ``at(*path)`` is the promise
    of a value inside it (a field of a record, a key of a map, an index of a list); a promise
    passed as an argument of another call stands for its value, which then goes from the
    peer's call to the peer's call without coming back here first.

    A promise is awaited like the coroutine a call used to be (cancelling the awaiting task
    cancels the call on the peer; the calls made on it then fail with CallCancelled). A
    promise dropped without being awaited still gets its answer, and what the answer held
    (references, the peer's kept answer) is released then.
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_conn",
        "_convert",
        "_fut",
        "_kwargs",
        "_local",
        "_method",
        "_path",
        "_qid",
        "_retained",
        "_runner",
        "_target",
        "_timeout",
    )

    def __init__(
        self,
        conn: Connection | None,
        target: RemoteReference | Promise[Any] | None,
        method: str | None,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        timeout: float | None = None,
        path: tuple[str | int, ...] = (),
        convert: Callable[[Any], Any] | None = None,
    ) -> None:
        self._conn: Connection | None = conn
        #: What the answer becomes when awaited (a typed stub's check of the result); a call
        #: that uses the promise sends the answer as it came.
        self._convert = convert
        #: A call on one of our own objects (``local``): nothing to send, nothing to pipeline.
        self._local: Callable[[], Coroutine[Any, Any, Any]] | None = None
        self._target: RemoteReference | Promise[Any] | None = target
        self._method = method  # None: the promise of the value at ``path`` in ``target``
        self._path = path
        self._args = args
        self._kwargs = kwargs or {}
        self._timeout = timeout
        self._qid = 0
        self._fut: asyncio.Future[Any] | None = None  # made when the call is sent
        self._retained = False
        self._runner: Generator[Any, None, T] | None = None  # when run as a coroutine

    @classmethod
    def local(cls, run: Callable[[], Coroutine[Any, Any, Any]]) -> Self:
        """A promise of a call on one of our own objects: ``run()`` makes the coroutine that
        calls it, when the promise is awaited (or used by a call, which then waits for it)."""
        promise = cls(None, None, "(local)")
        promise._local = run
        return promise

    def __repr__(self) -> str:
        what = f"{self._method}()" if self._method is not None else "a value"
        state = "not sent" if self._fut is None else "answered" if self._fut.done() else "sent"
        return f"<pbtyped.Promise of {what}, {state}>"

    # -- using it before it arrives --------------------------------------------------------

    def call_remote(self, name: str, /, *args: Any, **kwargs: Any) -> Promise[Any]:
        """Call ``remote_<name>`` on the object this promise will be; a promise of its result."""
        return Promise(self._conn, self, name, args, kwargs)

    def call(
        self,
        name: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Promise[Any]:
        """Like ``call_remote`` with explicit arguments and a ``timeout`` in seconds."""
        check_timeout(timeout, "timeout")
        return Promise(self._conn, self, name, args, dict(kwargs or {}), timeout)

    def at(self, *path: str | int) -> Promise[Any]:
        """The promise of the value at ``path`` inside this one's: field names of a record or
        keys of a map (text), indexes of a list (integers)."""
        return Promise(self._conn, self, None, path=path)

    # -- awaiting it -----------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, T]:
        if self._timeout is None:  # a plain call: one coroutine, as a call was before promises
            return self._run().__await__()
        return self._result().__await__()

    def send(self, value: Any) -> Any:
        """Run as a coroutine (``asyncio.create_task(promise)``): one step."""
        if self._runner is None:
            self._runner = self.__await__()
        return self._runner.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Run as a coroutine: raise into the step it waits at."""
        if self._runner is None:
            self._runner = self.__await__()
        if val is None and tb is None:
            return self._runner.throw(typ)
        return self._runner.throw(typ, val, tb)  # pragma: no cover - the old signature

    def close(self) -> None:
        """Run as a coroutine: stop where it waits."""
        if self._runner is not None:
            self._runner.close()

    async def _result(self) -> T:
        timeout = self._timeout
        if timeout is None:
            return await self._run()
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                return await self._run()
        except TimeoutError:
            if not deadline.expired():
                raise  # not ours: a TimeoutError the call itself ended with
            raise CallTimeout(
                f"{self._method}() got no answer within {timeout} s; the peer was told to stop"
            ) from None

    async def _run(self) -> T:
        if self._method is None:  # a value inside another promise's
            assert isinstance(self._target, Promise)
            value: T = step_into(await self._target, self._path)
            return value
        fut = self._fut
        if self._local is not None:  # our own object: run here, as it was
            if fut is None:
                local: T = await self._run_local()
                return local
            try:
                local = await fut  # awaited again, or used by a call first: the same run
            except asyncio.CancelledError:
                _not_ours(self._method)
                raise
            return local
        conn = self._conn or self._connection
        if fut is None:
            if conn.writing_paused:
                await conn.writable()  # the peer is not reading: do not buffer without bound
            blocker = self._launch(retain=False)
            if blocker is not None:  # what it names must be known here first
                sent = asyncio.get_running_loop().create_future()
                self._send_after(blocker, sent)
                await sent  # cancelling this wait leaves the blocker alone
            fut = self._fut
            assert fut is not None
        try:
            result = await fut
        except asyncio.CancelledError:
            conn.give_up(self._qid)  # the peer is told to stop
            _not_ours(self._method)
            raise
        if self._convert is not None:
            result = self._convert(result)
        answer: T = result
        return answer

    async def _run_local(self) -> Any:
        """Run the call on our own object in the awaiting task; another awaiter (this one
        again, or a second task) waits for this same run, through ``_fut``."""
        assert self._local is not None
        done = self._fut = asyncio.get_running_loop().create_future()
        try:
            result = await self._local()
            done.set_result(result)
            return result
        except Exception as exc:
            done.set_exception(exc)
            done.exception()  # retrieved: the awaiter that ran it raises it
            raise
        finally:
            if not done.done():  # cancelled: so is the run any other awaiter waits for
                done.cancel()

    @property
    def _connection(self) -> Connection:
        if self._conn is None:
            raise TypeError(
                "this promise is of a call on one of our own objects: await it, then call "
                "the result (or call through its typed methods)"
            )
        return self._conn

    # -- sending it ------------------------------------------------------------------------

    def _launch(self, *, retain: bool) -> Promise[Any] | None:
        """Send the call, asking the peer to keep its answer if ``retain``; or return the
        promise it must wait for first (one whose answer cannot be named on the wire)."""
        target = self._target
        wire_target: Any = target
        # A reference first: Promise is an abstract Coroutine, slow to test with isinstance.
        if not isinstance(target, ImportedReference) and isinstance(target, Promise):
            named = target._name()
            if isinstance(named, Promise):
                return named
            wire_target = named if isinstance(named, AnswerRef) else _reference(named.value)
        args, kwargs = self._args, self._kwargs
        if _promised(args) or (kwargs and _promised(kwargs.values())):
            sent = _arguments(args, kwargs)
            if isinstance(sent, Promise):
                return sent
            args, kwargs = sent
        assert self._method is not None
        self._qid, self._fut = (self._conn or self._connection).start_call(
            wire_target, self._method, args, kwargs, retain=retain
        )
        # The target and arguments stay held, as a coroutine's frame held them: a reference
        # released before the answer could end what the call is using on the peer.
        self._retained = retain
        return None

    def _send_after(self, blocker: Promise[Any], sent: asyncio.Future[None]) -> None:
        """Send this call as soon as ``blocker``'s answer is known, then settle ``sent``
        (with the error that stops it, if any). It is sent from the answer's own callback,
        so before any code that awaited the answer goes on: calls made then on the value
        follow this one (E-order)."""
        fut = blocker._fut
        if fut is None:  # not sent: the peer does not pipeline
            try:
                inner = blocker._launch(retain=False)
            except Exception as exc:
                sent.set_exception(exc)
                return
            if inner is not None:  # it waits itself: once it is sent, wait for its answer
                blocker_sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                blocker._send_after(inner, blocker_sent)

                def then(done: asyncio.Future[None]) -> None:
                    if not _relay(done, sent):
                        self._send_after(blocker, sent)

                blocker_sent.add_done_callback(then)
                return
            fut = blocker._fut
            assert fut is not None

        def known(_: object) -> None:
            if sent.done():
                return  # the wait was cancelled: so is this call
            try:
                again = self._launch(retain=False)
            except Exception as exc:  # the blocker's error, or this call's own
                sent.set_exception(exc)
                return
            if again is None:
                sent.set_result(None)
            else:
                self._send_after(again, sent)

        fut.add_done_callback(known)

    def _name(self) -> AnswerRef | _Known | Promise[Any]:
        """What a call that uses this promise sends for it: the peer's kept answer, or the
        value known here; or the promise to wait for before that call can go."""
        if self._method is None:
            assert isinstance(self._target, Promise)
            base = self._target._name()
            if isinstance(base, AnswerRef):
                return AnswerRef(base.question_id, base.path + self._path)
            if isinstance(base, _Known):
                return _Known(step_into(base.value, self._path))
            return base
        fut = self._fut
        if fut is None:
            if self._local is not None:  # run it now: the call that uses it needs its value
                fut = self._fut = asyncio.ensure_future(self._local())
            elif not self._connection.broker.pipelining:
                return self
            else:
                blocker = self._launch(retain=True)
                if blocker is not None:
                    return blocker
                fut = self._fut
                assert fut is not None
            fut.add_done_callback(_retrieved)  # its error may reach only the calls on it
        if fut.done():
            if fut.cancelled():
                raise CallCancelled(f"the call it depends on, {self._method}(), was cancelled")
            return _Known(fut.result())
        if self._retained:
            return AnswerRef(self._qid)
        return self  # sent without asking the peer to keep it: its value must come first


V = TypeVar("V")

#: What a typed stub's parameter of type ``V`` takes: a value, or a promise of one (of ``V``
#: or a subtype), which goes to the peer before its value is known; the peer checks it
#: against the schema then.
Promised: TypeAlias = V | Promise[V]
Promised.__doc__ = """A typed stub's parameter of type ``V``: a value, or a promise of one,
which goes to the peer before its value is known; the peer checks it then."""


#: Types of arguments that are never promises: tested first, as a set lookup is faster.
_PLAIN: frozenset[type[Any]] = frozenset({str, int, float, bool, bytes, list, dict, tuple})


def _promised(values: Iterable[Any]) -> bool:
    """True if any of ``values`` is a promise (its value stands in for it when sent)."""
    for value in values:  # a loop, not any(): no generator made per call
        if type(value) not in _PLAIN and isinstance(value, Promise):
            return True
    return False


def _arguments(
    args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]] | Promise[Any]:
    """The arguments as a call sends them, each promise among them in the place of what
    names it (the peer's kept answer, or the value known here); or the promise whose answer
    must be known before the call can go."""
    sent_args, sent_kwargs = list(args), dict(kwargs)
    for i, arg in enumerate(sent_args):
        if isinstance(arg, Promise):
            named = arg._name()
            if isinstance(named, Promise):
                return named
            sent_args[i] = named.value if isinstance(named, _Known) else named
    for key, arg in sent_kwargs.items():
        if isinstance(arg, Promise):
            named = arg._name()
            if isinstance(named, Promise):
                return named
            sent_kwargs[key] = named.value if isinstance(named, _Known) else named
    return sent_args, sent_kwargs


def _relay(done: asyncio.Future[None], sent: asyncio.Future[None]) -> bool:
    """Pass ``done``'s error on to ``sent``: True if it had one (or ``sent`` is settled)."""
    if sent.done():
        return True
    if done.cancelled() or (exc := done.exception()) is None:
        return False
    sent.set_exception(exc)
    return True


def _not_ours(method: str) -> None:
    """In a task whose call was cancelled: raise CallCancelled unless the task itself is
    being cancelled. Tasks awaiting one promise share its call, and one cancelling it
    cancels it for all: the others are told so, with an error they can tell from their
    own cancellation (asyncio would give them a bare CancelledError)."""
    task = asyncio.current_task()
    if task is not None and not task.cancelling():
        raise CallCancelled(
            f"{method}() was cancelled by another task awaiting the same promise"
        ) from None


def _retrieved(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _reference(value: Any) -> Any:
    """The reference a call on a known value goes to (a typed stub's, or the value)."""
    holder = getattr(value, "pb_reference", value)
    if not hasattr(holder, "pb_broker"):
        raise NoSuchMethod(f"the promised value is not a reference: {type(value).__name__}")
    return holder
