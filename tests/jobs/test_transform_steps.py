"""jobs/transform.py pure steps on tiny frames, and the raw-zone readers on real files in tmp."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from common.settings import DEFAULT_RULES, Settings
from jobs.classify import Rules, load_rules
from jobs.parse_sources import STAGED_COLUMNS
from jobs.raw_zone import read_json_lines, read_web_forms
from jobs.transform import (
    QUARANTINE_RECORD_CHARS,
    conflicting_copies,
    dedupe_complaints,
    displaced_copies,
    enrich_complaints,
    merge_copies,
    quality_flags,
    quarantine_records,
    standardise_complaints,
)
from schemas.complaint import QUARANTINE, STREAM_BY_ID
from schemas.sources import WEB_FORM_COLUMNS
from tests.builders import T0, clean_complaint

INGESTED = datetime(2026, 11, 3, 7, 0)  # naive = session zone (UTC)
STAGED_SCHEMA = ", ".join(
    f"{c} {'long' if c == 'raw_line' else 'timestamp' if c == 'ingest_time' else 'string'}"
    for c in STAGED_COLUMNS
)
GOOD: dict[str, Any] = {
    "source": "call_center",
    "source_record_id": "CALL-0100001",
    "customer_id": "CUST-01234",
    "case_id": None,
    "event_time_raw": "11/03/2026 12:22:05 AM",  # 06:22:05 UTC, before it was landed
    "event_zone": "America/Chicago",
    "default_zone": "America/New_York",
    "text_raw": "Cust states  no internet\nsince Monday, call me at (512) 555-0147",
    "hints": None,
    "state_raw": " tx",
    "location": "Austin 78701",
    "severity_raw": None,
    "sender": None,
    "raw_file": "raw/call_center/ingest_date=2026-11-03/hour=07/calls.jsonl",
    "raw_line": 1,
    "raw_record": "{}",
    "ingest_time": INGESTED,
    "parse_error": None,
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def staged(spark: Any, *rows: dict[str, Any]) -> Any:
    """A staged frame (the parsers' output) from GOOD with the given changes per row."""
    return spark.createDataFrame(
        [tuple({**GOOD, **row}[c] for c in STAGED_COLUMNS) for row in rows], STAGED_SCHEMA
    )


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(DEFAULT_RULES)


# --- standardise_complaints
def test_standardise_complaints_values_and_reason_precedence(spark: Any) -> None:
    garbage_time = "on the third of November at around two in the afternoon, maybe later"
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({}, None),
        ({"parse_error": "malformed JSON", "source_record_id": None, "text_raw": None,
          "event_time_raw": None, "ingest_time": None}, "malformed JSON"),
        ({"source_record_id": None, "text_raw": None, "event_time_raw": None},
         "missing source record id"),
        ({"text_raw": " \n\t ", "event_time_raw": None}, "missing complaint text"),
        ({"text_raw": None, "event_time_raw": "13/45/2026"}, "missing complaint text"),
        ({"event_time_raw": None, "ingest_time": None}, "missing event time"),
        ({"event_time_raw": "13/45/2026", "ingest_time": None},
         "unparseable event time: 13/45/2026"),
        ({"event_time_raw": garbage_time}, "unparseable event time: " + garbage_time[:60]),
        ({"ingest_time": None}, "raw file outside an ingest_date/hour partition"),
    ]
    frame = staged(spark, *[{**changes, "raw_line": i + 1} for i, (changes, _) in enumerate(cases)])
    out = standardise_complaints(frame)
    assert out.columns == [*STAGED_COLUMNS, "event_time", "text", "state", "region",
                           "source_severity", "reason"]
    got = {r.raw_line: r for r in out.collect()}
    assert [got[i + 1].reason for i in range(len(cases))] == [c[1] for c in cases]
    good = got[1]
    assert (as_utc(good.event_time), good.text, good.state, good.region, good.source_severity) == (
        utc(2026, 11, 3, 6, 22, 5), "Cust states no internet since Monday, call me at [phone]",
        "TX", "South", None,
    )


