"""The CBOR codec bound to a registry: values to bytes and back, refusing all that is not allowed.

Encoding walks values in cbor2's native code and calls back into Python only for values that
need us (see ``encoding.EncoderTable``); anything cbor2 would encode on its own but we do not
admit (regexps, MIME messages, IP addresses, raw tags, ...) is refused at the sender. Decoding
admits only our tags and a short list of standard ones.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import io
from collections.abc import Callable
from typing import Any, Protocol

import cbor2

from .._exceptions import DecodeError, InsecureTypeError
from . import tags
from .encoding import EncoderTable
from .frames import pack_frame
from .limits import Limits
from .registry import Registry

__all__ = ["Codec", "ReferenceHooks", "Refused"]


class Refused:
    """Placeholder for a value the decoder refused; the codec records why."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<refused value>"


REFUSED = Refused()


class ReferenceHooks(Protocol):
    """What the codec needs from the broker to move references."""

    def encode_reference(self, obj: Any) -> cbor2.CBORTag | None:
        """A tag for a reference-like object, None if ``obj`` is not one (may raise)."""

    def decode_sender_ref(self, export_id: Any) -> Any:
        """The local proxy for an object the peer exports (raise DecodeError to refuse)."""

    def decode_receiver_ref(self, export_id: Any) -> Any:
        """Our own exported object the peer sent back (raise DecodeError to refuse)."""


class _Decoders(dict[int, Callable[[Any, bool], Any]]):
    """semantic_decoders mapping: our tags, cbor2's for BUILTIN_TAGS, a refusal for the rest."""

    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self._codec = codec

    def __missing__(self, tag: int) -> Callable[[Any, bool], Any]:
        if tag in tags.BUILTIN_TAGS:
            raise KeyError(tag)  # cbor2 decodes it itself
        codec = self._codec

        def refuse(value: Any, immutable: bool) -> Any:
            return codec.refuse(f"CBOR tag {tag} is not allowed")

        return refuse


