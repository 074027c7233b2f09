"""Tests for the clean-complaints quality gate (quality.complaint_checks).

Every check runs the real Great Expectations suite on tiny frames that were built with pyarrow
from ``COMPLAINT.arrow_schema()``, written as hive-partitioned Parquet (the layout Spark writes,
litter included) and read back with ``load_clean_complaints``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from quality.complaint_checks import (
    DEFAULT_CATEGORIES,
    DEFAULT_SOURCES,
    FailedExpectation,
    QualityGateFailed,
    QualityReport,
    build_suite,
    check_clean_complaints,
    enforce,
    load_clean_complaints,
    write_report,
)
from schemas.complaint import COMPLAINT
from tests.builders import clean_complaint

REPO = Path(__file__).resolve().parents[2]

Row = dict[str, Any]
MakeLake = Callable[[list[Row]], Path]


def complaint(i: int, **overrides: Any) -> dict[str, Any]:
    """One valid clean complaint row (values varying with ``i``); ``overrides`` replace fields."""
    source = DEFAULT_SOURCES[i % len(DEFAULT_SOURCES)]
    varying: dict[str, Any] = {
        "complaint_id": f"cmp-{i:04d}",
        "source": source,
        "source_record_id": f"rec-{i}",
        "event_time": dt.datetime(2026, 3, 1 + i % 2, 9, 30, tzinfo=dt.UTC),
        "customer_id": f"cust-{i}" if i % 3 else None,
        "category": DEFAULT_CATEGORIES[i % len(DEFAULT_CATEGORIES)],
        "severity": ("P1", "P2", "P3")[i % 3],
        "sentiment": ("negative", "neutral", "positive")[i % 3],
        "region": "West" if i % 2 else None,
        "state": "CA" if i % 2 else None,
        "location": None,
        "duplicate_count": 1 + i % 2,
        "quality_flags": [] if i % 3 else ["missing_customer_id"],
        "raw_line": i + 1,
    }
    return clean_complaint(i, **{**varying, **overrides})


def write_lake(root: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` as ``root/event_date=.../source=.../*.parquet``, with Spark's litter.

    Fields are written nullable (as Spark usually writes them), so that bad rows can reach the lake.
    """
    declared: pa.Schema = COMPLAINT.arrow_schema()
    nullable = [declared.field(i).with_nullable(True) for i in range(len(declared))]
    schema = pa.schema(nullable)
    table = pa.Table.from_pylist(rows, schema=schema)
    partitioning = ds.partitioning(
        pa.schema({"event_date": pa.date32(), "source": pa.string()}), flavor="hive"
    )
    ds.write_dataset(
        table,
        root,
        format="parquet",
        partitioning=partitioning,
        basename_template="part-{i}.snappy.parquet",
    )
    # What a Spark job leaves next to the data: none of it may be read.
    (root / "_SUCCESS").write_text("")
    some_partition = next(p for p in root.glob("event_date=*/source=*"))
    (some_partition / ".part-0.snappy.parquet.crc").write_bytes(b"crc")
    temporary = root / "_temporary" / "0" / "event_date=2026-03-01" / "source=web_form"
    temporary.mkdir(parents=True)
    (temporary / "part-9.snappy.parquet").write_bytes(b"half-written, not parquet")
    return root


@pytest.fixture
def lake(tmp_path: Path) -> MakeLake:
    counter = iter(range(1_000))

    def make(rows: list[dict[str, Any]]) -> Path:
        return write_lake(tmp_path / f"lake{next(counter)}" / "clean" / "complaints", rows)

    return make


@pytest.fixture
def good_rows() -> list[dict[str, Any]]:
    return [complaint(i) for i in range(12)]


def failures(report: QualityReport) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in report.failed}


def failure(report: QualityReport, expectation: str, column: str | None) -> FailedExpectation:
    return next(f for f in report.failed if (f.expectation, f.column) == (expectation, column))


# --- loading -------------------------------------------------------------------------------------


def test_partition_columns_round_trip(lake: MakeLake, good_rows: list[Row]) -> None:
    frame = load_clean_complaints(lake(good_rows))

    assert list(frame.columns) == COMPLAINT.names
    assert len(frame) == len(good_rows)  # Spark's _temporary / _SUCCESS / .crc files are skipped
    dates = set(frame["event_date"])
    assert dates == {dt.date(2026, 3, 1), dt.date(2026, 3, 2)}
    assert all(type(d) is dt.date for d in dates)  # a date, not a string or a datetime
    assert all(type(s) is str for s in frame["source"])
    assert set(frame["source"]) == set(DEFAULT_SOURCES)
    by_id = frame.set_index("complaint_id")
    for row in good_rows:
        got: Any = by_id.loc[row["complaint_id"]]
        assert got["source"] == row["source"]
        assert got["event_date"] == row["event_date"]
        assert got["event_time"] == row["event_time"]
        assert list(got["quality_flags"]) == row["quality_flags"]
    assert str(frame["duplicate_count"].dtype) == "int32"


