"""jobs/standardise.py: each column expression on a tiny in-memory frame, exact expected values.

Timestamps are compared as aware UTC datetimes: Spark returns naive local datetimes, which
``as_utc`` reads back in the local zone (the session zone is UTC; the test host's may not be).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from jobs.standardise import (
    is_date_only,
    mask_pii,
    normalise_severity,
    normalise_state,
    normalise_text,
    parse_event_time,
    region_of,
    state_from_location,
)


def as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def apply(spark: Any, values: Sequence[str | None], expr: Callable[[Column], Column]) -> list[Any]:
    """``expr`` applied to each value, in input order."""
    frame = spark.createDataFrame(list(enumerate(values)), "i int, v string")
    return [r.out for r in sorted(frame.select("i", expr(F.col("v")).alias("out")).collect())]


# --- parse_event_time
EVENT_TIME_CASES = [
    # (raw, record zone, source default zone, expected UTC)
    ("2026-11-03T14:22:05-05:00", None, "America/New_York", utc(2026, 11, 3, 19, 22, 5)),
    # an explicit offset wins over the record's zone
    ("2026-11-03T14:22:05-05:00", "Asia/Tokyo", "UTC", utc(2026, 11, 3, 19, 22, 5)),
    ("2026-11-03 19:22:05Z", None, "America/New_York", utc(2026, 11, 3, 19, 22, 5)),
    (" 2026-11-03 19:22:05Z ", None, "UTC", utc(2026, 11, 3, 19, 22, 5)),
    ("2026-11-03T19:22:05.123Z", None, "UTC", utc(2026, 11, 3, 19, 22, 5, 123000)),
    # US local time: Chicago is on CST (UTC-6) after 1 Nov 2026
    ("11/03/2026 02:22:05 PM", "America/Chicago", "America/New_York", utc(2026, 11, 3, 20, 22, 5)),
    ("11/03/2026 02:22:05 AM", "America/Chicago", "America/New_York", utc(2026, 11, 3, 8, 22, 5)),
    # no record zone: the source's default (Denver, MST = UTC-7)
    ("11/03/2026 02:22:05 PM", None, "America/Denver", utc(2026, 11, 3, 21, 22, 5)),
    # naive ISO (complaint_management creation_time without Z)
    ("2026-11-03T07:15:00", None, "UTC", utc(2026, 11, 3, 7, 15)),
    ("2026-11-03T07:15:00", "America/Los_Angeles", "UTC", utc(2026, 11, 3, 15, 15)),
    # epoch seconds / millis (1762197725 is 2025-11-03 19:22:05 UTC)
    ("1762197725", None, "America/New_York", utc(2025, 11, 3, 19, 22, 5)),
    ("1762197725123", None, "America/New_York", utc(2025, 11, 3, 19, 22, 5, 123000)),
    # date only: midnight in the zone
    ("2026-11-03", None, "America/New_York", utc(2026, 11, 3, 5, 0)),
    ("11/03/2026", None, "UTC", utc(2026, 11, 3, 0, 0)),
    # an unknown zone name falls back to the default zone (New York, EST = UTC-5)...
    ("11/03/2026 02:22:05 PM", "Mars/Olympus", "America/New_York", utc(2026, 11, 3, 19, 22, 5)),
    ("11/03/2026 02:22:05 PM", "", "America/New_York", utc(2026, 11, 3, 19, 22, 5)),
    # ...also one Python's tz database knows but the JVM does not (it used to fail the job)
    ("11/03/2026 02:22:05 PM", "Factory", "America/Los_Angeles", utc(2026, 11, 3, 22, 22, 5)),
    # garbage
    ("Nov 3rd", None, "UTC", None),
    ("13/45/2026", None, "UTC", None),
    ("2026-11-XX", None, "UTC", None),
    ("N/A", None, "UTC", None),
    ("00/00/0000", None, "UTC", None),
    ("2026-11-31", None, "UTC", None),
    ("", None, "UTC", None),
    (None, None, "UTC", None),
]


def test_parse_event_time_every_shape_to_utc(spark: Any) -> None:
    rows = [(i, raw, zone, default) for i, (raw, zone, default, _) in enumerate(EVENT_TIME_CASES)]
    frame = spark.createDataFrame(rows, "i int, raw string, zone string, dz string")
    got = sorted(frame.select(
        "i", parse_event_time(F.col("raw"), F.col("zone"), F.col("dz")).alias("t")
    ).collect())
    assert [(c[0], c[1], as_utc(r.t)) for c, r in zip(EVENT_TIME_CASES, got, strict=True)] == [
        (raw, zone, expected) for raw, zone, _, expected in EVENT_TIME_CASES
    ]


def test_is_date_only(spark: Any) -> None:
    values = ["2026-11-03", "11/03/2026", " 2026-11-03 ", "2026-11-03 00:00:00",
              "2026-11-03T14:22:05-05:00", "11/03/2026 02:22:05 PM", "1762197725", "N/A", None]
    assert apply(spark, values, is_date_only) == [
        True, True, True, False, False, False, False, False, False,
    ]


# --- text
def test_normalise_text_collapses_whitespace_and_blanks_become_null(spark: Any) -> None:
    values = ["  no internet\n\nsince   Monday\t ", "line one\r\nline two", "single",
              "   \n\t ", "", None]
    assert apply(spark, values, normalise_text) == [
        "no internet since Monday", "line one line two", "single", None, None, None,
    ]


def test_mask_pii(spark: Any) -> None:
    cases = [
        ("call me back at (512) 555-0147", "call me back at [phone]"),
        ("cell +1 512 555 0147.", "cell [phone]."),
        ("reach me at 512.555.0147 or jane.doe@example.com", "reach me at [phone] or [email]"),
        ("my email is Jane_Doe+billing@mail.example.co.uk", "my email is [email]"),
        ("toll free 1-800-555-0199 is useless", "toll free [phone] is useless"),
        ("card 4111 1111 1111 1111 on file", "card [card] on file"),
        ("card 4111-1111-1111-1111.", "card [card]."),
        ("amex 378282246310005 was charged", "amex [card] was charged"),
        # not PII: emergency number, ZIP, dates, a 5-digit reference
        ("I need 911 in 78701 since 11/03/2026 (2026-11-03), ref #48213",
         "I need 911 in 78701 since 11/03/2026 (2026-11-03), ref #48213"),
        (None, None),
    ]
    assert apply(spark, [c[0] for c in cases], mask_pii) == [c[1] for c in cases]


# --- states and regions
def test_normalise_state(spark: Any) -> None:
    cases = [
        ("tx", "TX"), (" Tx ", "TX"), ("TX ", "TX"), ("Texas", "TX"), ("new york", "NY"),
        ("  New   York ", "NY"), ("District of Columbia", "DC"), ("ca", "CA"),
        ("ZZ", None), ("Tex.", None), ("", None), (None, None),
    ]
    assert apply(spark, [c[0] for c in cases], normalise_state) == [c[1] for c in cases]


def test_region_of(spark: Any) -> None:
    cases = [("TX", "South"), ("NY", "Northeast"), ("IL", "Midwest"), ("CA", "West"),
             ("DC", "South"), ("ZZ", None), ("tx", None), (None, None)]
    assert apply(spark, [c[0] for c in cases], region_of) == [c[1] for c in cases]


def test_state_from_location(spark: Any) -> None:
    cases = [
        ("Austin, TX 78701", "TX"), ("Miami, fl", "FL"), ("Portland, OR  ", "OR"),
        ("Washington, DC 20001", "DC"), ("Austin TX 78701", None), ("Miami", None), (None, None),
    ]
    assert apply(spark, [c[0] for c in cases], state_from_location) == [c[1] for c in cases]


def test_normalise_severity(spark: Any) -> None:
    cases = [(" p1 ", "P1"), ("P2", "P2"), ("p3", "P3"), ("P4", None), ("high", None),
             ("", None), (None, None)]
    assert apply(spark, [c[0] for c in cases], normalise_severity) == [c[1] for c in cases]
