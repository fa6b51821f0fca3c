"""The examples of docs/protocol.md section 9, read from the document and checked against the
code, so the specification stays true.

Each example is written in CBOR diagnostic notation and, for values and frames, as bytes. The
notation is encoded here by a small encoder of its own (not cbor2), so a row whose bytes do not
match its notation fails; then pbtyped must send exactly those bytes (messages, frames, values
marked "sent") and read them back (every value row).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import pytest

import pbtyped as pb
from pbtyped import Registry
from pbtyped.protocol.answers import AnswerRef
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import AnswerReceived, Event, FailureReceived, HandshakeComplete
from pbtyped.wire.columns import Columns

from ..wire.codec_helpers import head, make_codec
from . import wiring
from .wiring import Thing, answer_calls, hello, msg, split_frames

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")


def marked(name: str) -> list[str]:
    """The lines of the block (a fenced block or a table) after ``<!-- name -->``."""
    start = DOC.index(f"<!-- {name} -->\n") + len(f"<!-- {name} -->\n")
    lines = DOC[start:].split("\n")
    if lines[0].startswith("```"):
        return lines[1 : lines.index("```", 1)]
    block = []
    for line in lines:
        if not line.startswith("|"):
            break
        block.append(line)
    return block[2:]  # without the header and its rule


def table(name: str) -> list[list[str]]:
    """The rows of a marked table, each cell stripped of its backticks."""
    rows = []
    for line in marked(name):
        cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
        rows.append([cell.strip().strip("`").replace("\\|", "|") for cell in cells])
    return rows


# -- CBOR diagnostic notation (RFC 8949 section 8), the subset the document uses ------------


class Tag:
    def __init__(self, number: int, value: Any) -> None:
        self.number, self.value = number, value


class Float:
    """A float with its encoding indicator: ``_1``, ``_2``, ``_3`` (2, 4, 8 bytes)."""

    def __init__(self, value: float, width: int) -> None:
        self.value, self.width = value, width


class Pairs(list[tuple[Any, Any]]):
    """A map, its keys in the order written."""


_TOKEN = re.compile(
    r"""\s*(?:(?P<float>-?(?:\d+\.\d+(?:[eE][+-]?\d+)?|NaN|Infinity)_[123])
    |(?P<tag>\d+)\(|(?P<int>-?\d+)|(?P<word>null|true|false|undefined)
    |(?P<text>"(?:[^"\\]|\\.)*")|h'(?P<bytes>[0-9a-f]*)'|(?P<punct>[\[\]{}:,)]))""",
    re.VERBOSE,
)
_WORDS = {"null": None, "true": True, "false": False}


def parse(text: str) -> Any:
    tokens = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        assert match is not None, f"cannot read {text[pos:]!r}"
        tokens.append(match)
        pos = match.end()
    value, end = _value(tokens, 0)
    assert end == len(tokens), f"trailing tokens in {text!r}"
    return value


def _value(tokens: list[re.Match[str]], i: int) -> tuple[Any, int]:
    token = tokens[i]
    kind = token.lastgroup
    if kind == "float":
        number, width = token["float"].rsplit("_", 1)
        return Float(float(number.replace("Infinity", "inf")), int(width)), i + 1
    if kind == "int":
        return int(token["int"]), i + 1
    if kind == "word":
        return _WORDS[token["word"]], i + 1
    if kind == "text":
        return json.loads(token["text"]), i + 1
    if kind == "bytes":
        return bytes.fromhex(token["bytes"]), i + 1
    if kind == "tag":
        inner, i = _value(tokens, i + 1)
        assert tokens[i]["punct"] == ")"
        return Tag(int(token["tag"]), inner), i + 1
    opening = token["punct"]
    closing = {"[": "]", "{": "}"}[opening]
    items: list[Any] = []
    i += 1
    while tokens[i]["punct"] != closing:
        if items:
            assert tokens[i]["punct"] == ",", "expected ,"
            i += 1
        item, i = _value(tokens, i)
        if opening == "{":
            assert tokens[i]["punct"] == ":", "expected :"
            value, i = _value(tokens, i + 1)
            item = (item, value)
        items.append(item)
    return (Pairs(items) if opening == "{" else items), i + 1


def encode(value: Any) -> bytes:
    """The bytes a diagnostic value stands for (shortest heads, floats as indicated)."""
    if value is None or type(value) is bool:
        return bytes([0xF6 if value is None else 0xF5 if value else 0xF4])
    if type(value) is int:
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, Float):
        code = {1: "e", 2: "f", 3: "d"}[value.width]
        return bytes([0xF8 + value.width]) + struct.pack(">" + code, value.value)
    if type(value) is str:
        data = value.encode()
        return head(3, len(data)) + data
    if type(value) is bytes:
        return head(2, len(value)) + value
    if isinstance(value, Tag):
        return head(6, value.number) + encode(value.value)
    if isinstance(value, Pairs):
        return head(5, len(value)) + b"".join(encode(k) + encode(v) for k, v in value)
    assert type(value) is list
    return head(4, len(value)) + b"".join(map(encode, value))


