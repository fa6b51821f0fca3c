"""The messages of the pbtyped protocol, as frozen dataclasses, and their wire forms.

Every message is a CBOR array whose first item is its kind. ``parse`` validates the shape of a
decoded array and builds the message; anything malformed is a ``RemoteProtocolError``.
"""

from __future__ import annotations

import enum
import io
from dataclasses import dataclass
from typing import Any

import cbor2

from .._exceptions import RemoteProtocolError
from ..wire.show import show

__all__ = [
    "FEATURES",
    "MAX_ABORT_REASON",
    "MAX_GREETING_SIZE",
    "MAX_ID",
    "MAX_NAME",
    "PROTOCOL_NAME",
    "PROTOCOL_VERSION",
    "Abort",
    "AnswerTarget",
    "Call",
    "ErrorInfo",
    "ExportTarget",
    "Fail",
    "Finish",
    "Hello",
    "Kind",
    "Message",
    "Release",
    "Return",
    "Target",
    "parse",
    "parse_greeting",
]

PROTOCOL_NAME = "pbtyped"
PROTOCOL_VERSION = 1
MAX_NAME = 200
MAX_ID = 2**63 - 1
#: Optional features this side offers in its Hello; one is used when both Hellos list it.
#: "columns": lists of one registered dataclass may travel field by field (tag 41009).
FEATURES: tuple[str, ...] = ("columns",)
#: The largest frame (header excluded) a peer may send before its Hello has arrived: the
#: Hello itself, or an Abort. Ours is under 150 bytes; 4 KiB leaves room for 64 features
#: while nothing of a peer not yet known is buffered or decoded beyond that (a protocol
#: constant, not a limit: both sides must agree on it).
MAX_GREETING_SIZE = 4096
#: Characters of an Abort reason we send: at 4 bytes a character at most, an Abort still fits
#: in ``MAX_GREETING_SIZE``, so even a refusal sent before our Hello is read by the peer.
MAX_ABORT_REASON = 1000
#: Nesting of a greeting: the message array, the Hello map, its features array.
_GREETING_DEPTH = 3


class Kind(enum.IntEnum):
    """Message kinds; numbers 7-15 are reserved for streams and later additions."""

    HELLO = 0
    CALL = 1
    RETURN = 2
    FAIL = 3
    FINISH = 4
    RELEASE = 5
    ABORT = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportTarget:
    """An object the receiver of the call exported (0 is the root)."""

    export_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerTarget:
    """The (future) answer of a call the sender made earlier: promise pipelining."""

    question_id: int


Target = ExportTarget | AnswerTarget


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """First message in each direction: protocol name, version and the sender's limits."""

    version: int
    max_frame_size: int
    max_body_size: int | None = None
    features: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """Call ``method`` on ``target``; the caller chose ``question_id``."""

    question_id: int
    target: Target
    method: str
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Return:
    """The result of a call."""

    question_id: int
    value: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """An exception as it crosses the wire: never a pickled object, only names and text."""

    type_name: str
    message: str
    registered: bool
    traceback: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Fail:
    """A call raised: the answer is an error."""

    question_id: int
    error: ErrorInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    """The caller no longer wants the answer: stop the work (cancellation)."""

    question_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    """The sender dropped ``count`` of the references to ``export_id`` it received."""

    export_id: int
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Abort:
    """The sender is closing the connection because of ``reason``."""

    reason: str


Message = Hello | Call | Return | Fail | Finish | Release | Abort


def hello_wire(msg: Hello) -> list[Any]:
    """Wire form of a Hello."""
    return [
        int(Kind.HELLO),
        {
            "protocol": PROTOCOL_NAME,
            "version": msg.version,
            "max_frame_size": msg.max_frame_size,
            **({} if msg.max_body_size is None else {"max_body_size": msg.max_body_size}),
            "features": list(msg.features),
        },
    ]


def target_wire(target: Target) -> list[int]:
    """Wire form of a call target."""
    if isinstance(target, ExportTarget):
        return [0, target.export_id]
    return [1, target.question_id]


def error_wire(error: ErrorInfo) -> dict[str, Any]:
    """Wire form of an ErrorInfo."""
    out: dict[str, Any] = {"type": error.type_name, "message": error.message}
    if error.registered:
        out["registered"] = True
    if error.traceback is not None:
        out["traceback"] = error.traceback
    return out


