"""The ``complaints_batch`` DAG end to end: real Airflow, Spark, DuckDB and a moto server over HTTP.

One module-scoped fixture does the expensive part once, in a temporary lake and AIRFLOW_HOME:
generate four days of sample data (surge on day index 2), run the DAG through Airflow for the
last day, take a snapshot, regenerate with the same seed, run the DAG again for the same day and
take a second snapshot. The tests then check the warehouse against what the generator says it
wrote (never against the pipeline's own numbers alone) and the rerun against the first run.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from complaints.airflow_local import run_dag
from complaints.emulator import moto_server
from samples.generate import GenerationSummary, dynamodb_items, generate
from schemas.sources import BATCH_COMPLAINT_SOURCES
from warehouse.duckdb_warehouse import run_query

pytestmark = pytest.mark.e2e

DAG_ID = "complaints_batch"
SEED = 7
START = date(2026, 11, 2)
DAYS = 4  # the surge is on day index 2; two ordinary days before it and one after
RUN_DATE = (START + timedelta(days=DAYS - 1)).isoformat()
WINDOW = [START + timedelta(days=i) for i in range(DAYS)]
FILE_SOURCES = ("call_center", "web_form")

# Generator anomaly kind -> the quarantine reason the transform gives it.
REASONS: dict[str, dict[str, str]] = {
    "call_center": {
        "truncated_json": "malformed JSON",
        "invalid_utf8": "invalid UTF-8",
        "non_numeric_duration": "wrong type: duration_s is not a whole number",
        "missing_notes": "missing field: notes",
    },
    "web_form": {
        "missing_complaint_id": "missing field: Complaint ID",
        "unparseable_date_received": "unparseable event time",
    },
}

ROWS_SQL = """SELECT complaint_id, category, CAST(event_date AS VARCHAR), source, text
FROM complaints ORDER BY ALL"""
NEWEST_RUN_SQL = """SELECT source, raw_files, records_in, clean, quarantined, duplicates,
       counts_conserved, run_id
FROM runs
WHERE run_id = (SELECT run_id FROM runs WHERE source IN ({sources})
                ORDER BY started_at DESC LIMIT 1)
  AND source IN ({sources})
ORDER BY source""".format(sources=", ".join(f"'{s}'" for s in BATCH_COMPLAINT_SOURCES))


NEWEST_OPERATIONAL_SQL = """SELECT source, mode FROM runs
WHERE source LIKE 'dynamodb:%' AND started_at = (
    SELECT max(started_at) FROM runs WHERE source LIKE 'dynamodb:%')"""


@dataclass(frozen=True)
class Snapshot:
    state: str
    log: Path
    rows: list[tuple[Any, ...]]
    raw_tree: dict[str, int]
    newest_run: list[dict[str, Any]]
    quarantine_count: int
    quality_reports: list[str]
    operational_modes: dict[str, str]  # the newest operational run: table -> mode
    link_runs: list[str]  # the runs that made the customer links in the lake


@dataclass(frozen=True)
class Pipeline:
    settings: Settings
    summary: GenerationSummary
    resummary: GenerationSummary
    first: Snapshot
    second: Snapshot


def query(settings: Settings, sql: str) -> list[dict[str, Any]]:
    result = run_query(settings, sql)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def raw_tree(settings: Settings) -> dict[str, int]:
    return {
        str(p.relative_to(settings.zones.raw)): p.stat().st_size
        for p in sorted(settings.zones.raw.rglob("*")) if p.is_file()
    }


def log_tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def run_and_snapshot(settings: Settings, airflow_home: Path, name: str) -> Snapshot:
    log = airflow_home / "dag-runs" / f"{name}.log"
    state = run_dag(settings, DAG_ID, RUN_DATE, airflow_home, log_file=log)
    if state != "success":
        return Snapshot(state, log, [], raw_tree(settings), [], 0, [], {}, [])
    result = run_query(settings, ROWS_SQL)
    quality = settings.zones.alerts / "quality"
    return Snapshot(
        state=state,
        log=log,
        rows=result.rows,
        raw_tree=raw_tree(settings),
        newest_run=query(settings, NEWEST_RUN_SQL),
        quarantine_count=query(settings, "SELECT count(*) AS n FROM quarantine")[0]["n"],
        quality_reports=sorted(p.name for p in quality.glob("*.json")) if quality.is_dir() else [],
        operational_modes={r["source"]: r["mode"] for r in query(settings, NEWEST_OPERATIONAL_SQL)},
        link_runs=[r["link_run_id"] for r in query(
            settings, "SELECT DISTINCT link_run_id FROM customer_links ORDER BY 1")],
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    base = tmp_path_factory.mktemp("batch")
    # Both runs classify with the same copy of the rules, whatever happens to the repo's file.
    rules = base / "rules.yaml"
    shutil.copy(Settings().rules, rules)
    settings = Settings(lake=base / "lake", rules=rules)
    airflow_home = base / "airflow"
    settings.lake.mkdir(parents=True)
    began = time.monotonic()
    with moto_server(log_file=base / "moto.log") as endpoint:
        local = replace(settings, aws_endpoint_url=endpoint)
        summary = generate(local, seed=SEED, days=DAYS, start=START)
        first = run_and_snapshot(local, airflow_home, "first")
        if first.state != "success":
            pytest.fail(f"first DAG run ended {first.state}:\n{log_tail(first.log)}")
        middle = time.monotonic()
        resummary = generate(local, seed=SEED, days=DAYS, start=START)
        second = run_and_snapshot(local, airflow_home, "rerun")
    print(f"\nbatch pipeline: first run {middle - began:.0f} s, "
          f"rerun {time.monotonic() - middle:.0f} s")
    return Pipeline(local, summary, resummary, first, second)


@pytest.fixture(scope="module")
def runs(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """The first DAG run's transform of each source (the rerun finds nothing new to read)."""
    return {r["source"]: r for r in pipeline.first.newest_run}


