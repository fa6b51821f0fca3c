"""Round trips: every value that may cross comes back equal and of the same type.

Through the codec alone, then through two brokers and a remote ``echo`` (which is where
attachments and references are resolved).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Any

import cbor2
import pytest

from pbtyped import Limits, Registry
from pbtyped.wire import tags

from ..protocol.wiring import Pair, split_frames
from .codec_helpers import make_codec


class Suit(enum.Enum):
    HEARTS = "h"
    SPADES = "s"


class Rank(enum.IntEnum):
    ACE = 1
    KING = 13


@dataclasses.dataclass(frozen=True)
class Card:
    suit: Suit
    rank: Rank


@dataclasses.dataclass
class Hand:
    owner: str
    cards: list[Card]
    dealt: datetime.datetime
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


def registry() -> Registry:
    reg = Registry()
    reg.register_type(Suit, "cards.Suit")
    reg.register_type(Rank, "cards.Rank")
    reg.register_type(Card, "cards.Card")
    reg.register_type(Hand, "cards.Hand")
    return reg


UTC = datetime.UTC
PLUS_2 = datetime.timezone(datetime.timedelta(hours=2))

VALUES: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "zero": 0,
    "small int": 23,
    "negative int": -24,
    "u64 max": 2**64 - 1,
    "i64 min": -(2**64),
    "big int": 2**200 + 1,
    "big negative int": -(2**200) - 1,
    "huge int": 7**5000,
    "float": 1.5,
    "float inf": float("inf"),
    "negative zero float": -0.0,
    "str": "héllo ✓",
    "empty str": "",
    "bytes": b"\x00\x01\xff",
    "empty bytes": b"",
    "list": [1, "a", None, [2.5]],
    "empty list": [],
    "dict": {"a": 1, "b": {"c": [1, 2]}},
    "bytes keys": {b"k": 1},
    "tuple": (1, "a", (2, 3)),
    "empty tuple": (),
    "tuple in list": [(1, 2), [3]],
    "set of str": {"a", "b"},
    "set of bytes": {b"a"},
    "empty set": set(),
    "datetime utc": datetime.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
    "datetime +02:00": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=PLUS_2),
    "date": datetime.date(2024, 2, 29),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "decimal": decimal.Decimal("3.14159"),
    "big decimal": decimal.Decimal("-123456789012345678901234567890.000001"),
    "decimal exponent": decimal.Decimal("1E+30"),
    "enum": Suit.SPADES,
    "int enum": Rank.KING,
    "dataclass": Card(Suit.HEARTS, Rank.ACE),
    "nested dataclass": Hand(
        owner="ann",
        cards=[Card(Suit.HEARTS, Rank.ACE), Card(Suit.SPADES, Rank.KING)],
        dealt=datetime.datetime(2024, 1, 1, tzinfo=UTC),
        meta={"seat": (1, 2), "tags": {"x"}},
    ),
}


def same(a: Any, b: Any) -> None:
    """Equal, and of the same type all the way down (1 == 1.0 == True is not enough)."""
    assert type(a) is type(b), (a, b)
    assert a == b
    if isinstance(a, list | tuple):
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif isinstance(a, dict):
        for key in a:
            same(a[key], b[key])
    elif dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            same(getattr(a, field.name), getattr(b, field.name))
    elif isinstance(a, datetime.datetime):
        assert a.utcoffset() == b.utcoffset()


@pytest.mark.parametrize("name", list(VALUES))
def test_codec_round_trip(name: str) -> None:
    codec = make_codec(registry())
    value = VALUES[name]
    frame = codec.encode(value)
    body_len, att_len = int.from_bytes(frame[:4], "big"), int.from_bytes(frame[4:8], "big")
    decoded, problem = codec.decode(frame[8 : 8 + body_len], frame[8 + body_len :])
    assert problem is None
    assert att_len == 0
    same(decoded, value)


@pytest.mark.parametrize("name", list(VALUES))
def test_round_trip_through_two_brokers(name: str) -> None:
    pair = Pair(registry=registry())
    value = VALUES[name]
    same(pair.value(pair.root_ref(), "echo", value), value)


def test_negative_zero_float_keeps_its_sign() -> None:
    codec = make_codec()
    decoded, _ = codec.decode(codec.encode(-0.0)[8:])
    assert str(decoded) == "-0.0"


def test_float_nan_round_trips() -> None:
    codec = make_codec()
    decoded, _ = codec.decode(codec.encode(float("nan"))[8:])
    assert decoded != decoded


def test_kwargs_round_trip() -> None:
    pair = Pair(registry=registry())
    card = Card(Suit.SPADES, Rank.ACE)
    assert pair.value(pair.root_ref(), "echo", value=card) == card


# -- large bytes travel as attachments beside the CBOR body --------------------------------------

THRESHOLD = Limits().attachment_threshold


def test_bytes_below_the_threshold_stay_in_the_body() -> None:
    pair = Pair()
    blob = b"b" * (THRESHOLD - 1)
    _, data = pair.a.send_call(pair.root_ref(), "echo", (blob,), {})
    [(_, att_len, body, _)] = split_frames(data)
    assert att_len == 0
    assert cbor2.loads(body)[4] == [blob]
    assert pair.value(pair.root_ref(), "echo", blob) == blob


def test_bytes_at_the_threshold_travel_as_an_attachment() -> None:
    pair = Pair()
    blob = bytes(range(256)) * (THRESHOLD // 256)
    assert len(blob) == THRESHOLD
    _, data = pair.a.send_call(pair.root_ref(), "echo", ("small", blob, b"tiny"), {})
    [(body_len, att_len, body, attachments)] = split_frames(data)
    assert att_len == THRESHOLD
    assert attachments == blob
    args = cbor2.loads(body)[4]
    assert args[0] == "small"
    assert (args[1].tag, list(args[1].value)) == (tags.ATTACHMENT, [0, THRESHOLD])
    assert args[2] == b"tiny"
    assert body_len < 100


def test_several_attachments_in_one_frame_and_back() -> None:
    pair = Pair()
    first = b"1" * THRESHOLD
    second = b"2" * (THRESHOLD + 10)
    _, data = pair.a.send_call(pair.root_ref(), "echo", ([first, {"x": second}],), {})
    [(_, att_len, body, _)] = split_frames(data)
    assert att_len == len(first) + len(second)
    refs = cbor2.loads(body)[4][0]
    assert list(refs[0].value) == [0, len(first)]
    assert list(refs[1]["x"].value) == [len(first), len(second)]
    # The answer carries them back as attachments too, and they arrive whole.
    assert pair.value(pair.root_ref(), "echo", [first, {"x": second}]) == [first, {"x": second}]


def test_attachment_in_an_answer() -> None:
    pair = Pair()
    _, data = pair.a.send_call(pair.root_ref(), "echo", ("x",), {})
    [call] = pair.b.receive_data(data)
    blob = b"z" * (THRESHOLD * 2)
    out = pair.b.send_return(call.question_id, {"blob": blob})
    [(_, att_len, _, _)] = split_frames(out)
    assert att_len == len(blob)
    [event] = pair.a.receive_data(out)
    assert event.value == {"blob": blob}
    assert type(event.value["blob"]) is bytes
