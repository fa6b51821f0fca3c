"""What a CBOR body can decode to, bounded before decoding it (``Limits.max_decoded_ratio``).

cbor2 builds lists, dicts, strings and numbers in native code, with no callback we could use
to stop it: a body of one-byte empty maps (``[{}, {}, ...]``) becomes ~72x its size in Python
objects, nested one-element arrays ~98x. So the bytes are weighed first, in two steps:

- ``fast_bound``: every byte is charged ``BASE`` (what the costliest scalar takes per byte,
  its slot in a list included), and each byte that *could* be the head of something costlier
  (a container, a tag, a small negative int, a simple value) is charged the difference too,
  counted in native code with ``bytes.translate``/``count``. It over-counts (the bytes inside
  strings are charged as if they were heads) but costs ~1 ns a byte, and ordinary frames pass.
- ``exact_bound``: only when the fast bound is over budget, a walk over the item heads in
  Python (linear: one step per item, string contents skipped) sums what each item will cost.

Both give an upper bound of what cbor2 allocates, in bytes as ``tracemalloc`` counts them
(CPython 3.11+, 64-bit); our own tags charge what they build separately (``DecodeState``).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ALLOWANCE",
    "ANSWER_REF_COST",
    "BASE",
    "BYTES_COST",
    "CLASSES",
    "DATE_COST",
    "DECIMAL_COST",
    "DENSEST",
    "INT_COST",
    "LIST_COST",
    "READ_AHEAD",
    "SLOT",
    "TINY",
    "TUPLE_COST",
    "Weight",
    "array_cost",
    "budget_for",
    "exact_bound",
    "fast_bound",
    "int_cost",
    "message_items",
    "object_cost",
    "set_cost",
    "text_cost",
    "weigh",
]

#: Any frame may decode to this much beyond ``max_decoded_ratio`` times its body (a short
#: message's objects weigh more than its few bytes: a 3-byte FINISH is a 72-byte list).
ALLOWANCE = 64 * 1024
#: cbor2 reads a string whose head claims more bytes than the body holds into a buffer of up
#: to this much before it fails (a malformed frame: the connection is closed).
READ_AHEAD = 64 * 1024
#: One item's slot in its list: 8 bytes, plus the list's growth (at most 1/8 more). The
#: exact walk charges each list its real capacity instead.
SLOT = 9
#: An int beyond the small-int cache (up to 64 bits; bignums charge their digits).
INT_COST = 36
#: A bytes object's header (the bytes themselves are added).
BYTES_COST = 33
#: A str's header: 49 for ASCII, up to 80 for other text (the text itself is added).
ASCII_COST = 49
TEXT_COST = 80
#: An empty list; each slot it allocates adds 8.
LIST_COST = 56
#: An empty tuple header; each item adds 8.
TUPLE_COST = 40
#: A dict: empty, the first key table, and each entry (24 bytes and its index, up to twice
#: that just after the table grew).
DICT_COST = 64
DICT_TABLE = 160
DICT_ENTRY = 56
#: What a dict entry costs beyond the slots its key and value were charged (its key pays it).
KEY_ENTRY = DICT_ENTRY - 2 * SLOT
#: cbor2's CBORSimpleValue (not cached), a float.
SIMPLE_COST = 40
FLOAT_COST = 24
#: A datetime with its timezone, or a UUID (what cbor2 builds for tags 0, 1, 37; a date is 32).
DATE_COST = 80
#: A Decimal (its digits are added, ~1 byte per 2 digits).
DECIMAL_COST = 104
#: An answer reference's placeholder (``protocol.answers.AnswerRef``) and its path's tuple.
ANSWER_REF_COST = 48 + TUPLE_COST
#: Every byte is charged at least this: one slot in a list (every item has at least a
#: byte). What an item costs beyond it is charged to its head's byte (``_head_extra``).
BASE = SLOT
#: Below this many bytes a body cannot exceed the budget whatever it holds (nested
#: one-element arrays or maps, the densest CBOR, cost ~97 bytes per byte).
DENSEST = 128
#: Bodies this small are never weighed: at the densest they fit the allowance.
TINY = ALLOWANCE // DENSEST

# Standard tags that build one object of a fixed size, and what each builds: charged by the
# scan (cbor2 decodes 1, 37 and 100 itself; DecodeState's handlers of 0 and 1004 do not charge
# again). Our own tags charge in DecodeState.
_NATIVE_TAG_COST = {0: DATE_COST, 1: DATE_COST, 37: DATE_COST, 100: 32, 1004: 32}


def budget_for(body_size: int, ratio: int) -> int:
    """Bytes a body of ``body_size`` bytes may decode to (its own copy made to decode it
    included: the codec decodes a copy that closes it with an end marker)."""
    return ratio * body_size + ALLOWANCE - body_size


def object_cost(fields: int) -> int:
    """A registered dataclass instance of ``fields`` fields, as built by its ``__init__``."""
    return 64 + 16 * fields


def set_cost(members: int) -> int:
    """A set of ``members`` members: a 216-byte set, its table growing x4 (16 bytes a slot)."""
    return 216 + 64 * members


def _list_capacity(n: int) -> int:
    """Slots cbor2's list of ``n`` items allocates (it appends: CPython's growth rule)."""
    allocated = size = 0
    while size < n:
        size += 1
        if size > allocated:
            allocated = (size + (size >> 3) + 6) & ~3
    return allocated


_CAPACITY = [_list_capacity(n) for n in range(256)]


def _array_cost(n: int) -> int:
    return LIST_COST + 8 * (_CAPACITY[n] if n < 256 else n + (n >> 3) + 8)


def array_cost(n: int) -> int:
    """What ``exact_bound`` charges for an array of ``n`` items (our tags give it back once
    the array they were handed is freed)."""
    return _array_cost(n)


def text_cost(text: str) -> int:
    """At most what ``exact_bound`` charged for ``text`` (never more: safe to give back)."""
    if len(text) < 2:
        return 0
    return (ASCII_COST if text.isascii() else TEXT_COST) + len(text)


def int_cost(number: int) -> int:
    """At most what was charged for an int (never more: safe to give back)."""
    return INT_COST if not -5 <= number <= 256 else 0


def _map_cost(n: int) -> int:
    return DICT_COST + (DICT_TABLE + DICT_ENTRY * n if n else 0)


def _head_extra(byte: int) -> int:
    """The most an item whose head starts with ``byte`` may cost beyond ``BASE`` for each of
    its own bytes (its head, and its contents if it is a string), its slot in a list included.

    Containers pay here what their items' own bytes do not: a list its spare capacity, a dict
    its entries beyond the two slots its key and value were charged.
    """
    major, info = byte >> 5, byte & 0x1F
    if info > 27:
        return 0  # indefinite lengths and reserved values: the decoder refuses them
    short = info < 24
    head = 1 if short else 1 + (1 << (info - 24))
    if major < 2:
        cached = (info < 24 or (info == 24 and major == 0)) and (major == 0 or info < 5)
        cost = 0 if cached else INT_COST
    elif major < 4:
        return _string_extra(major, info, head)
    elif major == 4:
        spare = 8 * (_CAPACITY[info] - info) if short else 64  # long: 1/8 per item, paid
        cost = LIST_COST + spare
    elif major == 5:
        # A long head's entries are paid by their keys (``_string_extra``).
        cost = _map_cost(info) - 2 * SLOT * info if short else DICT_COST + DICT_TABLE
    elif major == 6:
        cost = max((c for t, c in _NATIVE_TAG_COST.items() if head_of(t)[0] == byte), default=0)
        return max(0, cost - BASE * head)  # a tag has no slot: its content has
    else:
        cost = SIMPLE_COST if info < 20 or info == 24 else FLOAT_COST if info > 24 else 0
    return max(0, cost + SLOT - BASE * head)


def _string_extra(major: int, info: int, head: int) -> int:
    """Strings: the shortest costs the most per byte. Each also pays a dict entry beyond two
    slots, in case it is a key (only str and bytes may be, under ``strict_map_keys``). Text
    is charged as ASCII: a non-ASCII string holds a byte >= 0x80, itself charged more than
    the difference (as a container, tag or simple value head)."""
    header = BYTES_COST if major == 2 else ASCII_COST
    worst = 0
    for length in [info] if info < 24 else [0, 1, 2, 3, 4]:
        own = header + length if length > 1 else 0  # empty and one-character ones are cached
        worst = max(worst, own + KEY_ENTRY + SLOT - BASE * (head + length))
    return worst


def head_of(number: int) -> bytes:
    """The head of a tag ``number`` (its first byte says how long it is)."""
    if number < 24:
        return bytes([0xC0 | number])
    width = 1 if number < 0x100 else 2 if number < 0x10000 else 4
    return bytes([0xD8 + width.bit_length() - 1]) + number.to_bytes(width, "big")


def _levels(extras: list[int], most: int) -> list[int]:
    """At most ``most`` charges, each extra rounding up to one of them: starting from one
    level per distinct extra, merge the two neighbours that raise the mean relative
    over-charge (per byte value) the least, until ``most`` are left."""
    groups: list[list[int]] = []
    for extra in sorted(e for e in extras if e):
        if groups and groups[-1][-1] == extra:
            groups[-1].append(extra)
        else:
            groups.append([extra])

    def over(group: list[int]) -> float:
        return sum((group[-1] - e) / e for e in group)

    def merge_cost(i: int) -> float:
        return over(groups[i] + groups[i + 1]) - over(groups[i]) - over(groups[i + 1])

    while len(groups) > most:
        i = min(range(len(groups) - 1), key=merge_cost)
        groups[i : i + 2] = [groups[i] + groups[i + 1]]
    return [group[-1] for group in groups]


#: Classes the fast bound counts, one ``count`` pass each (~0.4 ns a byte). Rounded up to
#: powers of two, 9 classes charged a byte's extra 47% more on average; these 14, 8% more.
CLASSES = 14


def _classes() -> tuple[bytes, tuple[bytes, ...], tuple[int, ...]]:
    """A translation table mapping each byte to a class, each class's byte and its charge:
    the least level at or above the extra of every byte in it (never less)."""
    extras = [_head_extra(b) for b in range(256)]
    levels = _levels(extras, CLASSES)
    table = bytes(min(i for i, lv in enumerate(levels, 1) if lv >= e) if e else 0 for e in extras)
    return table, tuple(bytes([i]) for i in range(1, len(levels) + 1)), tuple(levels)


_TABLE, _CLASS_BYTES, _CHARGES = _classes()


def _charge(counts: list[int], size: int) -> int:
    """The fast bound of ``size`` bytes that hold ``counts`` bytes of each class."""
    return BASE * size + sum(n * charge for n, charge in zip(counts, _CHARGES, strict=True))


def _counts(classes: bytes, start: int, end: int) -> list[int]:
    return [classes.count(c, start, end) for c in _CLASS_BYTES]


def fast_bound(body: bytes, strict_keys: bool = True) -> int:
    """An upper bound of what cbor2 builds from ``body``, in native-speed passes (only while
    map keys are strings: an int key of one byte could not pay its dict entry)."""
    if len(body) <= TINY or not strict_keys:
        return len(body) * DENSEST
    return _charge(_counts(body.translate(_TABLE), 0, len(body)), len(body))


class _Rest:
    """The fast bound of the bytes a walk has not reached yet, wherever it stands (at or
    past where this was made), each look counting at most one chunk.

    Sound wherever the walk stands, since it stands between items: the items whose heads
    lie ahead own the bytes ahead (heads, arguments, string contents), so the fast bound's
    argument holds for those bytes as for a body of their own. The items behind were
    charged exactly, each container with all its slots and entries (items ahead pay their
    own slot again: an over-count, never an under-count).
    """

    def __init__(self, body: bytes, pos: int = 0) -> None:
        self._classes = body.translate(_TABLE)
        end = self._end = len(body)
        # Counts from each chunk's start to the end, so that each look counts one part chunk.
        self._chunk = chunk = max(4096, (end - pos) // 64)
        first = -(-pos // chunk)
        self._first = first
        tails: list[list[int]] = [[0] * len(_CLASS_BYTES)]
        for start in reversed(range(first * chunk, end, chunk)):
            part = _counts(self._classes, start, min(end, start + chunk))
            tails.append([a + b for a, b in zip(part, tails[-1], strict=True)])
        self._tails = tails[::-1]  # self._tails[j - first]: from chunk j on

    def after(self, pos: int) -> int:
        """The fast bound of ``body[pos:]`` (the same as ``fast_bound`` of it)."""
        pos = min(pos, self._end)
        j = max(self._first, -(-pos // self._chunk))
        boundary = min(self._end, j * self._chunk)
        head = _counts(self._classes, pos, boundary) if pos < boundary else [0] * len(_CLASS_BYTES)
        tail = self._tails[min(j - self._first, len(self._tails) - 1)]
        return _charge([a + b for a, b in zip(head, tail, strict=True)], self._end - pos)


def _short_item(byte: int) -> tuple[int, int]:
    """(cost, bytes) of an item whose size its first byte tells (0, 0 for the others: long
    strings and containers)."""
    major, info = byte >> 5, byte & 0x1F
    size = _short_size(major, info)
    return (_short_cost(major, info), size) if size else (0, 0)


def _short_size(major: int, info: int) -> int:
    """Bytes of an item whose head is ``major``/``info``, head included, if the head tells (0
    for long strings and containers: what follows says)."""
    if info < 24:
        return 1 + info if major in (2, 3) else 1
    if info <= 27 and major in (0, 1, 6, 7):
        return 1 + (1 << (info - 24))  # a number, tag or simple value with argument bytes
    return 0


def _short_cost(major: int, info: int) -> int:
    """What such an item costs. Short text is charged as if it were not ASCII (no check per
    string); numbers and tags with a long head, at the most their head allows."""
    if major == 0:
        return 0 if info <= 24 else INT_COST
    if major == 1:
        return INT_COST if info > 4 else 0
    if major in (2, 3):
        return (BYTES_COST if major == 2 else TEXT_COST) + info if info > 1 else 0
    if major == 4:
        return _array_cost(info)
    if major == 5:
        return _map_cost(info)
    if major == 6:
        if info < 24:
            return _NATIVE_TAG_COST.get(info, 0)
        numbers = range(24, 256) if info == 24 else range(256, 65536) if info == 25 else ()
        return max((_NATIVE_TAG_COST.get(n, 0) for n in numbers), default=0)
    return SIMPLE_COST if info < 20 or info == 24 else FLOAT_COST if info > 24 else 0


_SHORT = tuple(map(_short_item, range(256)))
_SHORT_COST = tuple(cost for cost, _ in _SHORT)
_SHORT_SIZE = tuple(size for _, size in _SHORT)


# -- repeats: the elements of a long array that repeat one pattern, walked at native speed --

#: A long array's elements are tried for repeats (``_Repeats``) only past this many, and a
#: pattern has at most ``PATTERN_HEADS`` heads: the checks cost a few slices per head.
RUN_ITEMS = 16
PATTERN_HEADS = 32


def _kinds() -> tuple[bytes, tuple[int, ...]]:
    """A translation table mapping each byte to its kind (the walk steps through bytes of
    one kind alike: the same size, the same cost; 0 for long items), and how many items
    each fixed-size head holds (its array's items, its map's keys and values, its tag's
    content)."""
    pairs = sorted({item for item in _SHORT if item[1]})
    table = bytes(pairs.index(item) + 1 if item[1] else 0 for item in _SHORT)
    held: list[int] = []
    for byte, (_, size) in enumerate(_SHORT):
        major, info = byte >> 5, byte & 0x1F
        held.append(0 if not size else {4: info, 5: 2 * info, 6: 1}.get(major, 0))
    return table, tuple(held)


_KINDS, _HELD = _kinds()


def _pattern(body: bytes, pos: int) -> tuple[list[tuple[int, bytes]], int, int] | None:
    """The item at ``pos``, if fixed-size items alone make it (at most ``PATTERN_HEADS``):
    each head's offset and kind, its size, its cost. None otherwise."""
    heads: list[tuple[int, bytes]] = []
    cost, at, pending, end = 0, pos, 1, len(body)
    while pending:
        if at >= end or len(heads) == PATTERN_HEADS:
            return None
        byte = body[at]
        size = _SHORT_SIZE[byte]
        if not size:
            return None
        heads.append((at - pos, _KINDS[byte : byte + 1]))
        cost += _SHORT_COST[byte]
        at += size
        pending += _HELD[byte] - 1
    return (heads, at - pos, cost) if at <= end else None


