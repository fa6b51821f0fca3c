"""The decoder side of the codec: what each admitted tag becomes, and refusals.

``TagDecoders`` is the ``semantic_decoders`` mapping handed to cbor2: our tags, cbor2's own
for ``BUILTIN_TAGS``, and a refusal for every other tag. A refusal does not stop decoding: it
leaves a ``Refused`` placeholder and records why, so the broker can fail just that call.

Nothing here refers back to the codec or to the cbor2 decoder: cbor2's decoder does not take
part in garbage collection, so a cycle through it would never be freed.
"""

from __future__ import annotations

import decimal
import enum
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._exceptions import DecodeError
from . import tags
from .columns import MIN_FIELDS, build_rows
from .registry import Registry
from .show import show

if TYPE_CHECKING:
    from .codec import ReferenceHooks

__all__ = ["REFUSED", "DecodeState", "Refused", "TagDecoders"]

Decoder = Callable[[Any, bool], Any]


class Refused:
    """Placeholder for a value the decoder refused; the decode state records why."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<refused value>"


REFUSED = Refused()


class DecodeState:
    """Per-frame decoding state and the handlers of pbtyped's tags."""

    def __init__(self, registry: Registry, refs: ReferenceHooks) -> None:
        self.registry = registry
        self._refs: Callable[[], ReferenceHooks | None] = weakref.ref(refs)
        self.problem: str | None = None
        self.attachments: bytes = b""

    def refuse(self, why: str) -> Refused:
        """Record a refused value (the first one wins) and return its placeholder."""
        if self.problem is None:
            self.problem = why
        return REFUSED

    def _copy_spec(self, name: str) -> tuple[type[Any], tuple[str, ...], bool] | None:
        """A registered dataclass's (class, fields, positional); None (refused) if unknown."""
        spec = self.registry.copy_spec(name)
        if spec is None:
            self.refuse(f"type name {show(name)} is not registered on this side (refused)")
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
            return self.refuse(f"{name}: expected {len(fields)} field values {list(fields)}")
        try:
            if positional:
                return cls(*values)
            return cls(**dict(zip(fields, values, strict=True)))
        except Exception as exc:  # the registered class refused these values
            return self.refuse(f"{name}: cannot build from peer data: {type(exc).__name__}")

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
            return self.refuse(f"{name}: expected {len(fields)} columns {list(fields)}")
        count = len(columns[0]) if type(columns[0]) is list else -1
        if any(type(column) is not list or len(column) != count for column in columns):
            return self.refuse(f"{name}: columns must be arrays of one length")
        try:
            return build_rows(cls, fields, positional, columns)
        except Exception as exc:  # the registered class refused these values
            return self.refuse(f"{name}: cannot build from peer data: {type(exc).__name__}")

    def enum(self, value: Any, immutable: bool) -> Any:
        if not (type(value) is list and len(value) == 2 and type(value[0]) is str):
            return self.refuse("malformed enum: expected [type name, value]")
        cls = self.registry.type_for(value[0])
        if cls is None or not issubclass(cls, enum.Enum):
            return self.refuse(
                f"enum name {show(value[0])} is not registered on this side (refused)"
            )
        try:
            return cls(value[1])
        except (ValueError, TypeError):
            return self.refuse(f"{value[0]}: {show(value[1])} is not a member")

    def tuple(self, value: Any, immutable: bool) -> Any:
        if not isinstance(value, list | tuple):
            return self.refuse("malformed tuple: expected an array")
        return tuple(value)

    def sender_ref(self, value: Any, immutable: bool) -> Any:
        return self._reference(value, sender=True)

    def receiver_ref(self, value: Any, immutable: bool) -> Any:
        return self._reference(value, sender=False)

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

    def decimal_text(self, value: Any, immutable: bool) -> Any:
        if type(value) is not str or len(value) > 64:
            return self.refuse("malformed decimal text")
        try:
            return decimal.Decimal(value)
        except decimal.InvalidOperation:
            return self.refuse(f"malformed decimal text {show(value)}")

    def attachment(self, value: Any, immutable: bool) -> Any:
        if not (
            type(value) is list
            and len(value) == 2
            and all(type(v) is int and v >= 0 for v in value)
            and value[0] + value[1] <= len(self.attachments)
        ):
            return self.refuse("attachment reference out of the frame's attachment section")
        start, length = value
        return self.attachments[start : start + length]


class TagDecoders(dict[int, Decoder]):
    """semantic_decoders mapping: our tags, cbor2's for BUILTIN_TAGS, a refusal for the rest."""

    def __init__(self, state: DecodeState) -> None:
        super().__init__(
            {
                tags.COPY: state.copy,
                tags.COLUMNS: state.columns,
                tags.ENUM: state.enum,
                tags.TUPLE: state.tuple,
                tags.SENDER_REF: state.sender_ref,
                tags.RECEIVER_REF: state.receiver_ref,
                tags.ATTACHMENT: state.attachment,
                tags.DECIMAL_TEXT: state.decimal_text,
            }
        )
        self._state = state

    def __missing__(self, tag: int) -> Decoder:
        if tag in tags.BUILTIN_TAGS:
            raise KeyError(tag)  # cbor2 decodes it itself
        state = self._state
        why = f"CBOR tag {show(tag)} is not allowed"

        def refuse(value: Any, immutable: bool) -> Any:
            return state.refuse(why)

        return refuse
