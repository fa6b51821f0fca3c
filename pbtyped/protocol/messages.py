"""The messages of the pbtyped protocol: for each kind, its wire form and its one parser.

Every message is a CBOR array whose first item is its kind. Each kind has a builder
(``call_wire``, ...) that writes the array we send and a parser (``parse_call``, ...) that checks
a decoded array and returns its fields; ``PARSERS`` maps each kind to its parser. The broker
calls the parsers directly, before and after the handshake alike, so every check on what a peer
sends is written once, here. Anything malformed is a ``RemoteProtocolError``.

Parsers return plain values or tuples in wire order: one is made per message received, and
a tuple costs a small part of what a frozen dataclass does (~0.03 against ~0.5 us). Only parts
with optional or named fields are dataclasses: ``Hello``, ``ErrorInfo`` and ``AnswerTarget``.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2

from .._exceptions import RemoteProtocolError
from ..wire.encoding import cbor_head
from ..wire.show import show
from . import streams
from .interfaces import names_problem

__all__ = [
    "FEATURES",
    "MAX_ABORT_REASON",
    "MAX_GREETING_SIZE",
    "MAX_ID",
    "MAX_NAME",
    "MAX_NONCE",
    "MAX_PATH",
    "PARSERS",
    "PROTOCOL_NAME",
    "PROTOCOL_VERSION",
    "AnswerTarget",
    "ErrorInfo",
    "Hello",
    "Kind",
    "abort_wire",
    "call_head",
    "call_wire",
    "decode_greeting",
    "error_wire",
    "fail_wire",
    "finish_wire",
    "goodbye_wire",
    "hello_wire",
    "kind_of",
    "parse_abort",
    "parse_call",
    "parse_error",
    "parse_fail",
    "parse_finish",
    "parse_goodbye",
    "parse_hello",
    "parse_options",
    "parse_path",
    "parse_ping",
    "parse_release",
    "parse_return",
    "parse_send",
    "ping_wire",
    "pipelined_call_wire",
    "pong_wire",
    "release_wire",
    "return_head",
    "return_wire",
    "send_wire",
]

PROTOCOL_NAME = "pbtyped"
PROTOCOL_VERSION = 1
MAX_NAME = 200
MAX_ID = 2**63 - 1
#: Steps of a path into an answer (``[1, N, path]`` targets, ``ANSWER_REF`` arguments).
MAX_PATH = 16
#: Optional features this side offers in its Hello; one is used when both Hellos list it.
#: "columns": lists of one registered dataclass may travel field by field (tag 41009).
#: "interfaces": references name the interfaces of their objects (``interfaces.py``).
#: "keepalive": PING and PONG (kinds 11, 12). "goodbye": GOODBYE (kind 13).
#: "oneway": SEND, a call no answer is wanted for (kind 14).
#: "streams": async iterators travel as streams under byte credit (``streams.py``).
#: "pipelining": calls on answers not yet received, answers as arguments (``answers.py``).
FEATURES: tuple[str, ...] = (
    "columns",
    "interfaces",
    "keepalive",
    "goodbye",
    "oneway",
    "pipelining",
    "streams",
)
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
    """Message kinds (docs/protocol.md section 3); 15 and above are unassigned."""

    HELLO = 0
    CALL = 1
    RETURN = 2
    FAIL = 3
    FINISH = 4
    RELEASE = 5
    ABORT = 6
    STREAM_ITEMS = 7  # feature "streams", 7-10
    STREAM_END = 8
    STREAM_CREDIT = 9
    STREAM_CANCEL = 10
    PING = 11  # feature "keepalive"
    PONG = 12
    GOODBYE = 13  # feature "goodbye"
    SEND = 14  # feature "oneway"


# Plain ints for the builders and parsers: an IntEnum member costs a lookup and compares slower.
_HELLO, _CALL, _RETURN, _FAIL, _FINISH, _RELEASE, _ABORT = (int(k) for k in list(Kind)[:7])
_PING, _PONG, _GOODBYE, _SEND = (int(k) for k in list(Kind)[11:])
#: The starts of messages ``call_head`` and ``return_head`` write: the array's head and kind.
_CALL_5, _CALL_6, _RETURN_3 = b"\x85\x01", b"\x86\x01", b"\x83\x02"
_OBJECT = b"\x82\x00"  # a call target [0, export id], up to the id
#: A PING's nonce: any unsigned integer of at most 64 bits.
MAX_NONCE = 2**64 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """First message in each direction: protocol name, version and the sender's limits;
    ``root_interfaces``, the interfaces of the sender's root, if it has one."""

    version: int
    max_frame_size: int
    max_body_size: int | None = None
    features: tuple[str, ...] = ()
    root_interfaces: tuple[str, ...] | None = None
    #: The credit in bytes of every stream the sender reads ("streams"), None if not said.
    stream_window: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """An exception as it crosses the wire: never a pickled object, only names and text."""

    type_name: str
    message: str
    registered: bool
    traceback: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerTarget:
    """A call's target that is the (future) answer of a call the sender made earlier: promise
    pipelining. The other targets, objects the receiver exported, are their export ids."""

    question_id: int
    #: Steps into the answer: field names or map keys (text), list indexes (integers).
    path: tuple[str | int, ...] = ()


