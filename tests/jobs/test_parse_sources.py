"""jobs/parse_sources.py: each source's raw records -> the staged shape, with exact parse errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from jobs import parse_sources
from jobs.parse_sources import (
    MAX_RECORD_CHARS,
    STAGED_COLUMNS,
    TRAILING_REASON,
    parse_call_center,
    parse_chat_feedback,
    parse_complaint_management,
    parse_mbpp_reports,
    parse_web_form,
)
from jobs.raw_files import inspect_raw_file
from jobs.raw_zone import read_web_forms
from schemas.sources import WEB_FORM_COLUMNS

INGESTED = datetime(2026, 11, 3, 7, 0)  # naive = session zone (UTC)
RAW_SCHEMA = ("raw_file string, raw_line long, raw_record string, ingest_time timestamp, "
              "file_utf8 boolean")


def raw_frame(spark: Any, records: list[str], raw_file: str = "raw/x/ingest_date=2026-11-03/"
              "hour=07/part.jsonl", file_utf8: bool = True) -> Any:
    """Raw lines as the JSON-lines reader gives them: line numbers 1, 2, 3..."""
    rows = [(raw_file, i + 1, r, INGESTED, file_utf8) for i, r in enumerate(records)]
    return spark.createDataFrame(rows, RAW_SCHEMA)


def by_line(frame: Any) -> dict[int, dict[str, Any]]:
    return {r["raw_line"]: r.asDict() for r in frame.collect()}


def as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


# --- call_center
CALL: dict[str, Any] = {
    "call_id": " CALL-0100001 ",
    "started": "11/03/2026 02:22:05 PM",
    "tz": "America/Chicago",
    "agent": "agent_007",
    "queue": "tier2",
    "duration_s": 252,
    "caller": {"customer_id": " CUST-01234 ", "name": "Jane Doe", "phone": "(512) 555-0147"},
    "location": {"city": " Austin ", "state": " tx", "zip": "78701"},
    "notes": "Cust states no internet since Monday. callback number (512) 555-0147",
}


def call(**changes: Any) -> str:
    """The good call as a JSON line, with fields changed (value ...: field left out)."""
    record = {**CALL, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...}, ensure_ascii=False)


def test_call_center_good_record_maps_every_field(spark: Any) -> None:
    good = call()
    out = parse_call_center(raw_frame(spark, [good]))
    assert out.columns == list(STAGED_COLUMNS)
    (first,) = out.collect()
    row = first.asDict()
    assert as_utc(row.pop("ingest_time")) == datetime(2026, 11, 3, 7, tzinfo=UTC)
    assert row == {
        "source": "call_center",
        "source_record_id": "CALL-0100001",
        "customer_id": "CUST-01234",
        "case_id": None,
        "event_time_raw": "11/03/2026 02:22:05 PM",
        "event_zone": "America/Chicago",
        "default_zone": "America/New_York",
        "text_raw": "Cust states no internet since Monday. callback number (512) 555-0147",
        "hints": None,
        "state_raw": " tx",  # as given; normalised by standardise
        "location": "Austin 78701",
        "severity_raw": None,
        "sender": None,
        "raw_file": "raw/x/ingest_date=2026-11-03/hour=07/part.jsonl",
        "raw_line": 1,
        "raw_record": good,
        "parse_error": None,
    }


def test_call_center_optional_parts(spark: Any) -> None:
    records = [
        call(started=1762197725, tz=...),  # epoch as a JSON number, no tz
        call(location=...),
        call(caller={"customer_id": None, "name": "Jane Doe"}),
        call(caller={"customer_id": "  "}, location={"city": "Miami", "state": "FL"}),
    ]
    rows = by_line(parse_call_center(raw_frame(spark, records)))
    assert {n: (r["event_time_raw"], r["event_zone"], r["customer_id"], r["state_raw"],
                r["location"], r["parse_error"]) for n, r in rows.items()} == {
        1: ("1762197725", None, "CUST-01234", " tx", "Austin 78701", None),
        2: ("11/03/2026 02:22:05 PM", "America/Chicago", "CUST-01234", None, None, None),
        3: ("11/03/2026 02:22:05 PM", "America/Chicago", None, " tx", "Austin 78701", None),
        4: ("11/03/2026 02:22:05 PM", "America/Chicago", None, "FL", "Miami", None),
    }


@pytest.mark.parametrize("java", [True, False], ids=["java", "expressions"])
def test_call_center_bad_records_get_the_exact_error(spark: Any, java: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if java:
        assert parse_sources.one_json_value_udf(spark) is not None  # the session has the jar
    else:
        monkeypatch.setattr(parse_sources, "one_json_value_udf", lambda session: None)
    good = call()
    oversized = call(notes="x" * MAX_RECORD_CHARS)  # valid JSON, just too long
    cases = [
        (good[:45], "malformed JSON"),  # truncated line
        (good.replace("Jane", "Jos\ufffd"), "invalid UTF-8"),  # decoded latin-1 byte
        (call(duration_s="4m 12s"), "wrong type: duration_s is not a whole number: 4m 12s"),
        (call(duration_s="12:30"), "wrong type: duration_s is not a whole number: 12:30"),
        (call(notes=...), "missing field: notes"),
        (call(notes="  \n "), "missing field: notes"),
        (call(call_id=...), "missing field: call_id"),
        (call(call_id=" "), "missing field: call_id"),
        (call(call_id="\t"), "missing field: call_id"),
        (call(started=...), "missing field: started"),
        (call(call_id=..., notes=...), "missing field: call_id"),  # first error wins
        (json.dumps([CALL]), "malformed JSON"),  # an array, not an object
        (good + " x", TRAILING_REASON),
        (good + good, TRAILING_REASON),
        # Not one value: Java says so; the expressions parse "[" + it + "]", whose first value
        # is "[" + good + "]" (one element), and take it as one value (``one_json_value``).
        (good + "], [1", TRAILING_REASON if java else None),
        (good.replace('{"call_id"', '{"notes": "x", "call_id"'), "malformed JSON"),  # key twice
        ("null", "malformed JSON"),
        (oversized, f"record too large (over {MAX_RECORD_CHARS} characters)"),
        ("{" * (MAX_RECORD_CHARS + 1), "record too large (over 100000 characters)"),
        (call(duration_s="252"), None),
        (good, None),
    ]
    assert len(oversized) > MAX_RECORD_CHARS
    # (the file holds a byte that is not UTF-8: the reader made it U+FFFD)
    rows = by_line(parse_call_center(raw_frame(spark, [c[0] for c in cases], file_utf8=False)))
    assert [rows[i + 1]["parse_error"] for i in range(len(cases))] == [c[1] for c in cases]
    # the record is kept as it came, for the quarantine
    assert [rows[i + 1]["raw_record"] for i in range(len(cases))] == [c[0] for c in cases]
    # In a file of valid UTF-8, U+FFFD is a character someone wrote: the record is fine.
    real = by_line(parse_call_center(raw_frame(spark, [good.replace("Jane", "Jos\ufffd")])))
    assert real[1]["parse_error"] is None



def test_call_center_fields_read_as_text_like_from_json(spark: Any) -> None:
    """A field that is not a JSON string is read as its text: numbers and booleans as written,
    fractions in Java's double format, objects with their keys in the order written."""
    records = [
        call(call_id=1234, started=1762197725, duration_s=True),
        call(started=1762197725.5),  # a fraction: from_json writes it as a double
        call(notes={"b": 1, "a": ["x", {"d": 2, "c": 1}]}),
        call(caller={"customer_id": 42}, location={"city": -0.0, "state": 1e3, "zip": None}),
        call(notes=None, started=None, tz=None),
    ]
    rows = by_line(parse_call_center(raw_frame(spark, records)))
    assert {n: (r["source_record_id"], r["event_time_raw"], r["customer_id"], r["text_raw"],
                r["state_raw"], r["location"], r["parse_error"]) for n, r in rows.items()} == {
        1: ("1234", "1762197725", "CUST-01234", CALL["notes"], " tx", "Austin 78701",
            "wrong type: duration_s is not a whole number: true"),
        2: ("CALL-0100001", "1.7621977255E9", "CUST-01234", CALL["notes"], " tx",
            "Austin 78701", None),
        3: ("CALL-0100001", CALL["started"], "CUST-01234", '{"b":1,"a":["x",{"d":2,"c":1}]}',
            " tx", "Austin 78701", None),
        4: ("CALL-0100001", CALL["started"], "42", CALL["notes"], "1000.0", "-0.0", None),
        5: ("CALL-0100001", None, "CUST-01234", None, " tx", "Austin 78701",
            "missing field: started"),
    }


