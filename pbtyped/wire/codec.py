"""The CBOR codec bound to a registry: values to bytes and back, refusing all that is not allowed.

Encoding walks values in cbor2's native code and calls back into Python only for values that
need us (see ``encoding.EncoderTable``); anything cbor2 would encode on its own but we do not
admit (regexps, MIME messages, IP addresses, raw tags, ...) is refused at the sender. Decoding
admits only our tags and a short list of standard ones.
"""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Any, Protocol

import cbor2

from .._exceptions import DecodeError, InsecureTypeError, PbtypedError
from .decoding import REFUSED, DecodeState, Refused, TagDecoders
from .encoding import EncoderTable
from .frames import HEADER as _HEADER
from .frames import pack_frame
from .limits import Limits
from .registry import Registry, unregistered
from .sizes import message_items

__all__ = ["Codec", "ReferenceHooks", "Refused"]  # Refused: re-exported for the broker/tests


class ReferenceHooks(Protocol):
    """What the codec needs from the broker to move references."""

    def encode_reference(self, obj: Any) -> cbor2.CBORTag | None:
        """A tag for a reference-like object, None if ``obj`` is not one (may raise)."""

    def decode_sender_ref(self, export_id: Any) -> Any:
        """The local proxy for an object the peer exports (raise DecodeError to refuse)."""

    def decode_receiver_ref(self, export_id: Any) -> Any:
        """Our own exported object the peer sent back (raise DecodeError to refuse)."""

    def decode_answer_ref(self, content: Any) -> Any:
        """The placeholder for an answer named as an argument (raise DecodeError to refuse)."""

    def decode_stream(self, stream_id: Any) -> Any:
        """What a stream the peer writes decodes to (raise DecodeError to refuse)."""


