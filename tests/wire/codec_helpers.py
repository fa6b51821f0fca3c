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