def test_json_that_only_a_lenient_reader_accepts_is_malformed(spark: Any) -> None:
    """Validity is strict JSON (``try_parse_json``): duplicate keys, single quotes and NaN are
    malformed, as are lines that are not one JSON object."""
    good = call()
    cases = [
        good.replace('"agent"', '"call_id": "CALL-2", "agent"'),  # call_id twice
        good.replace('"', "'"),
        good.replace("252", "NaN"),
        good.replace('"Jane Doe"', '"Jane \\ud800"'),  # a lone surrogate
        "   " + good + "  ",  # surrounding blanks are fine
    ]
    rows = by_line(parse_call_center(raw_frame(spark, cases)))
    assert [rows[i + 1]["parse_error"] for i in range(len(cases))] == [
        "malformed JSON", "malformed JSON", "malformed JSON", "malformed JSON", None]
    # No field is read out of them either (a lenient reader would read every one of them).
    assert [rows[i + 1]["source_record_id"] for i in range(len(cases))] == [
        None, None, None, None, "CALL-0100001"]


# --- web_form (CFPB layout)
WEB_ROW: dict[str, str | None] = {
    **{c: None for c in WEB_FORM_COLUMNS},
    "Date received": "2026-11-03",
    "Product": "Internet service",
    "Sub-product": "Cable internet",
    "Issue": "Billing dispute",
    "Sub-issue": "Charged twice",
    "Consumer complaint narrative": "I was charged twice for my October bill.\nPlease help.",
    "Company": "Acme Telecom",
    "State": "TX",
    "ZIP code": " 78701 ",
    "Submitted via": "Web",
    "Complaint ID": " 7000001 ",
}
WEB_SCHEMA = (", ".join(f"`{c}` string" for c in WEB_FORM_COLUMNS)
              + ", raw_file string, raw_line long, raw_record string, ingest_time timestamp,"
              " parse_error string")


