"""What one frame can cost the decoder: memory and CPU against the bytes that carried it.

Each input here is built the way an attacker would build it: the cheapest bytes that make the
most Python objects (one-byte empty containers, nested one-element arrays, attachment tags
naming one section many times, bignum mantissas that make ``Decimal(int)`` quadratic, IntFlag
values that fill a process-wide cache). For every admitted tag, and every message kind, it
asserts that:

- the decoder's peak memory (tracemalloc) stays within ``Limits.max_decoded_ratio`` times the
  body, plus ``sizes.ALLOWANCE``, plus the attachment section (``worst_case``), and
- its CPU time per byte does not grow with the size (two sizes 16x apart, in one run).

The codec is the same object on both sides of a connection (the broker of a server and the
broker of a client each decode with a ``Codec``), so each test covers a hostile client and a
hostile server alike. Message kinds do not change what the decoder does (it decodes the whole
body before the broker looks at the kind), so each hostile payload is placed where each kind
carries a value or a field.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import gc
import random
import tracemalloc
from collections.abc import Callable
from typing import Any

import cbor2
import pytest

from pbtyped import DecodeError, Limits, Registry
from pbtyped.wire import sizes, tags
from pbtyped.wire.codec import Codec
from pbtyped.wire.columns import Columns
from pbtyped.wire.decoding import _HANDLERS, REFUSED

from ..costs import assert_linear_cpu, peak_memory
from ..protocol.test_refusals import assert_echo_works, call_with_args
from ..protocol.wiring import open_broker

LIMITS = Limits()


@dataclasses.dataclass
class Pair:
    a: Any
    b: Any


class Perm(enum.IntFlag):
    R = 1
    W = 2
    X = 4


class Style(enum.Flag):
    BOLD = 1
    ITALIC = 2
    UNDERLINE = 4


class StubRefs:
    """Reference hooks without a broker: each sender reference becomes a small object."""

    home = object()

    def encode_reference(self, obj: Any) -> cbor2.CBORTag | None:
        return None

    def decode_sender_ref(self, export_id: Any) -> Any:
        return [export_id]

    def decode_receiver_ref(self, export_id: Any) -> Any:
        return self.home


def registry() -> Registry:
    reg = Registry()
    reg.register_type(Pair, "P")
    reg.register_type(Perm, "F")
    reg.register_type(Style, "S")
    return reg


REGISTRY = registry()
REFS = StubRefs()  # the codec keeps a weak reference to its hooks: keep them alive


def make_codec(limits: Limits = LIMITS) -> Codec:
    return Codec(REGISTRY, limits, REFS)


# -- CBOR by hand (a hostile peer does not use our encoder) ------------------------------------


def head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | info]) + n.to_bytes(width, "big")
    raise ValueError(n)


def array(items: list[bytes]) -> bytes:
    return head(4, len(items)) + b"".join(items)


def text(value: str) -> bytes:
    data = value.encode()
    return head(3, len(data)) + data


def tag(number: int, content: bytes) -> bytes:
    return head(6, number) + content


def uint(n: int) -> bytes:
    return head(0, n)


def repeat(item: bytes | Callable[[int], bytes], size: int) -> bytes:
    """An array of items (one item, or one per index) of about ``size`` bytes in all."""
    if isinstance(item, bytes):
        return array([item] * max(1, size // len(item)))
    items, total = [], 0
    while total < size:
        items.append(item(len(items) + 1000))
        total += len(items[-1])
    return array(items)


def bignum_ff(size: int) -> bytes:
    """``2(h'ffff...')``: a positive bignum of ``size`` bytes, all ones."""
    return tag(2, head(2, size) + b"\xff" * size)


def columns_of(cell: bytes, size: int) -> bytes:
    """COLUMNS of the two-field ``Pair``, every value ``cell``: one row per 2 cells."""
    rows = max(1, size // (2 * len(cell)))
    column = array([cell] * rows)
    return tag(tags.COLUMNS, array([text("P"), array([column, column])]))


def ordinary_records(size: int) -> bytes:
    """COPY records of a float and a list (fast bound over budget, exact ~12x): the walk
    that weighs them may stop before their end."""
    return repeat(
        lambda i: tag(
            tags.COPY, array([text("P"), array([b"\xfb" + bytes(8), array([uint(i)] * 4)])])
        ),
        size,
    )


def long_map(size: int) -> bytes:
    """One map of distinct two-byte keys, its head long (its entries are not counted in it)."""
    entries = max(1, size // 4)
    return head(5, entries) + b"".join(
        b"\x42" + i.to_bytes(2, "big") + b"\x00" for i in range(entries)
    )


def unlike_elements(size: int) -> bytes:
    """Long arrays of 16 elements, each of another kind than the one before: every try to
    find repeats fails at once."""
    return repeat(head(4, 16) + b"\x00\x18\x20" * 8, size)


def repeats_of_four(size: int) -> bytes:
    """One long array of wide elements (16 heads) in runs of five that differ only in their
    last head: each try to find repeats finds four, then fails on the last slice."""
    alike, unlike = b"\x8f" + b"\x00" * 15, b"\x8f" + b"\x00" * 14 + b"\x18\x20"
    runs = max(1, size // (5 * 33))
    return head(4, 10 * runs) + (alike * 5 + unlike * 5) * runs


#: Hostile payloads, each a function of the size in bytes it should take.
PAYLOADS: dict[str, Callable[[int], bytes]] = {
    "empty maps": lambda n: repeat(b"\xa0", n),
    "empty arrays": lambda n: repeat(b"\x80", n),
    "nested one-element arrays, depth 58": lambda n: repeat(b"\x81" * 57 + b"\x00", n),
    "nested one-entry maps": lambda n: repeat(b"\xa1\x60" * 28 + b"\xa0", n),
    "one-entry maps": lambda n: repeat(b"\xa1\x60\x00", n),
    "one-element arrays": lambda n: repeat(b"\x81\x00", n),
    "simple values": lambda n: repeat(b"\xe0", n),
    "small negative ints": lambda n: repeat(b"\x37", n),
    "half floats": lambda n: repeat(b"\xf9\x00\x00", n),
    "two-character strings": lambda n: repeat(b"\x62ab", n),
    "one-character non-latin strings": lambda n: repeat(text("\u20ac"), n),
    "two-byte strings": lambda n: repeat(b"\x42ab", n),
    "tag 0 datetime text": lambda n: repeat(tag(0, text("2020-01-01T00:00:00Z")), n),
    "tag 1 epoch": lambda n: repeat(tag(1, b"\x00"), n),
    "tag 2 bignum": lambda n: repeat(tag(2, b"\x42\xff\xff"), n),
    "tag 3 bignum": lambda n: repeat(tag(3, b"\x42\xff\xff"), n),
    "tag 4 decimal": lambda n: repeat(tag(4, b"\x82\x00\x00"), n),
    "tag 4 decimal of a bignum": lambda n: tag(4, array([b"\x00", bignum_ff(n)])),
    "tag 37 uuid": lambda n: repeat(tag(37, head(2, 16) + bytes(16)), n),
    "tag 100 date": lambda n: repeat(tag(100, b"\x00"), n),
    "tag 258 empty sets": lambda n: repeat(tag(258, b"\x80"), n),
    "tag 258 one-member sets": lambda n: repeat(tag(258, b"\x81\x60"), n),
    "tag 1004 date text": lambda n: repeat(tag(1004, text("2020-01-01")), n),
    "COPY": lambda n: repeat(tag(tags.COPY, array([text("P"), b"\x82\x00\x00"])), n),
    "COPY of empty maps": lambda n: repeat(tag(tags.COPY, array([text("P"), b"\x82\xa0\xa0"])), n),
    "COLUMNS of empty maps": lambda n: columns_of(b"\xa0", n),
    "COLUMNS of zeros": lambda n: columns_of(b"\x00", n),
    "ENUM IntFlag values": lambda n: repeat(
        lambda i: tag(tags.ENUM, array([text("F"), uint(i)])), n
    ),
    "ENUM plain Flag": lambda n: repeat(tag(tags.ENUM, array([text("S"), b"\x03"])), n),
    "TUPLE": lambda n: repeat(tag(tags.TUPLE, b"\x81\x00"), n),
    "SENDER_REF": lambda n: repeat(lambda i: tag(tags.SENDER_REF, uint(i)), n),
    "RECEIVER_REF": lambda n: repeat(tag(tags.RECEIVER_REF, b"\x00"), n),
    "ATTACHMENT of nothing": lambda n: repeat(tag(tags.ATTACHMENT, b"\x82\x00\x00"), n),
    "DECIMAL_TEXT": lambda n: repeat(tag(tags.DECIMAL_TEXT, text("-0")), n),
    "refused tags": lambda n: repeat(tag(28, b"\x00"), n),
    "long-head empty maps": lambda n: repeat(b"\xb8\x00", n),
    "long-head one-entry maps": lambda n: repeat(b"\xb8\x01\x60\x00", n),
    "a long map of distinct keys": long_map,
    "ordinary records, then empty maps": lambda n: array(
        [ordinary_records(n // 2), repeat(b"\xa0", n // 2)]
    ),
    "long arrays of unlike elements": unlike_elements,
    "repeats of four": repeats_of_four,
    "empty maps, then ordinary records": lambda n: array(
        [repeat(b"\xa0", n // 2), ordinary_records(n // 2)]
    ),
}

#: Where each message kind carries a value a peer chooses (docs/protocol.md).
KINDS: dict[str, Callable[[bytes], bytes]] = {
    "HELLO": lambda p: array(
        [b"\x00", b"\xa2" + text("protocol") + text("pbtyped") + text("x") + p]
    ),
    "CALL": lambda p: array([b"\x01", b"\x07", b"\x82\x00\x00", text("m"), array([p]), b"\xa0"]),
    "RETURN": lambda p: array([b"\x02", b"\x07", p]),
    "FAIL": lambda p: array([b"\x03", b"\x07", b"\xa2" + text("type") + text("E") + text("x") + p]),
    "FINISH": lambda p: array([b"\x04", p]),
    "RELEASE": lambda p: array([b"\x05", p, b"\x01"]),
    "ABORT": lambda p: array([b"\x06", p]),
}

#: Two sizes 16x apart: the fixed allowance (128 KiB) makes most of the bound at the small
#: one, little at the large one (32x the body, plus 1x).
SMALL, LARGE = 8 * 1024, 128 * 1024


def worst_case(body: bytes, attachments: bytes = b"", limits: Limits = LIMITS) -> int:
    """The documented bound of one frame's decoding, in bytes."""
    fixed = sizes.ALLOWANCE + sizes.READ_AHEAD
    return limits.max_decoded_ratio * len(body) + fixed + len(attachments)


