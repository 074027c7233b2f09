"""The sample-data generator: deterministic, messy in the documented ways, with a visible surge."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from common.aws import aws_client, to_dynamodb_json
from common.settings import Settings
from complaints.emulator import moto_server
from samples.generate import (
    CATEGORIES,
    COMPLAINT_TEMPLATES,
    CUSTOMER_COUNT,
    SHARED_PHONE_CUSTOMERS,
    UK_CUSTOMER,
    UK_MOBILE_E164,
    UK_MOBILE_NATIONAL,
    GenerationSummary,
    customer_item,
    customer_master,
    default_surge,
    dynamodb_items,
    generate,
    known_customer,
)
from schemas.regions import STATE_REGION
from schemas.sources import CALL_CENTER_FIELDS, DYNAMODB_TABLES, WEB_FORM_COLUMNS

START = date(2026, 11, 2)
DAYS = 5
WINDOW = [START + timedelta(days=i) for i in range(DAYS)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, GenerationSummary]:
    settings = Settings(lake=tmp_path_factory.mktemp("lake"))
    return settings, generate(settings, load_dynamodb=False)


def call_files(settings: Settings) -> list[Path]:
    return sorted((settings.zones.inbox / "call_center").glob("calls_*.jsonl"))


def form_files(settings: Settings) -> list[Path]:
    return sorted((settings.zones.inbox / "web_form").glob("forms_*.csv"))


def call_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def parsed_calls(path: Path) -> list[dict[str, Any]]:
    """The lines of a call log that are valid UTF-8 JSON objects."""
    records = []
    for line in call_lines(path):
        try:
            records.append(json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
    return records


def started_shape(value: object) -> str:
    if isinstance(value, int):
        return "epoch"
    assert isinstance(value, str)
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", value):
        return "iso_offset"
    if re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", value):
        return "zulu"
    if re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d [AP]M", value):
        return "us_local"
    return "unknown"


def started_utc(record: dict[str, Any]) -> datetime:
    value = record["started"]
    shape = started_shape(value)
    if shape == "epoch":
        return datetime.fromtimestamp(value, UTC)
    if shape == "zulu":
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=UTC)
    if shape == "iso_offset":
        return datetime.fromisoformat(value).astimezone(UTC)
    local = datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p")
    return local.replace(tzinfo=ZoneInfo(record["tz"])).astimezone(UTC)


def date_shape(value: str) -> str:
    for shape, pattern in (("iso", "%Y-%m-%d"), ("us", "%m/%d/%Y")):
        try:
            datetime.strptime(value, pattern)
            return shape
        except ValueError:
            continue
    return "bad"


def region_of(record: dict[str, Any]) -> str | None:
    location = record.get("location") or {}
    return STATE_REGION.get(str(location.get("state", "")).strip().upper())


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_writes_byte_identical_files(
    generated: tuple[Settings, GenerationSummary], tmp_path: Path
) -> None:
    settings, summary = generated
    again = generate(Settings(lake=tmp_path / "again"), load_dynamodb=False)

    assert len(summary.files) == 2 * DAYS
    for first, second in zip(summary.files, again.files, strict=True):
        assert first.name == second.name
        assert first.read_bytes() == second.read_bytes()
    assert again.to_dict() | {"files": None} == summary.to_dict() | {"files": None}

    rerun = generate(Settings(lake=tmp_path / "again"), load_dynamodb=False)
    assert [p.read_bytes() for p in rerun.files] == [p.read_bytes() for p in summary.files]

    other = generate(Settings(lake=tmp_path / "other"), seed=8, days=1, load_dynamodb=False)
    assert other.files[0].read_bytes() != summary.files[0].read_bytes()


def test_dynamodb_items_are_deterministic() -> None:
    surge = default_surge(START, DAYS)
    assert dynamodb_items(7, WINDOW, surge) == dynamodb_items(7, WINDOW, surge)
    assert dynamodb_items(7, WINDOW, surge) != dynamodb_items(8, WINDOW, surge)


# --- call-centre logs --------------------------------------------------------------------------


def test_summary_counts_every_line_and_row(generated: tuple[Settings, GenerationSummary]) -> None:
    settings, summary = generated
    assert summary.records["call_center"] == sum(len(call_lines(p)) for p in call_files(settings))
    rows = sum(len(list(csv.reader(io.StringIO(p.read_text("utf-8"))))) - 1
               for p in form_files(settings))
    assert summary.records["web_form"] == rows
    for path in call_files(settings):
        assert 150 <= len(call_lines(path)) <= 400
    assert summary.malformed == {"call_center": 6 * DAYS, "web_form": 2 * DAYS}
    assert summary.surge is not None
    json.dumps(summary.to_dict())


def test_call_log_is_messy_in_the_documented_ways(
    generated: tuple[Settings, GenerationSummary],
) -> None:
    settings, summary = generated
    for path in call_files(settings):
        lines = call_lines(path)
        invalid_utf8 = truncated = 0
        for line in lines:
            try:
                json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                invalid_utf8 += 1
            except json.JSONDecodeError:
                truncated += 1
        assert invalid_utf8 >= 1, path.name
        assert truncated >= 3, path.name

        records = parsed_calls(path)
        shapes = Counter(started_shape(r["started"]) for r in records)
        assert set(shapes) == {"iso_offset", "zulu", "us_local", "epoch"}, path.name
        assert all("tz" in r for r in records if started_shape(r["started"]) == "us_local")
        assert any(isinstance(r.get("duration_s"), str) for r in records)
        assert any("notes" not in r for r in records)
        assert any("location" not in r for r in records)
        assert any(r["caller"].get("customer_id") is None for r in records)
        assert all(set(r) <= set(CALL_CENTER_FIELDS) for r in records)  # no hidden label
        assert all(re.fullmatch(r"CALL-\d{7}", r["call_id"]) for r in records)
        states = [r["location"]["state"] for r in records if "location" in r]
        assert any(s != s.strip() or s != s.upper() for s in states)
        zips = [r["location"]["zip"] for r in records if "location" in r]
        assert all(isinstance(z, str) and len(z) == 5 for z in zips)

    all_lines = [line for path in call_files(settings) for line in call_lines(path)]
    copies = sum(n - 1 for n in Counter(all_lines).values())
    assert copies == summary.duplicates["call_center"] > 0
    per_file = [set(call_lines(p)) for p in call_files(settings)]
    assert any(a & b for a, b in zip(per_file, per_file[1:], strict=False)), "no cross-day copy"

    notes = [r["notes"] for p in call_files(settings) for r in parsed_calls(p) if "notes" in r]
    assert len(set(notes)) > 500
    assert any(re.search(r"\(\d{3}\) 555-\d{4}|\+1 \d{3} 555 \d{4}", n) for n in notes)
    assert any(re.search(r"[\w.]+@[\w.]+\.\w+", n) for n in notes)
    assert any("  " in n for n in notes) and any(n.isupper() for n in notes)


def test_surge_is_visible_in_the_call_logs(generated: tuple[Settings, GenerationSummary]) -> None:
    settings, summary = generated
    surge = summary.surge
    assert surge is not None
    assert (surge.day, surge.region, surge.category) == (START + timedelta(days=2), "South",
                                                         "network")
    assert (surge.start_hour_utc, surge.hours) == (13, 4)

    in_window: Counter[date] = Counter()
    for path in call_files(settings):
        for record in parsed_calls(path):
            moment = started_utc(record)
            if region_of(record) == "South" and surge.start_hour_utc <= moment.hour < (
                surge.start_hour_utc + surge.hours
            ):
                in_window[moment.date()] += 1
    others = [in_window[d] for d in WINDOW if d != surge.day]
    assert in_window[surge.day] >= 4 * max(others), in_window


def test_texts_cover_every_category() -> None:
    assert set(COMPLAINT_TEMPLATES) == set(CATEGORIES) and len(CATEGORIES) == 7
    assert all(len(templates) >= 8 for templates in COMPLAINT_TEMPLATES.values())


# --- web forms ---------------------------------------------------------------------------------


def test_web_form_is_the_cfpb_csv_layout(generated: tuple[Settings, GenerationSummary]) -> None:
    settings, summary = generated
    all_ids: list[str] = []
    for path in form_files(settings):
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        assert tuple(header) == WEB_FORM_COLUMNS and len(header) == 18
        assert all(len(row) == 18 for row in body)
        records = [dict(zip(header, row, strict=True)) for row in body]
        assert 80 <= len(records) <= 140
        assert sum(r["Complaint ID"] == "" for r in records) == 1
        assert all(r["Complaint ID"].isdigit() for r in records if r["Complaint ID"])
        assert {r["Company"] for r in records} == {"Acme Telecom"}
        assert {r["Submitted via"] for r in records} == {"Web"}
        dates = Counter(date_shape(r["Date received"]) for r in records)
        assert dates["bad"] == 1 and dates["iso"] > dates["us"] > 0, dates
        assert all(r["Issue"] for r in records if not r["Consumer complaint narrative"])
        assert any(not r["Consumer complaint narrative"] for r in records)
        all_ids += [r["Complaint ID"] for r in records if r["Complaint ID"]]
    copies = sum(n - 1 for n in Counter(all_ids).values())
    assert copies == summary.duplicates["web_form"] > 0

    text = "".join(p.read_text("utf-8") for p in form_files(settings))
    narratives = [row[5] for row in csv.reader(io.StringIO(text))]
    assert any("\n" in n for n in narratives) and any('"' in n for n in narratives)
    products = {row[1] for row in csv.reader(io.StringIO(text))} - {"Product"}
    assert products == {"Internet service", "Mobile phone", "Cable TV", "Home phone"}


# --- DynamoDB ----------------------------------------------------------------------------------


def attribute_types(items: list[dict[str, Any]]) -> set[str]:
    return {kind for item in items for value in item.values() for kind in value}


def test_dynamodb_items_follow_the_declared_tables() -> None:
    surge = default_surge(START, DAYS)
    tables = {logical: [to_dynamodb_json(i) for i in items]
              for logical, items in dynamodb_items(7, WINDOW, surge).items()}
    assert list(tables) == list(DYNAMODB_TABLES)
    first = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    last = first + timedelta(days=DAYS)
    for logical, items in tables.items():
        spec = DYNAMODB_TABLES[logical]
        keys = [(i[spec.partition_key]["S"], i[spec.sort_key]["S"] if spec.sort_key else None)
                for i in items]
        assert len(keys) == len(set(keys)), logical
        for item in items:
            for name, value in item.items():
                (kind,) = value
                assert kind in (spec.attributes[name], "NULL"), (logical, name, kind)
            for name in ("creation_time", "created_at", "sent_at", "comm_date", "timestamp"):
                if name in item:
                    stamp = item[name]["S"].replace("Z", "+00:00")
                    moment = datetime.fromisoformat(stamp)
                    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
                    assert first <= moment < last, (logical, name, stamp)

    cm = tables["complaint_management"]
    complaints = [i for i in cm if i["SK"]["S"] == "metadata"]
    assert 40 <= len(complaints) <= 80
    assert {i["current_state"]["S"] for i in complaints} == {
        "waiting", "assigned", "investigating", "resolved"}
    assert all(re.fullmatch(r"comm#\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ#comm\d+", i["SK"]["S"])
               for i in cm if i["SK"]["S"] != "metadata")
    assert 30 <= len(tables["mbpp_reports"]) <= 70
    messages = tables["chat_messages"]
    assert 60 <= len(messages) <= 120
    negative = [i for i in messages if i.get("feedback_type") == {"S": "negative"}]
    assert 0.2 <= len(negative) / len(messages) <= 0.45
    assert all(i["feedback_message"]["S"].strip() for i in negative)
    every_type = set().union(*(attribute_types(items) for items in tables.values()))
    assert every_type >= {"S", "N", "BOOL", "NULL", "M", "L", "SS"}


def scan_all(client: Any, table: str) -> list[dict[str, Any]]:
    """Items as stored, in DynamoDB JSON (a plain client: no deserialization)."""
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return items


def test_generate_loads_the_tables_into_the_emulator(tmp_path: Path) -> None:
    with moto_server() as url:
        settings = Settings(lake=tmp_path, aws_endpoint_url=url)
        summary = generate(settings, days=3, load_dynamodb=True)
        again = generate(settings, days=3, load_dynamodb=True)  # tables exist: put overwrites
        client = aws_client("dynamodb", settings)
        scanned = {logical: scan_all(client, settings.tables[logical])
                   for logical in DYNAMODB_TABLES}
        backups = client.describe_continuous_backups(TableName=settings.tables["mbpp_reports"])

    assert summary.dynamodb_loaded
    assert summary.dynamodb_items == again.dynamodb_items
    assert {k: len(v) for k, v in scanned.items()} == summary.dynamodb_items
    assert all(count > 0 for count in summary.dynamodb_items.values())
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"

    messages = scanned["chat_messages"]
    assert any("." in i["response_time"]["N"] for i in messages)
    assert any(i.get("errors") == {"NULL": True} for i in messages)
    assert all("L" in i["metadata"]["M"]["documents"] for i in messages)
    assert any("BOOL" in i["blocked_road"] for i in scanned["mbpp_reports"])
    assert all("M" in i["data"] for i in scanned["mbpp_events"])
    assert all("L" in i["devices"] for i in scanned["service_bot_customers"])
    assert any("SS" in i.get("attachments", {}) for i in scanned["complaint_management"])


def _json_or_none(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:  # the planted malformed lines
        return None


def test_customers_and_who_really_wrote_each_complaint(
        generated: tuple[Settings, GenerationSummary]) -> None:
    _, summary = generated
    master = customer_master()
    assert len(master) == CUSTOMER_COUNT and len({c.customer_id for c in master}) == len(master)
    # The planted hard cases: one phone on two accounts, a UK mobile in national format.
    shared = {master[n].phone_e164 for n in SHARED_PHONE_CUSTOMERS}
    assert len(shared) == 1 and sum(c.phone_e164 in shared for c in master) == 2
    uk = master[UK_CUSTOMER]
    assert (uk.country, uk.phone, uk.phone_e164) == ("GB", UK_MOBILE_NATIONAL, UK_MOBILE_E164)
    assert 0.6 <= sum(c.email is not None for c in master) / len(master) <= 0.95
    assert 0.4 <= sum(c.handle is not None for c in master) / len(master) <= 0.8
    # The master's item carries the identifiers; the truth names master customers only.
    item = customer_item(uk, "basic", [])
    assert item["phone"] == UK_MOBILE_NATIONAL and item["social_handles"] == {uk.handle}
    truth = summary.customer_truth
    assert set(truth) == {"call_center", "web_form", "complaint_management", "mbpp_reports",
                          "chat_feedback"}
    ids = {c.customer_id for c in master}
    for source, people in truth.items():
        assert {p for p in people.values() if p is not None} <= ids, source
    lines = [line for path in summary.files if "call_center" in str(path)
             for line in path.read_bytes().splitlines()]
    assert not any(b'"_customer"' in line for line in lines)  # the truth is never written
    calls = [c for c in map(_json_or_none, lines) if c and c["call_id"] in truth["call_center"]]
    # A call naming a master customer was made by them, from their phone.
    named = [c for c in calls if known_customer(c["caller"].get("customer_id"))]
    assert named and all(truth["call_center"][c["call_id"]] == c["caller"]["customer_id"]
                         for c in named)
    digits = {c["call_id"]: "".join(ch for ch in c["caller"]["phone"] if ch.isdigit())[-10:]
              for c in calls}
    assert all(digits[c["call_id"]] == master[int(c["caller"]["customer_id"][5:])]
               .phone_e164[-10:] for c in named if c["caller"]["customer_id"] != uk.customer_id)
