"""The decoder side of the codec: what each admitted tag becomes, and refusals.

``TagDecoders`` is the ``semantic_decoders`` mapping handed to cbor2: our tags, cbor2's own
for ``BUILTIN_TAGS``, and a refusal for every other tag. A refusal does not stop decoding: it
leaves a ``Refused`` placeholder and records why, so the broker can fail just that call.

Nothing here refers back to the codec or to the cbor2 decoder: cbor2's decoder does not take
part in garbage collection, so a cycle through it would never be freed.
"""

from __future__ import annotations

import decimal
import functools
import weakref
from collections.abc import Callable
from enum import Enum, Flag
from typing import TYPE_CHECKING, Any

from .._exceptions import DecodeError, InsecureTypeError, LimitExceeded, PbtypedError
from . import dates, sizes, tags
from .columns import MIN_FIELDS, build_rows
from .limits import Limits
from .registry import Registry, not_registered_here
from .show import kind, show

if TYPE_CHECKING:
    from .codec import ReferenceHooks

__all__ = ["REFUSED", "DecodeState", "Refused", "TagDecoders"]

Decoder = Callable[[Any, bool], Any]

_TINY = sizes.TINY
_DENSEST = sizes.DENSEST

#: An IntFlag pseudo-member built for a combination of flags (an int with its attributes).
FLAG_COST = 330


@functools.lru_cache(maxsize=8)  # keyed by the program's Limits, shared by its connections
def _bounds(limits: Limits) -> tuple[int, int, int, int, int]:
    """What a decode state derives from ``limits``: the budget of a body never weighed
    (``budget_for(size) - DENSEST * size`` as base + slope * size), the least integer and its
    length in bytes, and the least decimal mantissa, that are too long. The same int objects
    for every connection of a program: five of them were 160 bytes on each."""
    ratio = limits.max_decoded_ratio
    tiny_budget = sizes.budget_for(0, ratio)
    tiny_slope = sizes.budget_for(1, ratio) - tiny_budget - _DENSEST
    int_ceiling = int(10**limits.max_int_digits)
    int_bytes = (int_ceiling.bit_length() + 7) // 8
    return tiny_budget, tiny_slope, int_ceiling, int_bytes, int(10**limits.max_decimal_digits)


class Refused:
    """Placeholder for a value the decoder refused; the decode state records why."""

    __slots__ = ()
    #: How error messages name it (``show.kind``).
    wire_kind = "refused value"

    def __repr__(self) -> str:
        return "<refused value>"


REFUSED = Refused()