def test_standardise_complaints_state_and_severity(spark: Any) -> None:
    frame = staged(
        spark,
        {"raw_line": 1, "state_raw": "Texas", "severity_raw": " p1 "},
        {"raw_line": 2, "state_raw": "ZZ", "severity_raw": "urgent"},
        {"raw_line": 3, "state_raw": None, "severity_raw": "P3"},
    )
    got = sorted((r.raw_line, r.state, r.region, r.source_severity, r.reason)
                 for r in standardise_complaints(frame).collect())
    assert got == [(1, "TX", "South", "P1", None), (2, None, None, None, None),
                   (3, None, None, "P3", None)]


# --- quarantine_records
def test_quarantine_records_keeps_unusable_rows_cut_to_size(spark: Any) -> None:
    long_record = "{" + "x" * 25_000
    frame = staged(
        spark,
        {"raw_line": 1},
        {"raw_line": 2, "parse_error": "malformed JSON", "raw_record": long_record},
        {"raw_line": 3, "text_raw": None, "raw_record": '{"call_id": "CALL-3"}'},
    )
    out = quarantine_records(standardise_complaints(frame), "transform__20261103T080000Z__ab12cd34")
    assert [(f.name, f.dataType) for f in out.schema.fields] == [
        (f.name, f.dataType) for f in QUARANTINE.spark_schema().fields
    ]
    got = sorted(tuple(r) for r in out.collect())
    assert got == [
        ("call_center", "malformed JSON", GOOD["raw_file"], 2,
         long_record[:QUARANTINE_RECORD_CHARS], "transform__20261103T080000Z__ab12cd34"),
        ("call_center", "missing complaint text", GOOD["raw_file"], 3, '{"call_id": "CALL-3"}',
         "transform__20261103T080000Z__ab12cd34"),
    ]
    assert QUARANTINE_RECORD_CHARS == 10_000 and len(got[0][4]) == 10_000


# --- dedupe_complaints
def expected_id(source: str, record_id: str) -> str:
    return hashlib.sha256(f"{source}\x01{record_id}".encode()).hexdigest()[:32]


def test_dedupe_keeps_the_latest_copy_and_counts_the_copies(spark: Any) -> None:
    day1, day2 = INGESTED, INGESTED + timedelta(days=1)
    rows = [
        # three copies of CALL-7 landed at different times: the 2026-11-04 07:00 one wins
        # (the same words: spacing is not content)
        {"source_record_id": "CALL-7", "ingest_time": day1, "raw_file": "f1", "raw_line": 4,
         "text_raw": "no  signal"},
        {"source_record_id": "CALL-7", "ingest_time": day2, "raw_file": "f2", "raw_line": 1,
         "text_raw": "no signal"},
        {"source_record_id": "CALL-7", "ingest_time": day1 + timedelta(hours=5),
         "raw_file": "f3", "raw_line": 9, "text_raw": "no signal\n"},
        # same landing hour and file: the later line wins
        {"source_record_id": "CALL-8", "raw_file": "f1", "raw_line": 5, "text_raw": "line"},
        {"source_record_id": "CALL-8", "raw_file": "f1", "raw_line": 12, "text_raw": "line"},
        {"source_record_id": "CALL-9", "raw_file": "f1", "raw_line": 6, "text_raw": "only copy"},
        # the same record id in another source is another complaint
        {"source": "web_form", "source_record_id": "CALL-7", "raw_file": "w1", "raw_line": 1,
         "text_raw": "web copy"},
    ]
    out = dedupe_complaints(standardise_complaints(staged(spark, *rows)))
    got = sorted((r.source, r.source_record_id, r.complaint_id, r.duplicate_count, r.text,
                  as_utc(r.ingest_time), r.raw_file, r.raw_line, r.conflicting)
                 for r in out.collect())
    t1, t2 = as_utc(day1), as_utc(day2)
    assert got == [
        ("call_center", "CALL-7", expected_id("call_center", "CALL-7"), 3, "no signal",
         t2, "f2", 1, False),
        ("call_center", "CALL-8", expected_id("call_center", "CALL-8"), 2, "line",
         t1, "f1", 12, False),
        ("call_center", "CALL-9", expected_id("call_center", "CALL-9"), 1, "only copy",
         t1, "f1", 6, False),
        ("web_form", "CALL-7", expected_id("web_form", "CALL-7"), 1, "web copy", t1, "w1", 1,
         False),
    ]
    assert len({row[2] for row in got}) == 4
    # the earliest landing of any copy (CALL-7 is kept from day 2, first landed on day 1)
    assert sorted((r.source, r.source_record_id, as_utc(r.first_ingest_time))
                  for r in out.collect()) == [
        ("call_center", "CALL-7", t1), ("call_center", "CALL-8", t1),
        ("call_center", "CALL-9", t1), ("web_form", "CALL-7", t1)]


