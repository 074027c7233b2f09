"""Standardisation as native Spark column expressions: timestamps to UTC, text, states, PII.

Every function here is pure: it takes and returns Columns (or a DataFrame), reads nothing and
writes nothing, so each is tested on tiny in-memory frames.
"""

from __future__ import annotations

import operator
from functools import reduce

from pyspark.sql import Column
from pyspark.sql import functions as F

from schemas.regions import STATE_NAMES, STATE_REGION

# Shapes of timestamps seen in the sources. Aware ones carry their offset; naive ones are local
# time in the record's zone (its `tz` field, else the source's default zone).
AWARE_FORMATS = (
    "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XXX",
    "yyyy-MM-dd HH:mm:ss[.SSSSSS]XXX",
)
NAIVE_FORMATS = (
    "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]",
    "yyyy-MM-dd HH:mm:ss[.SSSSSS]",
    "MM/dd/yyyy hh:mm:ss a",
    "MM/dd/yyyy HH:mm:ss",
    "MM/dd/yyyy HH:mm",
)
DATE_FORMATS = ("yyyy-MM-dd", "MM/dd/yyyy")
# Twitter's created_at, e.g. "Sun Oct 22 03:15:18 +0000 2017" ("EEE MMM dd HH:mm:ss Z yyyy").
# Spark >= 3 cannot *parse* day-of-week text (EEE), so the redundant weekday is cut off first and
# the rest is parsed with TWITTER_FORMAT (aware: it carries its offset).
TWITTER_SHAPE = r"^[A-Za-z]{3} ([A-Za-z]{3} \d{1,2} \d{2}:\d{2}:\d{2} [+-]\d{4} \d{4})$"
TWITTER_FORMAT = "MMM d HH:mm:ss Z yyyy"

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
# Phone numbers of every region, one pattern (one regex pass), each spelling with the separators
# people type (space, dot, dash, parentheses), never inside a word or a longer digit run:
# * US/NANP as before: 3-3-4 digits, optionally after "+1" or "1" ("(512) 555-0147");
# * international: a leading "+" and 8 to 15 digits in all, E.164's range ("+44 7700 900123",
#   "+33 6 12 34 56 78", "+49 (0)30 12345678");
# * national with a trunk prefix: "0", a non-zero digit, and 10 to 12 digits in all ("07700
#   900123" UK mobile, "030 12345678" Berlin, "06 12 34 56 78" France).
# Not phones, so never masked: digit runs without "+" or a leading "0" other than US 3-3-4
# (order ids such as "#123456789"), amounts ("$120.50"), dates ("11/03/2026", "2026-11-03",
# "01.02.2026"), ids glued to letters or dashes ("ORD-0123456789"), and "00"-prefixed numbers.
PHONE_US = r"(?<![\w])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\w])"
PHONE_INTERNATIONAL = r"(?<![\w+])\+\d(?:[ ().-]{0,2}\d){7,14}(?![\w])"
PHONE_NATIONAL = r"(?<![\w+.-])\(?0[1-9](?:[ ().-]{0,2}\d){8,10}(?![\w])"
PHONE = f"{PHONE_INTERNATIONAL}|{PHONE_US}|{PHONE_NATIONAL}"
# 13-16 digits, single spaces or dashes allowed only *between* digits (never a trailing one).
CARD = r"(?<!\d)\d(?:[ -]?\d){12,15}(?!\d)"
# The fewest ASCII digits (Java's \d) a match of CARD / PHONE holds.
CARD_DIGITS = 13
PHONE_DIGITS = 8


def _known_zone(zone: Column) -> Column:
    """True when Spark itself accepts the zone. (Python's tz list is not the JVM's: a name only
    Python knows, e.g. "Factory" or a zone newer than the JDK, would fail the whole job.)"""
    return F.try_make_timestamp(F.lit(2000), F.lit(1), F.lit(1), F.lit(0), F.lit(0), F.lit(0),
                                zone).isNotNull()


def _first_parse(text: Column, formats: tuple[str, ...]) -> Column:
    return F.coalesce(*[F.try_to_timestamp(text, F.lit(fmt)) for fmt in formats])