def test_the_notation_reader_reads_what_cbor2_writes() -> None:
    value = {"a": [1, -500, b"\x00", None, True], "b": cbor2.CBORTag(41003, 7)}
    written = """{"a": [1, -500, h'00', null, true], "b": 41003(7)}"""
    assert encode(parse(written)) == cbor2.dumps(value)


# -- section 9: the frames of echo("hi") ---------------------------------------------------


def frames(name: str) -> dict[str, str]:
    """Label -> hex of each frame in a marked block (a label's hex may wrap)."""
    out: dict[str, str] = {}
    label = ""
    for line in marked(name):
        head, _, rest = line.partition(" ")
        if head:
            label = head
            out[label] = rest.strip()
        else:
            out[label] += " " + line.strip()
    return out


def test_echo_hi_bytes_match_the_document() -> None:
    doc = frames("frames: echo")
    registry = Registry()
    client = Broker(registry=registry)
    server = Broker(registry=registry, root=Echoer())
    hello_c, hello_s = client.initiate(), server.initiate()
    server.receive_data(hello_c)
    client.receive_data(hello_s)
    assert hello_c.hex(" ") == doc["client"]
    assert hello_s.hex(" ") == doc["server"]
    qid, call = client.send_call(client.root_reference(), "echo", ("hi",), {})
    assert call.hex(" ") == doc["call"]
    [event] = server.receive_data(call)
    answer = server.send_return(event.question_id, "hi")
    assert answer.hex(" ") == doc["return"]
    assert client.receive_data(answer) == [AnswerReceived(question_id=qid, value="hi")]


# -- section 9: messages -------------------------------------------------------------------


class Shape(pb.Referenceable):
    """An object of interface ``geo.Shape``, as a generated skeleton declares it."""

    pb_interface = "geo.Shape"


class Echoer(wiring.Echoer):
    """Section 9's root: ``echo`` and the others of every test, and two that return objects
    (named Echoer as the document's messages name it)."""

    def __init__(self) -> None:
        self.thing = Thing()

    def remote_same(self) -> Thing:
        return self.thing

    def remote_shape(self) -> Shape:
        return Shape()