# -- what we send ------------------------------------------------------------------------------


def hello_wire(msg: Hello) -> list[Any]:
    """Wire form of a Hello."""
    return [
        _HELLO,
        {
            "protocol": PROTOCOL_NAME,
            "version": msg.version,
            "max_frame_size": msg.max_frame_size,
            **({} if msg.max_body_size is None else {"max_body_size": msg.max_body_size}),
            "features": list(msg.features),
            **(
                {}
                if msg.root_interfaces is None
                else {"root_interfaces": list(msg.root_interfaces)}
            ),
            **({} if msg.stream_window is None else {"stream_window": msg.stream_window}),
        },
    ]


def call_wire(
    question_id: int, export_id: int, method: str, args: list[Any], kwargs: dict[str, Any]
) -> list[Any]:
    """Wire form of a Call on our peer's object ``export_id``."""
    if kwargs:
        return [_CALL, question_id, [0, export_id], method, args, kwargs]
    return [_CALL, question_id, [0, export_id], method, args]  # no map to encode or check


def call_head(question_id: int, export_id: int, method: str, kwargs: bool) -> bytes:
    """A Call on our peer's object ``export_id`` as ``call_wire`` makes it, in CBOR, up to
    its arguments: the arguments array (and, with ``kwargs``, the keyword arguments map)
    follow it. Written by hand: cbor2 took ~1 us of a small call's ~2 us encoding for the
    array and the target around the arguments. ``method`` is ASCII (``is_method_name``)."""
    name = _NAME_TEXT.get(method)
    if name is None:
        name = cbor_head(3, len(method)) + method.encode("ascii")
        if len(_NAME_TEXT) < 1024:  # the names this process's code calls: few, and capped
            _NAME_TEXT[method] = name
    return b"".join(
        (
            _CALL_6 if kwargs else _CALL_5,
            cbor_head(0, question_id),
            _OBJECT,
            cbor_head(0, export_id),
            name,
        )
    )


#: Method names this side called, as CBOR text (``call_head``); filled only by our own calls.
_NAME_TEXT: dict[str, bytes] = {}


def return_head(question_id: int) -> bytes:
    """A Return as ``return_wire`` makes it, in CBOR, up to its value (see ``call_head``)."""
    return _RETURN_3 + cbor_head(0, question_id)


def send_wire(export_id: int, method: str, args: list[Any], kwargs: dict[str, Any]) -> list[Any]:
    """Wire form of a Send (a one-way call) on our peer's object ``export_id``."""
    if kwargs:
        return [_SEND, [0, export_id], method, args, kwargs]
    return [_SEND, [0, export_id], method, args]


