"""Date and time text on the wire: RFC 3339, exactly (tags 0 and 1004).

Tag 0 holds an RFC 3339 ``date-time`` (RFC 8949 section 3.4.1), tag 1004 a ``full-date``
(RFC 8943). What a peer sends is read by the grammar of RFC 3339 section 5.6, not by Python's
``fromisoformat``, which takes what RFC 3339 does not (a space for ``T``, a missing offset,
``20240102``, week dates) and refuses what it allows (a lower-case ``t`` or ``z``):

- ``T`` or ``t`` between date and time, and ``Z`` or ``z`` for UTC (section 5.6's note); a
  space, or anything else, is not RFC 3339's ``date-time`` and is refused;
- the offset is required (``full-time = partial-time time-offset``): ``Z``, or ``+hh:mm`` /
  ``-hh:mm``; ``-00:00`` (UTC, local offset unknown, section 4.3) reads as UTC;
- a fraction of a second of any length; digits beyond microseconds are cut, not rounded.

Malformed text raises ValueError. Valid text that a Python ``datetime`` cannot hold (year 0,
a leap second ``:60``) raises ``Unrepresentable``, so the receiver can fail the one call
rather than close the connection.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from .._exceptions import InsecureTypeError
from .show import show

__all__ = ["Unrepresentable", "check_offset", "date_time", "full_date"]

_DATE = r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
_OFFSET = r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
_DATE_TIME = re.compile(_DATE + "[Tt]" + _TIME + _OFFSET + r"\Z")
_FULL_DATE = re.compile(_DATE + r"\Z")
_UTC = datetime.UTC


class Unrepresentable(ValueError):
    """Valid RFC 3339 text that this side cannot represent (the call fails, not the line)."""


def date_time(text: Any) -> datetime.datetime:
    """The aware datetime an RFC 3339 ``date-time`` names (see the module's docstring)."""
    match = _DATE_TIME.match(text) if type(text) is str else None
    if match is None:
        raise ValueError(f"tag 0 must hold an RFC 3339 date-time, got {show(text)}")
    year, month, day, hour, minute, second, fraction, sign, off_hour, off_minute = match.groups()
    if year == "0000" or second == "60":
        raise Unrepresentable(
            f"date-time {show(text)}: "
            + ("year 0" if year == "0000" else "a leap second")
            + " cannot be represented on this side"
        )
    tz = _UTC
    if sign is not None and (off_hour != "00" or off_minute != "00"):
        hours, minutes = int(off_hour), int(off_minute)
        if hours > 23 or minutes > 59:
            raise ValueError(f"tag 0 holds an impossible UTC offset: {show(text)}")
        offset = datetime.timedelta(hours=hours, minutes=minutes)
        tz = datetime.timezone(-offset if sign == "-" else offset)
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        return datetime.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:
        raise ValueError(f"tag 0 holds an impossible date-time: {show(text)}") from None


def full_date(text: Any) -> datetime.date:
    """The date an RFC 3339 ``full-date`` (``YYYY-MM-DD``) names."""
    match = _FULL_DATE.match(text) if type(text) is str else None
    if match is None:
        raise ValueError(f"tag 1004 must hold an RFC 3339 full-date, got {show(text)}")
    year, month, day = match.groups()
    if year == "0000":
        raise Unrepresentable(f"date {show(text)}: year 0 cannot be represented on this side")
    try:
        return datetime.date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"tag 1004 holds an impossible date: {show(text)}") from None


def check_offset(value: datetime.datetime) -> None:
    """Refuse a datetime whose UTC offset RFC 3339 cannot write (it has seconds).

    Such offsets are real: ``zoneinfo`` gives them for dates before a zone adopted standard
    time (Amsterdam was +00:19:32 until 1937). Written anyway, the text would be refused by
    every receiver; the sender converts instead (``value.astimezone(datetime.UTC)``).
    """
    offset = value.utcoffset()
    if offset is not None and (offset.seconds % 60 or offset.microseconds):
        raise InsecureTypeError(
            f"a datetime whose UTC offset ({offset}) is not a whole number of minutes has no "
            "RFC 3339 form: convert it first, e.g. with .astimezone(datetime.UTC)"
        )
