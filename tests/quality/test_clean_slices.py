"""The clean suite in slices (quality.clean_slices): the same verdict as one frame of every row,
with memory bounded by the slice, and duplicates between slices found."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from quality.clean_slices import (
    check_clean_zone,
    clean_partitions,
    duplicates_between,
    slice_partitions,
)
from quality.complaint_checks import QualityReport, check_clean_complaints, load_clean_complaints
from tests.quality.test_complaint_checks import complaint, write_lake


def expectations(report: QualityReport) -> set[tuple[str, str | None, str]]:
    return {(f.expectation, f.column, f.severity) for f in report.failed}


def bad_rows() -> list[dict[str, Any]]:
    """Twelve complaints over 13 partitions with a defect of each kind: a missing text
    (critical), an unknown category (warning), and complaint 7 a second copy of complaint 0 in
    another partition (same source, another event date): both uniqueness rules."""
    rows = [complaint(i) for i in range(12)]
    rows[3] = complaint(3, text=None)
    rows[5] = complaint(5, category="weather")
    rows[7] = complaint(7, complaint_id=rows[0]["complaint_id"],
                        source_record_id=rows[0]["source_record_id"])
    assert rows[7]["source"] == rows[0]["source"]
    assert rows[7]["event_date"] != rows[0]["event_date"]
    return rows


def test_slices_cover_every_partition_in_order_within_the_row_limit(tmp_path: Path) -> None:
    root = write_lake(tmp_path / "complaints", [complaint(i) for i in range(12)])
    partitions = clean_partitions(root)
    assert partitions == sorted({(r["event_date"].isoformat(), r["source"])
                                 for r in (complaint(i) for i in range(12))})
    for limit in (1, 2, 3, 100):
        slices = slice_partitions(root, partitions, limit)
        assert [p for s in slices for p in s.partitions] == partitions
        assert sum(s.rows for s in slices) == 12
        assert all(s.rows <= limit or len(s.partitions) == 1 for s in slices)
    assert len(slice_partitions(root, partitions, 100)) == 1
    # a partition that is not there (a run emptied it) is no slice
    assert slice_partitions(root, [("2020-01-01", "sms")], 100) == []


@pytest.mark.parametrize("limit", [1, 3, 5, 100])
def test_sliced_check_finds_what_one_frame_of_every_row_finds(tmp_path: Path,
                                                              limit: int) -> None:
    root = write_lake(tmp_path / "complaints", bad_rows())
    whole = check_clean_complaints(load_clean_complaints(root))
    sliced = check_clean_zone(root, max_rows=limit)
    assert expectations(whole) == {
        ("expect_column_values_to_not_be_null", "text", "critical"),
        ("expect_column_values_to_be_in_set", "category", "warning"),
        ("expect_column_values_to_be_unique", "complaint_id", "critical"),
        ("expect_compound_columns_to_be_unique", "source, source_record_id", "critical"),
    }
    assert expectations(sliced) == expectations(whole)
    assert (sliced.rows, sliced.evaluated, sliced.success, sliced.critical) == (
        whole.rows, whole.evaluated, False, True)
    unique = next(f for f in sliced.failed if f.column == "complaint_id")
    copied = bad_rows()[0]["complaint_id"]
    assert copied in unique.details
    if limit < 12:
        assert "between slices: 1 values in more than one slice (2 rows)" in unique.details
        text = next(f for f in sliced.failed if f.expectation.endswith("not_be_null"))
        assert re.match(r"slice \d+ of \d+ \(2026-03-0\d( to 2026-03-0\d)?\): ", text.details)


def test_sliced_check_of_good_rows_passes_and_of_no_rows_fails_the_row_count(
        tmp_path: Path) -> None:
    root = write_lake(tmp_path / "complaints", [complaint(i) for i in range(12)])
    report = check_clean_zone(root, max_rows=2)
    assert report.success and report.rows == 12 and report.failed == ()
    assert report.evaluated == check_clean_complaints(load_clean_complaints(root)).evaluated
    empty = check_clean_zone(root, [("2020-01-01", "sms")], max_rows=2)
    assert empty.rows == 0 and expectations(empty) == {
        ("expect_table_row_count_to_be_between", None, "critical")}


def test_duplicates_between_slices_are_the_same_in_any_number_of_passes(tmp_path: Path) -> None:
    rows = bad_rows()
    rows[9] = complaint(9, complaint_id=rows[2]["complaint_id"])  # a second duplicated id
    root = write_lake(tmp_path / "complaints", rows)
    slices = slice_partitions(root, clean_partitions(root), 2)
    found = {b: duplicates_between(root, slices, buckets=b) for b in (1, 2, 7)}
    assert found[1] == found[2] == found[7]
    by_id = next(f for f in found[1] if f.column == "complaint_id")
    assert by_id.details.startswith("2 values in more than one slice (4 rows): ")
    assert {rows[0]["complaint_id"], rows[2]["complaint_id"]} <= set(
        by_id.details.split(": ", 1)[1].split(", "))
    pair = next(f for f in found[1] if f.column == "source, source_record_id")
    assert pair.details.startswith("1 values in more than one slice (2 rows): ")