def pipelined_call_wire(
    question_id: int,
    target: int | AnswerTarget,
    method: str,
    args: list[Any],
    kwargs: dict[str, Any],
    options: dict[str, Any],
) -> list[Any]:
    """Wire form of a Call that needs promise pipelining: on an answer (``[1, N]``, ``[1, N,
    path]``), or with call options (the seventh item, kwargs ``{}`` before it)."""
    if type(target) is int:
        wire_target: list[Any] = [0, target]
    else:
        assert isinstance(target, AnswerTarget)
        wire_target = [1, target.question_id]
        if target.path:
            wire_target.append(list(target.path))
    if options:
        return [_CALL, question_id, wire_target, method, args, kwargs, options]
    if kwargs:
        return [_CALL, question_id, wire_target, method, args, kwargs]
    return [_CALL, question_id, wire_target, method, args]


def return_wire(question_id: int, value: Any) -> list[Any]:
    """Wire form of a Return."""
    return [_RETURN, question_id, value]


def fail_wire(question_id: int, error: ErrorInfo) -> list[Any]:
    """Wire form of a Fail."""
    return [_FAIL, question_id, error_wire(error)]


def finish_wire(question_id: int) -> list[Any]:
    """Wire form of a Finish."""
    return [_FINISH, question_id]


def release_wire(export_id: int, count: int) -> list[Any]:
    """Wire form of a Release."""
    return [_RELEASE, export_id, count]


def abort_wire(reason: str) -> list[Any]:
    """Wire form of an Abort; the reason is cut to ``MAX_ABORT_REASON`` characters."""
    return [_ABORT, reason[:MAX_ABORT_REASON]]


def ping_wire(nonce: int) -> list[Any]:
    """Wire form of a Ping."""
    return [_PING, nonce]


def pong_wire(nonce: int) -> list[Any]:
    """Wire form of a Pong: the answer to the Ping of ``nonce``."""
    return [_PONG, nonce]


def goodbye_wire(reason: str, grace_ms: int, last_question_id: int) -> list[Any]:
    """Wire form of a Goodbye; the reason is cut to ``MAX_ABORT_REASON`` characters."""
    return [_GOODBYE, reason[:MAX_ABORT_REASON], grace_ms, last_question_id]


def error_wire(error: ErrorInfo) -> dict[str, Any]:
    """Wire form of an ErrorInfo."""
    out: dict[str, Any] = {"type": error.type_name, "message": error.message}
    if error.registered:
        out["registered"] = True
    if error.traceback is not None:
        out["traceback"] = error.traceback
    return out


# -- what we receive ---------------------------------------------------------------------------


def kind_of(raw: Any) -> int:
    """The kind of a decoded message, one of ``Kind``; RemoteProtocolError if it is none."""
    if type(raw) is not list or not raw or type(raw[0]) is not int:
        raise RemoteProtocolError("a message must be an array starting with its kind")
    kind: int = raw[0]
    if kind not in PARSERS:
        raise RemoteProtocolError(f"unknown message kind {show(kind)}")
    return kind


def parse_call(
    raw: list[Any],
) -> tuple[int, int | AnswerTarget, str, list[Any], dict[str, Any], Any]:
    """A CALL's question id, target (an export id, or an answer), method, args, kwargs and
    options (None when the call has none; else still to be read by ``parse_options``)."""
    # One is parsed per call received: the checks are written out, and a helper is called
    # only to say what is wrong (a helper call per field took ~0.6 us more per call).
    n = len(raw)
    options: Any = None
    if n == 5:
        _, question_id, target, method, args = raw
        kwargs: Any = {}
    elif n == 6:
        _, question_id, target, method, args, kwargs = raw
    elif n == 7:  # its options are checked by ``parse_options``, when the call is handled
        _, question_id, target, method, args, kwargs, options = raw
    else:
        raise _malformed(raw)
    if type(args) is not list:
        raise RemoteProtocolError("call arguments must be an array")
    if type(kwargs) is not dict or (kwargs and not all(type(k) is str for k in kwargs)):
        raise RemoteProtocolError("call keyword arguments must be a map of strings")
    if type(question_id) is not int or not 0 <= question_id <= MAX_ID:
        raise _not_an_id(question_id, "question id")
    if type(target) is list and len(target) == 2 and type(target[0]) is int and target[0] == 0:
        export_id: int | AnswerTarget = target[1]
        if type(export_id) is not int or not 0 <= export_id <= MAX_ID:
            raise _not_an_id(export_id, "call target id")
    else:
        export_id = _answer_target(target)
    if type(method) is not str or len(method) > MAX_NAME:
        raise _not_a_name("method name")
    return question_id, export_id, method, args, kwargs, options


