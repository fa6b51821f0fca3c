"""The codec: what it puts on the wire, what it admits, and what it refuses (and how)."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import email.message
import enum
import fractions
import ipaddress
import re
import struct
from typing import Any

import cbor2
import pytest

from pbtyped import DecodeError, InsecureTypeError, Limits, Registry
from pbtyped.wire import tags
from pbtyped.wire.codec import Refused

from ..protocol.wiring import exactly
from .codec_helpers import body_of, make_codec


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    LOW = 1


class Mode(enum.StrEnum):
    FAST = "fast"


@dataclasses.dataclass
class Unregistered:
    a: int


class Plain:
    pass


def registry() -> Registry:
    reg = Registry()
    reg.register_type(Point, "geo.Point")
    reg.register_type(Color, "paint.Color")
    return reg


# -- wire forms ---------------------------------------------------------------------------------


def test_copy_wire_form() -> None:
    body = body_of(make_codec(registry()).encode(Point(1, 2)))
    tag = cbor2.loads(body)
    assert (tag.tag, tag.value[0], list(tag.value[1])) == (tags.COPY, "geo.Point", [1, 2])
    assert body.hex() == "d9a028826967656f2e506f696e74820102"


def test_enum_wire_form() -> None:
    body = body_of(make_codec(registry()).encode(Color.RED))
    tag = cbor2.loads(body)
    assert (tag.tag, list(tag.value)) == (tags.ENUM, ["paint.Color", "red"])


def test_tuple_wire_form() -> None:
    body = body_of(make_codec().encode((1, "a")))
    assert body.hex() == "d9a02a82016161"


def test_set_wire_form_is_the_standard_tag_258() -> None:
    body = body_of(make_codec().encode({"a"}))
    assert body.hex() == "d90102816161"
    assert make_codec().decode(body) == ({"a"}, None)


def test_decimal_wire_form_is_the_standard_tag_4() -> None:
    body = body_of(make_codec().encode(decimal.Decimal("1.5")))
    assert body.hex() == "c482200f"
    assert make_codec().decode(body) == (decimal.Decimal("1.5"), None)


@pytest.mark.parametrize("text", ["-0", "-0.00", "NaN", "-Infinity", "sNaN"])
def test_decimals_tag_4_cannot_carry_travel_as_text(text: str) -> None:
    codec = make_codec()
    value, problem = codec.decode(body_of(codec.encode(decimal.Decimal(text))))
    assert problem is None
    assert str(value) == str(decimal.Decimal(text))


def test_tags_are_in_the_first_come_first_served_range() -> None:
    ours = [
        tags.COPY,
        tags.ENUM,
        tags.TUPLE,
        tags.SENDER_REF,
        tags.RECEIVER_REF,
        tags.ANSWER_REF,
        tags.ATTACHMENT,
        tags.STREAM,
    ]
    assert ours == list(range(41000, 41008))
    assert tags.BUILTIN_TAGS == frozenset({0, 1, 2, 3, 4, 37, 100, 258, 1004})


# -- refused at the sender ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (re.compile("a+"), "values of type Pattern are not sent by pbtyped"),
        (fractions.Fraction(1, 3), "values of type Fraction are not sent by pbtyped"),
        (1j, "values of type complex are not sent by pbtyped"),
        (frozenset({"a"}), "values of type frozenset are not sent by pbtyped"),
        (ipaddress.ip_address("10.0.0.1"), "values of type IPv4Address are not sent by pbtyped"),
        (ipaddress.ip_network("::/0"), "values of type IPv6Network are not sent by pbtyped"),
        (bytearray(b"x"), "values of type bytearray are not sent by pbtyped"),
        (memoryview(b"x"), "values of type memoryview are not sent by pbtyped"),
        (email.message.Message(), "values of type Message are not sent by pbtyped"),
        (
            Unregistered(1),
            "Unregistered is not registered: call registry.register_type(Unregistered) on both "
            "peers to pass it by copy",
        ),
        (
            Plain(),
            "tests.wire.test_codec.Plain cannot be sent: it is neither a registered copyable "
            "type, a Referenceable, nor a CBOR native value",
        ),
        (
            datetime.timedelta(1),
            "datetime.timedelta cannot be sent: it is neither a registered copyable type, a "
            "Referenceable, nor a CBOR native value",
        ),
        (
            datetime.datetime(2024, 1, 1),
            "cannot encode value: naive datetime encountered and no default timezone has been set",
        ),
        (
            {"deep": [1, {"x": object()}]},
            "builtins.object cannot be sent: it is neither a registered copyable type, a "
            "Referenceable, nor a CBOR native value",
        ),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_refused_at_the_sender(value: Any, message: str) -> None:
    with pytest.raises(InsecureTypeError, match=exactly(message)):
        make_codec().encode(value)


@pytest.mark.parametrize("member", [Level.LOW, Mode.FAST], ids=["IntEnum", "StrEnum"])
def test_unregistered_int_and_str_enums_are_refused(member: enum.Enum) -> None:
    with pytest.raises(InsecureTypeError):
        make_codec().encode(member)


@pytest.mark.parametrize(
    "tag",
    [cbor2.CBORTag(35, "(a+)+$"), cbor2.CBORTag(tags.RECEIVER_REF, 0)],
    ids=["regex tag", "forged receiver ref"],
)
def test_raw_cbor_tags_are_refused_at_the_sender(tag: cbor2.CBORTag) -> None:
    with pytest.raises(InsecureTypeError):
        make_codec().encode(tag)


@pytest.mark.parametrize("value", [{1: "a"}, {1, 2}], ids=["int key", "int set"])
def test_values_the_peer_cannot_decode_are_refused_at_the_sender(value: Any) -> None:
    with pytest.raises(InsecureTypeError):
        make_codec().encode(value)


def test_registry_changes_reach_an_existing_codec() -> None:
    reg = Registry()
    codec = make_codec(reg)
    with pytest.raises(InsecureTypeError):
        codec.encode(Unregistered(1))
    reg.register_type(Unregistered, "late.Unregistered")
    body = body_of(codec.encode(Unregistered(1)))
    assert codec.decode(body) == (Unregistered(1), None)


# -- the decoder's allow-list -------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag", [5, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 32, 33, 34, 35, 36, 256, 260, 261, 55799]
)
def test_standard_tags_outside_the_allow_list_are_refused(tag: int) -> None:
    value, problem = make_codec().decode(cbor2.dumps(["ok", cbor2.CBORTag(tag, "x")]))
    assert value[0] == "ok"
    assert isinstance(value[1], Refused)
    assert problem == f"CBOR tag {tag} is not allowed"


def test_refusal_of_a_shared_reference_cycle() -> None:
    # 28(array containing 29(0)): a self-referencing list, the classic cycle/billion-laughs.
    value, problem = make_codec().decode(bytes.fromhex("d81c81d81d00"))
    assert isinstance(value, Refused)
    assert problem == "CBOR tag 29 is not allowed"


def test_first_refusal_wins() -> None:
    codec = make_codec()
    _, problem = codec.decode(cbor2.dumps([cbor2.CBORTag(36, "a"), cbor2.CBORTag(35, "b")]))
    assert problem == "CBOR tag 36 is not allowed"
    # And the next decode starts clean.
    assert codec.decode(cbor2.dumps([1])) == ([1], None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            cbor2.CBORTag(0, "2024-05-01T12:00:00Z"),
            datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC),
        ),
        (cbor2.CBORTag(1, 0), datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)),
        (cbor2.CBORTag(2, b"\x01\x00"), 256),
        (cbor2.CBORTag(3, b"\x01\x00"), -257),
        (cbor2.CBORTag(4, [-2, 12345]), decimal.Decimal("123.45")),
        (cbor2.CBORTag(100, 1), datetime.date(1970, 1, 2)),
        (cbor2.CBORTag(1004, "2024-05-01"), datetime.date(2024, 5, 1)),
        (cbor2.CBORTag(258, ["a", "b"]), {"a", "b"}),
    ],
    ids=lambda v: f"tag {v.tag}" if isinstance(v, cbor2.CBORTag) else "",
)
def test_builtin_tags_on_the_allow_list_decode(value: cbor2.CBORTag, expected: Any) -> None:
    assert make_codec().decode(cbor2.dumps(value)) == (expected, None)


def test_uuid_tag_decodes() -> None:
    import uuid

    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert make_codec().decode(cbor2.dumps(cbor2.CBORTag(37, u.bytes))) == (u, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x02", "1 trailing bytes after the message"),
        (
            b"\x9f\x01\xff",
            "malformed CBOR: error decoding array: encountered indefinite length but it "
            "has been disabled",
        ),
        (
            b"\x62\xc3\x28",
            "malformed CBOR: error decoding text string ('utf-8' codec can't decode byte "
            "0xc3 in position 0: invalid continuation byte)",
        ),
        (b"\x81" * 65 + b"\x01", "malformed CBOR: maximum container nesting depth (64) exceeded"),
        (b"\xff", "malformed CBOR: break code encountered where a data item was expected"),
        (
            b"\x82\x01",
            "malformed CBOR: premature end of stream (expected to read at least 1 bytes, "
            "got 0 instead)",
        ),
        (
            b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff",
            "malformed CBOR: premature end of stream (expected to read at least 1 bytes, "
            "got 0 instead)",
        ),
    ],
    ids=["trailing", "indefinite", "utf-8", "depth", "break", "truncated", "huge length"],
)
def test_malformed_bodies_raise_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=exactly(message)):
        make_codec().decode(data)


def test_depth_limit_is_inclusive() -> None:
    codec = make_codec(limits=Limits(max_depth=10))
    assert codec.decode(b"\x81" * 10 + b"\x01")[1] is None
    with pytest.raises(
        DecodeError, match=exactly("malformed CBOR: maximum container nesting depth (10) exceeded")
    ):
        codec.decode(b"\x81" * 11 + b"\x01")


def test_non_strict_map_keys_admit_int_keys() -> None:
    codec = make_codec(limits=Limits(strict_map_keys=False))
    assert codec.decode(cbor2.dumps({1: "a"})) == ({1: "a"}, None)


def test_attachment_reference_within_the_section() -> None:
    codec = make_codec()
    body = cbor2.dumps(
        [cbor2.CBORTag(tags.ATTACHMENT, [2, 3]), cbor2.CBORTag(tags.ATTACHMENT, [0, 2])]
    )
    assert codec.decode(body, b"abcdef") == ([b"cde", b"ab"], None)


def test_frame_header_of_an_encoded_value() -> None:
    frame = make_codec().encode("hi")
    assert struct.unpack(">II", frame[:8]) == (3, 0)
    assert frame[8:] == b"\x62hi"


@pytest.mark.parametrize("text", ["Infinity", "-Infinity", "NaN"])
def test_special_decimals_keep_their_type(text: str) -> None:
    codec = make_codec()
    value, _ = codec.decode(body_of(codec.encode(decimal.Decimal(text))))
    assert type(value) is decimal.Decimal


def test_namedtuple_arrives_as_a_tuple() -> None:
    pair = collections.namedtuple("pair", "a b")
    codec = make_codec()
    value, _ = codec.decode(body_of(codec.encode(pair(1, 2))))
    assert value == (1, 2)
    assert type(value) is tuple


def test_a_refused_message_leaves_no_attachments_behind() -> None:
    codec = make_codec(registry())
    big = b"a" * (Limits().attachment_threshold + 1)
    with pytest.raises(InsecureTypeError):
        codec.encode([big, Plain()])  # the attachment was collected before the refusal
    frame = codec.encode([b"small"])
    assert frame[4:8] == b"\x00\x00\x00\x00"  # no attachment section
    assert codec.decode(body_of(frame)) == ([b"small"], None)
    # And a frame that has one starts its offsets from 0 again.
    frame = codec.encode([big])
    body_len = int.from_bytes(frame[:4], "big")
    assert int.from_bytes(frame[4:8], "big") == len(big)
    assert codec.decode(frame[8 : 8 + body_len], frame[8 + body_len :]) == ([big], None)


def test_a_frame_only_the_strict_decoder_takes_is_never_acted_on(monkeypatch) -> None:
    codec = make_codec(registry())
    body = body_of(codec.encode([1, "fine"]))
    assert codec.decode(body) == ([1, "fine"], None)

    def fast_decoder_fails(*args: Any, **kwargs: Any) -> Any:
        raise cbor2.CBORDecodeError("simulated")

    monkeypatch.setattr("pbtyped.wire.codec.cbor2.loads", fast_decoder_fails)
    with pytest.raises(DecodeError, match=exactly("malformed frame (the decoders disagree)")):
        codec.decode(body)


@pytest.mark.parametrize(
    "junk", [b"\x00", b"\x1b", b"\x1b" + bytes(8), b"\xf6", b"\x81", b"\xff"], ids=repr
)
def test_whatever_follows_the_item_is_refused(junk: bytes) -> None:
    codec = make_codec(registry())
    body = body_of(codec.encode([1, "fine"])) + junk
    with pytest.raises(DecodeError, match=r"trailing bytes after the message|malformed CBOR"):
        codec.decode(body)


def test_a_tag_handler_is_bound_only_when_its_tag_first_arrives() -> None:
    """Memory per connection: a codec that meets no tag keeps no bound handler (twelve of
    them were 1.3 KiB per connection), and one that meets a tag keeps one for that tag."""
    codec = make_codec()
    handlers = codec._tags
    assert codec.decode(cbor2.dumps([2, 1, "plain"]))[0] == [2, 1, "plain"]
    assert len(handlers) == 0
    value, problem = codec.decode(cbor2.dumps([2, 1, cbor2.CBORTag(2, b"\x01\x00")]))
    assert (value, problem) == ([2, 1, 256], None)
    assert list(handlers) == [2]
    assert codec.decode(cbor2.dumps(cbor2.CBORTag(2, b"\x02")))[0] == 2  # the same, reused
    assert list(handlers) == [2]