def test_conflicting_copies_keep_the_latest_and_quarantine_the_others(spark: Any) -> None:
    day1, day2 = INGESTED, INGESTED + timedelta(days=1)
    rows = [
        # CALL-7: two copies of one text, then a different text landed later (kept)
        {"source_record_id": "CALL-7", "ingest_time": day1, "raw_line": 1,
         "text_raw": "first text"},
        {"source_record_id": "CALL-7", "ingest_time": day1, "raw_line": 2,
         "text_raw": "first text"},
        {"source_record_id": "CALL-7", "ingest_time": day2, "raw_line": 3,
         "text_raw": "second text", "customer_id": None},
        {"source_record_id": "CALL-7", "ingest_time": day2, "raw_line": 4,
         "text_raw": "second text"},
        # CALL-8: the same text at another time is another content
        {"source_record_id": "CALL-8", "raw_line": 5},
        {"source_record_id": "CALL-8", "raw_line": 6, "event_time_raw": "2026-11-03T06:00:00Z"},
        {"source_record_id": "CALL-9", "raw_line": 7},
    ]
    usable = standardise_complaints(staged(spark, *rows))
    kept = {r.source_record_id: (r.raw_line, r.duplicate_count, r.conflicting)
            for r in dedupe_complaints(usable).collect()}
    # the copies not quarantined: CALL-7's line 1 is a plain duplicate (of line 2's text)
    assert kept == {"CALL-7": (4, 3, True), "CALL-8": (6, 1, True), "CALL-9": (7, 1, False)}
    out = conflicting_copies(usable, "run-1")
    assert out.columns == QUARANTINE.names
    entries = {r.raw_line: r for r in out.collect()}
    # one entry per losing content: its latest copy (line 1 stays a plain duplicate of line 2)
    assert sorted(entries) == [2, 5]
    assert {(r.source, r.reason, r.run_id) for r in entries.values()} == {
        ("call_center", "conflicting_duplicate", "run-1")}
    record = json.loads(entries[2].raw_record)
    assert record == {
        "kept_complaint_id": expected_id("call_center", "CALL-7"), "source_record_id": "CALL-7",
        "event_time": "2026-11-03T06:22:05.000Z", "text": "first text",
        "customer_id": "CUST-01234", "state": "TX", "location": "Austin 78701",
        "ingest_time": "2026-11-03T07:00:00.000Z"}
    # records in = kept + quarantined + duplicates, the duplicates being sum(duplicate_count - 1)
    assert len(rows) == len(kept) + len(entries) + sum(n - 1 for _, n, _ in kept.values())


def test_complaint_id_is_stable_across_runs_and_input_order(spark: Any) -> None:
    rows = [{"source_record_id": f"CALL-{n}", "raw_line": n} for n in range(1, 6)]
    first = dedupe_complaints(standardise_complaints(staged(spark, *rows)))
    again = dedupe_complaints(standardise_complaints(staged(spark, *reversed(rows))))
    ids_first = {r.source_record_id: r.complaint_id for r in first.collect()}
    ids_again = {r.source_record_id: r.complaint_id for r in again.collect()}
    assert ids_first == ids_again
    assert ids_first == {f"CALL-{n}": expected_id("call_center", f"CALL-{n}") for n in range(1, 6)}
    assert all(len(i) == 32 for i in ids_first.values())