def parse_options(options: Any) -> dict[str, Any]:
    """A CALL's options (its seventh item): a map whose keys are text. Which keys a side
    admits depends on the features negotiated: its user checks them."""
    if type(options) is not dict or not all(type(k) is str for k in options):
        raise RemoteProtocolError("call options must be a map of strings")
    return options


def parse_send(raw: list[Any]) -> tuple[int | AnswerTarget, str, list[Any], dict[str, Any]]:
    """A SEND's target (an export id, or an answer), method, args and kwargs: a CALL's
    fields without the question id, checked by the same rules."""
    n = len(raw)
    if n == 4:
        _, target, method, args = raw
        kwargs: Any = {}
    elif n == 5:
        _, target, method, args, kwargs = raw
    else:
        raise _malformed(raw)
    _, export_id, method, args, kwargs, _ = parse_call([_CALL, 0, target, method, args, kwargs])
    return export_id, method, args, kwargs


def parse_return(raw: list[Any]) -> tuple[int, Any]:
    """A RETURN's question id and value."""
    if len(raw) != 3:
        raise _malformed(raw)
    _, question_id, value = raw
    if type(question_id) is not int or not 0 <= question_id <= MAX_ID:  # written out: hot
        raise _not_an_id(question_id, "question id")
    return question_id, value


def parse_fail(raw: list[Any]) -> tuple[int, ErrorInfo]:
    """A FAIL's question id and error."""
    if len(raw) != 3:
        raise _malformed(raw)
    return _id(raw[1], "question id"), parse_error(raw[2])


def parse_finish(raw: list[Any]) -> int:
    """A FINISH's question id."""
    if len(raw) != 2:
        raise _malformed(raw)
    return _id(raw[1], "question id")


def parse_release(raw: list[Any]) -> tuple[int, int]:
    """A RELEASE's export id and count (positive)."""
    if len(raw) != 3:
        raise _malformed(raw)
    count = _id(raw[2], "release count")
    if count == 0:
        raise RemoteProtocolError("release count must be positive")
    return _id(raw[1], "export id"), count


def parse_abort(raw: list[Any]) -> str:
    """An ABORT's reason."""
    if len(raw) != 2:
        raise _malformed(raw)
    return _str(raw[1], "abort reason", 4096)


def parse_ping(raw: list[Any]) -> int:
    """A PING's (or a PONG's) nonce."""
    if len(raw) != 2:
        raise _malformed(raw)
    nonce = raw[1]
    if type(nonce) is not int or not 0 <= nonce <= MAX_NONCE:
        raise RemoteProtocolError(
            f"ping nonce must be a 64-bit unsigned integer, got {show(nonce)}"
        )
    return nonce


def parse_goodbye(raw: list[Any]) -> tuple[str, int, int]:
    """A GOODBYE's reason, grace in milliseconds and last question id."""
    if len(raw) != 4:
        raise _malformed(raw)
    return (
        _str(raw[1], "goodbye reason", 4096),
        _id(raw[2], "goodbye grace"),
        _id(raw[3], "goodbye last question id"),
    )


def parse_hello(raw: list[Any]) -> Hello:
    """A HELLO's fields (the protocol name checked)."""
    if len(raw) != 2 or type(raw[1]) is not dict:
        raise _malformed(raw)
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
    root = info.get("root_interfaces")
    if root is not None and (why := names_problem(root)) is not None:
        raise RemoteProtocolError(f"malformed hello root_interfaces: {why}")
    window = info.get("stream_window")
    if window is not None and _id(window, "stream_window") < 1:
        raise RemoteProtocolError("the peer announced a stream_window below 1 byte")
    return Hello(
        version=_id(info.get("version"), "protocol version"),
        max_frame_size=frame,
        max_body_size=body,
        features=tuple(feats),
        root_interfaces=None if root is None else tuple(root),
        stream_window=window,
    )


