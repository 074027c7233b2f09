"""The quality gate of a run: suites as checkpoints of the lake's GX project, results and data docs
in the lake, and a deliberately bad partition held out of the warehouse, which keeps serving the
partition's last good version."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.lake import Lake, event_partition, replace_folder
from common.settings import Settings
from jobs.runs import SourceCounts, TransformResult, write_run_record
from quality.held_partitions import last_good_partitions, read_held, release_partitions
from quality.quality_gate import GateOptions, run_quality_gate
from schemas.complaint import RUN_FILE
from tests.quality.test_complaint_checks import complaint, write_lake
from tests.quality.test_raw_checks import call, write_lines
from warehouse.duckdb_warehouse import refresh_warehouse, run_query

BAD = ("2026-03-01", "call_center")


def rows(version: str, *, duplicated: bool = False) -> list[dict[str, Any]]:
    """Two call-centre complaints on 2026-03-01 and one web form on 2026-03-02."""
    first = complaint(1, source="call_center", event_time=complaint(0)["event_time"],
                      text=f"first, {version}")
    second = complaint(2, source="call_center", event_time=complaint(0)["event_time"],
                       complaint_id=first["complaint_id"] if duplicated else "cmp-0002")
    return [first, second, complaint(3, source="web_form")]


def write_partitions(lake: Lake, version_rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Swap the rows' partitions into the clean zone, as the transform does."""
    staged = write_lake(lake.root / ".staging" / uuid.uuid4().hex, version_rows)
    written = sorted({(r["event_date"].isoformat(), r["source"]) for r in version_rows})
    for partition in written:
        replace_folder(event_partition(lake.clean_complaints, *partition),
                       event_partition(staged, *partition))
    return written


def list_run_files(lake: Lake, run_id: str, raw: Path) -> None:
    row = {"run_id": run_id, "source": "call_center", "raw_file": lake.relative(raw),
           "status": "processed", "reason": None, "records": 3}
    lake.run_files.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([row], schema=RUN_FILE.arrow_schema()),
                   lake.run_files / f"{run_id}.parquet")


def texts(settings: Settings) -> list[str]:
    sql = "SELECT text FROM complaints WHERE source = 'call_center' ORDER BY text"
    return [r[0] for r in run_query(settings, sql).rows]


