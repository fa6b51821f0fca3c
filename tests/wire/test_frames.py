"""Frames: an 8-byte header (body length, attachment length; u32 big-endian), body, attachments."""

from __future__ import annotations

import struct

import pytest

from pbtyped import FrameTooLarge, RemoteProtocolError
from pbtyped.wire.frames import FrameReader, pack_frame

from ..protocol.wiring import exactly


def test_pack_frame_without_attachments() -> None:
    assert pack_frame(b"\x81\x01") == b"\x00\x00\x00\x02\x00\x00\x00\x00\x81\x01"


def test_pack_frame_with_attachments() -> None:
    data = pack_frame(b"\xa0", [b"abc", b"de"])
    assert data == b"\x00\x00\x00\x01\x00\x00\x00\x05\xa0abcde"


def test_reader_waits_for_a_whole_header_then_a_whole_frame() -> None:
    reader = FrameReader(1024)
    data = pack_frame(b"\x81\x01", [b"xyz"])
    for i, byte in enumerate(data[:-1]):
        reader.feed(bytes([byte]))
        assert reader.next_frame() is None
        assert reader.buffered == i + 1
    reader.feed(data[-1:])
    assert reader.next_frame() == (b"\x81\x01", b"xyz")
    assert reader.buffered == 0
    assert reader.next_frame() is None


def test_reader_splits_many_frames_fed_at_once() -> None:
    reader = FrameReader(1024)
    reader.feed(pack_frame(b"\x01") + pack_frame(b"\x02", [b"a"]) + pack_frame(b"\x03")[:5])
    assert reader.next_frame() == (b"\x01", b"")
    assert reader.next_frame() == (b"\x02", b"a")
    assert reader.next_frame() is None
    assert reader.buffered == 5


def test_oversized_frame_refused_from_header_alone() -> None:
    reader = FrameReader(100)
    reader.feed(struct.pack(">II", 60, 41))
    with pytest.raises(
        FrameTooLarge,
        match=exactly(
            "peer announced a frame of 101 bytes; the limit is 100 (Limits.max_frame_size)"
        ),
    ):
        reader.next_frame()


def test_largest_length_fields_do_not_overflow() -> None:
    reader = FrameReader(0xFFFF_FFFF)
    reader.feed(b"\xff" * 8)
    with pytest.raises(
        FrameTooLarge,
        match=exactly(
            "peer announced a frame of 8589934590 bytes; the limit is 4294967295 "
            "(Limits.max_frame_size)"
        ),
    ):
        reader.next_frame()


def test_oversized_body_refused_from_header_alone() -> None:
    reader = FrameReader(1000, max_body_size=100)
    reader.feed(struct.pack(">II", 101, 0))
    with pytest.raises(
        FrameTooLarge,
        match=exactly(
            "peer announced a message body of 101 bytes; the limit is 100 (Limits.max_body_size)"
        ),
    ):
        reader.next_frame()


def test_attachments_do_not_count_against_the_body_limit() -> None:
    reader = FrameReader(1000, max_body_size=100)
    reader.feed(struct.pack(">II", 1, 800) + b"\x01" + b"a" * 800)
    assert reader.next_frame() == (b"\x01", b"a" * 800)


def test_empty_body_is_refused() -> None:
    reader = FrameReader(100)
    reader.feed(struct.pack(">II", 0, 5) + b"abcde")
    with pytest.raises(RemoteProtocolError, match=exactly("empty frame body")):
        reader.next_frame()


STREAM = b"".join(pack_frame(bytes([0x81, i]), [b"a" * i] if i % 3 else None) for i in range(1, 40))


@pytest.mark.parametrize("chunk", [1, 2, 7, 8, 9, 64, 1000, len(STREAM)])
def test_frames_cuts_any_chunking_like_next_frame(chunk: int) -> None:
    one_by_one, at_once = FrameReader(1 << 20), FrameReader(1 << 20)
    expected: list[tuple[bytes, bytes]] = []
    got: list[tuple[bytes, bytes]] = []
    for start in range(0, len(STREAM), chunk):
        data = STREAM[start : start + chunk]
        one_by_one.feed(data)
        while (frame := one_by_one.next_frame()) is not None:
            expected.append(frame)
        got.extend(at_once.frames(data))
        assert at_once.buffered == one_by_one.buffered  # the same incomplete tail kept
    assert len(expected) == 39
    assert got == expected
    assert all(type(b) is bytes and type(a) is bytes for b, a in got)


@pytest.mark.parametrize("buffered", [b"", pack_frame(b"\x01")[:3]], ids=["empty", "partial"])
def test_frames_checks_every_header(buffered: bytes) -> None:
    reader = FrameReader(100, 50)
    reader.frames(buffered)
    rest = pack_frame(b"\x01")[len(buffered) :]
    with pytest.raises(FrameTooLarge, match="message body of 51 bytes; the limit is 50"):
        reader.frames(rest + struct.pack(">II", 51, 0))
    with pytest.raises(FrameTooLarge, match="frame of 101 bytes; the limit is 100"):
        FrameReader(100, 50).frames(struct.pack(">II", 1, 100))
    with pytest.raises(RemoteProtocolError, match="empty frame body"):
        FrameReader(100, 50).frames(struct.pack(">II", 0, 5) + b"abcde")