def test_partition_values_are_not_type_guessed(lake: MakeLake) -> None:
    # Numeric-looking source names would be inferred as integers without the declared schema.
    rows = [complaint(0, source="2026"), complaint(1, source="007")]
    frame = load_clean_complaints(lake(rows))
    assert sorted(frame["source"]) == ["007", "2026"]


def test_reads_spark_style_files(tmp_path: Path) -> None:
    """Spark's defaults: INT96 (zone-less) timestamps, ``list<element>``, every field nullable."""
    import pyarrow.parquet as pq

    fields = []
    for field in COMPLAINT.arrow_schema():
        if field.name in COMPLAINT.partition_by:
            continue  # Spark keeps partition values in the directory names only
        kind = field.type
        if pa.types.is_list(kind):
            kind = pa.list_(pa.field("element", pa.string()))
        fields.append(pa.field(field.name, kind, True))
    root = tmp_path / "complaints"
    rows = [complaint(i) for i in range(3)]
    for row in rows:
        folder = root / f"event_date={row['event_date']}" / f"source={row['source']}"
        folder.mkdir(parents=True)
        data = {k: v for k, v in row.items() if k not in COMPLAINT.partition_by}
        pq.write_table(
            pa.Table.from_pylist([data], schema=pa.schema(fields)),
            folder / "part-00000-c000.snappy.parquet",
            use_deprecated_int96_timestamps=True,
        )

    frame = load_clean_complaints(root).sort_values("complaint_id", ignore_index=True)
    assert str(frame["event_time"].dtype) == "datetime64[us, UTC]"
    assert list(frame["event_time"]) == [r["event_time"] for r in rows]
    assert list(frame["event_date"]) == [r["event_date"] for r in rows]
    assert check_clean_complaints(frame).success


@pytest.mark.parametrize("exists", [True, False], ids=["empty", "missing"])
def test_empty_or_missing_dir_gives_empty_frame_with_all_columns(
    tmp_path: Path, exists: bool
) -> None:
    folder = tmp_path / "complaints"
    if exists:
        folder.mkdir()
    frame = load_clean_complaints(folder)
    assert frame.empty
    assert list(frame.columns) == COMPLAINT.names


# --- the suite -----------------------------------------------------------------------------------


def test_suite_holds_the_required_expectations() -> None:
    suite = build_suite(categories=("network", "billing"), sources=("sms",))
    configured = {
        (e.expectation_type, getattr(e, "column", None) or tuple(getattr(e, "column_list", ())))
        for e in suite.expectations
    }
    for name in COMPLAINT.names:
        assert ("expect_column_to_exist", name) in configured
    for name in (
        "complaint_id",
        "source",
        "event_time",
        "text",
        "category",
        "severity",
        "taxonomy_version",
    ):
        assert ("expect_column_values_to_not_be_null", name) in configured
    assert ("expect_column_values_to_be_unique", "complaint_id") in configured
    assert ("expect_compound_columns_to_be_unique", ("source", "source_record_id")) in configured
    assert ("expect_table_row_count_to_be_between", ()) in configured
    sets = {
        c.kwargs["column"]: set(c.kwargs["value_set"])
        for c in (e.configuration for e in suite.expectations)
        if c.type == "expect_column_values_to_be_in_set"
    }
    assert sets == {
        "category": {"network", "billing"},
        "source": {"sms"},
        "severity": {"P1", "P2", "P3"},
        "sentiment": {"negative", "neutral", "positive"},
    }


def test_allowed_sets_are_checked() -> None:
    with pytest.raises(TypeError):
        build_suite(sources="sms")
    with pytest.raises(ValueError):
        build_suite(categories=())


def test_good_frame_passes(lake: MakeLake, good_rows: list[Row]) -> None:
    report = check_clean_complaints(load_clean_complaints(lake(good_rows)))

    assert report.success, report.summary()
    assert report.failed == ()
    assert report.rows == len(good_rows)
    assert report.evaluated == len(build_suite().expectations)
    assert report.summary() == (
        f"complaints quality: {report.evaluated}/{report.evaluated} expectations passed "
        f"on {len(good_rows)} rows"
    )
    enforce(report)  # does not raise