def decode(codec: Codec, body: bytes, attachments: bytes = b"") -> Callable[[], Any]:
    """A call decoding the frame, a refused frame (DecodeError) included."""

    def run() -> Any:
        try:
            return codec.decode(body, attachments)
        except DecodeError as exc:
            return exc

    return run


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_peak_memory_is_bounded_in_every_kind(payload: str, kind: str) -> None:
    """Attack: the cheapest bytes that build the most objects, for every tag, in every
    message kind (empty maps were ~72x their size, COLUMNS of {} 128x, nested arrays 98x)."""
    body = KINDS[kind](PAYLOADS[payload](4 * 1024))
    peak = peak_memory(decode(make_codec(), body))
    assert peak <= worst_case(body), f"{payload} in {kind}: {peak / len(body):.1f}x its size"


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_peak_memory_per_byte(payload: str) -> None:
    """The same at a size where the fixed allowance hardly counts: at most ~33x the body."""
    body = KINDS["CALL"](PAYLOADS[payload](LARGE))
    peak = peak_memory(decode(make_codec(), body))
    assert peak <= worst_case(body), f"{payload}: {peak / len(body):.1f}x its size"
    assert peak / len(body) < LIMITS.max_decoded_ratio + 2


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_cpu_is_linear(payload: str) -> None:
    """Attack: an input whose decoding grows faster than its size (quadratic conversions,
    repeated copies): CPU per byte must stay flat from 16 KiB to 256 KiB."""
    codec = make_codec()

    def make(size: int) -> tuple[Callable[[], Any], int]:
        body = KINDS["CALL"](PAYLOADS[payload](size))
        return decode(codec, body), len(body)

    assert_linear_cpu(make, SMALL, LARGE)


