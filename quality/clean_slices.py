"""The clean suite over any number of clean partitions in bounded memory: in slices.

The suite runs on pandas frames (``quality.complaint_checks``), about 3 KB of memory a row
(measured: 909,232 rows, 2.7 GiB peak), so one frame of a whole lake would not fit at 10M rows.
``check_clean_zone`` reads the partitions in slices instead: runs of ``(event_date, source)``
partitions, in that order, of at most ``max_rows`` rows each (from the Parquet footers; a larger
partition is a slice of its own), runs the suite on each slice in turn, and merges the slices'
reports into one. Its memory follows ``max_rows``, not the lake.

Every expectation but the two uniqueness rules holds for a whole exactly when it holds for each
slice; the per-slice suite also finds duplicates within a slice. Duplicates between slices
(``complaint_id``, ``(source, source_record_id)``) are counted by DuckDB over those columns only,
in passes over a hash of them sized so that ids of no more than ten slices are held at once.

With a GX project, each slice runs as a checkpoint of its own (named ``<run name> <slice label>``
in the data docs); a single slice runs exactly as a frame did before, under ``run_name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.lake import event_partition
from quality.complaint_checks import (
    SUITE_NAME,
    FailedExpectation,
    QualityReport,
    check_clean_complaints,
    load_clean_complaints,
    parquet_files_under,
)
from quality.gx_project import CRITICAL
from quality.held_partitions import Partition

__all__ = ["DEFAULT_SLICE_ROWS", "CleanSlice", "check_clean_zone", "check_slices",
           "clean_partitions", "duplicates_between", "slice_partitions"]

# Rows per slice: about 1.5 GiB of pandas and GX at the measured 3 KB a row.
DEFAULT_SLICE_ROWS = 500_000
_DETAILS_SHOWN = 3  # slices whose evidence a merged failure quotes
_IDS_SHOWN = 10
_IDS_PER_SLICE_ROW = 10  # ids held at once in the check between slices, per row of a slice
_UNIQUE = (("expect_column_values_to_be_unique", "complaint_id", ("complaint_id",)),
           ("expect_compound_columns_to_be_unique", "source, source_record_id",
            ("source", "source_record_id")))


@dataclass(frozen=True)
class CleanSlice:
    """Consecutive partitions read and checked together, and their rows."""

    partitions: tuple[Partition, ...]
    rows: int

    def label(self, index: int, count: int) -> str:
        first, last = self.partitions[0][0], self.partitions[-1][0]
        dates = first if first == last else f"{first} to {last}"
        return f"slice {index} of {count} ({dates})"  # GX run names may hold no "/"


def clean_partitions(root: Path) -> list[Partition]:
    """Every ``(event_date, source)`` partition under ``root`` that holds data, in order."""
    found = []
    for folder in Path(root).glob("event_date=*/source=*"):
        if parquet_files_under(folder):
            found.append((folder.parent.name.removeprefix("event_date="),
                          folder.name.removeprefix("source=")))
    return sorted(found)


def _rows(root: Path, partition: Partition) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows
               for f in parquet_files_under(event_partition(Path(root), *partition)))


def slice_partitions(root: Path, partitions: Iterable[Partition],
                     max_rows: int) -> list[CleanSlice]:
    """``partitions`` (those holding data), in order, cut into slices of at most ``max_rows``
    rows; a partition with more rows is a slice of its own."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, not {max_rows}")
    slices: list[CleanSlice] = []
    current: list[Partition] = []
    rows = 0
    for partition in sorted(set(partitions)):
        size = _rows(root, partition)
        if size == 0:
            continue
        if current and rows + size > max_rows:
            slices.append(CleanSlice(tuple(current), rows))
            current, rows = [], 0
        current.append(partition)
        rows += size
    if current:
        slices.append(CleanSlice(tuple(current), rows))
    return slices


def check_clean_zone(root: Path, partitions: Iterable[Partition] | None = None, *,
                     max_rows: int = DEFAULT_SLICE_ROWS, project_dir: Path | None = None,
                     run_name: str | None = None) -> QualityReport:
    """The clean suite on ``partitions`` (default: every partition under ``root``), slice by
    slice, as one report. No partitions: the suite on an empty frame (it fails the row count)."""
    wanted = clean_partitions(root) if partitions is None else partitions
    return check_slices(root, slice_partitions(root, wanted, max_rows), project_dir=project_dir,
                        run_name=run_name)