@pytest.fixture
def bad_report(lake: MakeLake, good_rows: list[Row]) -> QualityReport:
    rows = [
        *good_rows,
        # same complaint_id as row 0, but its own (source, source_record_id)
        complaint(20, complaint_id="cmp-0000"),
        complaint(21, category="weather"),
        complaint(22, text=None),
    ]
    return check_clean_complaints(load_clean_complaints(lake(rows)))


def test_bad_frame_fails_with_exactly_those_expectations(bad_report: QualityReport) -> None:
    assert not bad_report.success
    assert failures(bad_report) == {
        ("expect_column_values_to_be_unique", "complaint_id"),
        ("expect_column_values_to_be_in_set", "category"),
        ("expect_column_values_to_not_be_null", "text"),
    }
    assert bad_report.rows == 15

    unique = failure(bad_report, "expect_column_values_to_be_unique", "complaint_id").details
    assert "2 of 15 rows" in unique and "'cmp-0000' x2" in unique

    in_set = failure(bad_report, "expect_column_values_to_be_in_set", "category").details
    assert "1 of 15 rows" in in_set and "'weather'" in in_set and "cmp-0021" in in_set

    not_null = failure(bad_report, "expect_column_values_to_not_be_null", "text").details
    assert "1 of 15 rows" in not_null and "cmp-0022" in not_null


def test_summary_is_readable(bad_report: QualityReport) -> None:
    lines = bad_report.summary().splitlines()
    evaluated = bad_report.evaluated
    assert lines[0] == (
        f"complaints quality: {evaluated - 3}/{evaluated} expectations passed on 15 rows"
    )
    assert len(lines) == 4
    assert (
        "  WARNING expect_column_values_to_be_in_set(category): 1 of 15 rows unexpected (6.7%); "
        "values: 'weather' x1; complaint_id: cmp-0021"
    ) in lines
    for f in bad_report.failed:
        assert any(f.expectation in line and f.details in line for line in lines[1:])


def test_enforce_raises_with_the_failure_lines(bad_report: QualityReport) -> None:
    with pytest.raises(QualityGateFailed) as raised:
        enforce(bad_report)
    message = str(raised.value)
    assert message == bad_report.summary()
    assert "expect_column_values_to_not_be_null(text)" in message
    assert "'weather'" in message
    assert raised.value.report is bad_report


def test_compound_uniqueness_of_source_and_record_id(lake: MakeLake, good_rows: list[Row]) -> None:
    twin = complaint(30, source=good_rows[0]["source"], source_record_id="rec-0")
    report = check_clean_complaints(load_clean_complaints(lake([*good_rows, twin])))
    assert failures(report) == {
        ("expect_compound_columns_to_be_unique", "source, source_record_id"),
    }
    details = report.failed[0].details
    assert "2 of 13 rows" in details and "'rec-0'" in details


def test_other_domain_rules(lake: MakeLake, good_rows: list[Row]) -> None:
    rows = [
        *good_rows,
        complaint(40, severity="P4"),
        complaint(41, sentiment="angry"),
        complaint(42, text=""),
        complaint(43, duplicate_count=0),
    ]
    report = check_clean_complaints(load_clean_complaints(lake(rows)))
    assert failures(report) == {
        ("expect_column_values_to_be_in_set", "severity"),
        ("expect_column_values_to_be_in_set", "sentiment"),
        ("expect_column_value_lengths_to_be_between", "text"),
        ("expect_column_values_to_be_between", "duplicate_count"),
    }


def test_sources_are_a_parameter(lake: MakeLake, good_rows: list[Row]) -> None:
    assert {"sms", "social"} <= set(DEFAULT_SOURCES)  # the streamed channels are known
    frame = load_clean_complaints(lake([*good_rows, complaint(50, source="fax")]))

    default = check_clean_complaints(frame)
    assert failures(default) == {("expect_column_values_to_be_in_set", "source")}
    assert "'fax'" in default.failed[0].details

    widened = check_clean_complaints(frame, sources=(*DEFAULT_SOURCES, "fax"))
    assert widened.success, widened.summary()


def test_empty_lake_fails_only_on_row_count(tmp_path: Path) -> None:
    report = check_clean_complaints(load_clean_complaints(tmp_path))
    assert failures(report) == {("expect_table_row_count_to_be_between", None)}
    assert report.failed[0].details == "observed 0 (expected >= 1)"


