"""Suites of the clean operational tables: shape, keys and lineage of each snapshot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from common.lake import Lake
from quality.operational_checks import check_operational_tables, operational_suite
from schemas.sources import DYNAMODB_TABLES, operational_schema

LANDED = dt.datetime(2026, 11, 3, 10, tzinfo=dt.UTC)


def write_snapshot(lake: Lake, table: str, rows: list[dict[str, Any]]) -> None:
    schema = operational_schema(DYNAMODB_TABLES[table]).arrow_schema()
    folder = lake.clean_table(table)
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")


def message(i: int, **overrides: Any) -> dict[str, Any]:
    row = {"pk_message_id": f"m{i}", "sk_session_id": "s1", "raw_file": "raw/chat_messages/x",
           "raw_line": i + 1, "ingest_time": LANDED}
    return {**row, **overrides}


def test_every_table_has_a_suite_keyed_on_its_keys() -> None:
    for table in DYNAMODB_TABLES.values():
        suite = operational_suite(table)
        assert suite.name == f"clean_{table.logical}"
        unique = [e for e in suite.expectations if "unique" in e.expectation_type]
        assert len(unique) == 1


def test_snapshots_are_checked_and_tables_not_transformed_are_skipped(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    write_snapshot(lake, "chat_messages", [message(i) for i in range(5)])
    write_snapshot(lake, "mbpp_reports", [
        {"ticket_number": "T1", "raw_file": "raw/mbpp_reports/x", "raw_line": 1,
         "ingest_time": LANDED},
        {"ticket_number": "T1", "raw_file": "raw/mbpp_reports/x", "raw_line": 0,
         "ingest_time": LANDED},
    ])
    reports = {r.suite: r for r in check_operational_tables(lake)}
    assert set(reports) == {"clean_chat_messages", "clean_mbpp_reports"}
    assert reports["clean_chat_messages"].success, reports["clean_chat_messages"].summary()
    bad = reports["clean_mbpp_reports"]
    assert {(f.expectation, f.column, f.severity) for f in bad.failed} == {
        ("expect_column_values_to_be_unique", "ticket_number", "critical"),
        ("expect_column_values_to_be_between", "raw_line", "critical"),
    }
    assert "ticket_number: T1" in bad.failed[1].details


def test_a_repeated_compound_key_is_found(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    write_snapshot(lake, "chat_messages", [message(1), message(2, pk_message_id="m1")])
    [report] = check_operational_tables(lake, ["chat_messages"])
    assert [(f.expectation, f.column) for f in report.failed] == [
        ("expect_compound_columns_to_be_unique", "pk_message_id, sk_session_id")]