def _repetitions(
    kinds: bytes, pos: int, pattern: tuple[list[tuple[int, bytes]], int], most: int
) -> int:
    """How many times (at most ``most``) the pattern at ``pos`` repeats right after itself:
    for each head, the kinds at its offset in the next elements, one strided slice (native
    code), in chunks that grow x4 (the slices stay within 4x the repeats found, plus 16)."""
    heads, size = pattern
    done, chunk, end = 0, 16, len(kinds)
    while done < most:
        start = pos + (done + 1) * size
        count = min(chunk, most - done, (end - start) // size)
        got = count
        for offset, kind in heads:
            if got <= 0:
                return done
            column = kinds[start + offset : start + count * size : size]
            got = min(got, len(column) - len(column.lstrip(kind)))
        done += max(got, 0)
        if got < count:
            return done
        chunk *= 4
    return done


class _Repeats:
    """The elements of long arrays, as long as they repeat one pattern of fixed-size items
    (lists of records, of numbers, of strings of one length): one element walked, the
    repeats checked at native speed.

    Charged exactly what the walk would charge, item by item: a repeat's heads are of the
    same kinds at the same offsets as the first element's, so the walk would meet them
    where it met those and charge each the same (a kind fixes size and cost; what the
    bytes between the heads hold does not matter to it).
    """

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._kinds = b""  # the body's kinds, translated at the first long array
        #: Bytes of repeats found (walked at native speed).
        self.skipped = 0

    def skip(self, pos: int, items: int, cost: int) -> tuple[int, int]:
        """Walk the ``items`` elements of the array at ``pos`` while they repeat: ``cost``
        plus theirs, and where the walk goes on (item by item)."""
        tries = 8 if items >= RUN_ITEMS else 0  # and one more for every 8 repeats found
        while tries > 0 and items > 1:
            found = _pattern(self._body, pos)
            if found is None:
                break
            heads, size, each = found
            if not self._kinds:
                self._kinds = self._body.translate(_KINDS)
            more = _repetitions(self._kinds, pos, (heads, size), items - 1)
            cost += (more + 1) * each
            pos += (more + 1) * size
            self.skipped += more * size
            items -= more + 1
            tries += more // 8 - 1
        return cost, pos


class Weight(NamedTuple):
    """An upper bound of what cbor2 builds from a body, and whether it is ``exact_bound``
    (then nothing tighter can be had by walking again)."""

    bound: int
    exact: bool


def weigh(body: bytes, budget: int, strict_keys: bool = True) -> Weight:
    """An upper bound of what cbor2 builds from ``body``, as cheap as the ``budget`` allows:
    the densest charge for tiny bodies, else the walk (``_Walk``), for only as long as it
    takes what it has walked plus the fast bound of the rest to fit the budget (the fast
    bound needs map keys to be strings: an int key of one byte could not pay its entry)."""
    if len(body) <= TINY:
        return Weight(DENSEST * len(body), False)
    return _Walk(body, strict_keys).run(budget)


def exact_bound(body: bytes, budget: int) -> int:
    """What cbor2 builds from ``body``, item by item (stops early once over ``budget``)."""
    return _Walk(body, False).run(budget).bound


class _Walk:
    """A walk over the heads in order: for well-formed CBOR the heads follow one another,
    each string's contents skipped; a malformed body stops the walk where cbor2 would stop
    too. Lists are charged their capacity (their items' slots), dicts their entries.

    One-byte heads (most items) take one table lookup each (~70 ns); the elements of a long
    array that repeat one pattern are walked at native speed (``_Repeats``). If repeats do
    not carry at least half of the way, the fast bound (~5 ns a byte, ``_Rest``) is taken
    for the rest, and the walk goes on only while the sum is over budget.
    """

    def __init__(self, body: bytes, fast: bool) -> None:
        self._body = body
        self._fast = fast  # whether the fast bound may be taken for the rest
        self._repeats = _Repeats(body)
        self._rest: _Rest | None = None

    def run(self, budget: int) -> Weight:
        """The bound; ``exact`` if the walk went through (or stopped once over budget)."""
        cost, pos, end = 0, 0, len(self._body)
        stretch, due = 256, 0  # a first look, to see whether repeats carry the walk
        while 0 <= pos < end and cost <= budget:
            if pos >= due and self._fast:
                if self._rest is None and 2 * self._repeats.skipped < pos:
                    self._rest = _Rest(self._body, pos)
                if self._rest is not None:
                    rest = self._rest.after(pos)
                    if cost + rest <= budget:
                        return Weight(cost + rest, False)
                    due = pos + pos // 2  # a few looks: walks at most half again too far
            cost, pos = self._stretch(cost, pos, min(end, pos + stretch))
            stretch = 4096  # then see whether the budget is spent already
        return Weight(cost, True)

    def _stretch(self, cost: int, pos: int, stop: int) -> tuple[int, int]:
        """Walk from ``pos`` to ``stop`` or just past it (-1: the body is malformed)."""
        body, costs, sizes = self._body, _SHORT_COST, _SHORT_SIZE
        while pos < stop:
            byte = body[pos]
            size = sizes[byte]
            if size:
                cost += costs[byte]
                pos += size
                continue
            head, (cost, pos) = pos, _long_item(body, pos, cost)
            if pos < 0:
                break  # indefinite length or reserved: the decoder refuses the frame
            if 0x98 <= byte <= 0x9B:  # a long array: its elements may repeat one pattern
                items = int.from_bytes(body[head + 1 : pos], "big")
                cost, pos = self._repeats.skip(pos, items, cost)
        return cost, pos


def _long_item(body: bytes, pos: int, cost: int) -> tuple[int, int]:
    """Charge the item at ``pos``, whose head holds its argument in 1-8 more bytes."""
    byte = body[pos]
    major, info = byte >> 5, byte & 0x1F
    if info > 27:
        return cost, -1
    width = 1 << (info - 24)
    arg = int.from_bytes(body[pos + 1 : pos + 1 + width], "big")
    pos += 1 + width
    if major == 0:
        cost += INT_COST if arg > 256 else 0
    elif major == 1:
        cost += INT_COST if arg > 4 else 0
    elif major == 2:
        cost += BYTES_COST + arg if arg > 1 else 0
        pos += arg
    elif major == 3:
        if arg > 1:
            cost += (ASCII_COST if body[pos : pos + arg].isascii() else TEXT_COST) + arg
        pos += arg
    elif major == 4:
        cost += _array_cost(arg)
    elif major == 5:
        cost += _map_cost(arg)
    elif major == 6:
        cost += _NATIVE_TAG_COST.get(arg, 0)
    elif info == 24:
        cost += SIMPLE_COST
    else:
        cost += FLOAT_COST
    return cost, pos


def message_items(body: bytes, most: int = 8) -> list[tuple[int, int, int]] | None:
    """``(start, end, major type)`` of each item of a body that is an array of at most
    ``most`` items (a message), None for any other body: a walk over the heads, no object."""
    if not body or body[0] >> 5 != 4:
        return None
    count, pos = _head(body, 0)
    if not 0 <= count <= most:
        return None
    items = []
    for _ in range(count):
        end = _skip(body, pos)
        if end < 0:
            return None
        items.append((pos, end, body[pos] >> 5))
        pos = end
    return items if pos == len(body) else None


def _head(body: bytes, pos: int) -> tuple[int, int]:
    """The argument of the head at ``pos`` and where the head ends; (-1, -1) if malformed."""
    info = body[pos] & 0x1F
    if info < 24:
        return info, pos + 1
    if info > 27:
        return -1, -1
    end = pos + 1 + (1 << (info - 24))
    if end > len(body):
        return -1, -1
    return int.from_bytes(body[pos + 1 : end], "big"), end


def _skip(body: bytes, pos: int) -> int:
    """Where the item at ``pos`` ends (-1 if the body ends first or is malformed)."""
    pending, end = 1, len(body)
    while pending:
        if pos >= end:
            return -1
        major = body[pos] >> 5
        arg, pos = _head(body, pos)
        if pos < 0:
            return -1
        pending -= 1
        if major == 2 or major == 3:
            pos += arg
        elif major == 4:
            pending += arg
        elif major == 5:
            pending += 2 * arg
        elif major == 6:
            pending += 1
    return pos if pos <= end else -1