def test_missing_column_is_reported_not_raised(lake: MakeLake, good_rows: list[Row]) -> None:
    frame = load_clean_complaints(lake(good_rows)).drop(columns=["severity"])
    report = check_clean_complaints(frame)
    assert not report.success
    assert ("expect_column_to_exist", "severity") in failures(report)
    assert {f.column for f in report.failed} == {"severity"}


# --- reporting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "run_id",
    [
        "scheduled__2026-03-02T00:00:00+00:00",
        "../../etc/passwd",
        "../../../../../../tmp/evil",
        "/etc/passwd",
        "..",
        ".",
        "",
        "a/../../b",
        "..\\..\\windows",
        "nul\x00byte",
        "x" * 500,
    ],
)
def test_write_report_stays_inside_alerts_dir(
    tmp_path: Path, bad_report: QualityReport, run_id: str
) -> None:
    alerts = tmp_path / "sandbox" / "lake" / "alerts"
    path = write_report(bad_report, alerts, run_id)

    folder = (alerts / "quality").resolve()
    assert path.resolve().parent == folder
    assert path.suffix == ".json" and path.is_file()
    assert len(path.name) < 200
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temp files left behind
    assert [p for p in (tmp_path / "sandbox").rglob("*") if p.is_file()] == [path]
    payload = json.loads(path.read_text())
    assert payload["run_id"] == run_id
    assert payload["success"] is False
    assert payload["failed"] == [
        {"expectation": f.expectation, "column": f.column, "details": f.details,
         "severity": f.severity}
        for f in bad_report.failed
    ]


def test_write_report_keeps_plain_run_ids_and_separates_lookalikes(tmp_path: Path) -> None:
    report = QualityReport(success=True, suite="complaints", rows=3, evaluated=5, failed=())
    plain = write_report(report, tmp_path, "run-2026-03-02_1")
    assert plain == tmp_path / "quality" / "run-2026-03-02_1.json"
    a = write_report(report, tmp_path, "manual__2026:03")
    b = write_report(report, tmp_path, "manual__2026_03")
    assert a != b
    again = write_report(report, tmp_path, "manual__2026:03")
    assert again == a  # deterministic: a rerun overwrites its own report
    assert json.loads(plain.read_text())["passed"] == 5


def test_report_to_dict_is_json_ready() -> None:
    failed = (FailedExpectation("expect_table_row_count_to_be_between", None, "observed 0"),)
    report = QualityReport(success=False, suite="complaints", rows=0, evaluated=2, failed=failed)
    assert json.loads(json.dumps(report.to_dict())) == {
        "suite": "complaints",
        "success": False,
        "rows": 0,
        "evaluated": 2,
        "passed": 1,
        "critical": True,
        "failed": [
            {
                "expectation": "expect_table_row_count_to_be_between",
                "column": None,
                "details": "observed 0",
                "severity": "critical",
            },
        ],
    }
    assert report.summary().splitlines() == [
        "complaints quality: 1/2 expectations passed on 0 rows",
        "  FAILED expect_table_row_count_to_be_between: observed 0",
    ]


def test_module_import_is_cheap() -> None:
    code = (
        "import sys, quality.complaint_checks\n"
        "heavy = {'great_expectations', 'pandas', 'pyarrow'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_gate_reads_only_the_partitions_a_run_wrote(tmp_path: Path) -> None:
    rows = [complaint(i) for i in range(12)]
    root = write_lake(tmp_path / "complaints", rows)
    written = [("2026-03-02", DEFAULT_SOURCES[1])]
    frame = load_clean_complaints(root, partitions=written)
    expected = [r for r in rows if (r["event_date"].isoformat(), r["source"]) in written]
    assert 0 < len(frame) == len(expected) < len(rows)
    assert set(frame["complaint_id"]) == {r["complaint_id"] for r in expected}
    assert len(load_clean_complaints(root, partitions=[("2030-01-01", "sms")])) == 0


def test_ranges_and_lineage_with_their_severity(lake: MakeLake, good_rows: list[Row]) -> None:
    early = good_rows[0]["ingest_time"] - dt.timedelta(hours=2)
    rows = [*good_rows, complaint(60, classification_score=1.5), complaint(61, raw_line=0),
            complaint(62, ingest_time=early)]
    report = check_clean_complaints(load_clean_complaints(lake(rows)))
    assert {(f.expectation, f.column, f.severity) for f in report.failed} == {
        ("expect_column_values_to_be_between", "classification_score", "warning"),
        ("expect_column_values_to_be_between", "raw_line", "critical"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "ingest_time, first_ingest_time",
         "critical"),
    }
    assert report.critical