def web_frame(spark: Any, rows: list[tuple[dict[str, str | None], str | None]]) -> Any:
    """Like read_web_forms: the 18 columns, lineage, raw_record as JSON, CSV parse_error."""
    data = [
        tuple(r[c] for c in WEB_FORM_COLUMNS)
        + ("raw/web_form/ingest_date=2026-11-03/hour=07/web.csv", i + 1, json.dumps(r),
           INGESTED, error)
        for i, (r, error) in enumerate(rows)
    ]
    return spark.createDataFrame(data, WEB_SCHEMA)


def test_parse_web_form(spark: Any) -> None:
    rows: list[tuple[dict[str, str | None], str | None]] = [
        (WEB_ROW, None),
        ({**WEB_ROW, "Consumer complaint narrative": None, "Complaint ID": "7000002"}, None),
        ({**WEB_ROW, "Complaint ID": "  "}, None),
        ({**WEB_ROW, "Date received": None}, None),
        ({**WEB_ROW, "Sub-issue": None, "Consumer complaint narrative": " ",
          "Complaint ID": "7000005", "Date received": "11/03/2026"}, None),
        ({c: None for c in WEB_FORM_COLUMNS}, "malformed CSV row"),
    ]
    out = parse_web_form(web_frame(spark, rows))
    assert out.columns == list(STAGED_COLUMNS)
    got = by_line(out)
    first = got[1]
    assert {k: first[k] for k in STAGED_COLUMNS if k not in ("raw_record", "ingest_time")} == {
        "source": "web_form",
        "source_record_id": "7000001",
        "customer_id": None,
        "case_id": None,
        "event_time_raw": "2026-11-03",
        "event_zone": None,
        "default_zone": "UTC",
        "text_raw": "I was charged twice for my October bill.\nPlease help.",
        "hints": "Internet service. Cable internet. Billing dispute. Charged twice",
        "state_raw": "TX",
        "location": "78701",
        "severity_raw": None,
        "sender": None,
        "raw_file": "raw/web_form/ingest_date=2026-11-03/hour=07/web.csv",
        "raw_line": 1,
        "parse_error": None,
    }
    assert first["raw_record"] == json.dumps(WEB_ROW)
    assert {n: (r["source_record_id"], r["event_time_raw"], r["text_raw"], r["parse_error"])
            for n, r in got.items()} == {
        1: ("7000001", "2026-11-03", "I was charged twice for my October bill.\nPlease help.",
            None),
        # no narrative: the issue and sub-issue are the text
        2: ("7000002", "2026-11-03", "Billing dispute. Charged twice", None),
        3: (None, "2026-11-03", "I was charged twice for my October bill.\nPlease help.",
            "missing field: Complaint ID"),
        4: ("7000001", None, "I was charged twice for my October bill.\nPlease help.",
            "missing field: Date received"),
        5: ("7000005", "11/03/2026", "Billing dispute", None),
        # the reader's error comes first
        6: (None, None, None, "malformed CSV row"),
    }


