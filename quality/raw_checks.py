"""Great Expectations suites on the raw batch sources, derived from their declared schemas
(``schemas.sources``), run on what one transform run read: the run's raw files only (listed in
``runs/files/<run>.parquet``), never the whole history, and at most ``max_rows`` records per source.

Each source's records become a pandas frame of text (what the file says, before any
standardisation), one row per record, plus a ``record`` column (``file:line``) quoted as
evidence:

* ``raw_call_center`` (JSON Lines): ``json_object`` (the line is one JSON object), each declared
  field as text (objects as JSON), ``unexpected_fields`` (keys the schema does not declare);
* ``raw_web_form`` (CFPB CSV): the file's own columns, matched to ``WEB_FORM_COLUMNS`` ignoring
  case and spacing, ``complaint_text`` (the narrative, else the issue: the required text),
  ``fits_header`` (the record has as many fields as the header: not a malformed row, not a
  record cut off at the end of the file) and ``unexpected_columns``;
* ``raw_<table>`` (DynamoDB "Export to S3" lines): ``item_object`` (the line holds an ``Item``),
  each declared attribute's value as text and ``<attribute>__type`` (its DynamoDB type tag),
  ``unexpected_attributes``.

Severity (``quality.gx_project``): a **critical** expectation fails when the source as a whole is
broken (required columns absent, or most records malformed or missing a required field, below
``CRITICAL_SHARE``); the run's partitions of that source are then held out of the warehouse.
Every record-level rule is a **warning** at 100 %: such records are quarantined by the transform
anyway, the warning says how many and which.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.lake import Lake, unique_safe_name
from quality.complaint_checks import QualityReport, validate_frame
from quality.gx_project import critical, warning
from schemas.sources import (
    CALL_CENTER_FIELDS,
    CALL_CENTER_REQUIRED,
    COMPLAINT_SOURCE_TABLE,
    DYNAMODB_TABLES,
    WEB_FORM_COLUMNS,
    WEB_FORM_REQUIRED,
    DynamoTable,
)

if TYPE_CHECKING:
    import pandas
    from great_expectations.core import ExpectationSuite

__all__ = [
    "CRITICAL_SHARE",
    "RAW_SOURCES",
    "RawCheck",
    "check_raw_source",
    "load_raw_records",
    "raw_suite",
    "run_files_of",
    "suite_name",
]

# Below this share of good records, a source is broken rather than noisy: critical.
CRITICAL_SHARE = 0.9
DEFAULT_MAX_ROWS = 200_000  # a day's exports in the samples are far smaller
ID_COLUMN = "record"
# The batch sources with a raw suite: the files, and the DynamoDB-borne complaint sources.
RAW_SOURCES = ("call_center", "web_form", *COMPLAINT_SOURCE_TABLE)

# Timestamp shapes of the call-centre ``started`` field (schemas.sources), and date-only values.
TIMESTAMP_SHAPES = (
    r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?\s*$",
    r"^\s*\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp][Mm])?\s*$",
    r"^\s*\d{9,10}(?:\.\d+)?\s*$",
    r"^\s*\d{13}\s*$",
)
DATE_SHAPES = (r"^\s*\d{4}-\d{2}-\d{2}\s*$", r"^\s*\d{1,2}/\d{1,2}/\d{4}\s*$")
NUMBER_SHAPE = r"^\s*-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*$"


def suite_name(source: str) -> str:
    """``raw_call_center``, ``raw_web_form``, ``raw_<DynamoDB table>`` (chat_feedback's is
    ``raw_chat_messages``: its table)."""
    return f"raw_{COMPLAINT_SOURCE_TABLE.get(source, source)}"


# --- the run's files ------------------------------------------------------------------------


def run_files_of(lake: Lake, run_id: str) -> dict[str, list[Path]]:
    """The raw files a transform run read and could read (``runs/files/<run>.parquet``), per
    source; files quarantined whole are left out (they are quarantine entries already)."""
    import pyarrow.parquet as pq

    listing = lake.run_files / f"{unique_safe_name(str(run_id), 'run')}.parquet"
    if not listing.is_file():
        return {}
    files: dict[str, list[Path]] = {}
    for row in pq.read_table(listing, columns=["source", "raw_file", "status"]).to_pylist():
        if row["status"] == "processed" and row["source"] in RAW_SOURCES:
            files.setdefault(row["source"], []).append(lake.root / row["raw_file"])
    return files


# --- loading: one text row per record -------------------------------------------------------


def _open(path: Path) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return path.open(encoding="utf-8-sig", errors="replace", newline="")


def _lines(files: Sequence[Path], max_rows: int) -> Iterator[tuple[str, str]]:
    """(``file:line``, text) of every non-blank line of ``files``, at most ``max_rows``."""
    count = 0
    for path in files:
        with _open(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                if count >= max_rows:
                    return
                count += 1
                yield f"{path.name}:{number}", line


def _text(value: Any) -> str | None:
    """A JSON value as the text the transform reads: strings as they are, the rest as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None  # blank is missing, as for the transform
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _call_center_row(record: str, line: str) -> dict[str, Any]:
    document = _json(line)
    row: dict[str, Any] = {ID_COLUMN: record, "json_object": isinstance(document, dict)}
    fields = document if isinstance(document, dict) else {}
    row.update({name: _text(fields.get(name)) for name in CALL_CENTER_FIELDS})
    extra = sorted(k for k in fields if k not in CALL_CENTER_FIELDS)
    row["unexpected_fields"] = ", ".join(extra) or None
    return row