def test_ordinary_traffic_is_not_refused() -> None:
    """Records, strings, numbers and dicts of a few fields decode whatever their number (the
    bound must refuse only odd frames)."""
    codec = make_codec()
    records = [Pair(i, f"name-{i}") for i in range(20_000)]
    values: list[Any] = [
        records,
        [f"text {i}" for i in range(50_000)],
        [i * 1.5 for i in range(50_000)],
        list(range(-100_000, 100_000, 3)),
        [{"id": i, "name": f"user{i}", "age": i % 90} for i in range(10_000)],
        [(i, i + 1000) for i in range(10_000)],
        [decimal.Decimal(i) / 100 for i in range(1000, 50_000)],
        "\u20ac" * 1_000_000,
        bytes(60_000),
    ]
    for value in values:
        body = codec.encode([2, 7, value])[8:]
        decoded, problem = codec.decode(body)
        assert problem is None
        assert decoded[2] == value


# -- attachments (issue 10, row 1) ----------------------------------------------------------


def attachment_frame(tags_count: int, section: int) -> tuple[bytes, bytes]:
    """``tags_count`` attachment tags, each naming almost all of one ``section``."""
    named = tag(tags.ATTACHMENT, array([uint(1), uint(section - 1)]))
    return KINDS["CALL"](array([named] * tags_count)), bytes(section)


