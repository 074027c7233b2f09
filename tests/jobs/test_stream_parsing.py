"""Stream sources (sms, social): decoding raw Kinesis landing lines, exact quarantine reasons,
dedupe by event id and by content, a transform run over raw stream files, and the ledger."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from common.settings import Settings
from jobs.ledger import plan_increment, read_ledger
from jobs.parse_sources import (
    OUTBOUND_REASON,
    SPAM_REASON,
    STAGED_COLUMNS,
    TRAILING_REASON,
    parse_sms,
    parse_social,
)
from jobs.standardise import parse_event_time
from jobs.transform import (
    FUTURE_REASON,
    ID_CONTROL_REASON,
    ID_TOO_LONG_REASON,
    MAX_SOURCE_ID_CHARS,
    dedupe_complaints,
    run_transform,
    standardise_complaints,
)
from schemas.streaming import MAX_EVENT_BYTES, STREAM_SOURCES, raw_file_name

INGESTED = datetime(2026, 11, 22, 1, 0)  # naive = session zone (UTC)
LANDING_SCHEMA = "raw_file string, raw_line long, raw_record string, ingest_time timestamp"

SMS: dict[str, Any] = {
    "event_id": "sms-0001", "channel": "sms", "sent_at": "2026-11-22T00:55:00Z",
    "from": "+15125550147", "customer_id": "CUST-00042", "state": "TX",
    "text": "no signal  since this morning", "label": "ham",
}
SOCIAL: dict[str, Any] = {
    "event_id": "social-0001", "channel": "social", "platform": "twitter",
    "posted_at": "Sun Oct 22 03:15:18 +0000 2017", "author": "330671", "brand": "comcastcares",
    "in_reply_to": None, "inbound": True, "text": "@comcastcares my internet is down again",
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def landing_line(data: dict[str, Any] | bytes, stream: str = "complaints-sms",
                 sequence: str = "49590000000000000000000001") -> str:
    """One raw line exactly as the consumer lands it (schemas/streaming.py)."""
    payload = data if isinstance(data, bytes) else json.dumps(data).encode()
    return json.dumps({
        "stream": stream, "shard_id": "shardId-000000000000", "sequence_number": sequence,
        "approximate_arrival": "2026-11-22T01:02:03.456000+00:00", "partition_key": "pk",
        "data_b64": base64.b64encode(payload).decode("ascii"),
    })


def raw_frame(spark: Any, lines: list[str], raw_file: str = "raw/sms/part.jsonl",
              ingest_time: datetime = INGESTED) -> Any:
    return spark.createDataFrame(
        [(raw_file, i + 1, line, ingest_time) for i, line in enumerate(lines)], LANDING_SCHEMA)


def errors(out: Any) -> dict[int, str | None]:
    return {r["raw_line"]: r["parse_error"] for r in out.collect()}


# --- parsers: good records
def test_parse_sms_maps_every_field(spark: Any) -> None:
    line = landing_line(SMS)
    out = parse_sms(raw_frame(spark, [line]))
    assert out.columns == list(STAGED_COLUMNS)
    (row,) = [r.asDict() for r in out.collect()]
    assert as_utc(row.pop("ingest_time")) == utc(2026, 11, 22, 1)
    assert row == {
        "source": "sms", "source_record_id": "sms-0001", "customer_id": "CUST-00042",
        "case_id": None, "event_time_raw": "2026-11-22T00:55:00Z", "event_zone": None,
        "default_zone": "UTC", "text_raw": "no signal  since this morning", "hints": None,
        "state_raw": "TX", "location": None, "severity_raw": None, "sender": "+15125550147",
        "raw_file": "raw/sms/part.jsonl", "raw_line": 1, "raw_record": line, "parse_error": None,
    }


def test_parse_sms_optional_fields_may_be_null_or_absent(spark: Any) -> None:
    event = {**SMS, "customer_id": None, "state": None, "label": None}
    del event["from"]
    (row,) = parse_sms(raw_frame(spark, [landing_line(event)])).collect()
    assert (row["customer_id"], row["state_raw"], row["sender"], row["parse_error"]) == (
        None, None, None, None)


def test_parse_social_maps_fields_and_hints(spark: Any) -> None:
    out = parse_social(raw_frame(spark, [landing_line(SOCIAL, "complaints-social")],
                                 "raw/social/part.jsonl"))
    (row,) = out.collect()
    assert {k: row[k] for k in ("source", "source_record_id", "customer_id", "event_time_raw",
                                "text_raw", "hints", "sender", "parse_error")} == {
        "source": "social", "source_record_id": "social-0001", "customer_id": None,
        "event_time_raw": "Sun Oct 22 03:15:18 +0000 2017",
        "text_raw": "@comcastcares my internet is down again",
        "hints": "twitter. comcastcares", "sender": "twitter:330671", "parse_error": None,
    }


def test_twitter_timestamps_parse_to_exact_utc(spark: Any) -> None:
    values = ["Sun Oct 22 03:15:18 +0000 2017", "Sat Nov 22 08:05:00 -0500 2026",
              "Sat Nov 2 23:30:00 +0530 2026", "Sun Oct 22 03:15:18 2017"]
    frame = spark.createDataFrame(list(enumerate(values)), "i int, v string")
    got = [as_utc(r.t) for r in sorted(frame.select(
        "i", parse_event_time(F.col("v"), F.lit(None), F.lit("UTC")).alias("t")).collect())]
    assert got == [utc(2017, 10, 22, 3, 15, 18), utc(2026, 11, 22, 13, 5),
                   utc(2026, 11, 2, 18, 0), None]


# --- parsers: every bad input kind, with its exact reason
SMS_BAD: list[tuple[str | bytes | dict[str, Any], str]] = [
    ({**SMS, "text": "x" * (MAX_EVENT_BYTES + 1)},
     f"record too large (over {MAX_EVENT_BYTES} bytes)"),
    (b'{"event_id": "sms-9", "sent_at": "2026-11-22T00:55:00Z", "text": "caf\xe9 \xff"}',
     "invalid UTF-8"),
    (b"no signal since this morning", "malformed JSON"),
    (b'{"event_id": "sms-9", "text": "cut off', "malformed JSON"),
    (b'["sms-9", "no signal"]', "malformed JSON"),
    (b"", "malformed JSON"),
    ({k: v for k, v in SMS.items() if k != "text"}, "missing field: text"),
    ({**SMS, "text": " \t\n"}, "missing field: text"),
    ({**SMS, "text": None}, "missing field: text"),
    ({**SMS, "text": 42}, "wrong type: text is not a string"),
    ({k: v for k, v in SMS.items() if k != "event_id"}, "missing field: event_id"),
    ({k: v for k, v in SMS.items() if k != "sent_at"}, "missing field: sent_at"),
    ({**SMS, "sent_at": 1763773200}, "wrong type: sent_at is not a string"),
    ({**SMS, "customer_id": {"id": 42}}, "wrong type: customer_id is not a string"),
    ({**SMS, "label": "spam"}, SPAM_REASON),
    ({**SMS, "label": " SPAM "}, SPAM_REASON),
    ("not a landing line", "malformed landing record (no base64 data_b64)"),
    (json.dumps({"stream": "complaints-sms", "data_b64": "%%% not base64"}),
     "malformed landing record (no base64 data_b64)"),
    (json.dumps({"stream": "complaints-sms"}), "malformed landing record (no base64 data_b64)"),
]


def _line(item: str | bytes | dict[str, Any], stream: str) -> str:
    return item if isinstance(item, str) else landing_line(item, stream)


def test_parse_sms_bad_records_get_the_exact_reason(spark: Any) -> None:
    lines = [_line(item, "complaints-sms") for item, _ in SMS_BAD]
    assert errors(parse_sms(raw_frame(spark, lines))) == {
        i + 1: reason for i, (_, reason) in enumerate(SMS_BAD)}


SOCIAL_BAD: list[tuple[str | bytes | dict[str, Any], str]] = [
    ({**SOCIAL, "text": "y" * (MAX_EVENT_BYTES + 1)},
     f"record too large (over {MAX_EVENT_BYTES} bytes)"),
    (b'{"event_id": "social-9", "text": "\xc3\x28"}', "invalid UTF-8"),
    (b"@comcastcares down again", "malformed JSON"),
    ({k: v for k, v in SOCIAL.items() if k != "text"}, "missing field: text"),
    ({**SOCIAL, "posted_at": 1508642118}, "wrong type: posted_at is not a string"),
    ({k: v for k, v in SOCIAL.items() if k != "posted_at"}, "missing field: posted_at"),
    ({**SOCIAL, "platform": "myspace"}, "unknown platform: myspace"),
    ({k: v for k, v in SOCIAL.items() if k != "platform"}, "missing field: platform"),
    ({**SOCIAL, "inbound": "yes"}, "wrong type: inbound is not a boolean"),
    ({**SOCIAL, "inbound": False}, OUTBOUND_REASON),
]


def test_parse_social_bad_records_get_the_exact_reason(spark: Any) -> None:
    lines = [_line(item, "complaints-social") for item, _ in SOCIAL_BAD]
    got = errors(parse_social(raw_frame(spark, lines, "raw/social/part.jsonl")))
    assert got == {i + 1: reason for i, (_, reason) in enumerate(SOCIAL_BAD)}


def test_platform_is_case_insensitive_and_inbound_may_be_absent(spark: Any) -> None:
    event = {**SOCIAL, "platform": "Facebook"}
    del event["inbound"]
    (row,) = parse_social(raw_frame(spark, [landing_line(event, "complaints-social")])).collect()
    assert (row["parse_error"], row["hints"], row["sender"]) == (
        None, "facebook. comcastcares", "facebook:330671")


# --- dedupe: by event id and by content
def _sms_rows(spark: Any, files: list[tuple[str, datetime, list[dict[str, Any]]]]) -> Any:
    frames = [parse_sms(raw_frame(spark, [landing_line(e) for e in events], name, landed))
              for name, landed, events in files]
    staged = frames[0]
    for frame in frames[1:]:
        staged = staged.unionByName(frame)
    return standardise_complaints(staged).where(F.col("reason").isNull())


def test_same_event_in_two_raw_files_is_one_complaint(spark: Any) -> None:
    other = {**SMS, "event_id": "sms-0002", "text": "billing is wrong"}
    usable = _sms_rows(spark, [
        ("raw/sms/a.jsonl", datetime(2026, 11, 22, 1), [SMS, other]),
        ("raw/sms/b.jsonl", datetime(2026, 11, 22, 2), [SMS]),  # a producer retry / replay
    ])
    got = {r["source_record_id"]: r["duplicate_count"] for r in dedupe_complaints(usable).collect()}
    assert got == {"sms-0001": 2, "sms-0002": 1}


def test_same_content_with_another_event_id_is_a_duplicate_of_the_earliest(spark: Any) -> None:
    resent = {**SMS, "event_id": "sms-0009", "text": "No signal since   this morning\n"}
    later_time = {**SMS, "event_id": "sms-0010", "sent_at": "2026-11-22T00:56:00Z"}
    other_sender = {**SMS, "event_id": "sms-0011", "from": "+15125550100"}
    usable = _sms_rows(spark, [
        ("raw/sms/b.jsonl", datetime(2026, 11, 22, 2), [resent, later_time]),
        ("raw/sms/a.jsonl", datetime(2026, 11, 22, 1), [SMS, other_sender]),
        ("raw/sms/c.jsonl", datetime(2026, 11, 22, 3), [resent]),
    ])
    rows = dedupe_complaints(usable).collect()
    got = {r["source_record_id"]: (r["duplicate_count"], r["raw_file"]) for r in rows}
    assert got == {
        "sms-0001": (3, "raw/sms/a.jsonl"),  # itself + two copies of sms-0009
        "sms-0010": (1, "raw/sms/b.jsonl"),  # another time: another message
        "sms-0011": (1, "raw/sms/a.jsonl"),  # another sender
    }


def test_content_dedupe_leaves_batch_sources_alone(spark: Any) -> None:
    from tests.jobs.test_transform_steps import staged

    rows = staged(spark, {}, {"source_record_id": "CALL-0100002"})
    out = dedupe_complaints(standardise_complaints(rows)).collect()
    assert sorted((r["source_record_id"], r["duplicate_count"]) for r in out) == [
        ("CALL-0100001", 1), ("CALL-0100002", 1)]


# --- a transform run over raw stream files in the landing layout
def write_raw(settings: Settings, source: str, hour: str, first: int,
              items: list[str | bytes | dict[str, Any]]) -> Path:
    stream = STREAM_SOURCES[source]
    folder = settings.zones.raw / source / "ingest_date=2026-11-22" / f"hour={hour}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / raw_file_name(stream, "shardId-000000000000", str(first),
                                  str(first + len(items) - 1))
    lines = [_line(item, stream) for item in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stream_lake(settings: Settings) -> None:
    sms2 = {**SMS, "event_id": "sms-0002", "text": "charged twice on my bill", "state": "Ohio"}
    write_raw(settings, "sms", "01", 100, [
        SMS, sms2, {**SMS, "event_id": "sms-0003", "label": "spam", "text": "WIN a prize"},
        b"\xff\xfe", {**SMS, "event_id": "sms-0004", "sent_at": 5},
    ])
    # hour 02: a shard replay re-delivers sms-0001 and sms-0002, plus a resent copy of sms-0002
    write_raw(settings, "sms", "02", 200, [
        SMS, sms2, {**sms2, "event_id": "sms-0005"}, {**SMS, "event_id": "sms-0006",
                                                      "text": "dropped calls all day"},
    ])
    social2 = {**SOCIAL, "event_id": "social-0002", "platform": "reddit",
               "posted_at": "2026-11-22T00:10:00+00:00", "text": "app keeps crashing"}
    write_raw(settings, "social", "01", 100, [
        SOCIAL, social2, {**SOCIAL, "event_id": "social-0003", "platform": "myspace"},
        {**SOCIAL, "event_id": "social-0004", "inbound": False, "text": "sorry, DM us"},
        {k: v for k, v in SOCIAL.items() if k != "text"} | {"event_id": "social-0005"},
    ])
    write_raw(settings, "social", "03", 300, [social2])


def read_table(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist() if path.exists() else []


def test_run_transform_over_raw_stream_files(spark: Any, settings: Settings) -> None:
    stream_lake(settings)
    result = run_transform(settings, sources=("sms", "social"), run_id="stream-test", spark=spark)
    counts = {c.source: c for c in result.counts}
    assert {s: (c.raw_files, c.records_in, c.clean, c.quarantined, c.duplicates)
            for s, c in counts.items()} == {
        "sms": (2, 9, 3, 3, 3),  # dup copies: sms-0001, sms-0002 (replay), sms-0005 (content)
        "social": (2, 6, 2, 3, 1),
    }
    assert all(c.conserved for c in result.counts)

    clean = read_table(settings.zones.clean_complaints)
    ids = sorted((r["source"], r["source_record_id"]) for r in clean)
    assert ids == [("sms", "sms-0001"), ("sms", "sms-0002"), ("sms", "sms-0006"),
                   ("social", "social-0001"), ("social", "social-0002")]  # once per event id
    by_id = {r["source_record_id"]: r for r in clean}
    assert by_id["sms-0002"]["duplicate_count"] == 3
    assert by_id["sms-0002"]["state"] == "OH" and by_id["sms-0002"]["region"] == "Midwest"
    assert as_utc(by_id["social-0001"]["event_time"]) == utc(2017, 10, 22, 3, 15, 18)
    assert by_id["sms-0001"]["customer_id"] == "CUST-00042"
    assert by_id["social-0002"]["text"] == "app keeps crashing"

    quarantined = read_table(settings.zones.quarantine_records)
    reasons = sorted((r["source"], r["reason"]) for r in quarantined)
    assert reasons == sorted([
        ("sms", SPAM_REASON), ("sms", "invalid UTF-8"),
        ("sms", "wrong type: sent_at is not a string"),
        ("social", "unknown platform: myspace"), ("social", OUTBOUND_REASON),
        ("social", "missing field: text"),
    ])
    assert all(r["raw_file"].startswith(f"raw/{r['source']}/ingest_date=2026-11-22/")
               for r in quarantined)

    again = run_transform(settings, sources=("sms", "social"), run_id="stream-test-2", spark=spark)
    assert {c.mode for c in again.counts} == {"skipped"}  # nothing new: no file is read twice
    assert sum(c.records_in for c in again.counts) == 0
    full = run_transform(settings, sources=("sms", "social"), run_id="stream-full", spark=spark,
                         full=True)
    assert [(c.records_in, c.clean, c.quarantined, c.duplicates) for c in full.counts] == [
        (c.records_in, c.clean, c.quarantined, c.duplicates) for c in result.counts]
    assert len(read_table(settings.zones.clean_complaints)) == len(clean)
    assert len(read_table(settings.zones.quarantine_records)) == len(quarantined)


# --- the ledger: what is new
def test_ledger_plans_only_new_files(spark: Any, settings: Settings) -> None:
    sources = ("sms", "social")
    assert not plan_increment(settings, sources).has_work  # no raw files, no ledger
    stream_lake(settings)
    plan = plan_increment(settings, sources)
    assert plan.has_work and sum(len(p.files) for p in plan.sources) == 4
    first = run_transform(settings, sources=sources, run_id="mb-1", spark=spark)
    assert {c.mode for c in first.counts} == {"incremental"}
    ledger = read_ledger(settings.zones, "sms")
    assert len(ledger) == 2 and {e.run_id for e in ledger.values()} == {"mb-1"}
    assert sum(e.records for e in ledger.values()) == 9
    assert not plan_increment(settings, sources).has_work

    # A replay re-writes a file under the same name with the same bytes: not new.
    replayed = write_raw(settings, "social", "03", 300, [
        {**SOCIAL, "event_id": "social-0002", "platform": "reddit",
         "posted_at": "2026-11-22T00:10:00+00:00", "text": "app keeps crashing"}])
    replayed.touch()
    assert not plan_increment(settings, sources).has_work

    added = write_raw(settings, "sms", "04", 400, [{**SMS, "event_id": "sms-0100",
                                                     "text": "no signal at all today"}])
    (sms_plan, social_plan) = plan_increment(settings, sources).sources
    assert sms_plan.files == (added,) and not sms_plan.full and not social_plan.files
    third = run_transform(settings, sources=sources, run_id="mb-3", spark=spark)
    assert [(c.source, c.mode, c.raw_files, c.records_in, c.clean) for c in third.counts] == [
        ("sms", "incremental", 1, 1, 1), ("social", "skipped", 0, 0, 0)]
    assert not plan_increment(settings, sources).has_work

    added.unlink()  # a processed file is gone: only a full recompute can take its rows back
    (sms_plan, _) = plan_increment(settings, sources).sources
    assert sms_plan.full and sms_plan.why_full is not None and "gone" in sms_plan.why_full


@pytest.mark.parametrize("value", ["0", "abc", "2000"])
def test_stream_dag_interval_is_validated(value: str) -> None:
    import ast
    import os

    from common.settings import REPO_ROOT

    # Load only interval_minutes from the DAG file (importing it would import Airflow here).
    tree = ast.parse((REPO_ROOT / "dags" / "complaints_stream.py").read_text())
    func = next(n for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name == "interval_minutes")
    namespace: dict[str, Any] = {"os": os, "DEFAULT_INTERVAL_MINUTES": 15}
    exec(compile(ast.Module([func], []), "complaints_stream.py", "exec"), namespace)
    assert namespace["interval_minutes"]({}) == 15
    assert namespace["interval_minutes"]({"COMPLAINTS_STREAM_INTERVAL_MINUTES": "5"}) == 5
    with pytest.raises(ValueError, match="COMPLAINTS_STREAM_INTERVAL_MINUTES"):
        namespace["interval_minutes"]({"COMPLAINTS_STREAM_INTERVAL_MINUTES": value})


# --- hostile records (issue 8): each sent through stream parsing and standardisation
def _standardised_sms(spark: Any, events: list[str | bytes | dict[str, Any]]) -> list[Any]:
    lines = [_line(e, "complaints-sms") for e in events]
    out = standardise_complaints(parse_sms(raw_frame(spark, lines)))
    return sorted(out.collect(), key=lambda r: r["raw_line"])


def test_hostile_json_with_trailing_garbage_is_quarantined(spark: Any) -> None:
    good = json.dumps(SMS).encode()
    rows = _standardised_sms(spark, [good + b" xyz", good + b" " + good, good + b"  \n", good])
    assert [r["reason"] for r in rows] == [TRAILING_REASON, TRAILING_REASON, None, None]


def test_hostile_control_characters_never_reach_clean_text(spark: Any) -> None:
    text = "bi\u0000ll wrong\u001b[31m\u0085twice\u2028again\u2029\u009b\u007f end\u0007"
    rows = _standardised_sms(spark, [{**SMS, "text": text, "customer_id": "CUST-\u000042"}])
    assert [(r["reason"], r["text"], r["customer_id"]) for r in rows] == [
        (None, "bill wrong[31m twice again end", "CUST-42")]  # removed; line breaks: spaces


def test_hostile_overlong_or_control_event_ids_are_quarantined(spark: Any) -> None:
    rows = _standardised_sms(spark, [
        {**SMS, "event_id": "e" * 10_000}, {**SMS, "event_id": "e" * (MAX_SOURCE_ID_CHARS + 1)},
        {**SMS, "event_id": "e" * MAX_SOURCE_ID_CHARS}, {**SMS, "event_id": "sms-\u00001"},
    ])
    assert [r["reason"] for r in rows] == [ID_TOO_LONG_REASON, ID_TOO_LONG_REASON, None,
                                           ID_CONTROL_REASON]


def test_hostile_event_time_in_the_future_is_held_apart(spark: Any) -> None:
    rows = _standardised_sms(spark, [  # landed 2026-11-22 01:00; tolerance 24 hours
        {**SMS, "sent_at": "2099-01-01T00:00:00Z"}, {**SMS, "sent_at": "2026-11-23T01:00:01Z"},
        {**SMS, "sent_at": "2026-11-23T01:00:00Z"}, SMS,
    ])
    assert [r["reason"] for r in rows] == [FUTURE_REASON, FUTURE_REASON, None, None]
