"""The Great Expectations 1.x suite of the clean complaints (the gate that runs it with the raw
suites, as checkpoints, is ``quality.quality_gate``)::

    frame = load_clean_complaints(lake / "clean" / "complaints", partitions=...)
    report = check_clean_complaints(frame, project_dir=lake / "quality" / "gx", run_name=run_id)
    write_report(report, alerts_dir, run_id)
    enforce(report)  # raises QualityGateFailed on any failure (``complaints check``)

``load_clean_complaints`` reads the hive-partitioned Parquet dataset written by Spark
(``event_date=YYYY-MM-DD/source=<source>/*.parquet``) with ``pyarrow.dataset``, using the schema
declared in ``schemas.complaint.COMPLAINT`` so that partition values are never type-guessed
(``event_date`` is a date, ``source`` a string).

``build_suite`` derives most expectations from ``COMPLAINT`` (every column exists, every
non-nullable column has no nulls) and adds the domain rules: unique ``complaint_id`` and
``(source, source_record_id)``, allowed categories / severities / sentiments / sources, non-empty
text, ``duplicate_count >= 1``, lineage (``raw_line >= 1``, the kept copy landed no earlier
than the first: ``ingest_time >= first_ingest_time``), ``classification_score`` in [0, 1] and
at least one row. Each carries its severity in ``meta``:
the allowed categories, severities and sentiments (they follow the business's rules file) are
warnings; everything else is critical (the partitions are held out of the warehouse).

``check_clean_complaints`` runs the suite against a pandas frame (``quality.gx_project.run_suite``:
a checkpoint of the lake's GX project, or an ephemeral context) and turns the result into a
small, JSON-friendly ``QualityReport`` whose failures carry their severity and evidence (how
many rows, which values, which complaint ids).

Great Expectations and pandas are imported inside the functions: importing GX takes seconds and
this module is imported by the DAG file, which must stay cheap to parse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.lake import unique_safe_name, write_atomically
from quality.gx_project import CRITICAL, critical, run_suite, severity, warning
from schemas.complaint import COMPLAINT, RecordSchema

if TYPE_CHECKING:
    import pandas
    from great_expectations.core import ExpectationSuite

__all__ = [
    "DEFAULT_CATEGORIES",
    "DEFAULT_SENTIMENTS",
    "DEFAULT_SEVERITIES",
    "DEFAULT_SOURCES",
    "SUITE_NAME",
    "FailedExpectation",
    "QualityGateFailed",
    "QualityReport",
    "build_suite",
    "check_clean_complaints",
    "enforce",
    "load_clean_complaints",
    "parquet_files_under",
    "validate_frame",
    "write_report",
]

SUITE_NAME = "complaints"

DEFAULT_CATEGORIES: tuple[str, ...] = (
    "network",
    "billing",
    "service",
    "account",
    "device",
    "privacy_fraud",
    "other",
)
DEFAULT_SEVERITIES: tuple[str, ...] = ("P1", "P2", "P3")
DEFAULT_SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
# Channels of the clean zone: the batch sources and the streamed sms and social sources.
DEFAULT_SOURCES: tuple[str, ...] = (
    "call_center",
    "web_form",
    "complaint_management",
    "mbpp_reports",
    "chat_feedback",
    "sms",
    "social",
)

# How much evidence to keep per failed expectation.
_SAMPLE_VALUES = 10  # distinct unexpected values shown, with their counts
_SAMPLE_IDS = 10  # complaint ids of offending rows shown
_VALUE_CHARS = 60  # each value's repr is cut to this many characters
_ID_COLUMN = "complaint_id"


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that did not hold, and the evidence for it."""

    expectation: str  # GX expectation type, e.g. "expect_column_values_to_be_unique"
    column: str | None  # column, "a, b" for multi-column expectations, None for table-level ones
    details: str  # unexpected count / percent, a sample of the unexpected values and complaint ids
    severity: str = CRITICAL  # critical: the partitions are held; warning: reported only

    def line(self) -> str:
        target = f"({self.column})" if self.column else ""
        label = "FAILED" if self.severity == CRITICAL else "WARNING"
        return f"{label} {self.expectation}{target}: {self.details}"