# --- the run ------------------------------------------------------------------------------------
def test_dag_runs_succeed(pipeline: Pipeline) -> None:
    assert pipeline.first.state == "success"
    assert pipeline.second.state == "success", log_tail(pipeline.second.log)


def test_counts_are_conserved_per_source(pipeline: Pipeline,
                                         runs: dict[str, dict[str, Any]]) -> None:
    assert set(runs) == set(BATCH_COMPLAINT_SOURCES)
    for source, run in runs.items():
        assert run["records_in"] == run["clean"] + run["quarantined"] + run["duplicates"], source
        assert run["counts_conserved"] is True, source
        assert run["records_in"] > 0 and run["clean"] > 0, source
        assert run["raw_files"] > 0, source


def test_runs_agree_with_the_clean_and_quarantine_zones(
        pipeline: Pipeline, runs: dict[str, dict[str, Any]]) -> None:
    clean = {r["source"]: r for r in query(
        pipeline.settings,
        "SELECT source, count(*) AS n, sum(duplicate_count) AS copies, "
        "count(DISTINCT run_id) AS run_ids, any_value(run_id) AS run_id "
        "FROM complaints GROUP BY source")}
    quarantined = {r["source"]: r["n"] for r in query(
        pipeline.settings, "SELECT source, count(*) AS n FROM quarantine GROUP BY source")}
    for source, run in runs.items():
        assert clean[source]["n"] == run["clean"], source
        assert clean[source]["copies"] - clean[source]["n"] == run["duplicates"], source
        assert clean[source]["run_ids"] == 1 and clean[source]["run_id"] == run["run_id"]
        assert quarantined.get(source, 0) == run["quarantined"], source


def test_file_sources_match_what_the_generator_wrote(pipeline: Pipeline,
                                                     runs: dict[str, dict[str, Any]]) -> None:
    summary = pipeline.summary
    for source in FILE_SOURCES:
        assert runs[source]["raw_files"] == DAYS, source
        assert runs[source]["records_in"] == summary.records[source], source
        assert runs[source]["quarantined"] == summary.malformed[source], source
        assert runs[source]["duplicates"] == summary.duplicates[source], source
        assert summary.malformed[source] > 0 and summary.duplicates[source] > 0