# Every format above needs its literal separators: "-" (yyyy-MM-dd…), "/" (MM/dd/yyyy…), ":" (a
# time of day), "T" (matched case-insensitively, like every literal) or " ". A format is tried only
# when the text has them, so a row tries the one or two formats its shape allows instead of up to
# ten, each failure costing a parse attempt. Skipping a format that cannot match changes nothing:
# the result is the first format, in the order above, that parses the text.
def _has(text: Column, *chars: str) -> Column:
    """True when the text holds any of ``chars``."""
    return reduce(operator.or_, [text.contains(c) for c in chars])


def _parse_iso_or_us(text: Column, iso: tuple[str, ...], us: tuple[str, ...]) -> Column:
    """The first of ``iso`` (dash formats) then ``us`` (slash formats) that parses the text."""
    return F.coalesce(F.when(_has(text, "-"), _first_parse(text, iso)),
                      F.when(_has(text, "/"), _first_parse(text, us)))


def _parse_aware(text: Column) -> Column:
    iso_t, iso_space = AWARE_FORMATS
    return F.when(_has(text, "-") & _has(text, ":"), F.coalesce(
        F.when(_has(text, "T", "t"), F.try_to_timestamp(text, F.lit(iso_t))),
        F.when(_has(text, " "), F.try_to_timestamp(text, F.lit(iso_space))),
    ))


def _parse_naive(text: Column) -> Column:
    iso = tuple(f for f in NAIVE_FORMATS if f.startswith("yyyy-"))
    us = tuple(f for f in NAIVE_FORMATS if f.startswith("MM/"))
    return F.when(_has(text, ":"), _parse_iso_or_us(text, iso, us))


def _parse_date(text: Column) -> Column:
    iso = tuple(f for f in DATE_FORMATS if f.startswith("yyyy-"))
    us = tuple(f for f in DATE_FORMATS if f.startswith("MM/"))
    return _parse_iso_or_us(text, iso, us)


def is_date_only(raw: Column) -> Column:
    text = F.trim(raw)
    return ~text.contains(":") & _parse_date(text).isNotNull()


def parse_event_time(raw: Column, zone: Column, default_zone: Column) -> Column:
    """A UTC timestamp from any of the known shapes, or null when none fits."""
    text = F.trim(raw)
    valid_zone = F.when(_known_zone(zone), zone).otherwise(default_zone)
    epoch_seconds = F.when(
        text.rlike(r"^[0-9]{9,10}$"), F.timestamp_seconds(text.try_cast("long"))
    )
    epoch_millis = F.when(text.rlike(r"^[0-9]{13}$"), F.timestamp_millis(text.try_cast("long")))
    twitter = F.try_to_timestamp(F.regexp_extract(text, TWITTER_SHAPE, 1), F.lit(TWITTER_FORMAT))
    return F.coalesce(
        _parse_aware(text),
        F.when(text.rlike(TWITTER_SHAPE), twitter),
        F.to_utc_timestamp(_parse_naive(text), valid_zone),
        F.to_utc_timestamp(_parse_date(text), valid_zone),
        epoch_seconds,
        epoch_millis,
    )


# Characters that must not reach clean text. Line breaks of other conventions (NEL U+0085, LINE
# SEPARATOR U+2028, PARAGRAPH SEPARATOR U+2029) become spaces like the whitespace above; every other
# control character (C0 but tab/newline/VT/FF/CR, DEL, C1) is removed: a NUL or an escape code is
# no part of what the customer wrote, and removing it (not replacing it) keeps "bi\x00ll" a word.
LINE_BREAKS = "\u0085\u2028\u2029"
CONTROL_CHARS = "".join(
    chr(c) for c in (*range(0x00, 0x09), *range(0x0E, 0x20), *range(0x7F, 0xA0))
    if chr(c) not in LINE_BREAKS)
WHITESPACE = "\t\n\u000b\f\r"
# Any character of WHITESPACE (but the space), LINE_BREAKS or CONTROL_CHARS, as a regex.
UNPRINTABLE = "[" + "".join(f"\\u{ord(c):04x}"
                            for c in sorted(set(WHITESPACE + LINE_BREAKS + CONTROL_CHARS))) + "]"