@dataclass(frozen=True)
class QualityReport:
    """Outcome of one run of the suite on one frame."""

    success: bool
    suite: str
    rows: int
    evaluated: int
    failed: tuple[FailedExpectation, ...]

    @property
    def passed(self) -> int:
        return self.evaluated - len(self.failed)

    @property
    def critical(self) -> bool:
        """A critical expectation failed: the checked partitions must not be served."""
        return any(f.severity == CRITICAL for f in self.failed)

    def summary(self) -> str:
        head = (
            f"{self.suite} quality: {self.passed}/{self.evaluated} expectations passed "
            f"on {self.rows} rows"
        )
        return "\n".join([head, *(f"  {f.line()}" for f in self.failed)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "success": self.success,
            "rows": self.rows,
            "evaluated": self.evaluated,
            "passed": self.passed,
            "critical": self.critical,
            "failed": [asdict(f) for f in self.failed],
        }


class QualityGateFailed(Exception):
    """Raised by ``enforce`` when the clean complaints fail the suite; message = the summary."""

    def __init__(self, message: str, report: QualityReport | None = None) -> None:
        super().__init__(message)
        self.report = report


# --- loading -------------------------------------------------------------------------------------


def parquet_files_under(root: Path) -> list[str]:
    """Data files under ``root``, skipping Spark's ``_temporary``/``_SUCCESS`` and hidden files
    (none when ``root`` is missing)."""
    if not root.is_dir():
        return []
    files = []
    for path in root.rglob("*.parquet"):
        parts = path.relative_to(root).parts
        if any(part.startswith(("_", ".")) for part in parts):
            continue
        if path.is_file():
            files.append(str(path))
    return sorted(files)


def load_clean_complaints(
    clean_complaints_dir: Path, *, schema: RecordSchema = COMPLAINT,
    partitions: Iterable[tuple[str, str]] | None = None,
) -> pandas.DataFrame:
    """Read the hive-partitioned clean complaints into pandas: every partition, or only the
    ``(event_date, source)`` ``partitions`` given (what a run wrote), so the gate's memory follows
    the run's increment, not the lake's history.

    Columns and types come from ``schema`` (partition columns included): ``event_date`` becomes
    ``datetime.date`` values and ``source`` plain strings, whatever the directory names look
    like. A column missing from a file reads as nulls, which the not-null expectations catch.
    An empty or missing directory gives an empty frame with every column (which then fails the
    row-count expectation rather than crashing the task).
    """
    import pyarrow.dataset as ds

    arrow_schema = schema.arrow_schema()
    root = Path(clean_complaints_dir)
    folders = ([root / f"event_date={d}" / f"source={s}" for d, s in partitions]
               if partitions is not None else [root])
    files = [f for folder in folders if folder.is_dir() for f in parquet_files_under(folder)]
    if not files:
        empty: pandas.DataFrame = arrow_schema.empty_table().to_pandas()
        return empty
    partition_schema = _partition_schema(schema)
    dataset = ds.dataset(
        files,
        schema=arrow_schema,
        format="parquet",
        partitioning=ds.partitioning(partition_schema, flavor="hive"),
        partition_base_dir=str(root),
    )
    frame: pandas.DataFrame = dataset.to_table().to_pandas()
    return frame


def _partition_schema(schema: RecordSchema) -> Any:
    import pyarrow as pa

    arrow_schema = schema.arrow_schema()
    return pa.schema([arrow_schema.field(name) for name in schema.partition_by])


# --- the suite -----------------------------------------------------------------------------------


def build_suite(
    categories: Iterable[str] = DEFAULT_CATEGORIES,
    sources: Iterable[str] = DEFAULT_SOURCES,
    severities: Iterable[str] = DEFAULT_SEVERITIES,
    sentiments: Iterable[str] = DEFAULT_SENTIMENTS,
    *,
    min_rows: int = 1,
    schema: RecordSchema = COMPLAINT,
    name: str = SUITE_NAME,
) -> ExpectationSuite:
    """The expectation suite for the clean complaints (not yet attached to any context)."""
    import great_expectations as gx
    import great_expectations.expectations as gx_expectations

    # The documented 1.x names (gx.expectations.ExpectX) are re-exported without ``__all__``,
    # which ``mypy --strict`` reads as private; typing the module as Any keeps them readable.
    gxe: Any = gx_expectations
    # Critical: the table's shape and keys (a partition that breaks them must not be served);
    # warnings: values that depend on the business's rules file (reported, still published).
    expectations: list[Any] = [critical(gxe.ExpectTableRowCountToBeBetween(min_value=min_rows))]
    expectations += [critical(gxe.ExpectColumnToExist(column=c.name)) for c in schema.columns]
    expectations += [
        critical(gxe.ExpectColumnValuesToNotBeNull(column=c.name))
        for c in schema.columns if not c.nullable
    ]
    expectations += [
        critical(gxe.ExpectColumnValuesToBeUnique(column="complaint_id")),
        critical(gxe.ExpectCompoundColumnsToBeUnique(column_list=["source", "source_record_id"])),
        warning(gxe.ExpectColumnValuesToBeInSet(
            column="category", value_set=_allowed("categories", categories)
        )),
        warning(gxe.ExpectColumnValuesToBeInSet(
            column="severity", value_set=_allowed("severities", severities)
        )),
        warning(gxe.ExpectColumnValuesToBeInSet(
            column="sentiment", value_set=_allowed("sentiments", sentiments)
        )),
        critical(gxe.ExpectColumnValuesToBeInSet(
            column="source", value_set=_allowed("sources", sources))),
        critical(gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=1)),
        critical(gxe.ExpectColumnValuesToBeBetween(column="duplicate_count", min_value=1)),
        critical(gxe.ExpectColumnValuesToBeBetween(column="raw_line", min_value=1)),
        critical(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="ingest_time", column_B="first_ingest_time", or_equal=True)),
        warning(gxe.ExpectColumnValuesToBeBetween(column="classification_score", min_value=0,
                                                  max_value=1)),
    ]
    # Passed to the constructor: ``suite.add_expectation`` needs an active data context.
    return gx.ExpectationSuite(name=name, expectations=expectations)


