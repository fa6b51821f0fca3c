"""Decode limits: every value read from the network is bounded by one of these."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Safe defaults for what a peer may send; pass your own to ``serve``/``connect``.

    ``max_frame_size`` is checked against the frame header before the body is read, and
    against our own outgoing frames before they are sent (a too large argument fails only that
    call). ``max_depth`` bounds nesting of containers and tags. ``strict_map_keys`` admits only
    str and bytes as map keys and set members, which keeps hash-flooding (colliding int keys)
    out of reach; turn it off only for trusted peers.
    """

    max_frame_size: int = 16 * 1024 * 1024
    max_depth: int = 64
    strict_map_keys: bool = True
    #: ``bytes`` values at least this long travel as raw attachments beside the CBOR body.
    #: (Integers wider than this many bytes cannot be sent.)
    attachment_threshold: int = 64 * 1024

    def __post_init__(self) -> None:
        if not 64 <= self.max_frame_size <= 0xFFFF_FFFF:
            raise ValueError("max_frame_size must be between 64 and 2**32-1 bytes")
        if not 4 <= self.max_depth <= 1000:
            raise ValueError("max_depth must be between 4 and 1000")
        if self.attachment_threshold < 1024:
            # Below this, the bytes inside a bignum could be mistaken for an attachment.
            raise ValueError("attachment_threshold must be at least 1024 bytes")