def test_dynamodb_sources_match_the_generated_items(pipeline: Pipeline,
                                                    runs: dict[str, dict[str, Any]]) -> None:
    items = dynamodb_items(SEED, WINDOW, pipeline.summary.surge)
    expected_ids = {
        "complaint_management": {i["PK"] for i in items["complaint_management"]
                                 if i["SK"] == "metadata"},
        "mbpp_reports": {i["ticket_number"] for i in items["mbpp_reports"]},
        "chat_feedback": {i["pk_message_id"] for i in items["chat_messages"]
                          if str(i.get("feedback_type", "")).lower() == "negative"},
    }
    for source, ids in expected_ids.items():
        assert ids, source
        assert runs[source]["records_in"] == len(ids), source
        found = query(pipeline.settings,
                      f"SELECT source_record_id FROM complaints WHERE source = '{source}'")
        quarantined = runs[source]["quarantined"]
        assert {r["source_record_id"] for r in found} <= ids, source
        assert len(found) == len(ids) - quarantined - runs[source]["duplicates"], source


def test_every_source_is_in_the_clean_complaints(pipeline: Pipeline) -> None:
    found = {r["source"]: r["n"] for r in query(
        pipeline.settings, "SELECT source, count(*) AS n FROM complaints GROUP BY source")}
    assert set(found) == set(BATCH_COMPLAINT_SOURCES)
    assert all(n > 0 for n in found.values())


def test_complaint_ids_are_unique(pipeline: Pipeline) -> None:
    [row] = query(pipeline.settings, "SELECT count(*) AS n, count(DISTINCT complaint_id) AS ids, "
                                     "count(DISTINCT (source, source_record_id)) AS records "
                                     "FROM complaints")
    assert row["n"] == row["ids"] == row["records"] > 0


def test_surge_shows_in_daily_complaints(pipeline: Pipeline) -> None:
    surge = pipeline.summary.surge
    assert surge is not None
    daily = {r["event_date"]: r["n"] for r in query(
        pipeline.settings,
        f"SELECT event_date, sum(complaints) AS n FROM daily_complaints "
        f"WHERE region = '{surge.region}' AND category = '{surge.category}' GROUP BY event_date")}
    other_days = [daily.get(day, 0) for day in WINDOW if day != surge.day]
    assert len(other_days) == DAYS - 1 and max(other_days) > 0
    assert daily.get(surge.day, 0) >= 3 * max(other_days), daily


def test_malformed_records_are_quarantined_with_their_reason(pipeline: Pipeline) -> None:
    rows = query(pipeline.settings,
                 "SELECT source, reason, raw_file, raw_line, raw_record FROM quarantine")
    for source, kinds in REASONS.items():
        anomalies = pipeline.summary.anomalies[source]
        assert set(anomalies) == set(kinds), f"new anomaly kinds for {source}: {anomalies}"
        for kind, reason in kinds.items():
            matching = [r for r in rows if r["source"] == source and r["reason"].startswith(reason)]
            assert len(matching) == anomalies[kind], (source, kind, reason)
    assert all(r["reason"].strip() for r in rows)


def raw_line(settings: Settings, raw_file: str, line: int) -> bytes:
    """The 1-based physical line of a raw file."""
    return (settings.lake / raw_file).read_bytes().split(b"\n")[line - 1].rstrip(b"\r")


def test_quarantined_lines_point_at_the_raw_bytes(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    rows = query(settings, "SELECT reason, raw_file, raw_line, raw_record FROM quarantine "
                           "WHERE source = 'call_center' ORDER BY raw_file, raw_line")
    by_reason = {reason: [r for r in rows if r["reason"] == reason]
                 for reason in ("invalid UTF-8", "malformed JSON")}
    for reason, found in by_reason.items():
        assert found, reason
        for r in found:
            assert r["raw_file"].startswith("raw/call_center/ingest_date=")
            assert (settings.lake / r["raw_file"]).is_file(), r["raw_file"]
            assert r["raw_line"] > 0
            line = raw_line(settings, r["raw_file"], r["raw_line"])
            assert line.decode("utf-8", errors="replace") == r["raw_record"]
    for r in by_reason["invalid UTF-8"]:
        with pytest.raises(UnicodeDecodeError):
            raw_line(settings, r["raw_file"], r["raw_line"]).decode("utf-8")
    for r in by_reason["malformed JSON"]:
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw_line(settings, r["raw_file"], r["raw_line"]))


