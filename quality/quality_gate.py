"""The quality gate of a transform run, as the DAGs run it: every suite as a Great Expectations
checkpoint of the lake's GX project, then the verdict on the run's partitions.

1. **Raw suites** (``quality.raw_checks``) on the raw files the run read, one per batch source.
2. **Clean suite** (``quality.complaint_checks``) on the clean partitions the run wrote, and
   **counts** (``complaint_runs``) on the run's own record (``runs/<run>__complaints.parquet``):
   records in = clean + quarantined + duplicates per source, no negative count (critical), no raw
   file quarantined whole (warning).
3. Each suite's outcome is kept as JSON in ``<lake>/quality/validations/<suite>/<run>.json``
   (GX keeps its own results under ``quality/gx/uncommitted/validations``), the clean report also
   in ``alerts/quality/<run>.json`` (the static report reads it), and the checkpoints' action
   rebuilds the data docs (``quality/gx/uncommitted/data_docs/local_site/index.html``).
4. **Verdict** (``quality.held_partitions``): a critical failure of a raw suite holds the run's
   partitions of that source; a critical failure of the clean suite holds all the run's
   partitions (its rules are table-wide: duplicated ids, missing columns). Partitions that pass
   are released and become the last good version. Warnings only report.

``run_quality_gate`` never raises for bad data: it returns a ``GateOutcome`` that the caller (the
DAG task, ``complaints check``) turns into alerts and a task state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.lake import Lake, unique_safe_name, write_atomically
from quality.clean_slices import DEFAULT_SLICE_ROWS, check_clean_zone
from quality.complaint_checks import (
    SUITE_NAME,
    QualityReport,
    validate_frame,
    write_report,
)
from quality.gx_project import critical, warning
from quality.held_partitions import HeldPartition, Partition, update_partitions
from quality.raw_checks import DEFAULT_MAX_ROWS, check_raw_source, run_files_of

if TYPE_CHECKING:
    import pandas
    from great_expectations.core import ExpectationSuite

__all__ = ["RUNS_SUITE", "GateOptions", "GateOutcome", "load_run_counts", "run_counts_suite",
           "run_quality_gate", "write_validation"]

RUNS_SUITE = "complaint_runs"
_COUNTS = ("records_in", "clean", "quarantined", "duplicates")


@dataclass(frozen=True)
class GateOptions:
    """How the gate runs: with the GX project and data docs (the default) or in memory only,
    how many raw records per source it reads at most, and how many clean rows it checks at a
    time (``quality.clean_slices``)."""

    data_docs: bool = True
    max_raw_rows: int = DEFAULT_MAX_ROWS
    slice_rows: int = DEFAULT_SLICE_ROWS


@dataclass(frozen=True)
class GateOutcome:
    """Every suite's report for one run, and which of its partitions are held."""

    run_id: str
    reports: tuple[QualityReport, ...]
    held: tuple[Partition, ...]
    released: tuple[Partition, ...]
    data_docs: Path | None
    all_held: Mapping[Partition, HeldPartition] = field(default_factory=dict)

    @property
    def critical(self) -> bool:
        return any(r.critical for r in self.reports)

    @property
    def warnings(self) -> bool:
        return any(not r.success and not r.critical for r in self.reports)

    def summary(self) -> str:
        lines = [r.summary() for r in self.reports] or ["quality: the run wrote nothing to check"]
        if self.held:
            shown = ", ".join(f"{d}/{s}" for d, s in self.held)
            lines.append(f"HELD out of the warehouse (critical failure): {shown}")
        if self.data_docs is not None:
            lines.append(f"data docs: {self.data_docs}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "critical": self.critical,
            "warnings": self.warnings,
            "suites": [r.to_dict() for r in self.reports],
            "held": [list(p) for p in self.held],
            "released": [list(p) for p in self.released],
            "data_docs": str(self.data_docs) if self.data_docs else None,
        }


def quality_subject(suite: str) -> str:
    """What a suite guards, as an alert's ``source``: ``raw/<source>``, ``clean/<table>``,
    ``clean/complaints``, ``runs/complaints``."""
    if suite == "complaints":
        return "clean/complaints"
    if suite == "complaint_runs":
        return "runs/complaints"
    for prefix in ("raw_", "clean_"):
        if suite.startswith(prefix):
            return f"{prefix[:-1]}/{suite.removeprefix(prefix)}"
    return suite