def land_web_form(settings: Settings, name: str, header: Sequence[str],
                  rows: Sequence[dict[str, str | None]]) -> Path:
    folder = settings.zones.raw / "web_form" / "ingest_date=2026-11-03" / "hour=07"
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[row.get(c) or "" for c in header] for row in rows])
    (folder / name).write_text(buffer.getvalue())
    return folder / name


def staged_by_id(spark: Any, settings: Settings, files: Sequence[Path]) -> dict[str, Any]:
    """parse_web_form over files read by their own headers: staged rows by source record id."""
    verdicts = [inspect_raw_file(f, "web_form") for f in files]
    assert all(v.readable for v in verdicts)
    out = parse_web_form(read_web_forms(spark, settings.lake, verdicts))
    return {r.source_record_id: r.asDict() for r in out.collect()}


def test_parse_web_form_by_header_name_whatever_the_column_order(
    spark: Any, settings: Settings
) -> None:
    drifted = ["Complaint ID", "Internal note", *reversed(WEB_FORM_COLUMNS[:-1])]
    drifted.remove("Tags")
    cfpb = land_web_form(settings, "cfpb.csv", WEB_FORM_COLUMNS, [WEB_ROW])
    moved = land_web_form(settings, "moved.csv", drifted,
                          [{**WEB_ROW, "Complaint ID": "7000002", "Internal note": "vip"}])
    got = staged_by_id(spark, settings, [cfpb, moved])
    assert sorted(got) == ["7000001", "7000002"]
    lineage = ("source_record_id", "raw_file", "raw_record", "ingest_time")
    same = [{k: v for k, v in got[i].items() if k not in lineage} for i in ("7000001", "7000002")]
    assert same[0] == same[1]
    assert same[0]["text_raw"] == "I was charged twice for my October bill.\nPlease help."
    assert same[0]["hints"] == "Internet service. Cable internet. Billing dispute. Charged twice"
    assert (same[0]["state_raw"], same[0]["location"], same[0]["parse_error"]) == (
        "TX", "78701", None)


def test_parse_web_form_without_a_narrative_column_takes_the_issue(
    spark: Any, settings: Settings
) -> None:
    header = [c for c in WEB_FORM_COLUMNS if c != "Consumer complaint narrative"]
    path = land_web_form(settings, "no_narrative.csv", header,
                         [WEB_ROW, {**WEB_ROW, "Complaint ID": "7000002", "Date received": ""}])
    got = staged_by_id(spark, settings, [path])
    assert {i: (r["text_raw"], r["event_time_raw"], r["parse_error"]) for i, r in got.items()} == {
        "7000001": ("Billing dispute. Charged twice", "2026-11-03", None),
        # a required value left blank is still a record-level quarantine
        "7000002": ("Billing dispute. Charged twice", None, "missing field: Date received"),
    }


# --- DynamoDB exports
def s(value: str) -> dict[str, str]:
    return {"S": value}


def item(**attrs: Any) -> str:
    return json.dumps({"Item": attrs})


