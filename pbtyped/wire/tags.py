"""CBOR tag numbers pbtyped puts on the wire (first-come-first-served range, RFC 8949 §9.2).

The decoder admits exactly these plus ``BUILTIN_TAGS``; every other tag is refused.
"""

from __future__ import annotations

__all__ = [
    "ANSWER_REF",
    "ATTACHMENT",
    "BUILTIN_TAGS",
    "COLUMNS",
    "COPY",
    "DECIMAL_TEXT",
    "ENUM",
    "NATIVE_TAGS",
    "RECEIVER_REF",
    "SENDER_REF",
    "STREAM",
    "TUPLE",
]

#: A registered dataclass: ``[wire_name, {field: value}]``.
COPY = 41000
#: A registered Enum member: ``[wire_name, value]``.
ENUM = 41001
#: A tuple (CBOR arrays decode as lists): ``[items...]``.
TUPLE = 41002
#: An object the *sender* exports: ``export_id``.
SENDER_REF = 41003
#: An object the *receiver* exported earlier, coming home: ``export_id``.
RECEIVER_REF = 41004
#: Reserved for promise pipelining: ``[question_id, [path...]]`` (the answer of a pending call).
ANSWER_REF = 41005
#: Raw bytes beside the CBOR body: ``[offset, length]`` into the frame's attachment section.
ATTACHMENT = 41006
#: Reserved for streams: ``stream_id``.
STREAM = 41007
#: A Decimal that tag 4 cannot carry (NaN, sNaN, +-Infinity, -0): its text.
DECIMAL_TEXT = 41008
#: A list of one registered dataclass, field by field: ``[wire_name, [column...]]`` (sent only
#: to a peer whose Hello lists the "columns" feature; see ``columns.py``).
COLUMNS = 41009

#: Standard tags we admit: date/time (0, 1, 100, 1004),
#: bignums (2, 3), decimal fractions (4), UUID (37), sets (258).
BUILTIN_TAGS = frozenset({0, 1, 2, 3, 4, 37, 100, 258, 1004})
#: The standard tags cbor2 decodes by itself: each builds one small object from a number or
#: 16 bytes. Bignums, decimals and sets are ours (``decoding.py``): they need bounds before
#: cbor2 would do any work; so is date text, read by RFC 3339's grammar (``dates.py``).
NATIVE_TAGS = frozenset({1, 37, 100})
