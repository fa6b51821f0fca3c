"""What the broker tells the I/O layer happened (results of ``Broker.receive_data``).

Events are plain slotted dataclasses, not frozen ones: one is made per message received, and a
frozen dataclass's ``__init__`` costs twice as much (~0.9 against ~0.4 us for a CallReceived).
Treat them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AnswerReceived",
    "CallReceived",
    "CancelReceived",
    "Event",
    "FailureReceived",
    "HandshakeComplete",
    "PeerAborted",
    "PeerLeaving",
    "SendDropped",
    "SendReceived",
    "StreamCancelled",
    "StreamCredit",
    "StreamEnded",
    "StreamItemsReceived",
]


@dataclass(slots=True, kw_only=True)
class HandshakeComplete:
    """The peer's Hello arrived and was accepted: calls may flow."""


@dataclass(slots=True, kw_only=True)
class CallReceived:
    """The peer calls ``method`` on our object ``target``; answer with ``Broker.send_return``."""

    question_id: int
    target: object
    method: str
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass(slots=True, kw_only=True)
class AnswerReceived:
    """Our call ``question_id`` returned ``value``."""

    question_id: int
    value: Any


@dataclass(slots=True, kw_only=True)
class FailureReceived:
    """Our call ``question_id`` failed with ``error`` (raise it at the caller)."""

    question_id: int
    error: BaseException


@dataclass(slots=True, kw_only=True)
class CancelReceived:
    """The peer no longer wants the answer to its call ``question_id``: stop that work."""

    question_id: int


@dataclass(slots=True, kw_only=True)
class SendReceived:
    """The peer calls ``method`` on our object ``target`` and wants no answer (a one-way
    call): run it in its place among the calls, and log what it raises."""

    #: It has none: nothing answers it (code that handles calls and sends alike reads it).
    question_id: ClassVar[None] = None
    target: object
    method: str
    args: list[Any]
    kwargs: dict[str, Any]
    #: Bytes of the frame that carried it, held until ``Broker.send_done(size)``.
    size: int


@dataclass(slots=True, kw_only=True)
class SendDropped:
    """The peer's one-way call could not be delivered (``reason`` says why): it was dropped,
    and nobody will tell the peer. Log it, rate-limited."""

    reason: str


@dataclass(slots=True, kw_only=True)
class PeerAborted:
    """The peer announced it is closing the connection, and why."""

    reason: str


@dataclass(slots=True, kw_only=True)
class PeerLeaving:
    """The peer sent GOODBYE: it is going away. No call of ours may start on this connection
    now; it answers our calls up to ``last_question_id`` within ``grace_ms``, and fails later
    ones with GoingAway."""

    reason: str
    grace_ms: int
    last_question_id: int


@dataclass(slots=True, kw_only=True)
class StreamItemsReceived:
    """Items of a stream we read arrived: hand them to ``reader.handle``'s consumer."""

    reader: Any
    items: list[Any]
    size: int


@dataclass(slots=True, kw_only=True)
class StreamEnded:
    """A stream we read ended: normally (``error`` None) or with ``error`` (raise it where
    the consumer iterates)."""

    reader: Any
    error: BaseException | None


@dataclass(slots=True, kw_only=True)
class StreamCredit:
    """The reader of a stream we write granted credit (``writer.credit`` grew): go on."""

    writer: Any


@dataclass(slots=True, kw_only=True)
class StreamCancelled:
    """The reader of a stream we write wants no more items: stop its producer (the STREAM_END
    still goes)."""

    writer: Any


Event = (
    HandshakeComplete
    | CallReceived
    | AnswerReceived
    | FailureReceived
    | CancelReceived
    | PeerAborted
    | PeerLeaving
    | SendReceived
    | SendDropped
    | StreamItemsReceived
    | StreamEnded
    | StreamCredit
    | StreamCancelled
)