def _dynamodb_row(table: DynamoTable, record: str, line: str) -> dict[str, Any]:
    document = _json(line)
    item = document.get("Item") if isinstance(document, dict) else None
    row: dict[str, Any] = {ID_COLUMN: record, "item_object": isinstance(item, dict)}
    attributes = item if isinstance(item, dict) else {}
    for name in table.attributes:
        value = attributes.get(name)
        tag = next(iter(value)) if isinstance(value, dict) and len(value) == 1 else None
        row[f"{name}__type"] = tag if tag is not None else (None if value is None else "?")
        row[name] = _text(value[tag]) if isinstance(value, dict) and tag not in (None, "NULL") \
            else None
    extra = sorted(k for k in attributes if k not in table.attributes)
    row["unexpected_attributes"] = ", ".join(extra) or None
    return row


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pandas.DataFrame:
    import pandas as pd

    frame: pandas.DataFrame = pd.DataFrame(rows, columns=list(columns), dtype=object)
    return frame


def _header_key(name: str) -> str:
    return " ".join(str(name).split()).casefold()


def _web_form_file(path: Path, max_rows: int) -> pandas.DataFrame:
    """One web-form file's records, read as the transform reads them (quoted fields may span
    lines) but never failing on a bad row: a record whose width is not the header's (too many or
    too few fields, or cut off by the end of the file inside a quoted field) has ``fits_header``
    False, and the fields it has; a quote left open mid-file (a field over the csv module's
    limit) ends the file with one such record. Blank lines are skipped."""
    header: list[str] = []
    records: list[list[str] | None] = []  # None: the rest of a file the reader gave up on
    with _open(path) as handle:
        reader = (row for row in csv.reader(handle) if row)
        try:
            header = next(reader, [])
            records.extend(itertools.islice(reader, max_rows))
        except csv.Error:  # a field over the csv module's size limit (a quote left open)
            records.append(None)
    known = {_header_key(c): c for c in WEB_FORM_COLUMNS}
    names = [known.get(_header_key(c), c) for c in header]
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in WEB_FORM_COLUMNS:
            positions.setdefault(name, index)
    extra = ", ".join(sorted({n for n in names if n not in WEB_FORM_COLUMNS})) or None
    rows = [
        {ID_COLUMN: f"{path.name}#{number}",
         **{c: (record[i] or None) if record is not None and i < len(record) else None
            for c, i in positions.items()},
         "fits_header": record is not None and len(record) == len(header),
         "unexpected_columns": extra}
        for number, record in enumerate(records, start=1)
    ]
    return _frame(rows, [ID_COLUMN, *positions, "fits_header", "unexpected_columns"])


def _load_web_forms(files: Sequence[Path], max_rows: int) -> pandas.DataFrame:
    import pandas as pd

    frames: list[pandas.DataFrame] = []
    left = max_rows
    for path in files:
        if left <= 0:
            break
        frames.append(_web_form_file(path, left))
        left -= len(frames[-1])
    if not frames:
        return _frame([], [ID_COLUMN, "fits_header", "unexpected_columns"])
    frame = pd.concat(frames, ignore_index=True).astype(object)
    texts = [c for c in WEB_FORM_REQUIRED[2] if c in frame.columns]
    if texts:
        text = frame[texts[0]]
        for other in texts[1:]:
            text = text.where(text.notna(), frame[other])
        frame["complaint_text"] = text
    return frame  # NaN (a blank cell) is null to GX


def load_raw_records(source: str, files: Sequence[Path],
                     max_rows: int = DEFAULT_MAX_ROWS) -> pandas.DataFrame:
    """The records of one source's raw ``files`` as a text frame (see the module docstring)."""
    if source == "web_form":
        return _load_web_forms(files, max_rows)
    lines = _lines(files, max_rows)
    if source == "call_center":
        columns = [ID_COLUMN, "json_object", *CALL_CENTER_FIELDS, "unexpected_fields"]
        return _frame([_call_center_row(r, line) for r, line in lines], columns)
    table = DYNAMODB_TABLES[COMPLAINT_SOURCE_TABLE[source]]
    columns = [ID_COLUMN, "item_object",
               *(c for a in table.attributes for c in (a, f"{a}__type")),
               "unexpected_attributes"]
    return _frame([_dynamodb_row(table, r, line) for r, line in lines], columns)


# --- the suites -----------------------------------------------------------------------------


def _gxe() -> Any:
    import great_expectations.expectations as gx_expectations

    return gx_expectations