class Setting:
    """Section 9's setting: default limits, no registered types, a root that offers echo."""

    def __init__(self) -> None:
        self.client = Broker(registry=Registry())
        self.server = Broker(registry=Registry(), root=Echoer())
        self.server.receive_data(self.client.initiate())
        self.client.receive_data(self.server.initiate())
        self.root = self.client.root_reference()

    def call(self, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """The caller's CALL, then the callee's answer (as the runtime gives sync methods)."""
        qid, data = self.client.send_call(self.root, method, args, kwargs)
        answer, _ = answer_calls(self.server, self.server.receive_data(data))
        return qid, answer

    def refused(self, *message: Any) -> bytes:
        """What the callee answers by itself to a hand-made message."""
        assert self.server.receive_data(msg(*message)) == []
        return self.server.take_pending()


def _returned_object(setting: Setting) -> bytes:
    return setting.call("make")[1]


def _returned_again(setting: Setting) -> bytes:
    setting.call("same")
    return setting.call("same")[1]


def _server_hello(setting: Setting) -> bytes:
    return Broker(registry=Registry(), root=Echoer()).initiate()


def _dropped_reference(setting: Setting) -> bytes:
    [event] = setting.client.receive_data(_returned_object(setting))
    assert isinstance(event, AnswerReceived)
    del event  # the proxy goes with the event that held it
    return setting.client.take_pending()


def _given_up(setting: Setting) -> bytes:
    qid, _ = setting.client.send_call(setting.root, "echo", ("x",), {})
    return setting.client.send_finish(qid)


def _version_2(setting: Setting) -> bytes:
    server = Broker(registry=Registry(), root=Echoer())
    server.initiate()
    with pytest.raises(pb.RemoteProtocolError) as refused:
        server.receive_data(hello(version=2))
    return server.abort(str(refused.value))


class Waiter(pb.Root):
    async def remote_wait(self) -> None:
        await asyncio.sleep(30)


def _cancelled(setting: Setting) -> bytes:
    """The runtime's answer to a FINISH: a pbtyped client broker over a real socket."""

    async def body() -> bytes:
        async with pb.serve(Waiter()) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                client = Broker(registry=Registry())
                writer.write(client.initiate())
                _, events = await _read_frame(reader, client)
                assert events == [HandshakeComplete()]
                qid, call = client.send_call(client.root_reference(), "wait", (), {})
                writer.write(call + client.send_finish(qid))
                data, [event] = await _read_frame(reader, client)
                assert isinstance(event, FailureReceived)
                return data
            finally:
                writer.close()

    async def bounded() -> bytes:
        async with asyncio.timeout(10):
            return await body()

    return asyncio.run(bounded())


async def _read_frame(reader: asyncio.StreamReader, broker: Broker) -> tuple[bytes, list[Event]]:
    """One frame from ``reader``, and what ``broker`` made of it."""
    header = await reader.readexactly(8)
    body_len, att_len = struct.unpack(">II", header)
    data = header + await reader.readexactly(body_len + att_len)
    return data, broker.receive_data(data)


def _kept(setting: Setting, method: str = "make", *args: Any) -> int:
    qid, _ = setting.client.send_pipelined_call(setting.root, method, args, {}, retain=True)
    return qid


def _on_answer(setting: Setting, path: tuple[str | int, ...] = ()) -> bytes:
    target = AnswerRef(_kept(setting), path)
    return setting.client.send_pipelined_call(target, "ping", (), {}, retain=False)[1]


def _answer_argument(setting: Setting) -> bytes:
    argument = AnswerRef(_kept(setting))
    return setting.client.send_pipelined_call(setting.root, "echo", (argument,), {}, retain=False)[
        1
    ]


def _kept_finished(setting: Setting) -> bytes:
    qid, data = setting.client.send_pipelined_call(setting.root, "echo", ("hi",), {}, retain=True)
    answer, _ = answer_calls(setting.server, setting.server.receive_data(data))
    assert setting.client.receive_data(answer) == [AnswerReceived(question_id=qid, value="hi")]
    return setting.client.take_pending()


KW = {"value": "hi"}
MESSAGES: dict[str, Callable[[Setting], bytes]] = {
    "the Hello": lambda s: s.client.initiate(),
    "the server's Hello": _server_hello,
    "a call with keyword arguments": lambda s: s.client.send_call(s.root, "echo", (), KW)[1],
    "its answer": lambda s: s.call("echo", value="hi")[1],
    "a call of a method the root does not have": lambda s: s.call("nope")[1],
    "a call on an object never exported": lambda s: s.refused(1, 1, [0, 5], "echo", ["x"]),
    "a call whose argument holds a tag not admitted": lambda s: s.refused(
        1, 1, [0, 0], "echo", [cbor2.CBORTag(35, "a+")]
    ),
    "a call on an answer that was not kept (pipelining)": lambda s: s.refused(
        1, 1, [1, 0], "echo", []
    ),
    "a call returning an object of the callee's": _returned_object,
    "the same object returned again": _returned_again,
    "a call returning an object of interface geo.Shape": lambda s: s.call("shape")[1],
    "the caller dropping that reference": _dropped_reference,
    "the caller giving up on a call": _given_up,
    "the callee's answer to that": _cancelled,
    "a one-way call (no answer follows)": lambda s: s.client.send_oneway(
        s.root, "echo", ["hi"], {}
    ),
    "a Hello of version 2, refused": _version_2,
    "a call whose answer is to be kept (pipelining)": lambda s: s.client.send_pipelined_call(
        s.root, "make", (), {}, retain=True
    )[1],
    "a call on that answer, sent before it arrives": _on_answer,
    "that answer as an argument": _answer_argument,
    "a call on a value inside an answer": lambda s: _on_answer(s, ("owner", 0)),
    "the caller finishing a kept answer as it arrives": _kept_finished,
}


def test_every_message_example_has_a_check() -> None:
    assert [what for what, _ in table("messages")] == list(MESSAGES)


@pytest.mark.parametrize(("what", "written"), table("messages"), ids=lambda v: v[:40])
def test_message_examples_are_what_pbtyped_sends(what: str, written: str) -> None:
    [(_, att_len, body, _)] = split_frames(MESSAGES[what](Setting()))
    assert att_len == 0
    assert body.hex(" ") == encode(parse(written)).hex(" "), cbor2.loads(body)


# -- section 9: values ---------------------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = 1


def geo_codec() -> Any:
    registry = Registry()
    registry.register_type(Point, "geo.Point")
    registry.register_type(Color, "geo.Color")
    codec = make_codec(registry)
    codec.peer_takes_columns = True
    return codec


REFERENCES = ("41003(", "41004(")


@pytest.mark.parametrize(("written", "hex_", "note"), table("values"), ids=lambda v: v[:40])
def test_value_examples_are_read_and_sent_as_written(written: str, hex_: str, note: str) -> None:
    data = bytes.fromhex(hex_)
    assert encode(parse(written)) == data
    if written.startswith(REFERENCES):
        return  # checked with a connection, in the message examples
    codec = geo_codec()
    section = b"\x00" * 65536 if written.startswith("41006(") else b""
    [value], problem = codec.decode(b"\x81" + data, section)
    assert problem is None
    if note.startswith("sent"):
        if type(value) is list and value and type(value[0]) is Point:
            value = Columns(value)
        sent = codec.encode(value)
        assert sent[8 : 8 + len(data)].hex(" ") == hex_
        assert len(sent) == 8 + len(data) + len(section)
