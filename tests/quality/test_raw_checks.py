"""Raw-source suites: each batch source's records, as landed, against its declared schema; a few
bad records are warnings (the transform quarantines them), a broken source is critical."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.lake import Lake
from quality.complaint_checks import QualityReport
from quality.gx_project import prune_results
from quality.raw_checks import (
    RAW_SOURCES,
    check_raw_source,
    load_raw_records,
    raw_suite,
    run_files_of,
    suite_name,
)
from schemas.complaint import RUN_FILE
from schemas.sources import WEB_FORM_COLUMNS


def failed(report: QualityReport) -> set[tuple[str, str | None, str]]:
    return {(f.expectation, f.column, f.severity) for f in report.failed}


def call(i: int, **overrides: Any) -> dict[str, Any]:
    record = {"call_id": f"call-{i}", "started": "2026-11-03T14:22:05-05:00", "tz": None,
              "agent": "a1", "queue": "billing", "duration_s": 120,
              "caller": {"customer_id": f"cust-{i}", "name": "N", "phone": "555"},
              "location": {"city": "Austin", "state": "TX", "zip": "73301"},
              "notes": "my bill is wrong"}
    record.update(overrides)
    return record


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_every_raw_source_has_a_suite_with_both_severities() -> None:
    for source in RAW_SOURCES:
        suite = raw_suite(source)
        assert suite.name == suite_name(source)
        severities = {(e.meta or {})["severity"] for e in suite.expectations}
        assert severities == {"critical", "warning"}, source
    assert suite_name("chat_feedback") == "raw_chat_messages"
    with pytest.raises(ValueError, match="no raw suite for 'sms'"):
        raw_suite("sms")


def test_good_call_logs_pass(tmp_path: Path) -> None:
    calls = write_lines(tmp_path / "calls.jsonl", [json.dumps(call(i)) for i in range(10)])
    check = check_raw_source("call_center", [calls])
    assert check.report.success, check.report.summary()
    assert check.report.rows == 10 and check.files == 1


def test_a_few_bad_call_records_are_warnings_with_their_evidence(tmp_path: Path) -> None:
    lines = [json.dumps(call(i)) for i in range(20)]
    lines += [
        json.dumps(call(20, started="yesterday", duration_s="ten", extra_field=1)),
        json.dumps(call(21, notes="   ")),
        "not json at all",
    ]
    report = check_raw_source("call_center", [write_lines(tmp_path / "c.jsonl", lines)]).report
    assert not report.success and not report.critical
    assert failed(report) == {
        ("expect_column_values_to_be_in_set", "json_object", "warning"),
        ("expect_column_values_to_not_be_null", "call_id", "warning"),
        ("expect_column_values_to_not_be_null", "started", "warning"),
        ("expect_column_values_to_not_be_null", "notes", "warning"),
        ("expect_column_values_to_match_regex_list", "started", "warning"),
        ("expect_column_values_to_match_regex", "duration_s", "warning"),
        ("expect_column_values_to_be_null", "unexpected_fields", "warning"),
    }
    lines_of = {(f.expectation, f.column): f.details for f in report.failed}
    started = lines_of[("expect_column_values_to_match_regex_list", "started")]
    assert "'yesterday'" in started and "record: c.jsonl:21" in started
    assert "c.jsonl:22" in lines_of[("expect_column_values_to_not_be_null", "notes")]
    assert "'extra_field'" in lines_of[("expect_column_values_to_be_null", "unexpected_fields")]


def test_a_call_log_in_the_wrong_format_is_critical(tmp_path: Path) -> None:
    lines = [json.dumps(call(0))] + [f"call-{i},2026-11-03,notes" for i in range(1, 10)]
    report = check_raw_source("call_center", [write_lines(tmp_path / "c.jsonl", lines)]).report
    assert report.critical
    critical = {(f.expectation, f.column) for f in report.failed if f.severity == "critical"}
    assert ("expect_column_values_to_be_in_set", "json_object") in critical
    assert ("expect_column_values_to_not_be_null", "call_id") in critical


CFPB_ROW = {"Date received": "2020-03-18", "Product": "Mortgage", "Issue": "Billing",
            "Consumer complaint narrative": "", "State": "FL", "Timely response?": "Yes",
            "Consumer disputed?": "", "Complaint ID": "3571000"}


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_web_forms_read_by_header_name_and_checked(tmp_path: Path) -> None:
    # Columns in another order, in other case, one of them unknown (drift: a warning).
    header = ["complaint id", *[c for c in WEB_FORM_COLUMNS if c != "Complaint ID"], "Extra"]
    rows = [{**CFPB_ROW, "complaint id": str(3571000 + i)} for i in range(8)]
    rows.append({**CFPB_ROW, "complaint id": "3571000", "State": "Florida",
                 "Date received": "March 18"})
    path = write_csv(tmp_path / "forms.csv", header, rows)
    frame = load_raw_records("web_form", [path])
    assert frame["Complaint ID"].tolist()[:2] == ["3571000", "3571001"]
    assert frame["complaint_text"].tolist()[0] == "Billing"  # no narrative: the issue
    report = check_raw_source("web_form", [path]).report
    assert not report.critical
    assert failed(report) == {
        ("expect_column_values_to_match_regex_list", "Date received", "warning"),
        ("expect_column_values_to_be_unique", "Complaint ID", "warning"),
        ("expect_column_values_to_match_regex", "State", "warning"),
        ("expect_column_values_to_be_null", "unexpected_columns", "warning"),
    }


def test_web_form_rows_that_do_not_fit_the_header_are_warnings_not_errors(tmp_path: Path
                                                                         ) -> None:
    # A row with too many fields, one with too few, a narrative over two lines, and a last record
    # cut off inside its quoted narrative: the transform quarantines the bad ones (record level);
    # the check must say so, not fail (pandas' reader raises on both).
    header = list(WEB_FORM_COLUMNS)
    good = [CFPB_ROW[c] if c in CFPB_ROW else "" for c in header]
    lines = [",".join(header), *[",".join(good)] * 30]  # 3 bad of 33: under the critical share
    lines.append(",".join([*good, "surplus", "fields"]))
    lines.append(",".join(good[:3]))
    narrative = header.index("Consumer complaint narrative")
    spanning = ['"line one\nline two"' if i == narrative else v for i, v in enumerate(good)]
    lines.append(",".join(spanning))
    cut = ['"cut off' if i == narrative else v for i, v in enumerate(good)][: narrative + 1]
    path = tmp_path / "forms.csv"
    path.write_text("\n".join(lines) + "\n" + ",".join(cut) + "\n", encoding="utf-8")
    frame = load_raw_records("web_form", [path])
    assert frame["fits_header"].tolist() == [True] * 30 + [False, False, True, False]
    assert frame["Consumer complaint narrative"].tolist()[32] == "line one\nline two"
    report = check_raw_source("web_form", [path]).report
    assert not report.critical
    assert ("expect_column_values_to_be_in_set", "fits_header", "warning") in failed(report)


def test_web_forms_without_their_required_columns_are_critical(tmp_path: Path) -> None:
    header = [c for c in WEB_FORM_COLUMNS
              if c not in ("Complaint ID", "Issue", "Consumer complaint narrative")]
    path = write_csv(tmp_path / "forms.csv", header, [CFPB_ROW] * 3)
    report = check_raw_source("web_form", [path]).report
    critical = {(f.expectation, f.column) for f in report.failed if f.severity == "critical"}
    assert ("expect_column_to_exist", "Complaint ID") in critical
    assert ("expect_column_to_exist", "complaint_text") in critical
    assert ("expect_column_to_exist", "Date received") not in critical


def item(i: int, **attributes: Any) -> str:
    base: dict[str, Any] = {
        "ticket_number": {"S": f"T-{i}"}, "subject": {"S": "pothole"}, "details": {"S": "deep"},
        "created_at": {"S": "2026-11-03T10:00:00Z"}, "blocked_road": {"BOOL": False},
        "ttl": {"N": "1790000000"},
    }
    base.update(attributes)
    return json.dumps({"Item": {k: v for k, v in base.items() if v is not None}})


def test_dynamodb_items_typed_as_declared(tmp_path: Path) -> None:
    lines = [item(i) for i in range(12)]
    lines += [item(12, ttl={"S": "soon"}), item(13, ttl={"N": "12x"}),
              item(14, colour={"S": "red"}), json.dumps({"NotItem": {}})]
    path = write_lines(tmp_path / "data" / "part.json.gz", lines)
    report = check_raw_source("mbpp_reports", [path]).report
    assert not report.critical, report.summary()
    assert failed(report) == {
        ("expect_column_values_to_be_in_set", "item_object", "warning"),
        ("expect_column_values_to_not_be_null", "ticket_number", "warning"),
        ("expect_column_values_to_be_in_set", "ttl__type", "warning"),
        ("expect_column_values_to_match_regex", "ttl", "warning"),
        ("expect_column_values_to_be_null", "unexpected_attributes", "warning"),
    }


def test_dynamodb_items_whose_key_changed_type_are_critical(tmp_path: Path) -> None:
    lines = [item(i, ticket_number={"N": str(i)}) for i in range(5)]
    report = check_raw_source("mbpp_reports",
                              [write_lines(tmp_path / "part.json", lines)]).report
    assert report.critical
    assert ("expect_column_values_to_be_in_set", "ticket_number__type", "critical") \
        in failed(report)


def test_the_run_files_listing_gives_the_increment(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    rows = [
        {"run_id": "r1", "source": "call_center", "raw_file": "raw/call_center/a.jsonl",
         "status": "processed", "reason": None, "records": 3},
        {"run_id": "r1", "source": "call_center", "raw_file": "raw/call_center/b.jsonl",
         "status": "quarantined", "reason": "not gzip", "records": 0},
        {"run_id": "r1", "source": "sms", "raw_file": "raw/sms/c.jsonl",
         "status": "processed", "reason": None, "records": 1},
    ]
    lake.run_files.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=RUN_FILE.arrow_schema()),
                   lake.run_files / "r1.parquet")
    assert run_files_of(lake, "r1") == {"call_center": [tmp_path / "raw/call_center/a.jsonl"]}
    assert run_files_of(lake, "another run") == {}


def test_rows_are_bounded(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "c.jsonl", [json.dumps(call(i)) for i in range(50)])
    assert len(load_raw_records("call_center", [path, path], max_rows=30)) == 30


def test_old_gx_results_and_their_pages_are_pruned(tmp_path: Path) -> None:
    calls = write_lines(tmp_path / "calls.jsonl", [json.dumps(call(i)) for i in range(3)])
    project = tmp_path / "quality" / "gx"
    for run in ("first-run", "second-run", "third-run"):
        check_raw_source("call_center", [calls], project_dir=project, run_name=run)
    assert prune_results(project, "raw_call_center", keep=1) == 2
    check_raw_source("call_center", [calls], project_dir=project, run_name="fourth-run")
    results = project / "uncommitted" / "validations" / "raw_call_center"
    assert sorted(p.name for p in results.iterdir()) == ["fourth-run", "third-run"]
    index = (project / "uncommitted" / "data_docs" / "local_site" / "index.html").read_text()
    assert "third-run" in index and "fourth-run" in index
    assert "first-run" not in index and "second-run" not in index