def test_attachment_bytes_are_never_named_twice() -> None:
    """Attack: one 220 KiB frame, a 64 KiB attachment section and 20,000 tags each naming
    [1, 65535] of it (1.3 GB on the server): the second tag is refused, only the call fails."""
    codec = make_codec()
    body, section = attachment_frame(20_000, 64 * 1024)
    assert len(body) + len(section) > 200 * 1024
    peak = peak_memory(decode(codec, body, section))
    assert peak <= worst_case(body, section)
    message, problem = codec.decode(body, section)
    assert problem == (
        "attachments named in this frame add up to more than its attachment section "
        "(65536 bytes): a byte may be named only once"
    )
    assert message[4][0][0] == bytes(65535)


def test_attachments_cost_linear_cpu() -> None:
    """Attack: the same frame at two sizes: each refused tag costs a constant."""
    codec = make_codec()

    def make(count: int) -> tuple[Callable[[], Any], int]:
        body, section = attachment_frame(count, 64 * 1024)
        return decode(codec, body, section), len(body) + len(section)

    assert_linear_cpu(make, 20_000, 320_000)


def test_distinct_attachments_still_decode() -> None:
    """The encoder's own frames: each attachment names its own bytes once."""
    codec = make_codec()
    blobs = [bytes([i]) * (70_000 + i) for i in range(3)]
    frame = codec.encode([2, 7, blobs])
    body_size = int.from_bytes(frame[:4], "big")
    body, section = frame[8 : 8 + body_size], frame[8 + body_size :]
    assert codec.decode(body, section) == ([2, 7, blobs], None)


# -- numbers (row 2) ------------------------------------------------------------------------


def decimal_of_bignum(size: int) -> bytes:
    """``4([0, 2(h'ff...')])``: a decimal fraction whose mantissa is a ``size``-byte bignum."""
    return KINDS["CALL"](tag(4, array([b"\x00", bignum_ff(size)])))