def check_slices(root: Path, slices: Sequence[CleanSlice], *, project_dir: Path | None = None,
                 run_name: str | None = None) -> QualityReport:
    """The clean suite on each of ``slices`` in turn (``slice_partitions``), as one report."""
    if len(slices) <= 1:
        chosen = slices[0].partitions if slices else ()
        frame = load_clean_complaints(root, partitions=chosen)
        return check_clean_complaints(frame, project_dir=project_dir, run_name=run_name)
    labelled = []
    for index, piece in enumerate(slices, start=1):
        label = piece.label(index, len(slices))
        frame = load_clean_complaints(root, partitions=piece.partitions)
        name = f"{run_name} {label}" if run_name else None
        labelled.append((label, check_clean_complaints(frame, project_dir=project_dir,
                                                       run_name=name)))
        del frame  # the next slice's frame replaces it, not joins it
    return merge_slice_reports(labelled, duplicates_between(root, slices))


def duplicates_between(root: Path, slices: Sequence[CleanSlice],
                       buckets: int | None = None) -> list[FailedExpectation]:
    """The uniqueness rules between slices: values with rows in more than one slice (duplicates
    within a slice are the per-slice suite's), as critical failures of the same expectations.

    DuckDB reads the id columns only, in ``buckets`` passes over a hash of the value (default
    ``_id_buckets``: at most about ``_IDS_PER_SLICE_ROW`` x the largest slice's rows of ids at
    a time)."""
    import duckdb
    import pyarrow as pa

    files = [(f, i) for i, piece in enumerate(slices) for f in _files_of(root, piece)]
    slice_of = pa.table({"file": [f for f, _ in files], "slice": [i for _, i in files]})
    listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f, _ in files) + "]"
    buckets = buckets or _id_buckets(slices)
    failures = []
    with duckdb.connect() as conn:
        conn.register("slice_of", slice_of)
        for expectation, column, keys in _UNIQUE:
            key = ", ".join(keys)
            found: list[tuple[Any, ...]] = []
            for bucket in range(buckets):
                found += conn.execute(
                    f"SELECT {key}, count(*) AS copies FROM read_parquet({listed}, "
                    "filename = true, hive_partitioning = true, union_by_name = true, "
                    "hive_types = {'event_date': DATE, 'source': VARCHAR}) AS r "
                    "JOIN slice_of AS s ON r.filename = s.file "
                    f"WHERE hash({key}) % {buckets} = {bucket} GROUP BY {key} "
                    "HAVING count(DISTINCT s.slice) > 1").fetchall()
            if not found:
                continue
            found.sort(key=lambda r: tuple(str(v) for v in r[:-1]))
            rows = sum(int(r[-1]) for r in found)
            shown = ", ".join(" / ".join(str(v) for v in r[:-1]) for r in found[:_IDS_SHOWN])
            more = " ..." if len(found) > _IDS_SHOWN else ""
            failures.append(FailedExpectation(
                expectation, column,
                f"{len(found)} values in more than one slice ({rows} rows): {shown}{more}",
                CRITICAL))
    return failures


def _id_buckets(slices: Sequence[CleanSlice]) -> int:
    """Passes over the ids so that each holds at most ``_IDS_PER_SLICE_ROW`` x the largest
    slice's rows (ids take about a thirtieth of a row's memory in pandas and GX)."""
    total = sum(s.rows for s in slices)
    largest = max((s.rows for s in slices), default=1)
    return max(1, -(-total // (_IDS_PER_SLICE_ROW * largest)))


def _files_of(root: Path, piece: CleanSlice) -> list[str]:
    return [f for partition in piece.partitions
            for f in parquet_files_under(event_partition(Path(root), *partition))]


def merge_slice_reports(labelled: Sequence[tuple[str, QualityReport]],
                        between: Sequence[FailedExpectation] = ()) -> QualityReport:
    """One report of the slices' reports: rows added up, each expectation failed once, with the
    evidence of its first slices (``between``: failures found across slices, last)."""
    found: dict[tuple[str, str | None, str], list[str]] = {}
    for label, report in labelled:
        for failure in report.failed:
            key = (failure.expectation, failure.column, failure.severity)
            found.setdefault(key, []).append(f"{label}: {failure.details}")
    for failure in between:
        key = (failure.expectation, failure.column, failure.severity)
        found.setdefault(key, []).append(f"between slices: {failure.details}")
    failed = []
    for (expectation, column, severity), details in found.items():
        shown = details[:_DETAILS_SHOWN]
        if len(details) > _DETAILS_SHOWN:
            shown.append(f"and {len(details) - _DETAILS_SHOWN} more")
        failed.append(FailedExpectation(expectation, column, " | ".join(shown), severity))
    return QualityReport(
        success=not failed and all(r.success for _, r in labelled),
        suite=labelled[0][1].suite if labelled else SUITE_NAME,
        rows=sum(r.rows for _, r in labelled),
        evaluated=max((r.evaluated for _, r in labelled), default=0),
        failed=tuple(failed),
    )