def _allowed(label: str, values: Iterable[str]) -> list[str]:
    """An allowed-values set as a sorted list; a bare string or an empty set is a caller's bug."""
    if isinstance(values, str):
        raise TypeError(f"{label} must be a collection of strings, not the string {values!r}")
    allowed = sorted(set(values))
    if not allowed:
        raise ValueError(f"{label} must not be empty")
    return allowed


def check_clean_complaints(
    frame: pandas.DataFrame,
    *,
    categories: Iterable[str] = DEFAULT_CATEGORIES,
    sources: Iterable[str] = DEFAULT_SOURCES,
    severities: Iterable[str] = DEFAULT_SEVERITIES,
    sentiments: Iterable[str] = DEFAULT_SENTIMENTS,
    min_rows: int = 1,
    project_dir: Path | None = None,
    run_name: str | None = None,
) -> QualityReport:
    """Run the suite on ``frame`` and report; never raises for bad data (see ``enforce``).
    With ``project_dir`` (``<lake>/quality/gx``) it runs as that project's checkpoint, which
    keeps the result and updates the data docs (``quality.gx_project.run_suite``)."""
    suite = build_suite(categories, sources, severities, sentiments, min_rows=min_rows)
    return validate_frame(frame, suite, project_dir=project_dir, run_name=run_name,
                          id_column=_ID_COLUMN)


def validate_frame(frame: pandas.DataFrame, suite: ExpectationSuite, *,
                   project_dir: Path | None = None, run_name: str | None = None,
                   id_column: str | None = None) -> QualityReport:
    """Any suite on any frame, turned into a ``QualityReport`` (failures in suite order, with
    their severity and evidence; ``id_column`` values of offending rows are quoted)."""
    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": 20,
    }
    if id_column is not None and id_column in frame.columns:
        result_format["unexpected_index_column_names"] = [id_column]
    result = run_suite(frame, suite, project_dir=project_dir, run_name=run_name,
                       result_format=result_format)
    order = {e.id: i for i, e in enumerate(suite.expectations)}
    outcomes = sorted(result.results, key=lambda r: order.get(r.expectation_config.id, len(order)))
    failed = tuple(_failure(r, id_column) for r in outcomes if not r.success)
    return QualityReport(
        success=bool(result.success),
        suite=suite.name,
        rows=len(frame),
        evaluated=len(outcomes),
        failed=failed,
    )