class Codec:
    """Encodes and decodes message bodies for one connection.

    Build once per connection (never per call). ``encode`` returns a whole frame; ``decode``
    returns the message and the first refusal (None when everything was admitted). A refusal
    inside a value leaves a ``Refused`` placeholder so the broker can fail just that call.
    """

    def __init__(self, registry: Registry, limits: Limits, refs: ReferenceHooks) -> None:
        self.registry = registry
        self.limits = limits
        self._refs = refs
        self._problem: str | None = None
        self._attachments: list[bytes] = []
        self._att_size = 0
        self._att_in: bytes = b""
        self._registry_version = -1
        self._build_encoders()
        decoders = _Decoders(self)
        decoders[tags.COPY] = self._decode_copy
        decoders[tags.ENUM] = self._decode_enum
        decoders[tags.TUPLE] = self._decode_tuple
        decoders[tags.SENDER_REF] = self._decode_sender_ref
        decoders[tags.RECEIVER_REF] = self._decode_receiver_ref
        decoders[tags.ATTACHMENT] = self._decode_attachment
        decoders[tags.DECIMAL_TEXT] = self._decode_decimal_text
        self._decoders = decoders
        # One decoder per connection, re-pointed at each frame: no per-frame setup.
        self._decoder = cbor2.CBORDecoder(
            io.BytesIO(b""),
            semantic_decoders=decoders,
            max_depth=limits.max_depth,
            allow_indefinite=False,
            strict_hashable_types=limits.strict_map_keys,
        )

    # -- encoding -------------------------------------------------------------------------

    def _build_encoders(self) -> None:
        self._encoders = EncoderTable(self)
        self._registry_version = self.registry.version

    @property
    def attachment_size(self) -> int:
        """Bytes of attachments collected so far for the frame being encoded."""
        return self._att_size

    def add_attachment(self, data: bytes) -> None:
        """Append raw bytes to the attachment section of the frame being encoded."""
        self._attachments.append(data)
        self._att_size += len(data)

    def encode(self, message: Any) -> bytes:
        """A whole frame for ``message``; raises InsecureTypeError for what may not be sent."""
        if self._registry_version != self.registry.version:
            self._build_encoders()
        self._attachments = []
        self._att_size = 0
        try:
            body = cbor2.dumps(message, encoders=self._encoders, default=self._default)
        except cbor2.CBOREncodeError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, InsecureTypeError):
                raise cause from None
            raise InsecureTypeError(f"cannot encode value: {cause or exc}") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InsecureTypeError):
                raise
            raise InsecureTypeError(f"cannot encode value: {exc}") from exc
        attachments, self._attachments = self._attachments, []
        return pack_frame(body, attachments)

    def _default(self, encoder: Any, value: Any) -> None:
        tag = self._refs.encode_reference(value)
        if tag is not None:
            encoder.encode_semantic(tag.tag, tag.value)
            return
        cls = type(value)
        if isinstance(value, enum.Enum) or dataclasses.is_dataclass(value):
            name = self.registry.type_name(cls)
            if name is None:
                raise InsecureTypeError(
                    f"{cls.__qualname__} is not registered: call registry.register_type("
                    f"{cls.__qualname__}) on both peers to pass it by copy"
                )
        raise InsecureTypeError(
            f"{cls.__module__}.{cls.__qualname__} cannot be sent: it is neither a registered "
            "copyable type, a Referenceable, nor a CBOR native value"
        )

    # -- decoding -------------------------------------------------------------------------

    def decode(self, body: bytes, attachments: bytes = b"") -> tuple[Any, str | None]:
        """Decode one frame body. Raises DecodeError when the frame itself is malformed."""
        self._problem = None
        self._att_in = attachments
        fp = io.BytesIO(body)
        decoder = self._decoder
        decoder.fp = fp
        try:
            value = decoder.decode()
            consumed = fp.tell()
        except cbor2.CBORError as exc:
            raise DecodeError(f"malformed CBOR: {exc}{_cause(exc)}") from None
        except RecursionError:
            raise DecodeError("malformed CBOR: nesting too deep") from None
        finally:
            self._att_in = b""
        if consumed != len(body):
            raise DecodeError(f"{len(body) - consumed} trailing bytes after the message")
        return value, self._problem

    def refuse(self, why: str) -> Refused:
        """Record a refused value (the first one wins) and return its placeholder."""
        if self._problem is None:
            self._problem = why
        return REFUSED

    def _decode_copy(self, value: Any, immutable: bool) -> Any:
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
            return self.refuse("malformed copy: expected [type name, fields]")
        name, fields = value
        cls = self.registry.type_for(name)
        if cls is None or issubclass(cls, enum.Enum):
            return self.refuse(f"type name {name!r} is not registered on this side (refused)")
        expected = self.registry.fields_of(cls)
        if not isinstance(fields, dict) or set(fields) != set(expected):
            return self.refuse(f"{name}: expected fields {list(expected)}")
        try:
            return cls(**fields)
        except Exception as exc:  # the registered class refused these values
            return self.refuse(f"{name}: cannot build from peer data: {type(exc).__name__}: {exc}")

    def _decode_enum(self, value: Any, immutable: bool) -> Any:
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
            return self.refuse("malformed enum: expected [type name, value]")
        cls = self.registry.type_for(value[0])
        if cls is None or not issubclass(cls, enum.Enum):
            return self.refuse(f"enum name {value[0]!r} is not registered on this side (refused)")
        try:
            return cls(value[1])
        except (ValueError, TypeError):
            return self.refuse(f"{value[0]}: {value[1]!r} is not a member")

    def _decode_tuple(self, value: Any, immutable: bool) -> Any:
        if not isinstance(value, list | tuple):
            return self.refuse("malformed tuple: expected an array")
        return tuple(value)

    def _decode_sender_ref(self, value: Any, immutable: bool) -> Any:
        try:
            return self._refs.decode_sender_ref(value)
        except DecodeError as exc:
            return self.refuse(str(exc))

    def _decode_receiver_ref(self, value: Any, immutable: bool) -> Any:
        try:
            return self._refs.decode_receiver_ref(value)
        except DecodeError as exc:
            return self.refuse(str(exc))

    def _decode_decimal_text(self, value: Any, immutable: bool) -> Any:
        if type(value) is not str or len(value) > 64:
            return self.refuse("malformed decimal text")
        try:
            return decimal.Decimal(value)
        except decimal.InvalidOperation:
            return self.refuse(f"malformed decimal text {value!r}")

    def _decode_attachment(self, value: Any, immutable: bool) -> Any:
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(type(v) is int and v >= 0 for v in value)
            and value[0] + value[1] <= len(self._att_in)
        ):
            return self.refuse("attachment reference out of the frame's attachment section")
        start, length = value
        return self._att_in[start : start + length]


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    return f" ({cause})" if cause is not None else ""