class Codec:
    """Encodes and decodes message bodies for one connection.

    Build once per connection (never per call). ``encode`` returns a whole frame; ``decode``
    returns the message and the first refusal (None when everything was admitted). A refusal
    inside a value leaves a ``Refused`` placeholder so the broker can fail just that call.
    """

    __slots__ = (  # one per connection: no instance dict
        "_att_size",
        "_attachments",
        "_decoder",
        "_depth",
        "_encoders",
        "_refs",
        "_registry_version",
        "_state",
        "_strict",
        "_tags",
        "limits",
        "peer_takes_columns",
        "registry",
    )

    def __init__(self, registry: Registry, limits: Limits, refs: ReferenceHooks) -> None:
        self.registry = registry
        self.limits = limits
        self._refs = refs
        # The attachments of the frame being encoded: made by the first (most frames have none).
        self._attachments: list[bytes] | None = None
        self._att_size = 0
        #: The peer's Hello listed "columns": ``Columns`` lists may travel field by field.
        self.peer_takes_columns = False
        self._registry_version = -1
        self._build_encoders()
        self._state = DecodeState(registry, refs, limits)
        self._tags = TagDecoders(self._state)
        # The fast decode's options, read once per frame: the pair is one more level deep.
        self._depth = limits.max_depth + 1
        self._strict = limits.strict_map_keys
        # The strict decoder, made when a frame first fails the fast decode (see ``decode``).
        self._decoder: cbor2.CBORDecoder | None = None

    def use_registry(self, registry: Registry) -> None:
        """Encode and decode with ``registry`` from now on (one that holds more, see
        ``Registry.joined``)."""
        self.registry = self._state.registry = registry
        self._registry_version = -1  # the encoders are rebuilt at the next encode

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
        if self._attachments is None:
            self._attachments = []
        self._attachments.append(data)
        self._att_size += len(data)

    def encode(self, message: Any) -> bytes:
        """A whole frame for ``message``; raises InsecureTypeError for what may not be sent."""
        return self.encode_after(b"", (message,))

    def encode_after(self, head: bytes, items: tuple[Any, ...]) -> bytes:
        """A whole frame whose body is ``head`` followed by each of ``items`` encoded:
        ``head`` is CBOR written by hand, the start of an array the items end (see
        ``messages.call_head``). Raises as ``encode`` does."""
        if self._registry_version != self.registry.version:
            self._build_encoders()
        encoders, default = self._encoders, self._default
        try:
            try:
                if len(items) == 1:
                    body = head + cbor2.dumps(items[0], encoders=encoders, default=default)
                else:
                    parts = [cbor2.dumps(i, encoders=encoders, default=default) for i in items]
                    body = b"".join((head, *parts))
            except cbor2.CBOREncodeError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, InsecureTypeError):
                    raise cause from None
                raise InsecureTypeError(f"cannot encode value: {cause or exc}") from exc
            except (TypeError, ValueError) as exc:
                raise InsecureTypeError(f"cannot encode value: {exc}") from exc
        except BaseException:
            self._drop_attachments()  # whatever was collected belonged to this failed frame
            raise
        attachments = self._attachments
        if attachments is None:
            return _HEADER.pack(len(body), 0) + body
        self._drop_attachments()
        return pack_frame(body, attachments)

    def _drop_attachments(self) -> None:
        # Attachments collected belong to one frame: the next encode starts from none.
        self._attachments = None
        self._att_size = 0

    def _default(self, encoder: Any, value: Any) -> None:
        tag = self._refs.encode_reference(value)
        if tag is not None:
            encoder.encode_semantic(tag.tag, tag.value)
            return
        cls = type(value)
        # Registered classes and every Enum are settled by the encoder table; only an
        # unregistered dataclass (or a subclass of a registered one) can still arrive here.
        if dataclasses.is_dataclass(value):
            raise InsecureTypeError(unregistered(cls))
        raise InsecureTypeError(
            f"{cls.__module__}.{cls.__qualname__} cannot be sent: it is neither a registered "
            "copyable type, a Referenceable, nor a CBOR native value"
        )

    # -- decoding -------------------------------------------------------------------------

    @property
    def problem_error(self) -> type[PbtypedError]:
        """The class a call or answer fails with for the last ``decode``'s refusal."""
        return self._state.problem_error

    def decode(self, body: bytes, attachments: bytes = b"") -> tuple[Any, str | None]:
        """Decode one frame body. Raises DecodeError when the frame itself is malformed.

        The body must be exactly one CBOR item. ``cbor2.loads`` decodes from bytes in native
        code but ignores what follows an item, so the body is decoded as the array
        ``[body, end]``, where ``end`` is a 64-bit number this side drew at random and never
        sends: it comes back as the second item only if the body was one whole item (a peer
        cannot append ``end`` without knowing it). Anything else is decoded again by the
        strict decoder, which names the fault; a frame that fails one way fails both.
        ``end`` is one number for the process, not one per connection (78 bytes on each):
        never sent, it is no easier to learn.
        """
        state = self._state
        if not state.start(body, attachments):
            try:
                return self._refused_message(body), state.problem
            finally:
                state.finish()
        try:
            try:
                pair = cbor2.loads(
                    b"".join((b"\x82", body, _END)),  # one copy of the body, not two
                    semantic_decoders=self._tags,
                    max_depth=self._depth,
                    allow_indefinite=False,
                    strict_hashable_types=self._strict,
                )
            except (cbor2.CBORError, RecursionError):
                pair = None
            if (
                type(pair) is list
                and len(pair) == 2
                and type(pair[1]) is int
                and pair[1] == _END_VALUE
            ):
                return pair[0], state.problem
            state.start(body, attachments)
            self._decode_strictly(body)
        finally:
            state.finish()
        # The strict decoder took a frame the fast one did not: never act on such a frame.
        raise DecodeError("malformed frame (the decoders disagree)")

    def _refused_message(self, body: bytes) -> list[Any]:
        """A message too costly to decode: its small items (kind, ids, method name, target)
        decoded, each large one replaced by a refused value of its kind (an array holding
        ``Refused``, an empty map, or ``Refused``), so that the broker fails just the call
        it carries. DecodeError if ``body`` is not a message at all."""
        items = message_items(body)
        if items is None:
            raise DecodeError(f"malformed frame: {self._state.problem}")
        problem = self._state.problem
        message: list[Any] = []
        for start, end, major in items:
            if end - start <= _SMALL_ITEM:
                message.append(self._decode_strictly(body[start:end]))
            else:
                message.append([REFUSED] if major == 4 else {} if major == 5 else REFUSED)
        self._state.problem = problem
        return message

    def _decode_strictly(self, body: bytes) -> Any:
        """Decode ``body`` with the strict decoder, raising DecodeError for what is wrong."""
        fp = io.BytesIO(body)
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = cbor2.CBORDecoder(
                fp,
                semantic_decoders=self._tags,
                max_depth=self.limits.max_depth,
                allow_indefinite=False,
                strict_hashable_types=self.limits.strict_map_keys,
            )
        decoder.fp = fp
        try:
            value = decoder.decode()
            consumed = fp.tell()
        except cbor2.CBORError as exc:
            raise DecodeError(f"malformed CBOR: {str(exc)[:200]}{_cause(exc)}") from None
        except RecursionError:
            raise DecodeError("malformed CBOR: nesting too deep") from None
        finally:
            decoder.fp = _NOTHING  # do not keep the last frame alive
        if consumed != len(body):
            raise DecodeError(f"{len(body) - consumed} trailing bytes after the message")
        return value


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    return f" ({str(cause)[:200]})" if cause is not None else ""


_NOTHING = io.BytesIO(b"")
#: The secret closing every frame's fast decode (see ``Codec.decode``), drawn once per process.
_END_VALUE = int.from_bytes(os.urandom(8), "big")
_END = b"\x1b" + _END_VALUE.to_bytes(8, "big")
#: A message item this long at most is decoded even when the whole message is refused (ids,
#: a call target, a method name of up to 200 characters): it costs at most a few KiB.
_SMALL_ITEM = 256