class DecodeState:
    """Per-frame decoding state and the handlers of pbtyped's tags.

    Every handler charges what it is about to build to ``budget`` (bytes this frame may still
    decode to, ``Limits.max_decoded_ratio``) before building it; over budget, it refuses.
    """

    __slots__ = (  # one per connection: no instance dict
        "_body",
        "_bound",
        "_decimal_ceiling",
        "_exact",
        "_int_bytes",
        "_int_ceiling",
        "_refs",
        "_tiny_budget",
        "_tiny_slope",
        "attachments",
        "attachments_left",
        "budget",
        "limits",
        "problem",
        "problem_error",
        "registry",
        "unknown_tag",
    )

    def __init__(self, registry: Registry, refs: ReferenceHooks, limits: Limits) -> None:
        self.registry = registry
        self._refs: Callable[[], ReferenceHooks | None] = weakref.ref(refs)
        self.limits = limits
        self.problem: str | None = None
        #: What the call or answer carrying ``problem`` fails with.
        self.problem_error: type[PbtypedError] = InsecureTypeError
        self.attachments: bytes = b""
        #: Bytes of the attachment section not yet named by an attachment tag.
        self.attachments_left = 0
        #: Bytes this frame may still decode to (set per frame by ``start``).
        self.budget = 0
        self._body = b""
        self._bound = 0  # what the scan charged for what cbor2 builds
        self._exact = False  # whether that is the exact bound (or the fast one)
        self.unknown_tag = 0  # the last tag number looked up and not admitted
        (
            self._tiny_budget,
            self._tiny_slope,
            self._int_ceiling,
            self._int_bytes,
            self._decimal_ceiling,
        ) = _bounds(limits)

    def start(self, body: bytes, attachments: bytes) -> bool:
        """Reset for a new frame; False (and a refusal) if cbor2 alone would build more from
        ``body`` than ``Limits.max_decoded_ratio`` allows: it must not be decoded then."""
        if self.problem is not None:  # else problem_error is InsecureTypeError already
            self.problem = None
            self.problem_error = InsecureTypeError
        self.attachments = attachments
        self.attachments_left = len(attachments)
        self._body = body
        size = len(body)
        if size <= _TINY:  # most messages: whatever they hold, it fits (no call: hot path)
            self._bound, self._exact = _DENSEST * size, False
            self.budget = self._tiny_budget + self._tiny_slope * size
            return True
        ratio = self.limits.max_decoded_ratio
        budget = sizes.budget_for(size, ratio)
        self._bound, self._exact = sizes.weigh(body, budget, self.limits.strict_map_keys)
        if self._bound > budget:  # odd or hostile frames only: walked through
            self.refuse(
                f"a message of {len(body)} bytes that decodes to more than {ratio}x its "
                "size (mostly empty or tiny containers; raise Limits.max_decoded_ratio "
                "on this side to admit it)"
            )
            self.budget = sizes.ALLOWANCE  # for the message's small items alone
            return False
        self.budget = budget - self._bound
        return True

    def finish(self) -> None:
        """Forget the frame (nothing of it stays alive between frames, not even the large
        ints of its budget: 64 bytes on each idle connection)."""
        self.attachments = self._body = b""
        self.budget = self._bound = 0

    def refuse(self, why: str, error: type[PbtypedError] = InsecureTypeError) -> Refused:
        """Record a refused value (the first one wins) and return its placeholder; ``error``
        is the class the call or answer that carried it fails with."""
        if self.problem is None:
            self.problem = why
            self.problem_error = error
        return REFUSED

    def refuse_tag(self, value: Any, immutable: bool) -> Refused:
        """The handler of every tag not admitted (``TagDecoders.__missing__``)."""
        if self.problem is None:
            self.problem = f"CBOR tag {show(self.unknown_tag)} is not allowed"
        return REFUSED

    def charge(self, cost: int, what: str) -> bool:
        """Take ``cost`` bytes from the frame's budget; False (and a refusal) if over it."""
        self.budget -= cost
        if self.budget >= 0:
            return True
        if not self._exact:  # the bound over-counts: weigh what cbor2 built exactly
            self._exact = True
            exact = sizes.exact_bound(self._body, self._bound)
            self.budget += self._bound - exact
            self._bound = exact
            if self.budget >= 0:
                return True
        self.refuse(
            f"{what}: this message decodes to more than {self.limits.max_decoded_ratio}x its "
            "size (raise Limits.max_decoded_ratio on this side to admit it)"
        )
        return False

    def give_back(self, cost: int) -> None:
        """Return to the budget what a handler's input cost once it is built into its output
        (the input is freed as the handler returns; charged first, given back after)."""
        self.budget += cost

    def _given(self, value: list[Any]) -> int:
        """What the scan charged for a tag's content ``[name, items]``, freed once built:
        the pair, the name, and the array of items, if it is one."""
        items = value[1]
        inner = sizes.array_cost(len(items)) if type(items) is list else 0
        return sizes.array_cost(2) + sizes.text_cost(value[0]) + inner

    def _copy_spec(self, name: str) -> tuple[type[Any], tuple[str, ...], bool] | None:
        """A registered dataclass's (class, fields, positional); None (refused) if unknown."""
        spec = self.registry.copy_spec(name)
        if spec is None:
            self.refuse(not_registered_here("type", name, self.registry))
        return spec

    def copy(self, value: Any, immutable: bool) -> Any:
        if not (type(value) is list and len(value) == 2 and type(value[0]) is str):
            return self.refuse("malformed copy: expected [type name, [field values]]")
        name, values = value
        spec = self._copy_spec(name)
        if spec is None:
            return REFUSED
        cls, fields, positional = spec
        if type(values) is not list or len(values) != len(fields):
            return self.refuse(f"{name}: expected {len(fields)} field values ({', '.join(fields)})")
        if not self.charge(sizes.object_cost(len(fields)), name):
            return REFUSED
        try:
            built = cls(*values) if positional else cls(**dict(zip(fields, values, strict=True)))
        except Exception as exc:  # the registered class refused these values
            return self.refuse(f"{name}: cannot build from peer data: {type(exc).__name__}")
        self.give_back(self._given(value))
        return built

    def columns(self, value: Any, immutable: bool) -> Any:
        if not (
            type(value) is list
            and len(value) == 2
            and type(value[0]) is str
            and type(value[1]) is list
        ):
            return self.refuse("malformed columns: expected [type name, [column, ...]]")
        name, columns = value
        spec = self._copy_spec(name)
        if spec is None:
            return REFUSED
        cls, fields, positional = spec
        if len(fields) < MIN_FIELDS:
            return self.refuse(
                f"{name}: a class of {len(fields)} field(s) does not travel in columns"
            )
        if len(columns) != len(fields):
            return self.refuse(f"{name}: expected {len(fields)} columns ({', '.join(fields)})")
        count = len(columns[0]) if type(columns[0]) is list else -1
        if any(type(column) is not list or len(column) != count for column in columns):
            return self.refuse(f"{name}: columns must be arrays of one length")
        row = sizes.object_cost(len(fields)) + sizes.SLOT
        if not self.charge(sizes.array_cost(count) + count * row, f"{name} columns"):
            return REFUSED
        try:
            rows = build_rows(cls, fields, positional, columns)
        except Exception as exc:  # the registered class refused these values
            return self.refuse(f"{name}: cannot build from peer data: {type(exc).__name__}")
        self.give_back(self._given(value) + len(columns) * sizes.array_cost(count))
        return rows

    def enum(self, value: Any, immutable: bool) -> Any:
        if not (type(value) is list and len(value) == 2 and type(value[0]) is str):
            return self.refuse("malformed enum: expected [type name, value]")
        name = value[0]
        cls = self.registry.type_for(name)
        if cls is None or not issubclass(cls, Enum):
            return self.refuse(not_registered_here("enum", name, self.registry))
        member = self._member(cls, name, value[1])
        if member is not REFUSED:
            self.give_back(sizes.array_cost(2) + sizes.text_cost(name))
        return member

    def _member(self, cls: type[Enum], name: str, value: Any) -> Any:
        try:
            # Members, and combinations of flags the program itself made: no new object.
            return cls._value2member_map_[value]
        except (KeyError, TypeError):
            pass
        if issubclass(cls, Flag):
            return self._flag(cls, name, value)
        try:
            return cls(value)
        except (ValueError, TypeError):
            return self.refuse(f"{name}: {show(value)} is not a member")

    def _flag(self, cls: type[Flag], name: str, value: Any) -> Any:
        """A combination of flags the program never made, built without caching it.

        ``cls(value)`` caches each new combination in the class, process-wide and forever:
        a peer sending new values would grow it without end. An ``IntFlag`` combination
        compares equal to its int, so it is built, then dropped from the cache. A plain
        ``Flag`` compares by identity: the registry built every combination of its (few)
        flags when it was registered, so whatever is not cached by now is not a member.
        """
        cached = cls._value2member_map_
        if not issubclass(cls, int) or type(value) is not int:
            return self.refuse(f"{name}: {show(value)} is not a member")
        if not self.charge(FLAG_COST, name):
            return REFUSED
        try:
            member = cls(value)
        except (ValueError, TypeError):
            return self.refuse(f"{name}: {show(value)} is not a member")
        # A negative value is cached twice: as given and as its positive equivalent.
        cached.pop(value, None)
        cached.pop(member.value, None)
        return member

    def tuple(self, value: Any, immutable: bool) -> Any:
        if not isinstance(value, list | tuple):
            return self.refuse("malformed tuple: expected an array")
        if not self.charge(sizes.TUPLE_COST + 8 * len(value), "tuple"):
            return REFUSED
        built = tuple(value)
        self.give_back(sizes.array_cost(len(value)))
        return built

    def set(self, value: Any, immutable: bool) -> Any:
        """Tag 258: a set of hashable members (only str and bytes under strict_map_keys)."""
        if not isinstance(value, list | tuple):
            raise DecodeError("malformed set: expected an array")
        if self.limits.strict_map_keys:
            for item in value:
                if type(item) is not str and type(item) is not bytes and item is not REFUSED:
                    raise DecodeError(
                        "set element must be a text string or byte string "
                        f"(Limits.strict_map_keys), got {kind(item)}"
                    )
        if not self.charge(sizes.set_cost(len(value)), "set"):
            return REFUSED
        try:
            built = frozenset(value) if immutable else set(value)
        except TypeError:
            raise DecodeError("set members must be hashable") from None
        self.give_back(sizes.array_cost(len(value)))
        return built

    def sender_ref(self, value: Any, immutable: bool) -> Any:
        # Not charged to the frame's budget: a proxy (~270 bytes) is more than 32 times its
        # 6-byte tag, so a ratio would refuse any message of a few hundred new references.
        # References have their own bound, ``Limits.max_imports`` per connection, which the
        # import table enforces as it makes each proxy.
        return self._reference(value, sender=True)

    def receiver_ref(self, value: Any, immutable: bool) -> Any:
        return self._reference(value, sender=False)

    def answer_ref(self, value: Any, immutable: bool) -> Any:
        """Tag 41005: the answer of a call of the peer's, as an argument (pipelining)."""
        refs = self._refs()
        if refs is None:
            return self.refuse("the connection is gone")
        if not self.charge(sizes.ANSWER_REF_COST, "answer reference"):
            return REFUSED
        try:
            return refs.decode_answer_ref(value)
        except DecodeError as exc:
            return self.refuse(str(exc))

    def _reference(self, export_id: Any, *, sender: bool) -> Any:
        refs = self._refs()
        if refs is None:
            return self.refuse("the connection is gone")
        try:
            if sender:
                return refs.decode_sender_ref(export_id)
            return refs.decode_receiver_ref(export_id)
        except DecodeError as exc:
            return self.refuse(str(exc))
        except LimitExceeded as exc:  # Limits.max_imports: the limit's own error
            return self.refuse(str(exc), LimitExceeded)

    def stream(self, value: Any, immutable: bool) -> Any:
        # Not charged either: a stream's reader is bounded by ``Limits.max_streams``.
        refs = self._refs()
        if refs is None:
            return self.refuse("the connection is gone")
        try:
            return refs.decode_stream(value)
        except DecodeError as exc:
            return self.refuse(str(exc))
        except LimitExceeded as exc:  # Limits.max_streams
            return self.refuse(str(exc), LimitExceeded)

    # -- numbers: bounded before any work that grows faster than their size ----------------

    def positive_bignum(self, value: Any, immutable: bool) -> Any:
        """Tag 2: an unsigned integer from a big-endian byte string."""
        return self._bignum(value, negative=False)

    def negative_bignum(self, value: Any, immutable: bool) -> Any:
        """Tag 3: the integer -1 - n, n from a big-endian byte string."""
        return self._bignum(value, negative=True)

    def _bignum(self, value: Any, *, negative: bool) -> Any:
        if type(value) is not bytes:
            raise DecodeError("malformed bignum: expected a byte string")
        number = int.from_bytes(value, "big") if len(value) <= self._int_bytes else None
        if number is None or number + negative >= self._int_ceiling:
            return self.refuse(
                f"an integer of more than {self.limits.max_int_digits} digits "
                "(raise Limits.max_int_digits on this side to admit it)"
            )
        if not self.charge(sizes.INT_COST + len(value), "integer"):
            return REFUSED
        if len(value) > 1:
            self.give_back(sizes.BYTES_COST + len(value))
        return -1 - number if negative else number

    def decimal(self, value: Any, immutable: bool) -> Any:
        """Tag 4: a decimal fraction ``[exponent, mantissa]``, exactly (no rounding)."""
        if not (type(value) is list and len(value) == 2):
            raise DecodeError("malformed decimal fraction: expected [exponent, mantissa]")
        exponent, mantissa = value
        if mantissa is REFUSED:
            return REFUSED  # a bignum over the limit, already refused
        if type(exponent) is not int or type(mantissa) is not int:
            raise DecodeError("malformed decimal fraction: expected two integers")
        if abs(mantissa) >= self._decimal_ceiling:
            return self._refuse_decimal(f"a mantissa of more than {self._digits} digits")
        if abs(exponent) > self.limits.max_decimal_exponent:
            return self._refuse_decimal(f"an exponent of {show(exponent)}")
        # A Decimal keeps 19 digits in 8 bytes: about a byte per 8 bits of mantissa.
        if not self.charge(sizes.DECIMAL_COST + mantissa.bit_length() // 8, "decimal"):
            return REFUSED
        parts = decimal.Decimal(mantissa).as_tuple()  # quadratic, but in bounded digits
        built = decimal.Decimal((parts.sign, parts.digits, exponent))
        self.give_back(sizes.array_cost(2) + sizes.int_cost(mantissa) + sizes.int_cost(exponent))
        return built

    @property
    def _digits(self) -> int:
        return self.limits.max_decimal_digits

    def _refuse_decimal(self, what: str) -> Refused:
        return self.refuse(
            f"a decimal with {what} (Limits.max_decimal_digits, Limits.max_decimal_exponent "
            "on this side bound them)"
        )

    def decimal_text(self, value: Any, immutable: bool) -> Any:
        if type(value) is not str or len(value) > 64:
            return self.refuse("malformed decimal text")
        try:
            number = decimal.Decimal(value)
        except decimal.InvalidOperation:
            return self.refuse(f"malformed decimal text {show(value)}")
        if number.is_finite() and abs(number.as_tuple().exponent) > (  # type: ignore[arg-type]
            self.limits.max_decimal_exponent
        ):
            return self._refuse_decimal(f"an exponent of {number.as_tuple().exponent}")
        if not self.charge(sizes.DECIMAL_COST, "decimal"):
            return REFUSED
        return number

    def date_time(self, value: Any, immutable: bool) -> Any:
        """Tag 0: RFC 3339 date-time text (``dates.date_time``)."""
        return self._date_text(dates.date_time, value)

    def full_date(self, value: Any, immutable: bool) -> Any:
        """Tag 1004: RFC 3339 full-date text (``dates.full_date``)."""
        return self._date_text(dates.full_date, value)

    def _date_text(self, parse: Callable[[Any], Any], value: Any) -> Any:
        """Malformed text closes the connection, as any standard tag with bad content does;
        valid text this side cannot hold fails the call. The scan charged what it builds
        (``sizes.DATE_COST``)."""
        try:
            return parse(value)
        except dates.Unrepresentable as exc:
            return self.refuse(str(exc))
        except ValueError as exc:
            raise DecodeError(str(exc)) from None

    def attachment(self, value: Any, immutable: bool) -> Any:
        """Bytes of the frame's attachment section: together, never more than the section.

        Each byte may be named once (a byte named twice would let a small frame build its
        attachment section many times over: 20,000 tags naming one 64 KiB section, 1.3 GB).
        """
        if not (
            type(value) is list
            and len(value) == 2
            and all(type(v) is int and v >= 0 for v in value)
            and value[0] + value[1] <= len(self.attachments)
        ):
            return self.refuse("attachment reference out of the frame's attachment section")
        start, length = value
        if length > self.attachments_left:
            return self.refuse(
                "attachments named in this frame add up to more than its attachment section "
                f"({len(self.attachments)} bytes): a byte may be named only once"
            )
        self.attachments_left -= length
        if not self.charge(sizes.BYTES_COST, "attachment"):
            return REFUSED
        self.give_back(sizes.array_cost(2) + sizes.int_cost(start) + sizes.int_cost(length))
        return self.attachments[start : start + length]


#: The name of the DecodeState method that decodes each tag we handle, looked up on the state
#: when the tag first arrives.
_HANDLERS: dict[int, str] = {
    tags.COPY: "copy",
    tags.COLUMNS: "columns",
    tags.ENUM: "enum",
    tags.TUPLE: "tuple",
    tags.SENDER_REF: "sender_ref",
    tags.RECEIVER_REF: "receiver_ref",
    tags.ANSWER_REF: "answer_ref",
    tags.ATTACHMENT: "attachment",
    tags.STREAM: "stream",
    tags.DECIMAL_TEXT: "decimal_text",
    2: "positive_bignum",
    3: "negative_bignum",
    4: "decimal",
    258: "set",
    0: "date_time",
    1004: "full_date",
}


class TagDecoders(dict[int, Decoder]):
    """semantic_decoders mapping: our tags and handlers of the standard ones that need bounds,
    cbor2's own for ``NATIVE_TAGS``, a refusal for the rest.

    A handler is bound to the connection's state when its tag first arrives: most connections
    meet few tags or none, and twelve bound methods and their table were ~1.3 KiB on each.
    """

    __slots__ = ("_state",)  # one per connection: no instance dict

    def __init__(self, state: DecodeState) -> None:
        super().__init__()
        self._state = state

    def __missing__(self, tag: int) -> Decoder:
        name = _HANDLERS.get(tag)
        if name is not None:
            handler: Decoder = getattr(self._state, name)
            self[tag] = handler
            return handler
        if tag in tags.NATIVE_TAGS:
            raise KeyError(tag)  # cbor2 decodes it itself
        # One shared refusal (no closure per tag): the first tag refused is the last one
        # looked up when its content ends (an unknown tag inside it ends first).
        self._state.unknown_tag = tag
        return self._state.refuse_tag