def _translated(raw: Column, matching: str, replace: str) -> Column:
    """``translate(raw, matching, replace)`` (``matching`` within UNPRINTABLE) only where ``raw``
    holds an UNPRINTABLE character: translate looks every character up in a map of strings, a
    string made per character, and most texts hold none (a regex finds that in one pass)."""
    return F.when(raw.rlike(UNPRINTABLE), F.translate(raw, matching, replace)).otherwise(raw)


def _whitespace_to_spaces(raw: Column) -> Column:
    """Every run of whitespace (Java's \\s: space, tab, newline, vertical tab, form feed, carriage
    return, and the line breaks of LINE_BREAKS) as one space, CONTROL_CHARS removed. The same as
    ``regexp_replace(raw, "\\s+", " ")`` without a regex pass over most texts: one ``translate``
    maps whitespace to spaces and deletes the control characters (they have no counterpart in
    its replacement), and the regex runs only where two spaces meet."""
    spaced = _translated(raw, WHITESPACE + LINE_BREAKS + CONTROL_CHARS,
                         " " * (len(WHITESPACE) + len(LINE_BREAKS)))
    return F.when(spaced.contains("  "), F.regexp_replace(spaced, " +", " ")).otherwise(spaced)


def normalise_text(raw: Column) -> Column:
    """Collapse runs of whitespace (incl. newlines) to one space and trim; empty becomes null."""
    text = F.trim(_whitespace_to_spaces(raw))
    return F.when(text == "", F.lit(None)).otherwise(text)


def strip_control(raw: Column) -> Column:
    """An id or code without CONTROL_CHARS and LINE_BREAKS (removed; other characters kept)."""
    return _translated(raw, LINE_BREAKS + CONTROL_CHARS, "")


def _has_digits(text: Column, count: int) -> Column:
    """Whether ``text`` holds at least ``count`` ASCII digits: one forward scan that stops at the
    ``count``-th (anchored and possessive, so a text with fewer is not scanned again)."""
    return text.rlike(f"^(?:[^0-9]*+[0-9]){{{count}}}")


def mask_pii(text: Column) -> Column:
    """Replace emails, phone numbers and card-like numbers with placeholders.

    Each pattern runs only on texts that can hold a match (an "@" for an e-mail address, 13 digits
    for a card number, 8 for a phone number): most complaint texts have none, and these
    look-around patterns are the costliest expressions of standardisation.
    """
    masked = F.when(text.contains("@"), F.regexp_replace(text, EMAIL, "[email]")).otherwise(text)
    masked = F.when(_has_digits(masked, CARD_DIGITS), F.regexp_replace(masked, CARD, "[card]")) \
        .otherwise(masked)
    return F.when(_has_digits(masked, PHONE_DIGITS), F.regexp_replace(masked, PHONE, "[phone]")) \
        .otherwise(masked)


def normalise_state(raw: Column) -> Column:
    """Two-letter state code from a code or a full name in any case/spacing; null if unknown."""
    cleaned = F.upper(F.trim(_whitespace_to_spaces(raw)))
    by_name = F.create_map(*[F.lit(x) for kv in STATE_NAMES.items() for x in kv])
    return F.when(cleaned.isin(list(STATE_REGION)), cleaned).otherwise(
        F.try_element_at(by_name, cleaned)
    )


def region_of(state: Column) -> Column:
    regions = F.create_map(*[F.lit(x) for kv in STATE_REGION.items() for x in kv])
    return F.try_element_at(regions, state)


def state_from_location(location: Column) -> Column:
    """The state in a free-text location such as "Austin, TX 78701" (null if there is none)."""
    found = F.regexp_extract(location, r",\s*([A-Za-z]{2})\s*(\d{5})?\s*$", 1)
    return F.when(found == "", F.lit(None)).otherwise(F.upper(found))


def normalise_severity(raw: Column) -> Column:
    sev = F.upper(F.trim(raw))
    return F.when(sev.isin("P1", "P2", "P3"), sev)
