"""``jobs.reclassify`` on a small clean zone in tmp: only the classification columns of the date
range change, hints and source severity come from the raw copy, the stream dedupe state follows,
a second run changes nothing, and partitions outside the range keep their bytes."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from common.settings import DEFAULT_RULES, Settings
from complaints.cli import main
from jobs.classify import load_rules
from jobs.reclassify import CLASSIFICATION, run_reclassify
from schemas.complaint import RUN, STREAM_BY_ID
from tests.builders import clean_complaint, write_partitions
from tests.jobs.test_transform_steps import web_csv

DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OUTSIDE = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
WEB_RAW = "raw/web_form/ingest_date=2026-11-02/hour=10/web_forms_2026-11-02.csv"
OLD = {"category": "other", "subcategory": "unspecified", "taxonomy_version": "old-1",
       "rule_id": None, "classification_score": 0.0, "sentiment": "neutral"}


def rows_of(root: Path) -> dict[str, dict[str, Any]]:
    table = ds.dataset(str(root), format="parquet", partitioning="hive").to_table()
    return {r["complaint_id"]: {k: (str(v) if k in ("event_date", "source") else v)
                                for k, v in r.items()} for r in table.to_pylist()}


def unclassified(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in CLASSIFICATION}


@pytest.fixture
def lake(tmp_path: Path) -> Settings:
    settings = Settings(lake=tmp_path / "lake")
    clean = [
        # the rules decided its severity: they decide it again
        clean_complaint(1, event_time=DAY, text="charged twice for november", severity="P3",
                        quality_flags=["imputed_severity"], **OLD),
        # a web form without cues in its text: the raw copy's issue (hints) classifies it
        clean_complaint(2, source="web_form", event_time=DAY, text="Please help me.",
                        severity="P3", quality_flags=["imputed_severity"], raw_file=WEB_RAW,
                        raw_line=1, **OLD),
        # the source gave P3 and its raw copy is gone: P3 kept although outages are P1
        clean_complaint(3, source="complaint_management", event_time=DAY,
                        text="my internet has been down for 3 days", severity="P3", **OLD),
        clean_complaint(4, event_time=OUTSIDE, text="charged twice again", **OLD),
        clean_complaint(5, source="sms", event_time=DAY, text="no signal since this morning",
                        severity="P3", quality_flags=["imputed_severity"], **OLD),
    ]
    write_partitions(settings.zones.clean_complaints, clean)
    by_id = [{**clean[4], "content_key": "k5"},
             {**clean_complaint(6, source="sms", event_time=DAY, text="charged twice",
                                severity="P3", quality_flags=["imputed_severity"], **OLD),
              "content_key": "k5"}]
    write_partitions(settings.zones.stream_by_id, by_id, STREAM_BY_ID)
    raw = settings.zones.root / WEB_RAW
    raw.parent.mkdir(parents=True)
    raw.write_text(web_csv([{"Date received": "2026-11-02", "Complaint ID": "rec-2",
                             "Consumer complaint narrative": "Please help me.",
                             "Issue": "Billing dispute"}]))
    return settings


def test_reclassify_changes_only_the_classification_of_its_range(
        spark: Any, lake: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    rules = load_rules(DEFAULT_RULES)
    before = rows_of(lake.zones.clean_complaints)
    outside = next(lake.zones.clean_complaints.glob("event_date=2026-11-03/*/*.parquet"))
    outside_bytes, outside_inode = outside.read_bytes(), outside.stat().st_ino
    state_before = rows_of(lake.zones.stream_by_id)

    done = run_reclassify(lake, rules, spark, (date(2026, 11, 2), date(2026, 11, 2)),
                          run_id="re-1")
    after = rows_of(lake.zones.clean_complaints)
    assert done.clean == (("2026-11-02", "call_center"), ("2026-11-02", "complaint_management"),
                          ("2026-11-02", "sms"), ("2026-11-02", "web_form"))
    assert {k: unclassified(r) for k, r in after.items()} == {
        k: unclassified(r) for k, r in before.items()}
    got = {r["source_record_id"]: (r["category"], r["subcategory"], r["severity"],
                                   r["taxonomy_version"]) for r in after.values()}
    assert got == {
        "rec-1": ("billing", "overcharge", "P2", rules.version),
        "rec-2": ("billing", "overcharge", "P2", rules.version),  # from the raw copy's issue
        "rec-3": ("network", "outage", "P3", rules.version),  # the source's severity kept
        "rec-4": ("other", "unspecified", "P2", "old-1"),  # outside the range: as it was
        "rec-5": ("network", "outage", "P1", rules.version),
    }
    assert all(r["rule_id"] and r["classification_score"] > 0 for r in after.values()
               if r["taxonomy_version"] == rules.version)
    assert outside.read_bytes() == outside_bytes and outside.stat().st_ino == outside_inode

    state = rows_of(lake.zones.stream_by_id)
    assert {k: unclassified(r) for k, r in state.items()} == {
        k: unclassified(r) for k, r in state_before.items()}
    assert {r["source_record_id"]: r["category"] for r in state.values()} == {
        "rec-5": "network", "rec-6": "billing"}

    # again, as a user runs it: the same rows
    os.environ["COMPLAINTS_LAKE"] = str(lake.lake)
    assert main(["reclassify", "--taxonomy", str(DEFAULT_RULES), "--from", "2026-11-02"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert rows_of(lake.zones.clean_complaints) == after
    assert rows_of(lake.zones.stream_by_id) == state
    assert again["partitions"] == [list(p) for p in done.clean]
    runs = pq.read_table(lake.zones.runs, schema=RUN.arrow_schema()).to_pylist()
    assert sorted((r["run_id"], r["source"], r["mode"], r["records_in"], r["clean"],
                   r["partitions_written"]) for r in runs) == [
        (run, source, "reclassify", 1, 1, 1) for run in ("re-1", again["run_id"])
        for source in ("call_center", "complaint_management", "sms", "web_form")]
    assert again["run_id"].startswith("reclassify__")


@pytest.mark.parametrize(("args", "expected"), [
    (["--taxonomy", "missing.yaml"], "cannot read rules file missing.yaml"),
    (["--taxonomy", "{broken}"], "cannot read rules file"),
    (["--taxonomy", "{no_version}"], "rules file has no 'version'"),
    (["--taxonomy", str(DEFAULT_RULES), "--from", "2026-11-03", "--to", "2026-11-02"],
     "--from 2026-11-03 is after --to 2026-11-02"),
    (["--taxonomy", str(DEFAULT_RULES), "--from", "2030-01-01"],
     "nothing to reclassify: no clean complaints for event dates 2030-01-01..2030-01-01"),
])
def test_cli_mistakes_are_one_line_before_spark(
        lake: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str) -> None:
    (tmp_path / "broken.yaml").write_text("categories: [network\n")
    (tmp_path / "no_version.yaml").write_text("taxonomy: telecom\ndefault_category: other\n"
                                              "categories: []\n")
    os.environ["COMPLAINTS_LAKE"] = str(lake.lake)
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{broken}", "broken.yaml").replace("{no_version}", "no_version.yaml")
            for a in args]
    before = rows_of(lake.zones.clean_complaints)
    assert main(["reclassify", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("complaints reclassify: ") and expected in err, err
    assert rows_of(lake.zones.clean_complaints) == before
    assert not lake.zones.runs.exists()


def test_cli_date_that_is_not_a_date_is_a_usage_error(
        lake: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["reclassify", "--taxonomy", str(DEFAULT_RULES), "--from", "2026-13-01"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "'2026-13-01' is not a date: expected YYYY-MM-DD" in err and "Traceback" not in err