@pytest.mark.parametrize("size", [64 * 1024, 512 * 1024])
def test_decimal_of_a_huge_bignum_is_refused(size: int) -> None:
    """Attack: 4([0, 2(h'ff...')]) as one frame (cbor2 built Decimal(int) itself: 512 KiB
    took 25 s, 4 MiB 27 min): refused by its digits, before any quadratic work."""
    _message, problem = make_codec().decode(decimal_of_bignum(size))
    assert problem == (
        "an integer of more than 4300 digits (raise Limits.max_int_digits on this side to admit it)"
    )


def test_decimal_of_a_bignum_costs_linear_cpu() -> None:
    """Attack: the same at two sizes: the refusal costs what reading the bytes costs."""
    codec = make_codec()

    def make(size: int) -> tuple[Callable[[], Any], int]:
        body = decimal_of_bignum(size)
        return decode(codec, body), len(body)

    assert_linear_cpu(make, 32 * 1024, 512 * 1024)


def test_many_decimals_at_the_digit_limit_cost_linear_cpu() -> None:
    """Attack: as many admitted decimals of the most digits as a frame holds."""
    codec = make_codec()
    largest = decimal.Decimal(10**1000 - 1).scaleb(-1000, decimal.Context(prec=2000))
    item = codec.encode(largest)[8:]

    def make(size: int) -> tuple[Callable[[], Any], int]:
        body = KINDS["CALL"](repeat(item, size))
        return decode(codec, body), len(body)

    assert_linear_cpu(make, SMALL, LARGE)
    assert codec.decode(item) == (largest, None)


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        (10**4300 - 1, None),
        (10**4300, "an integer of more than 4300 digits"),
        (1 - 10**4300, None),
        (-(10**4300), "an integer of more than 4300 digits"),
        (decimal.Decimal("1.5"), None),
        (decimal.Decimal(10**1000 - 1), None),
        (decimal.Decimal(10**1000), "a decimal with a mantissa of more than 1000 digits"),
        (decimal.Decimal("1E+1000"), None),
        (decimal.Decimal("1E+1001"), "a decimal with an exponent of 1001"),
        (decimal.Decimal("-1E-1001"), "a decimal with an exponent of -1001"),
        (decimal.Decimal("-0E+1001"), "a decimal with an exponent of 1001"),
    ],
    ids=lambda v: str(v)[:20] if not isinstance(v, int) else f"int{v.bit_length()}",
)
def test_digit_limits(value: Any, refused: str | None) -> None:
    """Integers and decimals up to the limits decode exactly; one digit more is refused."""
    codec = make_codec()
    decoded, problem = codec.decode(codec.encode(value)[8:])
    if refused is None:
        assert (decoded, problem) == (value, None)
        assert type(decoded) is type(value)
        if isinstance(value, decimal.Decimal):
            assert decoded.as_tuple() == value.as_tuple()  # the same exponent too
    else:
        assert problem is not None
        assert problem.startswith(refused)


def test_digit_limits_can_be_raised() -> None:
    codec = make_codec(Limits(max_int_digits=5000, max_decimal_digits=5000))
    value = decimal.Decimal(10**4200 + 1)
    assert codec.decode(codec.encode([value, 10**4500])[8:]) == ([value, 10**4500], None)


def test_decimals_decode_as_cbor2_decoded_them() -> None:
    """Taking tag 4 from cbor2 changed no value: the same exact Decimal, exponent kept."""
    codec = make_codec()
    for data in ("c48221196ab3", "c48220c24201ff", "c4820ac3420100", "c4820000", "c48200c240"):
        body = bytes.fromhex(data)
        expected = cbor2.loads(body)
        decoded, problem = codec.decode(body)
        assert problem is None
        assert str(decoded) == str(expected)


def test_malformed_numbers_still_close_the_connection() -> None:
    codec = make_codec()
    for data in ("c201", "c382", "c48100", "c482f90000", "c4820060"):
        with pytest.raises(DecodeError):
            codec.decode(bytes.fromhex(data))


# -- the decoded-size bound (rows 14, 16) ---------------------------------------------------