def _required(column: str) -> list[Any]:
    """A required field: critical when it is missing from most records, a warning for any."""
    gxe = _gxe()
    return [
        critical(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=CRITICAL_SHARE)),
        warning(gxe.ExpectColumnValuesToNotBeNull(column=column)),
    ]


def _well_formed(column: str) -> list[Any]:
    """Records that parse: critical when most do not (wrong format), a warning for any."""
    gxe = _gxe()
    return [
        critical(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True],
                                                 mostly=CRITICAL_SHARE)),
        warning(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True])),
    ]


def _call_center_suite() -> list[Any]:
    gxe = _gxe()
    expectations = [warning(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
                    *_well_formed("json_object")]
    for name in CALL_CENTER_REQUIRED:
        expectations += _required(name)
    expectations += [
        warning(gxe.ExpectColumnValuesToMatchRegexList(
            column="started", regex_list=list(TIMESTAMP_SHAPES), match_on="any")),
        warning(gxe.ExpectColumnValuesToMatchRegex(column="duration_s", regex=r"^\d+$")),
        warning(gxe.ExpectColumnValuesToMatchRegex(column="caller", regex=r"^\{")),
        warning(gxe.ExpectColumnValuesToMatchRegex(column="location", regex=r"^\{")),
        warning(gxe.ExpectColumnValuesToBeUnique(column="call_id")),
        warning(gxe.ExpectColumnValuesToBeNull(column="unexpected_fields")),
    ]
    return expectations


def _web_form_suite() -> list[Any]:
    gxe = _gxe()
    expectations = [warning(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
                    *_well_formed("fits_header")]
    for name in ("Complaint ID", "Date received", "complaint_text"):
        expectations += [critical(gxe.ExpectColumnToExist(column=name)), *_required(name)]
    expectations += [
        warning(gxe.ExpectColumnValuesToMatchRegexList(
            column="Date received", regex_list=list(DATE_SHAPES), match_on="any")),
        warning(gxe.ExpectColumnValuesToBeUnique(column="Complaint ID")),
        warning(gxe.ExpectColumnValuesToMatchRegex(column="State", regex=r"^[A-Z]{2}$")),
        warning(gxe.ExpectColumnValuesToBeInSet(column="Timely response?",
                                                value_set=["Yes", "No"])),
        warning(gxe.ExpectColumnValuesToBeInSet(column="Consumer disputed?",
                                                value_set=["Yes", "No", "N/A"])),
        warning(gxe.ExpectColumnValuesToBeNull(column="unexpected_columns")),
    ]
    return expectations


def _dynamodb_suite(table: DynamoTable) -> list[Any]:
    gxe = _gxe()
    keys = [k for k in (table.partition_key, table.sort_key) if k is not None]
    expectations = [warning(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
                    *_well_formed("item_object")]
    for key in keys:
        expectations += _required(key)
        expectations.append(critical(gxe.ExpectColumnValuesToBeInSet(
            column=f"{key}__type", value_set=[table.attributes[key]], mostly=CRITICAL_SHARE)))
    expectations.append(warning(gxe.ExpectCompoundColumnsToBeUnique(column_list=keys))
                        if len(keys) > 1 else
                        warning(gxe.ExpectColumnValuesToBeUnique(column=keys[0])))
    for name, kind in table.attributes.items():
        expectations.append(warning(gxe.ExpectColumnValuesToBeInSet(
            column=f"{name}__type", value_set=sorted({kind, "NULL"}))))
        if kind == "N":
            expectations.append(warning(gxe.ExpectColumnValuesToMatchRegex(
                column=name, regex=NUMBER_SHAPE)))
    expectations.append(warning(gxe.ExpectColumnValuesToBeNull(column="unexpected_attributes")))
    return expectations


def raw_suite(source: str) -> ExpectationSuite:
    """The suite of one raw batch source, from its declared schema."""
    import great_expectations as gx

    if source == "call_center":
        expectations = _call_center_suite()
    elif source == "web_form":
        expectations = _web_form_suite()
    elif source in COMPLAINT_SOURCE_TABLE:
        expectations = _dynamodb_suite(DYNAMODB_TABLES[COMPLAINT_SOURCE_TABLE[source]])
    else:
        raise ValueError(f"no raw suite for {source!r}; raw suites: {', '.join(RAW_SOURCES)}")
    return gx.ExpectationSuite(name=suite_name(source), expectations=expectations)


@dataclass(frozen=True)
class RawCheck:
    """One raw source's suite on one run's files."""

    source: str
    files: int
    report: QualityReport


def check_raw_source(source: str, files: Sequence[Path], *, project_dir: Path | None = None,
                     run_name: str | None = None,
                     max_rows: int = DEFAULT_MAX_ROWS) -> RawCheck:
    """Validate one source's raw ``files`` (a run's increment) with its suite."""
    frame = load_raw_records(source, files, max_rows)
    report = validate_frame(frame, raw_suite(source), project_dir=project_dir,
                            run_name=run_name, id_column=ID_COLUMN)
    return RawCheck(source, len(files), report)
