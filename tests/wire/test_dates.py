"""Date and time text is RFC 3339 (docs/protocol.md, values): what a receiver accepts, what it
refuses, and what a sender writes.

Before: tag 0 was read by Python's ``fromisoformat``, which took a space for ``T``, a basic
``20240102T030405Z`` and week dates, and closed the connection on a lower-case ``t`` or ``z``
that RFC 3339 allows; a datetime whose offset has seconds went out as text no receiver takes.
"""

from __future__ import annotations

import datetime
import zoneinfo

import cbor2
import pytest

from pbtyped import DecodeError, InsecureTypeError
from pbtyped.wire import dates
from pbtyped.wire.decoding import REFUSED

from .codec_helpers import body_of, make_codec

UTC = datetime.UTC


def plus(hours: int, minutes: int = 0) -> datetime.timezone:
    return datetime.timezone(datetime.timedelta(hours=hours, minutes=minutes))


def decoded(tag: int, text: object) -> tuple[object, str | None]:
    """What a codec makes of ``[tag(text)]``: the value and the refusal, if any."""
    value, problem = make_codec().decode(cbor2.dumps([cbor2.CBORTag(tag, text)]))
    return value[0], problem


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2024-05-01T12:30:15Z", datetime.datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)),
        ("2024-05-01t12:30:15z", datetime.datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)),
        ("2024-05-01T12:30:15z", datetime.datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)),
        ("2024-05-01T12:30:15-00:00", datetime.datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)),
        ("2024-05-01T12:30:15+00:00", datetime.datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)),
        ("2024-05-01T12:30:15+02:00", datetime.datetime(2024, 5, 1, 12, 30, 15, tzinfo=plus(2))),
        (
            "2024-05-01T12:30:15-05:30",
            datetime.datetime(2024, 5, 1, 12, 30, 15, tzinfo=plus(-5, -30)),
        ),
        ("2024-05-01T12:30:15.5Z", datetime.datetime(2024, 5, 1, 12, 30, 15, 500000, tzinfo=UTC)),
        (
            "2024-05-01T12:30:15.123456789Z",  # beyond microseconds: cut, not rounded
            datetime.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        ),
        ("2024-02-29T23:59:59Z", datetime.datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime.datetime(1, 1, 1, tzinfo=UTC)),
    ],
)
def test_rfc_3339_date_times_are_accepted(text: str, value: datetime.datetime) -> None:
    got, problem = decoded(0, text)
    assert problem is None
    assert got == value
    assert isinstance(got, datetime.datetime)
    assert got.utcoffset() == value.utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01 12:30:15Z",  # a space: allowed by RFC 3339's note, not by its date-time
        "2024-05-01T12:30:15",  # no offset: RFC 3339 requires one
        "2024-05-01",
        "20240501T123015Z",  # ISO 8601's basic format
        "2024-W18-3T12:30:15Z",  # a week date
        "2024-05-01T12:30Z",  # no seconds
        "2024-05-01T12:30:15.Z",  # a fraction without digits
        "2024-05-01T12:30:15,5Z",  # a comma
        "2024-05-01T12:30:15+0200",
        "2024-05-01T12:30:15+02",
        "2024-5-1T12:30:15Z",
        "+2024-05-01T12:30:15Z",
        "2024-05-01T12:30:15Z ",
        "\uff12024-05-01T12:30:15Z",  # a full-width digit 2
        "2024-02-30T00:00:00Z",  # no such day
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-05-01T12:30:15+24:00",
        "2024-05-01T12:30:15+02:60",
        "yesterday",
        "",
        1714566615,  # an epoch time belongs in tag 1
    ],
)
def test_text_that_is_not_an_rfc_3339_date_time_closes_the_connection(text: object) -> None:
    with pytest.raises(DecodeError, match=r"tag 0 (must hold an RFC 3339 date-time|holds an)"):
        decoded(0, text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2016-12-31T23:59:60Z", 'date-time "2016-12-31T23:59:60Z": a leap second cannot be'),
        ("0000-01-01T00:00:00Z", 'date-time "0000-01-01T00:00:00Z": year 0 cannot be'),
    ],
)
def test_valid_text_this_side_cannot_hold_fails_only_the_call(text: str, why: str) -> None:
    value, problem = decoded(0, text)
    assert value is REFUSED
    assert problem == f"{why} represented on this side"


def test_full_dates_are_rfc_3339() -> None:
    assert decoded(1004, "2024-02-29") == (datetime.date(2024, 2, 29), None)
    for text in ("20240229", "2024-W09-4", "2024-2-29", "2023-02-29", "2024-02-29T00:00:00Z"):
        with pytest.raises(DecodeError, match=r"tag 1004 (must hold an RFC 3339 full-date|holds)"):
            decoded(1004, text)
    assert decoded(1004, "0000-01-01")[1] == (
        'date "0000-01-01": year 0 cannot be represented on this side'
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime.datetime(2024, 5, 1, 12, tzinfo=UTC), "2024-05-01T12:00:00Z"),
        (
            datetime.datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=plus(2)),
            "2024-05-01T12:00:00.000005+02:00",
        ),
        (datetime.datetime(24, 5, 1, tzinfo=plus(-9, -30)), "0024-05-01T00:00:00-09:30"),
    ],
)
def test_a_sender_writes_rfc_3339_with_upper_case_t_and_z(
    value: datetime.datetime, text: str
) -> None:
    assert body_of(make_codec().encode(value)) == b"\xc0" + cbor2.dumps(text)  # tag 0
    assert dates.date_time(text) == value


def test_an_offset_with_seconds_is_refused_at_the_sender() -> None:
    """Amsterdam kept +00:19:32 until 1937: RFC 3339 has no text for it."""
    old = datetime.datetime(1900, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Amsterdam"))
    codec = make_codec()
    with pytest.raises(InsecureTypeError, match=r"UTC offset \(0:19:32\) is not a whole number"):
        codec.encode([old])
    assert body_of(codec.encode(old.astimezone(UTC))) == b"\xc0" + cbor2.dumps(
        "1899-12-31T23:40:28Z"
    )
    west = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(-datetime.timedelta(seconds=30)))
    with pytest.raises(InsecureTypeError, match="not a whole number of minutes"):
        codec.encode(west)