def test_batch_rows_dedupe_the_same_without_the_content_step(spark: Any) -> None:
    rows = [{"source_record_id": "CALL-1", "raw_line": 1}, {"source_record_id": "CALL-1",
                                                            "raw_line": 2},
            {"source_record_id": "CALL-2", "raw_line": 3}]
    usable = standardise_complaints(staged(spark, *rows))
    with_step = dedupe_complaints(usable).collect()
    without = dedupe_complaints(usable, by_content=False).collect()
    assert sorted(with_step) == sorted(without)
    assert sorted((r.source_record_id, r.duplicate_count) for r in without) == [
        ("CALL-1", 2), ("CALL-2", 1)]


# --- merge_copies: a later run's copy against the row already kept
def by_id_rows(spark: Any, *rows: dict[str, Any]) -> Any:
    return spark.createDataFrame([{**r, "content_key": None} for r in rows],
                                 STREAM_BY_ID.spark_schema())


def test_merge_copies_settles_conflicts_across_runs(spark: Any) -> None:
    later = timedelta(days=1)
    old = [clean_complaint(1), clean_complaint(2, quality_flags=["conflicting_duplicate"]),
           clean_complaint(3), clean_complaint(4, duplicate_count=2), clean_complaint(5)]
    new = [
        # 1: a later copy that says something else replaces it, flagged; the old one is displaced
        clean_complaint(1, text="a different text", ingest_time=T0 + later,
                        first_ingest_time=T0 + later, quality_flags=["missing_region"]),
        # 2: the same content again: the copies add up and the earlier conflict stays flagged
        clean_complaint(2, ingest_time=T0 + later, first_ingest_time=T0 + later),
        # 3: a different content landed before the kept one (out of order): the new one loses
        clean_complaint(3, text="older words", ingest_time=T0, first_ingest_time=T0),
        # 4: only the event time differs: a conflict too (the displaced row's older copy stays
        # counted, as one full run over the three copies counts it)
        clean_complaint(4, event_time=T0, ingest_time=T0 + later, first_ingest_time=T0 + later),
        # 6: a new complaint (5 is only in the existing rows): nothing to settle
        clean_complaint(6, duplicate_count=2),
    ]
    existing, increment = by_id_rows(spark, *old), by_id_rows(spark, *new)
    merged = {r.complaint_id: r for r in merge_copies(existing, increment, "run-2").collect()}
    got = {r.raw_line: (r.text, r.duplicate_count, r.quality_flags, as_utc(r.first_ingest_time),
                        r.run_id) for r in merged.values()}
    assert got == {
        1: ("a different text", 1, ["missing_region", "conflicting_duplicate"],
            as_utc(old[0]["first_ingest_time"]), "run-2"),
        2: ("no internet since monday, ticket 2", 2, ["conflicting_duplicate"],
            as_utc(old[1]["first_ingest_time"]), "run-2"),
        3: ("no internet since monday, ticket 3", 1, ["conflicting_duplicate"], as_utc(T0),
            "run-2"),
        4: ("no internet since monday, ticket 4", 2, ["conflicting_duplicate"],
            as_utc(old[3]["first_ingest_time"]), "run-2"),
        5: ("no internet since monday, ticket 5", 1, [], as_utc(old[4]["first_ingest_time"]),
            "run-test"),
        6: ("no internet since monday, ticket 6", 2, [], as_utc(new[4]["first_ingest_time"]),
            "run-2"),
    }
    displaced = displaced_copies(existing, increment, "run-2")
    assert displaced.columns == QUARANTINE.names
    entries = sorted((r.raw_line, r.reason, json.loads(r.raw_record)["text"],
                      json.loads(r.raw_record)["kept_complaint_id"]) for r in displaced.collect())
    assert entries == [
        (1, "conflicting_duplicate", "no internet since monday, ticket 1", old[0]["complaint_id"]),
        (3, "conflicting_duplicate", "older words", old[2]["complaint_id"]),
        (4, "conflicting_duplicate", "no internet since monday, ticket 4", old[3]["complaint_id"]),
    ]


