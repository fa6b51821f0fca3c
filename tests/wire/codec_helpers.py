"""A codec with stand-in reference hooks, for tests of values alone (no broker)."""

from __future__ import annotations

from typing import Any

import cbor2

from pbtyped import DecodeError, Registry
from pbtyped.wire.codec import Codec
from pbtyped.wire.limits import Limits


class FakeRefs:
    """Reference hooks that refuse every reference (values only)."""

    def encode_reference(self, obj: Any) -> cbor2.CBORTag | None:
        return None

    def decode_sender_ref(self, export_id: Any) -> Any:
        raise DecodeError("no references in this test")

    def decode_receiver_ref(self, export_id: Any) -> Any:
        raise DecodeError("no references in this test")


def make_codec(registry: Registry | None = None, limits: Limits | None = None) -> Codec:
    return Codec(registry or Registry(), limits or Limits(), FakeRefs())


def body_of(frame: bytes) -> bytes:
    """The CBOR body of a frame with no attachments."""
    assert frame[4:8] == b"\x00\x00\x00\x00", "unexpected attachments"
    return frame[8:]


def head(major: int, n: int) -> bytes:
    """A CBOR head written by hand, in its shortest form: major type ``major``, argument ``n``
    (a hostile peer, or a test of the document's bytes, does not use our encoder)."""
    if n < 24:
        return bytes([major << 5 | n])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | info]) + n.to_bytes(width, "big")
    raise ValueError(n)
