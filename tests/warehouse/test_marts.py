"""Marts and role views on a real DuckDB over a tiny lake: hand-counted expectations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.settings import Settings
from complaints.cli import main
from quality.alerts import Alert, alert_id, record_alerts
from schemas.complaint_cases import COMPLAINT_CASE
from schemas.customer_links import CUSTOMER_LINK
from schemas.sources import DYNAMODB_TABLES, operational_schema
from tests.builders import clean_complaint
from tests.warehouse.test_duckdb_warehouse import (
    quarantined,
    run_row,
    write_clean,
    write_quarantine,
    write_runs,
)
from warehouse.duckdb_warehouse import (
    WarehouseQueryError,
    export_query,
    refresh_warehouse,
    run_query,
)

T0 = datetime(2026, 11, 2, 9, 10, tzinfo=UTC)


def _complaint(n: int, source: str, hours: float, customer: str | None,
               **kw: Any) -> dict[str, Any]:
    return clean_complaint(n, source=source, event_time=T0 + timedelta(hours=hours),
                           customer_id=customer, **kw)


ROWS = [
    _complaint(1, "call_center", 0, "CUST-1", category="billing"),
    _complaint(2, "call_center", 0.5, "CUST-2"),
    _complaint(3, "web_form", 1, "CUST-1", location="Austin 78701"),
    _complaint(4, "complaint_management", 2, "CUST-1", case_id="Complaint1001"),
    _complaint(5, "mbpp_reports", 25, None, case_id="20201/2026/11/03", region="West"),
    _complaint(6, "sms", 26, None, taxonomy_version="test-0"),
]


def _write_table(settings: Settings, table: str, rows: list[dict[str, Any]]) -> None:
    schema = operational_schema(DYNAMODB_TABLES[table])
    lineage = {"raw_file": f"raw/{table}/x.json.gz", "raw_line": 1, "ingest_time": T0}
    full = [{**dict.fromkeys(schema.names), **lineage, **row} for row in rows]
    folder = settings.zones.clean / table
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(full, schema=schema.arrow_schema()),
                   folder / "part-00000.parquet")


@pytest.fixture
def lake(tmp_path: Path) -> Settings:
    settings = Settings(lake=tmp_path / "lake")
    write_clean(settings, ROWS)
    write_quarantine(settings, [quarantined(1)])
    write_runs(settings, [run_row("call_center", 4, 4, 0, 0)])  # taxonomy "2024.1"
    _write_table(settings, "complaint_management", [
        {"PK": "Complaint1001", "SK": "metadata", "customer_id": "CUST-1",
         "creation_time": "2026-11-02T11:10:00", "current_state": "resolved"},
        {"PK": "Complaint1001", "SK": "comm#a", "complaint_state": "assigned",
         "comm_date": "2026-11-02T12:00:00Z"},
        {"PK": "Complaint1001", "SK": "comm#b", "complaint_state": "resolved",
         "comm_date": "2026-11-02T14:40:00Z"},
        {"PK": "Complaint1002", "SK": "metadata", "customer_id": "CUST-9",
         "creation_time": "2026-11-02T08:00:00Z", "current_state": "waiting"},
    ])
    _write_table(settings, "mbpp_reports", [
        {"ticket_number": "20201/2026/11/03", "created_at": "2026-11-03T10:10:00+00:00",
         "status": "closed"},
    ])
    _write_table(settings, "mbpp_events", [
        {"event_id": "e1", "ticket_number": "20201/2026/11/03", "event_type": "status_updated",
         "timestamp": "2026-11-03T11:40:00Z", "data": json.dumps({"status": "closed"})},
    ])
    _write_links(settings)
    refresh_warehouse(settings)
    return settings


def _write_links(settings: Settings) -> None:
    """Two links (jobs.customer_links' output shape): complaint 1 by its id field, complaint 6
    (an SMS without a customer id) by its sender's phone."""
    links = [
        {"complaint_id": ROWS[0]["complaint_id"], "customer_id": "CUST-1",
         "evidence": "customer_id_field", "evidences": ["customer_id_field"], "confidence": 1.0,
         "identifier_key": "0123456789abcdef", "conflicting": False, "link_run_id": "l1"},
        {"complaint_id": ROWS[5]["complaint_id"], "customer_id": "CUST-1",
         "evidence": "phone_e164", "evidences": ["phone_e164"], "confidence": 0.9,
         "identifier_key": "fedcba9876543210", "conflicting": False, "link_run_id": "l1"},
    ]
    for source, link in (("call_center", links[0]), ("sms", links[1])):
        folder = settings.zones.clean / "customer_links" / f"source={source}"
        folder.mkdir(parents=True)
        schema = CUSTOMER_LINK.arrow_schema()
        schema = schema.remove(schema.get_field_index("source"))
        pq.write_table(pa.Table.from_pylist([link], schema=schema), folder / "part-0.parquet")


def rows(settings: Settings, sql: str, role: str | None = None) -> list[tuple[Any, ...]]:
    return run_query(settings, sql, role=role).rows


def test_hourly_counts_and_channel_mix(lake: Settings) -> None:
    hourly = rows(lake, "SELECT hour, source, sum(complaints) FROM hourly_complaints "
                        "GROUP BY ALL ORDER BY hour, source")
    assert [(h.hour, s, n) for h, s, n in hourly] == [
        (9, "call_center", 2), (10, "web_form", 1), (11, "complaint_management", 1),
        (10, "mbpp_reports", 1), (11, "sms", 1)]
    mix = rows(lake, "SELECT event_date::VARCHAR, source, complaints, share FROM channel_mix "
                     "ORDER BY 1, 2")
    assert mix[0] == ("2026-11-02", "call_center", 2, 0.5)
    assert [r[3] for r in mix if r[0] == "2026-11-03"] == [0.5, 0.5]


def test_time_to_resolution_from_operational_state(lake: Settings) -> None:
    found = rows(lake, "SELECT source, case_id, complaint_id IS NOT NULL, customer_id, status, "
                       "hours_to_resolution FROM time_to_resolution ORDER BY case_id")
    assert found == [
        ("mbpp_reports", "20201/2026/11/03", True, None, "closed", 1.5),
        ("complaint_management", "Complaint1001", True, "CUST-1", "resolved", 3.5),
        ("complaint_management", "Complaint1002", False, "CUST-9", "waiting", None),
    ]


def test_customer_marts_span_channels(lake: Settings) -> None:
    assert rows(lake, "SELECT customer_id, complaints, channels, sources FROM repeat_complainers"
                ) == [("CUST-1", 3, 3, ["call_center", "complaint_management", "web_form"])]
    history = rows(lake, "SELECT source, customer_total, customer_channels FROM "
                         "customer_complaints WHERE customer_id = 'CUST-1' ORDER BY event_time")
    assert history == [("call_center", 3, 3), ("web_form", 3, 3),
                       ("complaint_management", 3, 3)]


def test_taxonomy_versions_mark_the_current_one(lake: Settings) -> None:
    # The latest run classified with "2024.1"; the rows say "test-1" and "test-0".
    assert rows(lake, "SELECT taxonomy_version, complaints, current FROM taxonomy_versions "
                      "ORDER BY 1") == [("test-0", 1, False), ("test-1", 5, False)]


def test_analyst_sees_hashed_keys_and_no_pii(lake: Settings) -> None:
    columns = run_query(lake, "SELECT * FROM complaints LIMIT 0", role="analyst").columns
    assert "customer_id" not in columns and "case_id" not in columns
    assert {"customer_key", "case_key", "record_key"} <= set(columns)
    keys = rows(lake, "SELECT customer_key, count(*) FROM complaints WHERE customer_key IS NOT "
                      "NULL GROUP BY 1 ORDER BY 2 DESC", role="analyst")
    assert [n for _, n in keys] == [3, 1] and all(len(k) == 16 and "CUST" not in k
                                                    for k, _ in keys)
    # The same key in every view of the role and after another refresh.
    repeat = rows(lake, "SELECT customer_key FROM repeat_complainers", role="analyst")
    assert repeat == [(keys[0][0],)]
    refresh_warehouse(lake)
    assert rows(lake, "SELECT customer_key FROM repeat_complainers", role="analyst") == repeat
    assert rows(lake, "SELECT location FROM complaints WHERE location LIKE 'Austin 7%'",
                role="analyst") == [("Austin 787xx",)]
    # Analysts see how well complaints link, never to whom: a customer key, no identifier hash.
    linked = run_query(lake, "SELECT * FROM customer_links ORDER BY confidence", role="analyst")
    assert "customer_id" not in linked.columns and "identifier_key" not in linked.columns
    assert [r[linked.columns.index("customer_key")] for r in linked.rows] == [keys[0][0]] * 2
    for sneaky in ("SELECT * FROM quarantine", "SELECT * FROM main.complaints",
                   "WITH q AS (SELECT 1) SELECT * FROM q, (SELECT * FROM cx.complaints)",
                   f"SELECT * FROM read_parquet('{lake.lake}/**/*.parquet')",
                   "DROP VIEW complaints"):
        with pytest.raises(WarehouseQueryError, match="role cannot read|only SELECT"):
            run_query(lake, sneaky, role="analyst")
    assert rows(lake, "WITH k AS (SELECT customer_key FROM complaints) SELECT count(*) FROM k, "
                      "range(2)", role="analyst") == [(2 * len(ROWS),)]


def test_cx_sees_case_and_customer_links(lake: Settings) -> None:
    cases = rows(lake, "SELECT source, case_id FROM case_links WHERE customer_id = 'CUST-1' "
                       "ORDER BY source", role="cx")
    assert cases == [("call_center", None), ("complaint_management", "Complaint1001"),
                     ("web_form", None)]
    links = rows(lake, "SELECT source, source_record_id IS NOT NULL, evidence, confidence "
                       "FROM customer_links WHERE customer_id = 'CUST-1' ORDER BY source",
                 role="cx")
    assert links == [("call_center", True, "customer_id_field", 1.0),
                     ("sms", True, "phone_e164", 0.9)]
    assert "identifier_key" not in run_query(lake, "SELECT * FROM customer_links LIMIT 0",
                                             role="cx").columns
    with pytest.raises(WarehouseQueryError, match="unknown role"):
        run_query(lake, "SELECT 1", role="admin")


def test_roles_see_the_alerts(lake: Settings) -> None:
    for role in ("analyst", "cx"):
        assert rows(lake, "SELECT count(*) FROM alerts", role=role) == [(0,)]
    start = datetime(2026, 3, 1, 10, tzinfo=UTC)
    record_alerts(lake.zones, [Alert(
        alert_id=alert_id("surge", "network", "South", "sms", start), kind="surge",
        category="network", region="South", source="sms", window_start=start,
        window_end=start + timedelta(hours=1), observed=40, expected=8.5, score=7.2,
        first_seen=start, last_seen=start, status="open")])
    refresh_warehouse(lake)
    for role in ("analyst", "cx"):
        assert rows(lake, "SELECT kind, status FROM alerts", role=role) == [("surge", "open")]


def test_export_writes_csv_json_parquet(lake: Settings, tmp_path: Path) -> None:
    sql = "SELECT source, count(*) AS n FROM complaints GROUP BY source ORDER BY source"
    for name in ("out.csv", "out.json", "out.parquet"):
        assert export_query(lake, sql, tmp_path / name) == 5
    assert (tmp_path / "out.csv").read_text().splitlines()[:2] == ["source,n", "call_center,2"]
    assert json.loads((tmp_path / "out.json").read_text())[0] == {"source": "call_center", "n": 2}
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == ["source", "n"] and table.column("n").to_pylist()[0] == 2


def test_cli_sql_out_and_role(lake: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COMPLAINTS_LAKE", str(lake.lake))
    target = tmp_path / "keys.parquet"
    assert main(["sql", "SELECT customer_key FROM complaints", "--role", "analyst",
                 "--out", str(target)]) == 0
    assert pq.read_table(target).num_rows == len(ROWS)
    assert capsys.readouterr().out.strip() == str(target)
    assert main(["sql", "SELECT 1", "--out", str(tmp_path / "x.xlsx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "x.xlsx" in err[0] and "*.csv" in err[0]
    assert not (tmp_path / "x.xlsx").exists()
    # A failing query leaves no file behind.
    assert main(["sql", "SELECT nope", "--out", str(tmp_path / "bad.parquet")]) == 1
    assert not (tmp_path / "bad.parquet").exists()


def test_complaint_case_channels_join_a_case_across_channels(lake: Settings) -> None:
    """Complaints 1 (call) and 3 (web form) of CUST-1 are one case (jobs.complaint_cases'
    output shape); complaint 2 is a case of its own."""
    case = {"complaint_case_id": "CASE-a", "case_size": 2, "case_sources": ["call_center",
                                                                            "web_form"],
            "evidence": ["same_customer"], "similarity": 0.8, "case_run_id": "k1"}
    alone = {"complaint_case_id": "CASE-b", "case_size": 1, "case_sources": ["call_center"],
             "evidence": [], "similarity": None, "case_run_id": "k1"}
    schema = COMPLAINT_CASE.arrow_schema()
    schema = schema.remove(schema.get_field_index("source"))
    for source, found in (("call_center", [{**case, "complaint_id": ROWS[0]["complaint_id"]},
                                           {**alone, "complaint_id": ROWS[1]["complaint_id"]}]),
                          ("web_form", [{**case, "complaint_id": ROWS[2]["complaint_id"]}])):
        folder = lake.zones.clean / "complaint_cases" / f"source={source}"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(found, schema=schema), folder / "part-0.parquet")
    refresh_warehouse(lake)
    assert rows(lake, "SELECT complaint_case_id, complaints, channels, sources, complaint_ids, "
                      "category, evidence, lowest_similarity FROM complaint_case_channels "
                      "ORDER BY 1") == [
        ("CASE-a", 2, 2, ["call_center", "web_form"],
         [ROWS[0]["complaint_id"], ROWS[2]["complaint_id"]], "billing", ["same_customer"], 0.8),
        ("CASE-b", 1, 1, ["call_center"], [ROWS[1]["complaint_id"]], ROWS[1]["category"], [],
         None)]
    assert rows(lake, "SELECT count(*) FROM complaint_cases", role="analyst") == [(3,)]