def test_parse_complaint_management_keeps_metadata_items_only(spark: Any) -> None:
    metadata = dict(PK=s("Complaint1001"), SK=s("metadata"), customer_id=s("CUST-00042"),
                    complaint_id=s("Complaint1001"), current_state=s("assigned"),
                    creation_time=s("2026-11-03T07:15:00Z"), severity=s("P2"),
                    complaint_description=s("I was charged twice for my October bill"),
                    escalated_to=s("AgentB"))
    records = [
        item(**metadata),
        item(PK=s("Complaint1001"), SK=s("comm#2026-11-03T08:00:00Z#comm5001"),
             comm_id=s("comm5001"), comm_text=s("Assigned to AgentB."),
             complaint_state=s("assigned"), attachments={"SS": ["s3://b/bill.pdf"]}),
        item(PK=s("Complaint1001"), SK=s("comm#2026-11-03T09:00:00Z#comm5002"),
             comm_id=s("comm5002"), comm_text=s("Issued a credit of $20.00.")),
        # no complaint_id: the PK is the case; no customer, no severity
        item(PK=s("Complaint1002"), SK=s("metadata"), creation_time=s("2026-11-03T07:20:00"),
             complaint_description=s("no internet since Monday"), customer_id={"NULL": True}),
        item(PK=s("Complaint1003"), SK=s("metadata"), creation_time=s("2026-11-03T07:30:00Z"),
             complaint_description=s("   ")),
        item(PK=s("Complaint1004"), SK=s("metadata"), complaint_description=s("modem")),
        item(PK={"N": "1005"}, SK=s("metadata"), creation_time=s("2026-11-03T07:30:00Z"),
             complaint_description=s("modem")),
        '{"Item": {"PK": {"S": "Complaint10',
        json.dumps({"Items": [json.loads(item(**metadata))["Item"]]}),
    ]
    out = parse_complaint_management(raw_frame(spark, records))
    assert out.columns == list(STAGED_COLUMNS)
    got = by_line(out)
    assert sorted(got) == [1, 4, 5, 6, 7, 8, 9]  # the comm# items (lines 2, 3) are not complaints
    assert {n: (r["source"], r["source_record_id"], r["customer_id"], r["case_id"],
                r["event_time_raw"], r["default_zone"], r["text_raw"], r["severity_raw"],
                r["parse_error"]) for n, r in got.items()} == {
        1: ("complaint_management", "Complaint1001", "CUST-00042", "Complaint1001",
            "2026-11-03T07:15:00Z", "UTC", "I was charged twice for my October bill", "P2",
            None),
        4: ("complaint_management", "Complaint1002", None, "Complaint1002",
            "2026-11-03T07:20:00", "UTC", "no internet since Monday", None, None),
        5: ("complaint_management", "Complaint1003", None, "Complaint1003",
            "2026-11-03T07:30:00Z", "UTC", None, None, "missing field: complaint_description"),
        6: ("complaint_management", "Complaint1004", None, "Complaint1004", None, "UTC",
            "modem", None, "missing field: creation_time"),
        7: ("complaint_management", None, None, None, "2026-11-03T07:30:00Z", "UTC", "modem",
            None, "missing field: PK"),
        8: ("complaint_management", None, None, None, None, "UTC", None, None, "malformed JSON"),
        9: ("complaint_management", None, None, None, None, "UTC", None, None,
            "export line has no Item"),
    }


def test_parse_mbpp_reports_takes_the_state_from_the_location(spark: Any) -> None:
    records = [
        item(ticket_number=s("20205/2026/11/03"), subject=s("Internet down"),
             details=s("no internet since Monday"), location=s("Austin, TX 78701"),
             category=s("complaint"), blocked_road={"BOOL": False},
             created_at=s("2026-11-03T09:00:00-06:00"), status=s("open"),
             ttl={"N": "1785920400"}),
        item(ticket_number=s("20207/2026/11/03"), subject=s("Complaint"), location=s("Miami, fl"),
             created_at=s("2026-11-03T09:05:00Z")),
        item(ticket_number=s("20209/2026/11/03"), details=s("cable hanging low across Main St"),
             location=s("Springfield"), created_at=s("2026-11-03T09:10:00Z")),
        item(ticket_number=s("20211/2026/11/03"), location=s("Austin, TX"),
             created_at=s("2026-11-03T09:15:00Z")),
        item(subject=s("Wrong bill"), created_at=s("2026-11-03T09:15:00Z")),
        item(ticket_number=s("20213/2026/11/03"), subject=s("Wrong bill")),
    ]
    got = by_line(parse_mbpp_reports(raw_frame(spark, records)))
    assert {n: (r["source"], r["source_record_id"], r["case_id"], r["event_time_raw"],
                r["text_raw"], r["state_raw"], r["location"], r["parse_error"])
            for n, r in got.items()} == {
        1: ("mbpp_reports", "20205/2026/11/03", "20205/2026/11/03", "2026-11-03T09:00:00-06:00",
            "Internet down. no internet since Monday", "TX", "Austin, TX 78701", None),
        2: ("mbpp_reports", "20207/2026/11/03", "20207/2026/11/03", "2026-11-03T09:05:00Z",
            "Complaint", "FL", "Miami, fl", None),
        3: ("mbpp_reports", "20209/2026/11/03", "20209/2026/11/03", "2026-11-03T09:10:00Z",
            "cable hanging low across Main St", None, "Springfield", None),
        4: ("mbpp_reports", "20211/2026/11/03", "20211/2026/11/03", "2026-11-03T09:15:00Z",
            None, "TX", "Austin, TX", "missing field: details"),
        5: ("mbpp_reports", None, None, "2026-11-03T09:15:00Z", "Wrong bill", None, None,
            "missing field: ticket_number"),
        6: ("mbpp_reports", "20213/2026/11/03", "20213/2026/11/03", None, "Wrong bill", None,
            None, "missing field: created_at"),
    }