# --- quality_flags
def test_quality_flags(spark: Any) -> None:
    schema = ("i int, customer_id string, region string, state_raw string, state string, "
              "source_severity string, event_time_raw string, event_time timestamp, "
              "ingest_time timestamp")
    ok = ("CUST-1", "South", "tx", "TX", "P2", "2026-11-03T06:00:00Z", INGESTED, INGESTED)
    hour = timedelta(hours=1)
    rows = [
        (1, *ok),
        (2, None, None, "ZZ", None, None, "2026-11-05", INGESTED + timedelta(days=2), INGESTED),
        (3, "CUST-1", None, None, None, "P1", "11/03/2026", INGESTED, INGESTED),
        (4, *ok[:5], "2026-11-03T08:00:00Z", INGESTED + hour, INGESTED),  # exactly 1 h: tolerated
        (5, *ok[:5], "2026-11-03T08:00:01Z", INGESTED + hour + timedelta(seconds=1), INGESTED),
    ]
    frame = spark.createDataFrame(rows, schema)
    got = dict(frame.select("i", quality_flags().alias("flags")).collect())
    assert got == {
        1: [],
        2: ["missing_customer_id", "missing_region", "unknown_state", "imputed_severity",
            "date_only", "future_dated"],
        3: ["missing_region", "date_only"],
        4: [],
        5: ["future_dated"],
    }


# --- enrich_complaints
def test_enrich_complaints_shape_and_severity(spark: Any, rules: Rules) -> None:
    rows = [
        # source severity kept even though the rule (outage) says P1
        {"raw_line": 1, "source_record_id": "A", "severity_raw": "P3",
         "text_raw": "my internet has been down for 3 days"},
        # urgent raises the source's P3 to P1
        {"raw_line": 2, "source_record_id": "B", "severity_raw": "P3",
         "text_raw": "no dial tone and I need to be able to call 911"},
        # no source severity: the rule's, flagged as imputed
        {"raw_line": 3, "source_record_id": "C", "text_raw": "my modem keeps rebooting"},
        # nothing matches: default category and severity
        {"raw_line": 4, "source_record_id": "D", "text_raw": "Acme Telecom",
         "customer_id": None, "state_raw": None},
        # hints (web form issue) classify a text without cues; the text itself stays as it was
        {"raw_line": 5, "source": "web_form", "source_record_id": "7000001",
         "text_raw": "Please help, I don't know what else to do.", "event_time_raw": "2026-11-03",
         "event_zone": None, "default_zone": "UTC",
         "hints": "Internet service. Cable internet. Billing dispute. Charged twice"},
        # two days after it was landed
        {"raw_line": 6, "source_record_id": "F", "text_raw": "my modem keeps rebooting",
         "event_time_raw": "2026-11-05T09:00:00Z", "severity_raw": "P2"},
    ]
    run_id = "transform__20261103T080000Z__ab12cd34"
    out = enrich_complaints(dedupe_complaints(standardise_complaints(staged(spark, *rows))),
                            rules, run_id)
    assert [(f.name, f.dataType) for f in out.schema.fields] == [
        (f.name, f.dataType) for f in STREAM_BY_ID.spark_schema().fields
    ]  # the complaint record plus its content key (null for batch sources)
    got = {r.raw_line: r for r in out.collect()}
    assert {n: (r.category, r.subcategory, r.severity, r.quality_flags)
            for n, r in got.items()} == {
        1: ("network", "outage", "P3", []),
        2: ("network", "outage", "P1", []),
        3: ("device", "modem_router", "P2", ["imputed_severity"]),
        4: ("other", "unspecified", "P3",
            ["missing_customer_id", "missing_region", "imputed_severity"]),
        5: ("billing", "overcharge", "P2", ["imputed_severity", "date_only"]),
        6: ("device", "modem_router", "P2", ["future_dated"]),
    }
    web = got[5]
    assert (web.text, web.complaint_id, web.source, as_utc(web.event_time), web.event_date) == (
        "Please help, I don't know what else to do.", expected_id("web_form", "7000001"),
        "web_form", utc(2026, 11, 3), date(2026, 11, 3),
    )
    first = got[1]
    assert first.asDict() | {"event_time": as_utc(first.event_time),
                             "ingest_time": as_utc(first.ingest_time),
                             "first_ingest_time": as_utc(first.first_ingest_time)} == {
        "complaint_id": expected_id("call_center", "A"),
        "source": "call_center",
        "source_record_id": "A",
        "customer_id": "CUST-01234",
        "case_id": None,
        "event_time": utc(2026, 11, 3, 6, 22, 5),
        "ingest_time": utc(2026, 11, 3, 7),
        "first_ingest_time": utc(2026, 11, 3, 7),
        "text": "my internet has been down for 3 days",
        "category": "network",
        "subcategory": "outage",
        "severity": "P3",
        "sentiment_score": 0.0,
        "sentiment": "neutral",
        "region": "South",
        "state": "TX",
        "location": "Austin 78701",
        "duplicate_count": 1,
        "taxonomy_version": rules.version,
        "rule_id": "network.outage.3",
        "classification_score": 1.0,
        "quality_flags": [],
        "raw_file": GOOD["raw_file"],
        "raw_line": 1,
        "run_id": run_id,
        "event_date": date(2026, 11, 3),
        "content_key": None,
    }
    assert {r.run_id for r in got.values()} == {run_id}
    assert got[6].event_date == date(2026, 11, 5)