def test_gate_runs_checkpoints_builds_docs_and_holds_a_bad_partition(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    lake = settings.zones
    raw = write_lines(lake.raw_source("call_center") / "ingest_date=2026-03-01" / "hour=10"
                      / "calls.jsonl", [json.dumps(call(i)) for i in range(3)])

    # run 1: good data; every suite passes, the partitions become the last good version
    list_run_files(lake, "run-1", raw)
    first = run_quality_gate(lake, "run-1", write_partitions(lake, rows("v1")))
    assert [r.suite for r in first.reports] == ["raw_call_center", "complaints"]
    assert not first.critical and first.held == ()
    assert first.data_docs == lake.data_docs and lake.data_docs.is_file()
    index = lake.data_docs.read_text(encoding="utf-8")
    assert "raw_call_center" in index and "complaints" in index
    kept = json.loads((lake.validations / "raw_call_center" / "run-1.json").read_text())
    assert kept["success"] is True and kept["suite"] == "raw_call_center"
    assert (lake.gx_project / "checkpoints" / "complaints.json").is_file()
    refresh_warehouse(settings)
    assert texts(settings) == ["first, v1", "no internet since monday, ticket 2"]

    # run 2: the call-centre partition now holds a duplicated complaint id (critical), checked
    # a partition at a time (slices of at most 1 row: each partition is a slice of its own)
    second = run_quality_gate(lake, "run-2", write_partitions(lake, rows("v2", duplicated=True)),
                              GateOptions(slice_rows=1))
    assert second.critical and second.held == (BAD, ("2026-03-02", "web_form"))
    clean = next(r for r in second.reports if r.suite == "complaints")
    assert clean.rows == 3 and clean.failed[0].details.startswith("slice 1 of 2 (2026-03-01): ")
    assert "run-2 slice 2 of 2 (2026-03-02)" in lake.data_docs.read_text(encoding="utf-8")
    assert set(read_held(lake)) == {BAD, ("2026-03-02", "web_form")}
    assert read_held(lake)[BAD].suites == ("complaints",)
    assert "HELD out of the warehouse" in second.summary()
    refresh_warehouse(settings)
    assert texts(settings) == ["first, v1", "no internet since monday, ticket 2"]  # last good
    web = run_query(settings, "SELECT count(*) FROM complaints WHERE source = 'web_form'")
    assert web.rows == [(1,)]

    # run 3: fixed data releases the partitions
    third = run_quality_gate(lake, "run-3", write_partitions(lake, rows("v3")))
    assert not third.critical and read_held(lake) == {}
    refresh_warehouse(settings)
    assert texts(settings) == ["first, v3", "no internet since monday, ticket 2"]


def test_a_critical_raw_failure_holds_only_that_sources_partitions(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    raw = write_lines(lake.raw_source("call_center") / "ingest_date=2026-03-01" / "hour=10"
                      / "calls.jsonl", ["call-1,not,json"] * 4)
    list_run_files(lake, "run-1", raw)
    outcome = run_quality_gate(lake, "run-1", write_partitions(lake, rows("v1")),
                               GateOptions(data_docs=False))
    assert outcome.held == (BAD,)
    assert read_held(lake)[BAD].suites == ("raw_call_center",)
    assert outcome.data_docs is None and not lake.gx_project.exists()


def test_a_warning_publishes_and_reports(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    data = rows("v1")
    data[0]["category"] = "weather"  # allowed categories are a warning
    outcome = run_quality_gate(lake, "run-1", write_partitions(lake, data),
                               GateOptions(data_docs=False))
    assert outcome.warnings and not outcome.critical
    assert outcome.held == () and read_held(lake) == {}
    assert "WARNING expect_column_values_to_be_in_set(category)" in outcome.summary()
    report = json.loads((lake.alerts / "quality" / "run-1.json").read_text())
    assert report["success"] is False and report["critical"] is False


def test_counts_not_conserved_hold_the_runs_partitions(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    lake = settings.zones
    counts = (SourceCounts("call_center", 1, records_in=10, clean=2, quarantined=1, duplicates=0,
                           files_quarantined=1),
              SourceCounts("web_form", 1, records_in=1, clean=1, quarantined=0, duplicates=0))
    write_run_record(settings, TransformResult("run-1", "v1", datetime.now(UTC), counts),
                     "complaints")
    outcome = run_quality_gate(lake, "run-1", write_partitions(lake, rows("v1")),
                               GateOptions(data_docs=False))
    report = next(r for r in outcome.reports if r.suite == "complaint_runs")
    assert {(f.expectation, f.severity) for f in report.failed} == {
        ("expect_column_pair_values_to_be_equal", "critical"),
        ("expect_column_values_to_be_between", "warning"),
    }
    assert "source: call_center" in report.failed[0].details
    assert set(outcome.held) == set(read_held(lake)) == {BAD, ("2026-03-02", "web_form")}


def test_an_operator_releases_a_held_partition(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    run_quality_gate(lake, "run-1", write_partitions(lake, rows("v1", duplicated=True)),
                     GateOptions(data_docs=False))
    assert set(read_held(lake)) == {BAD, ("2026-03-02", "web_form")}
    assert release_partitions(lake, [BAD]) == [BAD]
    assert set(read_held(lake)) == {("2026-03-02", "web_form")}
    assert BAD in last_good_partitions(lake)
    with pytest.raises(KeyError, match="2026-03-01/call_center"):
        release_partitions(lake, [BAD])