def test_a_frame_of_empty_maps_is_refused_before_it_is_built() -> None:
    """Attack: a body of one-byte empty maps (72x its size): weighed before cbor2 builds it,
    and refused; the message's small items still decode, so the broker fails just that
    call, with the limit to raise named. Below the ratio, the same frame decodes."""
    body = KINDS["CALL"](PAYLOADS["empty maps"](LARGE))
    message, problem = make_codec().decode(body)
    assert message == [1, 7, [0, 0], "m", [REFUSED], {}]
    assert problem == (
        f"a message of {len(body)} bytes that decodes to more than 32x its size (mostly "
        "empty or tiny containers; raise Limits.max_decoded_ratio on this side to admit it)"
    )
    message, problem = make_codec(Limits(max_decoded_ratio=80)).decode(body)
    assert problem is None
    assert len(message[4][0]) == LARGE


@pytest.mark.parametrize("size", [SMALL, LARGE])
@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_weighing_never_charges_less_than_the_walk(payload: str, size: int) -> None:
    """However it stops (fast bound, a walked prefix plus the fast bound of the rest, or
    the whole walk), ``weigh`` says at least what the exact walk charges."""
    body = KINDS["CALL"](PAYLOADS[payload](size))
    budget = sizes.budget_for(len(body), LIMITS.max_decoded_ratio)
    weight = sizes.weigh(body, budget)
    exact = sizes.exact_bound(body, 1 << 100)
    if weight.bound <= budget:
        assert weight.bound >= exact
        assert weight.bound == exact or not weight.exact
    else:  # the walk stopped once over budget
        assert weight.exact
        assert exact > budget


def mixed_records(count: int) -> bytes:
    """Records whose fast bound is over budget, each unlike the one before (no repeats)."""
    return array(
        [
            tag(
                tags.COPY,
                array([text("P"), array([b"\xfb" + bytes(8), array([uint(i)] * (i % 5))])]),
            )
            for i in range(count)
        ]
    )


def test_records_unlike_each_other_are_walked_only_in_part() -> None:
    """The walk takes the fast bound for the rest as soon as what it has walked plus that
    fits the budget, and the frame decodes."""
    body = KINDS["RETURN"](mixed_records(6000))
    budget = sizes.budget_for(len(body), LIMITS.max_decoded_ratio)
    assert sizes.fast_bound(body) > budget
    weight = sizes.weigh(body, budget)
    assert not weight.exact
    assert sizes.exact_bound(body, budget) <= weight.bound <= budget
    _message, problem = make_codec().decode(body)
    assert problem is None