# --- raw-zone readers
PARTITION = Path("ingest_date=2026-11-03") / "hour=07"


def test_read_json_lines_lineage_gzip_and_blank_lines(spark: Any, settings: Settings) -> None:
    folder = settings.zones.raw / "call_center" / PARTITION
    folder.mkdir(parents=True)
    (folder / "calls_2026-11-03.jsonl").write_bytes(b'{"n": 1}\n\n{"n": 2}\r\n\n  \n{"n": 3}')
    (folder / "calls_2026-11-02.jsonl.gz").write_bytes(gzip.compress(b'{"n": 4}\n{"n": 5}\n'))
    (folder / "calls_latin1.jsonl").write_bytes('{"n": "Jos\u00e9"}\n{"n": "\ufffd"}\n'
                                                .encode("latin-1", "replace"))
    latin = read_json_lines(spark, settings.lake, [folder / "calls_latin1.jsonl"])
    assert [(r.raw_record, r.file_utf8) for r in latin.collect()] == [
        ('{"n": "Jos\ufffd"}', False), ('{"n": "?"}', False)]
    (folder / "calls_latin1.jsonl").unlink()
    files = sorted(folder.iterdir())
    out = read_json_lines(spark, settings.lake, files)
    assert out.columns == ["raw_file", "raw_line", "raw_record", "ingest_time", "file_utf8"]
    assert {r.file_utf8 for r in out.collect()} == {True}
    got = sorted((r.raw_file, r.raw_line, r.raw_record, as_utc(r.ingest_time))
                 for r in out.collect())
    plain = "raw/call_center/ingest_date=2026-11-03/hour=07/calls_2026-11-03.jsonl"
    gz = "raw/call_center/ingest_date=2026-11-03/hour=07/calls_2026-11-02.jsonl.gz"
    landed = utc(2026, 11, 3, 7)
    assert got == [
        (gz, 1, '{"n": 4}', landed),
        (gz, 2, '{"n": 5}', landed),
        (plain, 1, '{"n": 1}', landed),
        (plain, 3, '{"n": 2}', landed),
        (plain, 6, '{"n": 3}', landed),
    ]


def test_read_json_lines_outside_a_partition_has_no_ingest_time(
    spark: Any, settings: Settings
) -> None:
    folder = settings.zones.raw / "call_center"
    folder.mkdir(parents=True)
    (folder / "stray.jsonl").write_text('{"n": 1}\n')
    got = read_json_lines(spark, settings.lake, [folder / "stray.jsonl"]).collect()
    assert [(r.raw_file, r.raw_line, r.ingest_time) for r in got] == [
        ("raw/call_center/stray.jsonl", 1, None)
    ]