#: Each kind's parser: what ``kind_of`` admits.
PARSERS: dict[int, Callable[[list[Any]], object]] = {
    _HELLO: parse_hello,
    _CALL: parse_call,
    _RETURN: parse_return,
    _FAIL: parse_fail,
    _FINISH: parse_finish,
    _RELEASE: parse_release,
    _ABORT: parse_abort,
    Kind.STREAM_ITEMS: streams.parse_items,
    Kind.STREAM_END: streams.parse_end,
    Kind.STREAM_CREDIT: streams.parse_credit,
    Kind.STREAM_CANCEL: streams.parse_cancel,
    _PING: parse_ping,
    _PONG: parse_ping,
    _GOODBYE: parse_goodbye,
    _SEND: parse_send,
}


def _malformed(raw: list[Any]) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed {Kind(raw[0]).name} message ({len(raw)} items)")


def _id(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_ID:
        raise _not_an_id(value, what)
    return value


def _str(value: Any, what: str, limit: int = MAX_NAME) -> str:
    if type(value) is not str or len(value) > limit:
        raise _not_a_name(what, limit)
    return value


def _not_an_id(value: Any, what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"{what} must be a non-negative integer, got {show(value)}")


def _not_a_name(what: str, limit: int = MAX_NAME) -> RemoteProtocolError:
    return RemoteProtocolError(f"{what} must be a string of at most {limit} characters")


def _answer_target(value: Any) -> AnswerTarget:
    """A call target that is not an export: ``[1, question_id]``, ``[1, question_id, path]``,
    or malformed."""
    if type(value) is list and len(value) in (2, 3) and type(value[0]) is int and value[0] == 1:
        path = parse_path(value[2]) if len(value) == 3 else ()
        if path is not None:
            return AnswerTarget(question_id=_id(value[1], "call target question id"), path=path)
    raise RemoteProtocolError(f"malformed call target {show(value, 60)}")


def parse_path(value: Any) -> tuple[str | int, ...] | None:
    """A path into an answer: an array of at most ``MAX_PATH`` steps, each a text of at most
    ``MAX_NAME`` characters or an unsigned integer of 64 bits; None if it is none."""
    if type(value) is not list or len(value) > MAX_PATH:
        return None
    for step in value:
        if type(step) is str:
            if len(step) > MAX_NAME:
                return None
        elif type(step) is not int or not 0 <= step <= MAX_ID:
            return None
    return tuple(value)


def parse_error(value: Any) -> ErrorInfo:
    """An error map (in a FAIL, or a STREAM_END)."""
    if type(value) is not dict:
        raise RemoteProtocolError("malformed error: expected a map")
    tb = value.get("traceback")
    return ErrorInfo(
        type_name=_str(value.get("type"), "error type"),
        message=_str(value.get("message"), "error message", 64 * 1024),
        registered=value.get("registered") is True,
        traceback=None if tb is None else _str(tb, "error traceback", 256 * 1024),
    )


class _NoTags(dict[int, Any]):
    """semantic_decoders for the greeting: every tag, cbor2's own included, is refused."""

    def __missing__(self, tag: int) -> Any:
        def refuse(value: Any, immutable: bool) -> Any:
            raise ValueError(f"CBOR tag {tag} is not allowed before the Hello")

        return refuse


_NO_TAGS = _NoTags()


def decode_greeting(body: bytes, attachments: bytes) -> Any:
    """The peer's first message, decoded as plain CBOR: no tag at all, three levels deep.

    Nothing of a peer is decoded with the full codec before its Hello is known: a bignum, a
    decimal or a reference tag in the first frame closes the connection, whatever its size.
    Raises RemoteProtocolError unless the frame is exactly one CBOR item; its parser checks
    the rest.
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
    return raw
