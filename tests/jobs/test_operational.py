"""DynamoDB JSON decoding into the clean operational tables (every type, exact values)."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from common.settings import Settings
from jobs.operational import (
    NotDynamoJson,
    attribute_json,
    decode_items,
    decode_nested,
    run_operational_tables,
)
from jobs.raw_zone import JSON_LINES_SCHEMA
from schemas.sources import DYNAMODB_TABLES, operational_schema

EVERY_TYPE = {
    "S": {"S": "héllo"},
    "N": {"N": "2.75"},
    "BOOL": {"BOOL": False},
    "NULL": {"NULL": True},
    "SS": {"SS": ["a", "b"]},
    "NS": {"NS": ["1", "12345678901234567890.5"]},
    "M": {"M": {"k": {"N": "1e3"}, "deep": {"L": [{"S": "x"}, {"BOOL": True}, {"NULL": True}]}}},
    "L": {"L": [{"M": {"id": {"S": "dev_001"}}}, {"NS": ["7"]}]},
}


def test_attribute_json_decodes_every_type_keeping_exact_numbers() -> None:
    decoded = {kind: attribute_json(av) for kind, av in EVERY_TYPE.items()}
    assert decoded["S"] == '"héllo"'
    assert decoded["N"] == "2.75"
    assert decoded["BOOL"] == "false"
    assert decoded["NULL"] == "null"
    assert json.loads(decoded["SS"]) == ["a", "b"]
    assert decoded["NS"] == "[1,12345678901234567890.5]"
    assert json.loads(decoded["M"]) == {"k": 1000.0, "deep": ["x", True, None]}
    assert '"k":1E+3' in decoded["M"]  # the exact decimal, not a float's rounding
    assert json.loads(decoded["L"]) == [{"id": "dev_001"}, [7]]


@pytest.mark.parametrize("bad", [{"N": "twelve"}, {"X": 1}, {"S": "a", "N": "1"}, ["S", "a"]])
def test_attribute_json_rejects_what_is_not_dynamodb_json(bad: Any) -> None:
    with pytest.raises(NotDynamoJson):
        attribute_json(bad)


def test_decode_nested_is_null_safe() -> None:
    assert decode_nested(None) is None
    assert decode_nested('{"NULL": true}') is None
    assert decode_nested("not json") is None
    assert decode_nested('{"L": [{"N": "3"}]}') == "[3]"


def _raw(spark: Any, lines: list[str]) -> Any:
    rows = [("raw/t/ingest_date=2026-11-06/hour=01/x/data/a.json.gz", i + 1, line, None, True)
            for i, line in enumerate(lines)]
    return spark.createDataFrame(rows, JSON_LINES_SCHEMA)


def test_decode_items_types_each_declared_attribute(spark: Any) -> None:
    table = DYNAMODB_TABLES["chat_messages"]
    item = {
        "pk_message_id": {"S": "m1"}, "sk_session_id": {"S": "s1"},
        "response_time": {"N": "2.5"}, "feedback_rank": {"N": "4"},
        "errors": {"NULL": True},
        "metadata": {"M": {"documents": {"L": [{"M": {"score": {"N": "0.88"}}}]}}},
    }
    lines = [json.dumps({"Item": item}), '{"Item": {"pk_message_id": {"S": "m2"}', "[]",
             json.dumps({"Item": {"sk_session_id": {"S": "s9"}}}),
             json.dumps({"Item": {"pk_message_id": {"S": "m3"}, "response_time": {"N": "x"}}})]
    decoded = decode_items(_raw(spark, lines), "chat_messages", table.attributes,
                           ["pk_message_id"]).orderBy("raw_line").collect()
    first = decoded[0]
    assert first["reason"] is None
    assert first["response_time"] == Decimal("2.5000000000")
    assert first["feedback_rank"] == Decimal("4")
    assert first["errors"] is None
    assert json.loads(first["metadata"]) == {"documents": [{"score": 0.88}]}
    assert [r["reason"] for r in decoded[1:]] == [
        "malformed JSON", "malformed JSON", "missing key attribute: pk_message_id",
        "wrong type: response_time is not a number",
    ]


def test_decode_items_sets_and_booleans(spark: Any) -> None:
    cm = DYNAMODB_TABLES["complaint_management"]
    line = json.dumps({"Item": {"PK": {"S": "C1"}, "SK": {"S": "metadata"},
                                "attachments": {"SS": ["s3://a", "s3://b"]}}})
    row = decode_items(_raw(spark, [line]), "complaint_management", cm.attributes,
                       ["PK", "SK"]).first()
    assert row is not None and row["attachments"] == ["s3://a", "s3://b"]
    msgs = DYNAMODB_TABLES["service_bot_messages"]
    line = json.dumps({"Item": {"conversationId": {"S": "c"}, "timestamp": {"S": "t"},
                                "allowed": {"BOOL": True},
                                "requiredActions": {"L": [{"S": "device_relocation"}]}}})
    row = decode_items(_raw(spark, [line]), "service_bot_messages", msgs.attributes,
                       ["conversationId", "timestamp"]).first()
    assert row is not None and row["allowed"] is True
    assert json.loads(row["requiredActions"]) == ["device_relocation"]


def _land_export(lake: Path, table: str, hour: str, items: list[str], landed_at: str) -> None:
    export = lake / "raw" / table / "ingest_date=2026-11-06" / f"hour={hour}" / "AWSDynamoDB" / hour
    (export / "data").mkdir(parents=True)
    (export / "data" / "part.json.gz").write_bytes(gzip.compress("\n".join(items).encode()))
    (export / "_landed.json").write_text(json.dumps({"landed_at": landed_at}))


def test_run_operational_tables_uses_the_latest_export_and_conserves_counts(
    spark: Any, settings: Settings
) -> None:
    def level(name: str, max_devices: str) -> str:
        return json.dumps({"Item": {"level": {"S": name}, "max_devices": {"N": max_devices},
                                    "allowed_actions": {"L": [{"S": "status_check"}]}}})

    _land_export(settings.lake, "service_bot_service_levels", "01",
                 [level("basic", "1")], "2026-11-06T01:00:00+00:00")
    _land_export(settings.lake, "service_bot_service_levels", "05",
                 [level("basic", "2"), level("premium", "3"), "{oops"],
                 "2026-11-06T05:00:00+00:00")
    result = run_operational_tables(settings, run_id="r1", spark=spark,
                                    tables=("service_bot_service_levels", "chat_reviews"))
    counts = {c.source: c for c in result.counts}
    levels = counts["dynamodb:service_bot_service_levels"]
    assert (levels.records_in, levels.clean, levels.quarantined, levels.duplicates) == (3, 2, 1, 0)
    assert counts["dynamodb:chat_reviews"].records_in == 0  # nothing landed: recorded, not an error
    table = pq.read_table(settings.zones.clean / "service_bot_service_levels").to_pylist()
    assert sorted((r["level"], r["max_devices"]) for r in table) == [
        ("basic", Decimal("2")), ("premium", Decimal("3"))]
    expected = [c.name for c in operational_schema(
        DYNAMODB_TABLES["service_bot_service_levels"]).columns]
    assert pq.read_schema(next((settings.zones.clean / "service_bot_service_levels").glob(
        "*.parquet"))).names == expected
    quarantined = pq.read_table(settings.zones.quarantine_records).to_pylist()
    assert [(q["reason"], q["raw_line"]) for q in quarantined] == [("malformed JSON", 3)]
    assert list((settings.zones.runs).glob("r1__operational.parquet"))

    # The same exports again: each table is kept as it is, and the run says so.
    built = {p: p.stat().st_mtime_ns for p in settings.zones.clean.rglob("*.parquet")}
    rerun = run_operational_tables(settings, run_id="r2", spark=spark,
                                   tables=("service_bot_service_levels", "chat_reviews"))
    assert [(c.source, c.mode, c.records_in) for c in rerun.counts] == [
        ("dynamodb:service_bot_service_levels", "skipped", 0), ("dynamodb:chat_reviews", "full", 0)]
    assert {p: p.stat().st_mtime_ns for p in settings.zones.clean.rglob("*.parquet")} == built
    # A newer export of the table: it is built again.
    _land_export(settings.lake, "service_bot_service_levels", "09", [level("gold", "9")],
                 "2026-11-06T09:00:00+00:00")
    newer = run_operational_tables(settings, run_id="r3", spark=spark,
                                   tables=("service_bot_service_levels",))
    assert [(c.mode, c.records_in, c.clean) for c in newer.counts] == [("full", 1, 1)]
    assert [r["level"] for r in pq.read_table(
        settings.zones.clean / "service_bot_service_levels").to_pylist()] == ["gold"]
