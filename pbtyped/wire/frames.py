"""Length-prefixed frames: an 8-byte header, a CBOR body, then raw attachments.

Header: body length and attachment-section length, each an unsigned 32-bit big-endian int.
The total is checked against the maximum before any body byte is buffered.
"""

from __future__ import annotations

import struct

from .._exceptions import FrameTooLarge, RemoteProtocolError

__all__ = ["HEADER", "FrameReader", "pack_frame"]

HEADER = struct.Struct(">II")


def pack_frame(body: bytes, attachments: list[bytes] | None = None) -> bytes:
    """One frame as a single bytes object (so each message is one transport write)."""
    if not attachments:
        return HEADER.pack(len(body), 0) + body
    size = sum(len(a) for a in attachments)
    return b"".join((HEADER.pack(len(body), size), body, *attachments))


class FrameReader:
    """Sans-IO frame splitter: ``feed(data)``, then ``next_frame()`` until it returns None.

    Each frame comes out as ``(body, attachments)``, both ``bytes``. A header that announces
    more than ``max_frame_size`` in all, or a body over ``max_body_size``, raises
    ``FrameTooLarge`` before the body is read. With ``first_frame_size``, the first frame
    has that limit instead (the peer's Hello, before anything of the peer is known).
    """

    __slots__ = ("_buf", "_first", "_max", "_max_body")

    def __init__(
        self,
        max_frame_size: int,
        max_body_size: int | None = None,
        *,
        first_frame_size: int | None = None,
    ) -> None:
        # Bytes of a frame not yet whole: made when a read ends inside a frame, dropped once
        # it is whole (most connections are idle between whole frames: 56 bytes on each).
        self._buf: bytearray | None = None
        self._max = max_frame_size
        self._max_body = min(max_frame_size, max_body_size or max_frame_size)
        self._first = first_frame_size

    def feed(self, data: bytes) -> None:
        """Append bytes received from the peer."""
        if self._buf is None:
            self._buf = bytearray(data)
        else:
            self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return 0 if self._buf is None else len(self._buf)

    def next_frame(self) -> tuple[bytes, bytes] | None:
        """The next complete frame, or None until more bytes arrive."""
        buf = self._buf
        if buf is None or len(buf) < 8:
            return None
        body_len, att_len = HEADER.unpack_from(buf)
        end = 8 + self._checked_size(body_len, att_len)
        if len(buf) < end:
            return None
        body = bytes(buf[8 : 8 + body_len])
        attachments = bytes(buf[8 + body_len : end])
        del buf[:end]
        if not buf:
            self._buf = None
        self._first = None
        return body, attachments

    def frames(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """Feed ``data`` and return every frame now complete, in order (``feed`` plus
        ``next_frame`` until None, in one call: when nothing is buffered, frames are cut
        straight out of ``data``, and only an incomplete tail is kept)."""
        buf = self._buf
        source: bytes | bytearray = data
        if buf is not None:
            buf += data
            source = buf
        out: list[tuple[bytes, bytes]] = []
        pos, size = 0, len(source)
        while size - pos >= 8:
            body_len, att_len = HEADER.unpack_from(source, pos)
            end = pos + 8 + self._checked_size(body_len, att_len)
            if end > size:
                break
            split = pos + 8 + body_len
            out.append((bytes(source[pos + 8 : split]), bytes(source[split:end])))
            pos = end
            self._first = None
        if buf is not None:
            del buf[:pos]
            if not buf:
                self._buf = None
        elif pos < size:
            self._buf = bytearray(data[pos:])
        return out

    def _checked_size(self, body_len: int, att_len: int) -> int:
        """A header's frame size, or FrameTooLarge / RemoteProtocolError if it is not allowed.

        The first frame has its own limit only: the peer sent it before it knew ours, so a
        Hello (or an Abort) of up to ``first_frame_size`` bytes is read even by a side whose
        ``max_frame_size`` is smaller (64 bytes may be set; a Hello takes about 90).
        """
        total = body_len + att_len
        if self._first is not None:
            if total > self._first:
                raise FrameTooLarge(
                    f"peer announced a first frame of {total} bytes; before its Hello has "
                    f"arrived a frame may hold at most {self._first} bytes (a Hello is small)"
                )
        elif total > self._max:
            raise FrameTooLarge(
                f"peer announced a frame of {total} bytes; the limit is {self._max}"
                " (Limits.max_frame_size)"
            )
        elif body_len > self._max_body:
            raise FrameTooLarge(
                f"peer announced a message body of {body_len} bytes; the limit is "
                f"{self._max_body} (Limits.max_body_size)"
            )
        if body_len == 0:
            raise RemoteProtocolError("empty frame body")
        return total