def write_validation(lake: Lake, report: QualityReport, run_id: str) -> Path:
    """``quality/validations/<suite>/<run>.json``: one suite's outcome for one run."""
    target = (lake.validations / unique_safe_name(report.suite, "suite")
              / f"{unique_safe_name(str(run_id), 'run')}.json")
    payload = {"run_id": str(run_id),
               "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
               **report.to_dict(), "summary": report.summary()}
    return write_atomically(target, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def load_run_counts(lake: Lake, run_id: str) -> pandas.DataFrame | None:
    """The run's record (one row per source) with ``accounted`` = clean + quarantined +
    duplicates; None when the run wrote no record."""
    import pyarrow.parquet as pq

    path = lake.runs / f"{unique_safe_name(str(run_id), 'run')}__complaints.parquet"
    if not path.is_file():
        return None
    frame: pandas.DataFrame = pq.read_table(path).to_pandas()
    frame["accounted"] = frame["clean"] + frame["quarantined"] + frame["duplicates"]
    return frame


def run_counts_suite() -> ExpectationSuite:
    """Counts conserved: nothing is lost between raw and clean, per source."""
    import great_expectations as gx
    import great_expectations.expectations as gx_expectations

    gxe: Any = gx_expectations
    return gx.ExpectationSuite(name=RUNS_SUITE, expectations=[
        critical(gxe.ExpectColumnPairValuesToBeEqual(column_A="records_in",
                                                     column_B="accounted")),
        *(critical(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0)) for c in _COUNTS),
        warning(gxe.ExpectColumnValuesToBeBetween(column="files_quarantined", max_value=0)),
    ])


def _verdict(raw: Mapping[str, QualityReport], clean: Iterable[QualityReport],
             written: Iterable[Partition]) -> dict[Partition, list[str]]:
    """Partition -> suites with a critical failure that hold it."""
    failed: dict[Partition, list[str]] = {}
    table_wide = [c.suite for c in clean if c.critical]
    for partition in written:
        source = raw.get(partition[1])
        suites = [*([source.suite] if source is not None and source.critical else []),
                  *table_wide]
        if suites:
            failed[partition] = suites
    return failed


def _check_clean(lake: Lake, run_id: str, written: tuple[Partition, ...],
                 project: Path | None, slice_rows: int) -> list[QualityReport]:
    """The clean suite on the written partitions (slice by slice: a full run writes them all),
    and the counts suite on the run's record."""
    reports: list[QualityReport] = []
    if written:
        reports.append(check_clean_zone(lake.clean_complaints, written, max_rows=slice_rows,
                                        project_dir=project, run_name=str(run_id)))
        write_report(reports[0], lake.alerts, run_id)
    else:  # the static report lists every run's gate, including runs with nothing to check
        write_report(QualityReport(True, SUITE_NAME, 0, 0, ()), lake.alerts, run_id)
    counts = load_run_counts(lake, run_id)
    if counts is not None:
        reports.append(validate_frame(counts, run_counts_suite(), project_dir=project,
                                      run_name=str(run_id), id_column="source"))
    return reports


def run_quality_gate(lake: Lake, run_id: str, partitions: Iterable[Partition],
                     options: GateOptions = GateOptions()) -> GateOutcome:
    """Run the raw and clean suites of one transform run (``partitions``: the clean partitions
    it wrote), keep their results, hold or release the partitions (see the module docstring)."""
    written = tuple(sorted({(str(d), str(s)) for d, s in partitions}))
    project = lake.gx_project if options.data_docs else None
    raw: dict[str, QualityReport] = {}
    for source, files in sorted(run_files_of(lake, run_id).items()):
        raw[source] = check_raw_source(source, files, project_dir=project, run_name=str(run_id),
                                       max_rows=options.max_raw_rows).report
    clean = _check_clean(lake, run_id, written, project, options.slice_rows)
    reports = (*raw.values(), *clean)
    for report in reports:
        write_validation(lake, report, run_id)
    failed = _verdict(raw, clean, written)
    passed = [p for p in written if p not in failed]
    all_held = update_partitions(lake, run_id, passed, failed) if written else {}
    docs = lake.data_docs if project is not None and lake.data_docs.is_file() else None
    return GateOutcome(str(run_id), tuple(reports), tuple(sorted(failed)), tuple(passed), docs,
                       all_held)