def test_parse_chat_feedback_keeps_negative_feedback_only(spark: Any) -> None:
    records = [
        item(pk_message_id=s("msg-00001"), sk_session_id=s("sess-20261103-001"),
             user_prompt=s("how do I reset my router"), bot_response=s("Try unplugging it."),
             metadata={"M": {"model": s("v2")}}, sent_at=s("2026-11-03T09:59:00.000Z"),
             response_time={"N": "1.25"}, feedback_type=s("negative"),
             feedback_rank={"N": "1"}, feedback_category=s("unhelpful"),
             feedback_message=s("The bot kept sending me the same article"),
             feedback_created_at=s("2026-11-03T10:00:00.123Z")),
        item(pk_message_id=s("msg-00002"), sk_session_id=s("sess-20261103-001"),
             user_prompt=s("thanks"), feedback_type=s("positive"), feedback_message=s("great"),
             feedback_created_at=s("2026-11-03T10:01:00Z")),
        item(pk_message_id=s("msg-00003"), sk_session_id=s("sess-20261103-002"),
             user_prompt=s("my bill is wrong"), sent_at=s("2026-11-03T10:02:00Z")),
        # negative without a message: the prompt is the text, sent_at the time
        item(pk_message_id=s("msg-00004"), sk_session_id=s("sess-20261103-002"),
             user_prompt=s("my bill is wrong"), feedback_type=s(" Negative "),
             sent_at=s("2026-11-03T10:03:00Z")),
        item(pk_message_id=s("msg-00005"), feedback_type=s("negative")),
        "not json",
    ]
    got = by_line(parse_chat_feedback(raw_frame(spark, records)))
    assert {n: (r["source"], r["source_record_id"], r["case_id"], r["event_time_raw"],
                r["text_raw"], r["hints"], r["parse_error"]) for n, r in got.items()} == {
        1: ("chat_feedback", "msg-00001", "sess-20261103-001", "2026-11-03T10:00:00.123Z",
            "The bot kept sending me the same article", "unhelpful", None),
        4: ("chat_feedback", "msg-00004", "sess-20261103-002", "2026-11-03T10:03:00Z",
            "my bill is wrong", None, None),
        5: ("chat_feedback", "msg-00005", None, None, None, None,
            "missing field: feedback_created_at"),
        6: ("chat_feedback", None, None, None, None, None, "malformed JSON"),
    }


def test_dynamodb_attributes_read_as_text_like_from_json(spark: Any) -> None:
    """S attributes are read as text, odd values included; an Item that is not an object is no
    Item."""
    records = [
        item(ticket_number=s("20205/2026/11/03"), created_at=s("2026-11-03T09:00:00Z"),
             details={"S": 12.5}, subject={"S": {"b": 1, "a": 2}}, location=s("Austin, TX")),
        item(ticket_number={"S": 20206}, created_at=s("2026-11-03T09:00:00Z"),
             details=s("no internet"), location="Austin, TX"),  # location not an attribute value
        json.dumps({"Item": "20207"}),
        json.dumps({"Item": [{"ticket_number": s("20208")}]}),
        json.dumps({"Item": None}),
        json.dumps({"Item": {}}),
    ]
    got = by_line(parse_mbpp_reports(raw_frame(spark, records)))
    assert {n: (r["source_record_id"], r["text_raw"], r["location"], r["parse_error"])
            for n, r in got.items()} == {
        1: ("20205/2026/11/03", '{"b":1,"a":2}. 12.5', "Austin, TX", None),
        2: ("20206", "no internet", None, None),
        3: (None, None, None, "export line has no Item"),
        4: (None, None, None, "export line has no Item"),
        5: (None, None, None, "export line has no Item"),
        6: (None, None, None, "missing field: ticket_number"),
    }