@pytest.mark.parametrize(
    "body", [ordinary_records(LARGE), mixed_records(2000), repeats_of_four(LARGE)]
)
def test_repeats_are_charged_what_the_walk_charges(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Elements found to repeat are charged exactly what the walk, item by item, charges."""
    body = KINDS["RETURN"](body)
    walked = sizes.exact_bound(body, 1 << 100)
    monkeypatch.setattr(sizes, "RUN_ITEMS", 1 << 62)  # no repeats looked for
    assert sizes.exact_bound(body, 1 << 100) == walked


def test_repeats_are_charged_what_the_walk_charges_in_damaged_bodies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same for lists of records with a few bytes changed anywhere (heads, lengths,
    contents): repeats found or not, the charge is the walk's."""
    rng = random.Random(10)
    bodies = []
    for base in (ordinary_records(SMALL), mixed_records(200), repeats_of_four(SMALL)):
        for _ in range(200):
            damaged = bytearray(KINDS["RETURN"](base))
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            bodies.append(bytes(damaged))
    walked = [sizes.exact_bound(body, 1 << 100) for body in bodies]
    monkeypatch.setattr(sizes, "RUN_ITEMS", 1 << 62)
    assert [sizes.exact_bound(body, 1 << 100) for body in bodies] == walked


def test_the_fast_bound_of_what_the_walk_has_left_is_that_of_a_body_of_its_own() -> None:
    rng = random.Random(11)
    body = bytes(rng.choice(b"\x00\x61\x65\x84\xa3\x30\xfb\xff") for _ in range(300_000))
    for made in (0, 1, 257, 4096, 100_000):
        rest = sizes._Rest(body, made)
        for pos in [*sorted(rng.choices(range(made, len(body) - sizes.TINY), k=8)), made]:
            assert rest.after(pos) == sizes.fast_bound(body[pos:])


def test_lists_of_records_are_weighed_through_their_repeats() -> None:
    """A list of records alike (a few runs: the widths of their numbers change) is walked
    exactly, most of it at native speed."""
    codec = make_codec()
    body = codec.encode([2, 7, [Pair(i * 0.5, [i, i + 1, i + 2]) for i in range(5000)]])[8:]
    budget = sizes.budget_for(len(body), LIMITS.max_decoded_ratio)
    walk = sizes._Walk(body, True)
    assert walk.run(budget) == (sizes.exact_bound(body, 1 << 100), True)
    assert walk._repeats.skipped > 0.9 * len(body)


def test_a_hostile_suffix_after_ordinary_records_is_refused() -> None:
    """Attack: ordinary records first, so a walk that stops early would stop in them, then
    empty maps: the fast bound of the rest still counts the maps, and the frame is refused
    before cbor2 builds it."""
    body = KINDS["CALL"](PAYLOADS["ordinary records, then empty maps"](LARGE))
    peak = peak_memory(decode(make_codec(), body))
    assert peak <= worst_case(body)
    assert peak / len(body) < 4  # refused by the weighing: nothing was built
    _message, problem = make_codec().decode(body)
    assert problem is not None
    assert "Limits.max_decoded_ratio" in problem


def test_a_call_too_costly_to_decode_fails_alone() -> None:
    """The same through a broker: the caller gets a refusal for that call, the connection
    stays open and the next call runs."""
    broker = open_broker()
    assert broker.receive_data(call_with_args(5, array([PAYLOADS["empty maps"](LARGE)]))) == []
    answer = cbor2.loads(broker.take_pending()[8:])
    assert answer[:2] == [3, 5]
    assert answer[2]["type"] == "pbtyped.InsecureTypeError"
    assert "Limits.max_decoded_ratio" in answer[2]["message"]
    assert_echo_works(broker)


def test_a_frame_too_costly_that_is_no_message_closes() -> None:
    with pytest.raises(DecodeError, match=r"^malformed frame: a message of"):
        make_codec().decode(PAYLOADS["empty maps"](LARGE)[:-1])


def test_columns_of_empty_maps() -> None:
    """Attack: COLUMNS of a two-field dataclass whose values are {} (128x: a 4 MiB frame
    peaked at 537 MB)."""
    body = KINDS["CALL"](columns_of(b"\xa0", 1024 * 1024))
    peak = peak_memory(decode(make_codec(), body))
    assert peak <= worst_case(body)


def test_columns_of_ordinary_records_decode() -> None:
    codec = make_codec()
    codec.peer_takes_columns = True
    rows = [Pair(i, f"name-{i}") for i in range(20_000)]
    body = codec.encode([2, 7, Columns(rows)])[8:]
    assert bytes.fromhex("d9a031") in body  # sent as columns
    assert codec.decode(body) == ([2, 7, rows], None)


def test_nested_one_element_arrays() -> None:
    """Attack: nested one-element arrays of depth 58 (98x: 1 MiB built 102 MB)."""
    body = KINDS["RETURN"](PAYLOADS["nested one-element arrays, depth 58"](1024 * 1024))
    peak = peak_memory(decode(make_codec(), body))
    assert peak <= worst_case(body)
    assert peak / len(body) < 4  # refused by the scan: nothing was built


def test_many_distinct_sender_references() -> None:
    """Attack: 100,000 distinct SENDER_REF ids in one call (125x with the broker's proxies).
    The codec asks the broker for each (the import table bounds them by ``max_imports`` and
    costs ~270 bytes each: tests/protocol/test_table_costs.py); what the codec itself builds
    around them stays within the frame's budget."""
    calls = 0

    class Counting(StubRefs):
        def decode_sender_ref(self, export_id: Any) -> Any:
            nonlocal calls
            calls += 1
            return super().decode_sender_ref(export_id)

    refs = Counting()
    codec = Codec(REGISTRY, LIMITS, refs)
    body = KINDS["CALL"](array([tag(tags.SENDER_REF, uint(i)) for i in range(100_000)]))
    peak = peak_memory(decode(codec, body))
    assert peak <= worst_case(body)
    _message, problem = codec.decode(body)
    assert problem is None
    assert calls == 200_000  # two decodes, each asking once per reference


# -- IntFlag and other caches a peer could fill (row 13) ------------------------------------


def test_intflag_values_leave_no_cache_behind() -> None:
    """Attack: a registered IntFlag, each call sending new values (CPython caches every new
    combination in the class, process-wide, forever: 1 MiB kept 28.5 MB)."""
    cached = len(Perm._value2member_map_)
    codec = make_codec()
    values = [
        array([tag(tags.ENUM, array([text("F"), uint(i)])) for i in range(start, start + 100)])
        for start in range(1000, 21_000, 100)
    ]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for body in values:
            message, problem = codec.decode(body)
            assert problem is None
        assert message[5] == 20_905
        assert isinstance(message[5], Perm)
        del message
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(Perm._value2member_map_) == cached
    assert after - before < 4096


def test_intflag_members_and_combinations_compare_right() -> None:
    codec = make_codec()
    values = [Perm.R, Perm.R | Perm.W, Perm.W | Perm.X, Perm(0), Perm(-2), Perm(1 << 40)]
    decoded, problem = codec.decode(codec.encode(values)[8:])
    assert problem is None
    assert decoded == values
    assert [type(v) for v in decoded] == [Perm] * 6
    assert decoded[0] is Perm.R  # members stay themselves
    cached = dict(Perm._value2member_map_)
    negative = codec.decode(tag(tags.ENUM, array([text("F"), head(1, 1000)])))[0]
    assert type(negative) is Perm
    assert negative == 23
    assert Perm._value2member_map_ == cached  # cached twice by CPython, dropped twice


def test_plain_flag_combinations_are_the_same_objects() -> None:
    """A plain Flag compares by identity: its combinations were all built at registration,
    so a decoded one is the very object the program makes; unknown bits are refused."""
    codec = make_codec()
    cached = dict(Style._value2member_map_)
    value = Style.BOLD | Style.UNDERLINE
    decoded, problem = codec.decode(codec.encode([value, Style.ITALIC])[8:])
    assert problem is None
    assert decoded == [value, Style.ITALIC]
    assert decoded[0] is value
    body = tag(tags.ENUM, array([text("S"), uint(8)]))
    assert codec.decode(body)[1] == "S: 8 is not a member"
    assert Style._value2member_map_ == cached


def test_plain_flags_with_many_flags_are_refused_at_registration() -> None:
    big = enum.Flag("Big", [f"F{i}" for i in range(9)])  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"derive it from enum\.IntFlag instead"):
        Registry().register_type(big)


def test_hostile_names_and_tags_fill_no_table() -> None:
    """Attack: unknown tags, type names and enum names by the thousand: nothing the decoder
    keeps (tag table, registry, encoder table) grows with them."""
    codec = make_codec()
    tables = codec._tags, REGISTRY._types_by_name, codec._encoders
    before = [len(t) for t in tables]
    items = [tag(50_000 + i, b"\x00") for i in range(2000)]
    items += [tag(tags.COPY, array([text(f"T{i}"), b"\x80"])) for i in range(2000)]
    items += [tag(tags.ENUM, array([text(f"E{i}"), b"\x00"])) for i in range(2000)]
    _message, problem = codec.decode(KINDS["CALL"](array(items)))
    assert problem is not None
    after = [len(t) for t in tables]
    assert after[1:] == before[1:]
    assert after[0] <= len(_HANDLERS)  # our own handlers, bound as their tags first arrive