def test_clean_rows_trace_back_to_their_raw_record(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    rows = query(settings, "SELECT source, source_record_id, raw_file, raw_line FROM complaints")
    assert all((settings.lake / r["raw_file"]).is_file() for r in rows)
    assert all(r["raw_file"].startswith("raw/") and r["raw_line"] > 0 for r in rows)
    calls = [r for r in rows if r["source"] == "call_center"]
    for r in calls:
        assert json.loads(raw_line(settings, r["raw_file"], r["raw_line"]))["call_id"] == \
            r["source_record_id"]
    forms = [r for r in rows if r["source"] == "web_form"]
    records: dict[str, list[dict[str, str]]] = {}
    for r in forms:
        if r["raw_file"] not in records:
            text = (settings.lake / r["raw_file"]).read_text(encoding="utf-8")
            records[r["raw_file"]] = list(csv.DictReader(io.StringIO(text, newline="")))
        assert records[r["raw_file"]][r["raw_line"] - 1]["Complaint ID"].strip() == \
            r["source_record_id"]
    assert calls and forms


def test_quality_report_was_written(pipeline: Pipeline) -> None:
    quality = pipeline.settings.zones.alerts / "quality"
    assert len(pipeline.first.quality_reports) == 1
    assert len(pipeline.second.quality_reports) == 2  # one per DAG run
    [count] = query(pipeline.settings, "SELECT count(*) AS n FROM complaints")
    loaded = [json.loads((quality / n).read_text()) for n in pipeline.second.quality_reports]
    reports = {report["run_id"]: report for report in loaded}
    first = reports[pipeline.first.newest_run[0]["run_id"]]
    assert first["success"] is True, first
    assert first["rows"] == count["n"]  # the first run wrote every partition
    assert first["evaluated"] > 0 and first["passed"] == first["evaluated"]
    assert first["failed"] == []
    rerun = reports[pipeline.second.newest_run[0]["run_id"]]
    assert rerun["success"] is True and rerun["rows"] == 0  # the rerun wrote nothing to check


# --- the rerun ----------------------------------------------------------------------------------
def test_regenerating_with_the_same_seed_gives_the_same_data(pipeline: Pipeline) -> None:
    first, again = pipeline.summary.to_dict(), pipeline.resummary.to_dict()
    assert first == again


def test_rerun_gives_the_same_clean_rows(pipeline: Pipeline) -> None:
    assert pipeline.first.rows, "no clean rows after the first run"
    assert len(pipeline.second.rows) == len(pipeline.first.rows)
    assert Counter(pipeline.second.rows) == Counter(pipeline.first.rows)


def test_rerun_leaves_the_raw_zone_unchanged(pipeline: Pipeline) -> None:
    assert pipeline.first.raw_tree
    assert pipeline.second.raw_tree == pipeline.first.raw_tree
    landed = {path.split("/", 1)[0] for path in pipeline.first.raw_tree}
    assert {"call_center", "web_form", "complaint_management", "mbpp_reports",
            "chat_messages"} <= landed


def test_rerun_reads_nothing_and_records_that(pipeline: Pipeline) -> None:
    first, second = pipeline.first.newest_run, pipeline.second.newest_run
    assert len(first) == len(second) == len(BATCH_COMPLAINT_SOURCES)
    assert {r["run_id"] for r in first}.isdisjoint({r["run_id"] for r in second})
    assert all(r["raw_files"] == r["records_in"] == 0 for r in second), second
    assert all(r["counts_conserved"] for r in second)
    assert pipeline.second.quarantine_count == pipeline.first.quarantine_count > 0


def test_rerun_keeps_the_operational_tables_and_links_it_would_rebuild_the_same(
        pipeline: Pipeline) -> None:
    """Nothing new landed: no operational table is decoded again, no link made again."""
    first, second = pipeline.first, pipeline.second
    assert set(first.operational_modes.values()) == {"full"}
    assert second.operational_modes == dict.fromkeys(first.operational_modes, "skipped")
    assert len(first.link_runs) == 1
    assert second.link_runs == first.link_runs