# --- evidence ------------------------------------------------------------------------------------


def _failure(outcome: Any, id_column: str | None) -> FailedExpectation:
    config = outcome.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column")
    if column is None and kwargs.get("column_list"):
        column = ", ".join(kwargs["column_list"])
    if column is None and kwargs.get("column_A"):
        column = f"{kwargs['column_A']}, {kwargs.get('column_B')}"
    return FailedExpectation(
        expectation=config.type,
        column=column,
        details=_evidence(
            config.type, column, kwargs, outcome.result or {}, outcome.exception_info,
            id_column,
        ),
        severity=severity(config.meta),
    )


def _exception_message(exception_info: Any) -> str | None:
    """GX gives one info dict, or a dict of them keyed by metric; take the first message."""
    if not isinstance(exception_info, Mapping):
        return None
    if exception_info.get("raised_exception"):
        return str(exception_info.get("exception_message") or "unknown error")
    for value in exception_info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message") or "unknown error")
    return None


def _evidence(
    expectation: str,
    column: str | None,
    kwargs: Mapping[str, Any],
    result: Mapping[str, Any],
    exception_info: Any,
    id_column: str | None = _ID_COLUMN,
) -> str:
    error = _exception_message(exception_info)
    if error is not None:
        return f"could not be evaluated: {error}"
    if expectation == "expect_column_to_exist":
        return "column is missing"
    if "unexpected_count" in result:
        return _map_evidence(column, result, id_column)
    if "observed_value" in result:
        bounds = [
            f"{label} {kwargs[key]}"
            for key, label in (("min_value", ">="), ("max_value", "<="))
            if kwargs.get(key) is not None
        ]
        expected = f" (expected {' and '.join(bounds)})" if bounds else ""
        return f"observed {_short(result['observed_value'])}{expected}"
    return "failed (no details from Great Expectations)"


def _map_evidence(column: str | None, result: Mapping[str, Any],
                  id_column: str | None) -> str:
    unexpected = int(result.get("unexpected_count") or 0)
    total = int(result.get("element_count") or 0)
    percent = 100.0 * unexpected / total if total else 0.0
    parts = [f"{unexpected} of {total} rows unexpected ({percent:.1f}%)"]

    counts = [
        c for c in result.get("partial_unexpected_counts") or [] if not _is_null(c.get("value"))
    ]
    if counts:
        shown = ", ".join(f"{_short(c['value'])} x{c['count']}" for c in counts[:_SAMPLE_VALUES])
        more = " ..." if len(counts) > _SAMPLE_VALUES else ""
        parts.append(f"values: {shown}{more}")

    if id_column is not None and column != id_column:
        ids: list[str] = []
        for row in result.get("partial_unexpected_index_list") or []:
            value = row.get(id_column) if isinstance(row, Mapping) else None
            if not _is_null(value) and str(value) not in ids:
                ids.append(str(value))
        if ids:
            more = " ..." if len(ids) > _SAMPLE_IDS else ""
            parts.append(f"{id_column}: {', '.join(ids[:_SAMPLE_IDS])}{more}")
    return "; ".join(parts)


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _short(value: Any) -> str:
    if isinstance(value, list | tuple):
        text = "(" + ", ".join(repr(v) for v in value) + ")"
    else:
        text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."


# --- reporting -----------------------------------------------------------------------------------

def write_report(report: QualityReport, alerts_dir: Path, run_id: str) -> Path:
    """Write the report as JSON to ``alerts_dir/quality/<run_id>.json`` (atomically); return it."""
    target = Path(alerts_dir) / "quality" / f"{unique_safe_name(str(run_id), 'run')}.json"
    payload = {
        "run_id": str(run_id),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **report.to_dict(),
        "summary": report.summary(),
    }
    return write_atomically(target, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def enforce(report: QualityReport) -> None:
    """Fail the task (raise ``QualityGateFailed`` with the summary) when the suite did not pass."""
    if not report.success:
        raise QualityGateFailed(report.summary(), report)
