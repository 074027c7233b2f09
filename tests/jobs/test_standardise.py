"""jobs/standardise.py: each column expression on a tiny in-memory frame, exact expected values.

Timestamps are compared as aware UTC datetimes: Spark returns naive local datetimes, which
``as_utc`` reads back in the local zone (the session zone is UTC; the test host's may not be).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from jobs.standardise import (
    AWARE_FORMATS,
    CARD,
    CONTROL_CHARS,
    DATE_FORMATS,
    EMAIL,
    LINE_BREAKS,
    NAIVE_FORMATS,
    PHONE,
    TWITTER_FORMAT,
    TWITTER_SHAPE,
    is_date_only,
    mask_pii,
    normalise_severity,
    normalise_state,
    normalise_text,
    parse_event_time,
    region_of,
    state_from_location,
    strip_control,
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


def every_format(text: Column, formats: Sequence[str]) -> Column:
    return F.coalesce(*[F.try_to_timestamp(text, F.lit(f)) for f in formats])


def event_time_trying_every_format(raw: Column, zone: Column, default_zone: Column) -> Column:
    """The definition parse_event_time must keep: every format tried in order, first one wins."""
    text = F.trim(raw)
    known = F.try_make_timestamp(F.lit(2000), F.lit(1), F.lit(1), F.lit(0), F.lit(0), F.lit(0),
                                 zone).isNotNull()
    valid_zone = F.when(known, zone).otherwise(default_zone)
    return F.coalesce(
        every_format(text, AWARE_FORMATS),
        F.when(text.rlike(TWITTER_SHAPE), F.try_to_timestamp(
            F.regexp_extract(text, TWITTER_SHAPE, 1), F.lit(TWITTER_FORMAT))),
        F.to_utc_timestamp(every_format(text, NAIVE_FORMATS), valid_zone),
        F.to_utc_timestamp(every_format(text, DATE_FORMATS), valid_zone),
        F.when(text.rlike(r"^[0-9]{9,10}$"), F.timestamp_seconds(text.try_cast("long"))),
        F.when(text.rlike(r"^[0-9]{13}$"), F.timestamp_millis(text.try_cast("long"))),
    )


def timestamp_shapes() -> list[str]:
    """Every combination of date, separator, time and zone parts, plus random strings of the
    characters the formats are made of."""
    dates = ["2026-11-03", "2026-1-3", "11/03/2026", "1/3/2026", "+2026-11-03", "2026/11/03",
             "03-11-2026", "2026-02-30", "2024-02-29"]
    separators = ["T", "t", " ", "  ", "_", ""]
    times = ["14:22:05", "02:22:05", "2:22:05", "14:22", "14:22:05.1", "14:22:05.123456",
             "24:00:00"]
    zones = ["", "Z", "z", "-05:00", "+0530", "+05", " UTC", " PM", " am", "PM"]
    shapes = {"".join(parts) for parts in itertools.product(dates, separators, times, zones)}
    shapes |= {"1762197725", "1762197725123", "176219772", "Sun Oct 22 03:15:18 +0000 2017",
               " 2026-11-03 ", "11/03/2026", "N/A", "", "-", "/", ":"}
    rng = random.Random(3)
    shapes |= {"".join(rng.choice("0123456789-/: TtZz+.APMapm") for _ in range(rng.randint(1, 26)))
               for _ in range(2000)}
    return sorted(shapes)


def test_parse_event_time_tries_only_the_formats_a_shape_allows(spark: Any) -> None:
    """Skipping the formats whose separators a text lacks gives what trying them all gives."""
    zones = [None, "America/Chicago", "Mars/Olympus", "UTC"]
    rows = [(i, v, zones[i % len(zones)]) for i, v in enumerate(timestamp_shapes())]
    frame = spark.createDataFrame(rows, "i int, v string, z string").select(
        "v",
        parse_event_time(F.col("v"), F.col("z"), F.lit("America/New_York")).alias("fast"),
        event_time_trying_every_format(F.col("v"), F.col("z"), F.lit("America/New_York"))
        .alias("every"),
        is_date_only(F.col("v")).alias("date_only"),
        (every_format(F.trim(F.col("v")), DATE_FORMATS).isNotNull()
         & ~F.col("v").contains(":")).alias("date_only_every"),
    )
    formats = (*AWARE_FORMATS, *NAIVE_FORMATS, *DATE_FORMATS)
    counts = frame.agg(
        F.count_if(~F.col("fast").eqNullSafe(F.col("every"))).alias("differ"),
        F.count_if(~F.col("date_only").eqNullSafe(F.col("date_only_every"))).alias("differ_date"),
        *[F.count_if(F.try_to_timestamp(F.trim(F.col("v")), F.lit(f)).isNotNull()).alias(f)
          for f in formats],
    ).first()
    assert counts is not None
    assert (counts["differ"], counts["differ_date"]) == (0, 0)
    # the corpus exercises every format
    assert {f: counts[f] > 0 for f in formats} == dict.fromkeys(formats, True)


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


def test_mask_pii_phones_of_every_region(spark: Any) -> None:
    """Hostile record (issue 8): non-US numbers were not masked. Masked now; ordinary numbers
    (order ids, amounts, dates, times, ids glued to letters) are left alone."""
    cases = [
        ("UK mobile 07700 900123 rang", "UK mobile [phone] rang"),
        ("or +44 7700 900123.", "or [phone]."),
        ("Paris: +33 6 12 34 56 78", "Paris: [phone]"),
        ("France 06 12 34 56 78, Berlin 030 12345678", "France [phone], Berlin [phone]"),
        ("DE +49 (0)30 12345678 or +49-30-1234-5678", "DE [phone] or [phone]"),
        ("London (020) 7946 0958", "London [phone]"),
        ("call +1 512 555 0147 or (512) 555-0147", "call [phone] or [phone]"),
        ("order #123456789 of $120.50 on 01.02.2026, 2026-11-03 at 09:55",
         "order #123456789 of $120.50 on 01.02.2026, 2026-11-03 at 09:55"),
        ("ref ORD-012345678901 and 00123456789 and +12345 x", "ref ORD-012345678901 and "
         "00123456789 and +12345 x"),
    ]
    assert apply(spark, [c[0] for c in cases], mask_pii) == [c[1] for c in cases]


def pii_texts() -> list[str | None]:
    """Texts with and without e-mails, phones and card numbers in many spellings."""
    rng = random.Random(5)
    samples: list[str | None] = [None, "", "no internet since Monday", "ref 1234567890 12"]
    for _ in range(1500):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 18)))
        spaced = rng.choice(" -.").join(digits[i:i + rng.randint(1, 4)]
                                        for i in range(0, len(digits), 4))
        parts = [rng.choice(("call", "card", "mail me", "", "(512)", "+1", "#")),
                 rng.choice((digits, spaced, f"x{digits}", f"{digits}b", "jo.e_1@ex.co",
                             "a@b", "@@", "5125550147", "(512) 555-0147"))]
        rng.shuffle(parts)
        samples.append(rng.choice((" ", "", "\t", "  ")).join(parts))
    return samples


def test_mask_pii_runs_each_pattern_only_where_it_can_match(spark: Any) -> None:
    """Gating the patterns by "@" and digit counts gives what running them all gives."""
    def every_pattern(text: Column) -> Column:
        masked = F.regexp_replace(text, EMAIL, "[email]")
        masked = F.regexp_replace(masked, CARD, "[card]")
        return F.regexp_replace(masked, PHONE, "[phone]")

    def whitespace_regex(text: Column) -> Column:
        collapsed = F.trim(F.regexp_replace(text, r"\s+", " "))
        return F.when(collapsed == "", F.lit(None)).otherwise(collapsed)

    texts = pii_texts() + ["a\x0bb\x0cc\rd", "x  y", "\u00a0nbsp\u2003em", " \n "]
    frame = spark.createDataFrame(list(enumerate(texts)), "i int, t string").select(
        "t", mask_pii(F.col("t")).alias("fast"), every_pattern(F.col("t")).alias("every"),
        normalise_text(F.col("t")).alias("text"), whitespace_regex(F.col("t")).alias("text_re"))
    counts = frame.agg(
        F.count_if(~F.col("fast").eqNullSafe(F.col("every"))).alias("differ"),
        F.count_if(~F.col("text").eqNullSafe(F.col("text_re"))).alias("differ_text"),
        F.count_if(F.col("every") != F.col("t")).alias("masked"),
    ).first()
    assert counts is not None
    assert (counts["differ"], counts["differ_text"]) == (0, 0)
    assert counts["masked"] > 300  # the corpus exercises the patterns


def test_control_characters_are_translated_only_where_a_text_holds_one(spark: Any) -> None:
    """UNPRINTABLE gates translate: every character as translate alone would treat it."""
    texts = [f"a{chr(c)}b" for c in range(0x3000) if not 0xD800 <= c < 0xE000] + [None, ""]
    frame = spark.createDataFrame([(t,) for t in texts], "t string").select(
        strip_control(F.col("t")).alias("strip"),
        F.translate(F.col("t"), LINE_BREAKS + CONTROL_CHARS, "").alias("strip_all"),
        normalise_text(F.col("t")).alias("text"),
        F.nullif(F.trim(F.regexp_replace(F.translate(F.col("t"), LINE_BREAKS + CONTROL_CHARS,
                                                     " " * len(LINE_BREAKS)), r"\s+", " ")),
                 F.lit("")).alias("text_all"))
    counts = frame.agg(
        F.count_if(~F.col("strip").eqNullSafe(F.col("strip_all"))).alias("strip"),
        F.count_if(~F.col("text").eqNullSafe(F.col("text_all"))).alias("text"),
        F.count_if(F.col("strip") != F.col("text")).alias("spaced"),
    ).first()
    assert counts is not None and (counts["strip"], counts["text"]) == (0, 0)
    assert counts["spaced"] == 8  # tab, newline, vertical tab, form feed, CR and LINE_BREAKS


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