def _id(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_ID:
        raise RemoteProtocolError(f"{what} must be a non-negative integer, got {show(value)}")
    return value


def _str(value: Any, what: str, limit: int = MAX_NAME) -> str:
    if type(value) is not str or len(value) > limit:
        raise RemoteProtocolError(f"{what} must be a string of at most {limit} characters")
    return value


def _parse_target(value: Any) -> Target:
    if type(value) is list and len(value) == 2 and type(value[0]) is int:
        if value[0] == 0:
            return ExportTarget(export_id=_id(value[1], "call target id"))
        if value[0] == 1:
            return AnswerTarget(question_id=_id(value[1], "call target question id"))
    raise RemoteProtocolError(f"malformed call target {show(value, 60)}")


def _parse_error(value: Any) -> ErrorInfo:
    if type(value) is not dict:
        raise RemoteProtocolError("malformed error: expected a map")
    tb = value.get("traceback")
    return ErrorInfo(
        type_name=_str(value.get("type"), "error type"),
        message=_str(value.get("message"), "error message", 64 * 1024),
        registered=value.get("registered") is True,
        traceback=None if tb is None else _str(tb, "error traceback", 256 * 1024),
    )


def parse(raw: Any) -> Message:
    """Build a message from a decoded CBOR value, or raise RemoteProtocolError."""
    if type(raw) is not list or not raw or type(raw[0]) is not int:
        raise RemoteProtocolError("a message must be an array starting with its kind")
    kind, n = raw[0], len(raw)
    if (kind == Kind.CALL and n == 5) or (kind == Kind.CALL and n == 6):
        args = raw[4]
        kwargs = raw[5] if n == 6 else {}
        if type(args) is not list:
            raise RemoteProtocolError("call arguments must be an array")
        if type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
            raise RemoteProtocolError("call keyword arguments must be a map of strings")
        return Call(
            question_id=_id(raw[1], "question id"),
            target=_parse_target(raw[2]),
            method=_str(raw[3], "method name"),
            args=args,
            kwargs=kwargs,
        )
    if kind == Kind.RETURN and n == 3:
        return Return(question_id=_id(raw[1], "question id"), value=raw[2])
    if kind == Kind.FAIL and n == 3:
        return Fail(question_id=_id(raw[1], "question id"), error=_parse_error(raw[2]))
    if kind == Kind.FINISH and n == 2:
        return Finish(question_id=_id(raw[1], "question id"))
    if kind == Kind.RELEASE and n == 3:
        count = _id(raw[2], "release count")
        if count == 0:
            raise RemoteProtocolError("release count must be positive")
        return Release(export_id=_id(raw[1], "export id"), count=count)
    if kind == Kind.HELLO and n == 2 and type(raw[1]) is dict:
        info = raw[1]
        if info.get("protocol") != PROTOCOL_NAME:
            raise RemoteProtocolError("the peer does not speak the pbtyped protocol")
        feats = info.get("features", [])
        if type(feats) is not list or not all(type(f) is str for f in feats) or len(feats) > 64:
            raise RemoteProtocolError("malformed hello features")
        body = info.get("max_body_size")
        frame = _id(info.get("max_frame_size"), "max_frame_size")
        if frame < 64 or (body is not None and _id(body, "max_body_size") < 64):
            raise RemoteProtocolError("the peer announced a frame size limit below 64 bytes")
        return Hello(
            version=_id(info.get("version"), "protocol version"),
            max_frame_size=frame,
            max_body_size=None if body is None else _id(body, "max_body_size"),
            features=tuple(feats),
        )
    if kind == Kind.ABORT and n == 2:
        return Abort(reason=_str(raw[1], "abort reason", 4096))
    if kind in Kind.__members__.values():
        raise RemoteProtocolError(f"malformed {Kind(kind).name} message ({n} items)")
    raise RemoteProtocolError(f"unknown message kind {show(kind)}")


class _NoTags(dict[int, Any]):
    """semantic_decoders for the greeting: every tag, cbor2's own included, is refused."""

    def __missing__(self, tag: int) -> Any:
        def refuse(value: Any, immutable: bool) -> Any:
            raise ValueError(f"CBOR tag {tag} is not allowed before the Hello")

        return refuse


_NO_TAGS = _NoTags()


def parse_greeting(body: bytes, attachments: bytes) -> Hello | Abort:
    """The peer's first message, decoded as plain CBOR: no tag at all, three levels deep.

    Nothing of a peer is decoded with the full codec before its Hello is known: a bignum, a
    decimal or a reference tag in the first frame closes the connection, whatever its size.
    Raises RemoteProtocolError unless the frame is exactly one well-formed Hello or Abort.
    """
    if attachments:
        raise RemoteProtocolError("a Hello has no attachments")
    fp = io.BytesIO(body)
    try:
        raw = cbor2.CBORDecoder(
            fp,
            semantic_decoders=_NO_TAGS,
            max_depth=_GREETING_DEPTH,
            allow_indefinite=False,
            strict_hashable_types=True,
        ).decode()
    except (cbor2.CBORError, RecursionError) as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        raise RemoteProtocolError(f"malformed Hello: {str(exc)[:200]}{cause}") from None
    if fp.tell() != len(body):
        raise RemoteProtocolError(f"{len(body) - fp.tell()} trailing bytes after the Hello")
    msg = parse(raw)
    if not isinstance(msg, Hello | Abort):
        raise RemoteProtocolError(f"expected Hello first, got {type(msg).__name__}")
    return msg
