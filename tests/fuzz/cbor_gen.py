"""Structured hostile input: CBOR messages built as trees, encoded by hand, then mutated.

cbor2 can only write well-formed CBOR, so the trees here are encoded by a small encoder of
our own that can also lie: text that is not UTF-8, arrays and strings whose header claims more
(or fewer) items than follow, maps with duplicate keys, indefinite lengths, deep nesting, tags
we never admit. ``hostile_stream()`` draws a whole connection's worth of frames (usually
starting with a valid Hello so the mutations reach past the handshake), then damages it:
frame headers that lie, frames dropped, duplicated or swapped, bytes flipped, inserted,
deleted, the stream truncated. ``chunks()`` splits it the way TCP might.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from typing import Any

import cbor2
from hypothesis import strategies as st

from pbtyped.protocol.messages import FEATURES
from pbtyped.wire import tags

from .peers import METHODS

__all__ = [
    "BIG_INT",
    "HUGE_INTS",
    "Arr",
    "Byt",
    "Map",
    "Nest",
    "Raw",
    "Tag",
    "Txt",
    "chunks",
    "encode",
    "frame",
    "hostile_stream",
    "messages",
    "stream_messages",
    "values",
]

HEADER = struct.Struct(">II")

#: Largest integer magnitude drawn in general (a bignum, tag 2/3). Integers whose decimal form
#: is longer than Python's int-to-str limit (4300 digits) once made the broker raise ValueError
#: while formatting an error message; ``HUGE_INTS`` keeps drawing a few of those (pre-encoded:
#: hypothesis itself cannot repr such an int).
BIG_INT = 10**1000


# -- a CBOR encoder that can lie --------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """Bytes put on the wire as they are."""

    data: bytes


@dataclass(frozen=True)
class Txt:
    """A text string of raw (maybe not UTF-8) bytes; ``claim`` overrides the header length."""

    data: bytes
    claim: int | None = None


@dataclass(frozen=True)
class Byt:
    """A byte string; ``claim`` overrides the header length."""

    data: bytes
    claim: int | None = None


@dataclass(frozen=True)
class Arr:
    """An array; ``claim`` overrides the item count, ``indefinite`` uses 0x9f ... 0xff."""

    items: tuple[Any, ...]
    claim: int | None = None
    indefinite: bool = False


@dataclass(frozen=True)
class Map:
    """A map from (key, value) pairs, duplicates allowed; ``claim`` overrides the pair count."""

    pairs: tuple[tuple[Any, Any], ...]
    claim: int | None = None
    indefinite: bool = False


@dataclass(frozen=True)
class Nest:
    """``item`` inside ``depth`` one-element arrays (encoded flat: no recursion here)."""

    depth: int
    item: Any


@dataclass(frozen=True)
class Tag:
    """A tagged item."""

    number: int
    item: Any


def head(major: int, n: int) -> bytes:
    """The initial byte(s) of a data item with argument ``n`` (shortest form)."""
    n = min(max(n, 0), 2**64 - 1)
    mt = major << 5
    if n < 24:
        return bytes([mt | n])
    if n < 2**8:
        return bytes([mt | 24, n])
    if n < 2**16:
        return bytes([mt | 25]) + n.to_bytes(2, "big")
    if n < 2**32:
        return bytes([mt | 26]) + n.to_bytes(4, "big")
    return bytes([mt | 27]) + n.to_bytes(8, "big")


def encode(node: Any) -> bytes:
    """CBOR bytes for a tree of nodes and plain values."""
    if isinstance(node, Raw):
        return node.data
    if isinstance(node, Txt | Byt):
        major = 3 if isinstance(node, Txt) else 2
        claim = len(node.data) if node.claim is None else node.claim
        return head(major, claim) + node.data
    if isinstance(node, Arr):
        body = b"".join(encode(i) for i in node.items)
        if node.indefinite:
            return b"\x9f" + body + b"\xff"
        return head(4, len(node.items) if node.claim is None else node.claim) + body
    if isinstance(node, Map):
        body = b"".join(encode(k) + encode(v) for k, v in node.pairs)
        if node.indefinite:
            return b"\xbf" + body + b"\xff"
        return head(5, len(node.pairs) if node.claim is None else node.claim) + body
    if isinstance(node, Tag):
        return head(6, node.number) + encode(node.item)
    if isinstance(node, Nest):
        return b"\x81" * node.depth + encode(node.item)
    if isinstance(node, list | tuple):
        return encode(Arr(tuple(node)))
    if isinstance(node, dict):
        return encode(Map(tuple(node.items())))
    return cbor2.dumps(node)


def frame(body: bytes, attachments: bytes = b"") -> bytes:
    """A frame with a truthful header."""
    return HEADER.pack(len(body), len(attachments)) + body + attachments


# -- values ------------------------------------------------------------------------------------

HUGE_INTS = [Raw(cbor2.dumps(n)) for n in (10**5000, -(10**5000), 2**20000 + 1)]

small_ids = st.integers(min_value=0, max_value=6)
forged_ids = st.one_of(
    small_ids,
    st.sampled_from(HUGE_INTS),
    st.integers(min_value=-(2**64), max_value=2**64 + 10),
    st.sampled_from([-1, 2**31, 2**63 - 1, 2**63, 2**64 - 1]),
    st.text(max_size=3),
    st.none(),
    st.floats(allow_nan=True),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64) - 5, max_value=2**64 + 5),
    st.integers(min_value=-BIG_INT, max_value=BIG_INT),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=40),
    st.sampled_from(
        [
            Raw(b"\xf7"),  # undefined
            Raw(b"\xf0"),  # simple value 16
            Raw(b"\xf8\x20"),  # simple value 32
            Raw(b"\xf8\x10"),  # simple value 16, two-byte form (not well-formed)
            Raw(b"\xff"),  # a break with no indefinite item open
            Raw(b"\x1c"),  # reserved additional information
            Raw(b"\xf9\x7e\x00"),  # half-precision NaN
        ]
    ),
    st.binary(min_size=1, max_size=8).map(lambda b: Txt(b"\xff" + b)),  # never UTF-8
    st.binary(max_size=12).map(Txt),  # maybe UTF-8
    st.builds(Txt, st.binary(max_size=4), st.integers(0, 2**64 - 1)),  # claimed length
    st.builds(Byt, st.binary(max_size=4), st.integers(0, 2**64 - 1)),
)


#: Interface names: valid wire names, and the ones a receiver refuses (empty, not an identifier,
#: over 200 characters).
interface_names = st.sampled_from(
    ["shop.Watcher", "shop.Cart", "fuzz.Point", "x", "", "a b", "1x", "x" * 201, "é.x"]
)
#: Stream ids: mostly the few a peer would use, in order or reused, sometimes forged.
stream_ids = st.one_of(st.integers(0, 6), forged_ids)
#: The names of a reference (SENDER_REF's names form, a Hello's root_interfaces): up to 16
#: names admitted, a few more refused, or anything at all.
name_lists = st.lists(interface_names, max_size=18)


#: Paths into an answer (pipelining): steps that may lead somewhere, too many, or bad ones.
paths = st.lists(
    st.sampled_from(["x", "y", "owner", "nope", ""]) | st.integers(-1, 3) | st.none(),
    max_size=18,
)


def _our_tag(child: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    copy = st.one_of(
        st.builds(lambda x, y: ["fuzz.Point", {"x": x, "y": y}], child, child),
        st.builds(lambda f: ["fuzz.Point", f], child),
        st.builds(lambda n, f: [n, f], st.sampled_from(["fuzz.Color", "os.system", ""]), child),
    )
    enum_ = st.builds(lambda n, v: [n, v], st.sampled_from(["fuzz.Color", "fuzz.Point"]), child)
    columns = st.one_of(
        st.builds(lambda c: ["fuzz.Point", c], st.lists(st.lists(child, max_size=3), max_size=3)),
        st.builds(lambda n, c: [n, c], st.sampled_from(["fuzz.Point", "fuzz.Color", ""]), child),
    )
    attachment = st.lists(st.integers(-2, 2**32), min_size=0, max_size=3)
    # SENDER_REF's names form, [export id, [interface name, ...]], well shaped or not.
    named = st.one_of(
        st.builds(lambda i, n: [i, n], small_ids | forged_ids, name_lists | child),
        st.lists(child, max_size=3),
    )
    return st.one_of(
        st.builds(Tag, st.just(tags.SENDER_REF), forged_ids),
        st.builds(Tag, st.just(tags.SENDER_REF), named),
        st.builds(Tag, st.just(tags.RECEIVER_REF), forged_ids),
        st.builds(Tag, st.just(tags.COPY), copy | child),
        st.builds(Tag, st.just(tags.ENUM), enum_ | child),
        st.builds(Tag, st.just(tags.COLUMNS), columns | child),
        st.builds(Tag, st.just(tags.TUPLE), st.lists(child, max_size=3) | child),
        st.builds(Tag, st.just(tags.ATTACHMENT), attachment | child),
        st.builds(Tag, st.sampled_from([tags.ANSWER_REF, tags.STREAM]), child),
        # ANSWER_REF's content, [question id, path], well shaped or not.
        st.builds(Tag, st.just(tags.ANSWER_REF), st.builds(lambda i, p: [i, p], small_ids, paths)),
        st.builds(Tag, st.just(tags.STREAM), stream_ids),
        # DECIMAL_TEXT: Decimal NaN/Infinity/-0 as text, at most 64 characters.
        st.builds(Tag, st.just(41008), st.sampled_from(["NaN", "-0", "sNaN", "1e999999"]) | child),
        st.builds(Tag, st.just(41008), st.text(max_size=70)),
    )


def _builtin_tag(child: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(Tag, st.just(0), st.sampled_from(["2024-01-02T03:04:05Z", "garbage"]) | child),
        st.builds(Tag, st.just(1), st.integers(-(2**70), 2**70) | st.floats() | child),
        st.builds(Tag, st.sampled_from([2, 3]), st.binary(max_size=40) | child),
        st.builds(Tag, st.just(4), st.lists(st.integers(-(2**70), 2**70), max_size=3) | child),
        st.builds(Tag, st.just(37), st.binary(min_size=14, max_size=18) | child),
        st.builds(Tag, st.just(100), st.integers(-(2**70), 2**70) | child),
        st.builds(Tag, st.just(1004), st.sampled_from(["2024-02-30", "2024-01-02"]) | child),
        st.builds(Tag, st.just(258), st.lists(child, max_size=3) | child),
    )


def _foreign_tag(child: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Tags cbor2 would interpret by itself if we let it: shared refs, regexps, MIME, string
    # refs, IP addresses, rationals ... plus any number at all.
    numbers = st.sampled_from([5, 21, 24, 25, 28, 29, 30, 35, 36, 52, 54, 55799, 256, 260, 261])
    return st.builds(Tag, numbers | st.integers(0, 2**64 - 1), child)


def _containers(child: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["a", "b", "x", "y", "self", "__class__"]) | st.text(max_size=4)
    odd_keys = st.one_of(keys, st.integers(-3, 3), st.binary(max_size=2), st.floats(), child)
    return st.one_of(
        st.lists(child, max_size=4).map(lambda xs: Arr(tuple(xs))),
        st.lists(st.tuples(keys, child), max_size=4).map(lambda ps: Map(tuple(ps))),  # dup keys
        st.lists(st.tuples(odd_keys, child), max_size=3).map(lambda ps: Map(tuple(ps))),
        st.builds(
            lambda xs, c: Arr(tuple(xs), claim=c),
            st.lists(child, max_size=3),
            st.integers(0, 2**64 - 1),
        ),
        st.lists(child, max_size=3).map(lambda xs: Arr(tuple(xs), indefinite=True)),
        st.builds(Nest, st.integers(10, 400), child),
        _our_tag(child),
        _builtin_tag(child),
        _foreign_tag(child),
    )


values: st.SearchStrategy[Any] = st.recursive(scalars, _containers, max_leaves=12)


# -- messages ----------------------------------------------------------------------------------

question_ids = st.one_of(small_ids, forged_ids)
methods = st.one_of(
    st.sampled_from([*METHODS, "", "_private", "__init__", "remote_echo", "pb_dispatch"]),
    st.text(max_size=8),
    values,
)


def _hello(good: bool) -> st.SearchStrategy[Any]:
    sizes = st.one_of(st.just(1 << 20), st.integers(0, 2**64 - 1), forged_ids)
    if good:
        # With or without the features that change what follows (references naming their
        # interfaces), and a root's interfaces or none.
        features = st.sampled_from(
            [
                [],
                ["interfaces"],
                ["columns", "interfaces"],
                ["keepalive", "goodbye", "interfaces"],
                ["oneway"],
                ["interfaces", "oneway"],
                ["pipelining"],
                ["streams"],
                ["interfaces", "streams"],
                ["columns", "streams"],
                list(FEATURES),
            ]
        )
        roots = st.one_of(st.just({}), st.builds(lambda n: {"root_interfaces": n}, name_lists))
        windows = st.one_of(
            st.just({}), st.builds(lambda w: {"stream_window": w}, st.integers(1, 2**20))
        )
        return st.builds(
            lambda size, feats, root, window: [
                0,
                {
                    "protocol": "pbtyped",
                    "version": 1,
                    "max_frame_size": size,
                    "features": feats,
                    **root,
                    **window,
                },
            ],
            st.just(1 << 20) | st.integers(64, 2**32 - 1),
            features,
            roots,
            windows,
        )
    return st.builds(
        lambda proto, version, size, body, feats, root: [
            0,
            Map(
                (
                    ("protocol", proto),
                    ("version", version),
                    ("max_frame_size", size),
                    ("max_body_size", body),
                    ("features", feats),
                    ("root_interfaces", root),
                )
            ),
        ],
        st.sampled_from(["pbtyped", "pb", ""]) | values,
        st.sampled_from([1, 0, 2]) | forged_ids,
        sizes,
        sizes,
        st.lists(st.text(max_size=5), max_size=3) | values,
        name_lists | values,
    )


#: Error maps (6.1), well shaped or not.
errors = st.one_of(
    st.builds(
        lambda t, m, r: {"type": t, "message": m, "registered": r},
        st.sampled_from(["fuzz.Boom", "pbtyped.NoSuchMethod", "builtins.KeyError"]) | values,
        st.text(max_size=10) | values,
        st.booleans() | values,
    ),
    values,
)


def stream_messages(ids: st.SearchStrategy[Any] = stream_ids) -> st.SearchStrategy[Any]:
    """Stream messages (kinds 7-10), well shaped or not, for the streams ``ids`` draws (which
    may or may not exist). The items array may itself be a COLUMNS value (spec 3.10):
    records of a registered type, of one the receiver lacks, or columns of the wrong shape."""
    rows = st.lists(st.tuples(values, values), min_size=1, max_size=4)
    two_columns = rows.map(lambda r: [[x for x, _ in r], [y for _, y in r]])  # fuzz.Point's
    column_items = st.builds(
        lambda n, c: Tag(tags.COLUMNS, [n, c]),
        st.sampled_from(["fuzz.Point", "fuzz.Point", "fuzz.Color", "nope.Type"]),
        st.one_of(two_columns, two_columns, st.lists(st.lists(values, max_size=3), max_size=3)),
    )
    return st.one_of(
        st.builds(lambda s, xs: [7, s, xs], ids, st.lists(values, max_size=3) | values),
        st.builds(lambda s, c: [7, s, c], ids, column_items | values),
        st.builds(lambda s, c: [7, s, Tag(tags.COLUMNS, ["fuzz.Point", c])], ids, two_columns),
        st.builds(lambda s, e: [8, s, e], ids, st.none() | errors),
        st.builds(lambda s, n: [9, s, n], ids, st.integers(-1, 2**64 - 1) | values),
        st.builds(lambda s: [10, s], ids),
    )


def messages(answers: bool = False) -> st.SearchStrategy[Any]:
    """One message tree: mostly well-shaped calls/answers, sometimes anything at all.

    ``answers`` weights the draw toward Return/Fail (for feeding a client broker).
    """
    target = st.one_of(
        st.builds(lambda i: [0, i], small_ids),
        st.builds(lambda k, i: [k, i], st.sampled_from([0, 1, 2]), forged_ids),
        st.builds(lambda i: [1, i], small_ids),
        st.builds(lambda i, p: [1, i, p], small_ids, paths | values),
        values,
    )
    args = st.lists(values, max_size=3).map(lambda xs: Arr(tuple(xs))) | values
    kwargs = st.dictionaries(st.text(max_size=4), values, max_size=2) | values
    call = st.one_of(
        st.builds(
            lambda q, t, m, a, k: [1, q, t, m, a, k], question_ids, target, methods, args, kwargs
        ),
        st.builds(lambda q, t, m, a: [1, q, t, m, a], question_ids, target, methods, args),
        # SEND (one-way): a CALL without its question id; and with too many items.
        st.builds(lambda t, m, a, k: [14, t, m, a, k], target, methods, args, kwargs),
        st.builds(lambda t, m, a: [14, t, m, a], target, methods, args),
        st.builds(
            lambda q, t, m, a, k, o: [1, q, t, m, a, k, o],
            question_ids,
            target,
            methods,
            args,
            kwargs,
            st.sampled_from([{"retain": True}, {"retain": False}, {"trace": "x"}, {}]) | values,
        ),
    )
    ret = st.builds(lambda q, v: [2, q, v], question_ids, values)
    stream = stream_messages()
    fail = st.builds(lambda q, e: [3, q, e], question_ids, errors)
    other = st.one_of(
        st.builds(lambda q: [4, q], question_ids),
        st.builds(lambda i, c: [5, i, c], question_ids, question_ids),
        st.builds(lambda r: [6, r], st.text(max_size=10) | values),
        # PING and PONG with a nonce, GOODBYE with a reason, a grace and a question id.
        st.builds(lambda k, n: [k, n], st.sampled_from([11, 12]), question_ids | values),
        st.builds(
            lambda r, g, q: [13, r, g, q], st.text(max_size=10) | values, question_ids, question_ids
        ),
        _hello(good=False),
        st.builds(
            lambda k, rest: [k, *rest],
            st.integers(7, 40) | st.integers(-(2**64), 2**64 - 1),
            st.lists(values, max_size=3),
        ),
        st.builds(
            lambda n, xs: [n, *xs],
            st.sampled_from([0, 1, 2, 3, 4, 5, 6, 11, 12, 13]),
            st.lists(values, max_size=5),
        ),
        values,
    )
    if answers:
        return st.one_of(ret, fail, ret, fail, call, stream, other)
    return st.one_of(call, call, call, ret, fail, stream, other)


# -- streams and their damage ------------------------------------------------------------------


@st.composite
def hostile_stream(draw: st.DrawFn, answers: bool = False, hello: bool = True) -> bytes:
    """A connection's worth of frames from a hostile peer, then damaged."""
    frames: list[bytes] = []
    if hello and draw(st.integers(0, 9)) > 0:
        frames.append(frame(encode(draw(_hello(good=True)))))
    for item in draw(st.lists(messages(answers), min_size=1, max_size=6)):
        body = encode(item)
        attachments = draw(st.sampled_from([b"", b"", b"", b"\x00" * 70_000])) or draw(
            st.binary(max_size=8)
        )
        frames.append(frame(body, attachments))
    first = 1 if hello else 0
    # Frame-level damage, after the Hello most of the time.
    for _ in range(draw(st.integers(0, 2))):
        if len(frames) <= first:
            break
        i = draw(st.integers(first, len(frames) - 1))
        op = draw(st.sampled_from(["lie body", "lie att", "drop", "dup", "swap", "empty"]))
        f = frames[i]
        body_len, att_len = HEADER.unpack_from(f)
        if op == "lie body":
            claim = draw(st.sampled_from([0, 1, body_len - 1, body_len + 1, 2**32 - 1]))
            frames[i] = HEADER.pack(min(max(claim, 0), 2**32 - 1), att_len) + f[8:]
        elif op == "lie att":
            claim = draw(st.sampled_from([1, att_len + 1, 2**24, 2**32 - 1]))
            frames[i] = HEADER.pack(body_len, min(claim, 2**32 - 1)) + f[8:]
        elif op == "drop":
            del frames[i]
        elif op == "dup":
            frames.insert(i, f)
        elif op == "swap" and i + 1 < len(frames):
            frames[i], frames[i + 1] = frames[i + 1], frames[i]
        elif op == "empty":
            frames[i] = HEADER.pack(0, 0)
    data = bytearray(b"".join(frames))
    # Byte-level damage.
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "u32"]))
        if op == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        elif op == "u32":
            data[pos : pos + 4] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
    return bytes(data)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` split at the given offsets (taken modulo its length), as TCP might deliver it."""
    if not data:
        return []
    points = sorted({c % len(data) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]