def test_read_json_lines_skips_crlf_and_tab_blank_lines(spark: Any, settings: Settings) -> None:
    folder = settings.zones.raw / "call_center" / PARTITION
    folder.mkdir(parents=True)
    (folder / "calls.jsonl").write_bytes(b'{"n": 1}\r\n\r\n\t\r\n{"n": 2}\r\n'
                                         + '{"n": 3}\r\r\n{"n": 4}\r\u2028\n'.encode())
    got = read_json_lines(spark, settings.lake, [folder / "calls.jsonl"]).collect()
    # only the CR of a CRLF ending goes: the record is otherwise kept as it came
    assert sorted((r.raw_line, r.raw_record) for r in got) == [
        (1, '{"n": 1}'), (4, '{"n": 2}'), (5, '{"n": 3}\r'), (6, '{"n": 4}\r\u2028')]


def test_read_json_lines_raw_file_relative_to_a_lake_with_a_space(
    spark: Any, settings: Settings, tmp_path: Path
) -> None:
    lake = settings.with_lake(tmp_path / "my lake")
    folder = lake.zones.raw / "call_center" / PARTITION
    folder.mkdir(parents=True)
    (folder / "calls.jsonl").write_text('{"n": 1}\n')
    got = read_json_lines(spark, lake.lake, [folder / "calls.jsonl"]).collect()
    assert [r.raw_file for r in got] == [
        "raw/call_center/ingest_date=2026-11-03/hour=07/calls.jsonl"
    ]


def web_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(WEB_FORM_COLUMNS)
    for row in rows:
        writer.writerow([row.get(c, "") for c in WEB_FORM_COLUMNS])
    return buffer.getvalue()


def test_read_web_forms_record_numbers_with_multiline_narratives(
    spark: Any, settings: Settings
) -> None:
    folder = settings.zones.raw / "web_form" / PARTITION
    folder.mkdir(parents=True)
    narratives = [
        'I was charged twice.\nThe rep said "it will be fixed by tomorrow".\nIt was not.',
        "my internet has been down for 3 days",
        "Technician never showed up,\n\nagain.",
    ]
    first = folder / "web_forms_2026-11-03.csv"
    first.write_text(web_csv([
        {"Date received": "2026-11-03", "Consumer complaint narrative": text,
         "Complaint ID": str(7000001 + i), "State": "TX"}
        for i, text in enumerate(narratives)
    ]))
    second = folder / "web_forms_2026-11-02.csv"
    second.write_text(web_csv([{"Date received": "11/02/2026", "Complaint ID": "7000009",
                                "Issue": "Billing dispute"}]))
    assert first.read_text().count("\n") > 4  # the narratives do span lines
    out = read_web_forms(spark, settings.lake, [first, second])
    assert out.columns == [*WEB_FORM_COLUMNS, "raw_file", "raw_line", "raw_record", "ingest_time",
                           "parse_error"]
    got = sorted((r.raw_file, r.raw_line, r["Complaint ID"], r["Consumer complaint narrative"],
                  r.State, as_utc(r.ingest_time), r.parse_error) for r in out.collect())
    base = "raw/web_form/ingest_date=2026-11-03/hour=07/"
    landed = utc(2026, 11, 3, 7)
    assert got == [
        (base + "web_forms_2026-11-02.csv", 1, "7000009", None, None, landed, None),
        (base + "web_forms_2026-11-03.csv", 1, "7000001", narratives[0], "TX", landed, None),
        (base + "web_forms_2026-11-03.csv", 2, "7000002", narratives[1], "TX", landed, None),
        (base + "web_forms_2026-11-03.csv", 3, "7000003", narratives[2], "TX", landed, None),
    ]
    (row,) = out.where(F.col("Complaint ID") == "7000001").collect()
    assert '"Consumer complaint narrative":"I was charged twice.\\nThe rep said' in row.raw_record
