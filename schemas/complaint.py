"""The unified complaint record, defined once.

Spark and Arrow schemas, and the column table in the README, are all derived from ``COMPLAINT``.
Types use a small vocabulary (``string``, ``long``, ``int``, ``timestamp``, ``date``,
``array<string>``, ``double``, and for the operational tables ``decimal``, ``boolean``,
``array<decimal>``: ``TYPES``) so that each engine's type is a lookup, never a second definition;
a column of another type is an error where it is declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TYPES = ("string", "long", "int", "timestamp", "date", "array<string>", "double", "decimal",
         "boolean", "array<decimal>")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    description: str

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: type {self.type!r} is not one of {TYPES}")


@dataclass(frozen=True)
class RecordSchema:
    name: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def spark_schema(self) -> Any:
        from pyspark.sql import types as T

        spark_types: dict[str, Any] = {
            "string": T.StringType(),
            "long": T.LongType(),
            "int": T.IntegerType(),
            "timestamp": T.TimestampType(),
            "date": T.DateType(),
            "array<string>": T.ArrayType(T.StringType(), containsNull=False),
            "decimal": T.DecimalType(38, 10),
            "boolean": T.BooleanType(),
            "double": T.DoubleType(),
            "array<decimal>": T.ArrayType(T.DecimalType(38, 10)),
        }
        return T.StructType(
            [T.StructField(c.name, spark_types[c.type], c.nullable) for c in self.columns]
        )

    def arrow_schema(self) -> Any:
        import pyarrow as pa

        arrow_types: dict[str, Any] = {
            "string": pa.string(),
            "long": pa.int64(),
            "int": pa.int32(),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "date": pa.date32(),
            "array<string>": pa.list_(pa.string()),
            "decimal": pa.decimal128(38, 10),
            "boolean": pa.bool_(),
            "double": pa.float64(),
            "array<decimal>": pa.list_(pa.decimal128(38, 10)),
        }
        return pa.schema(
            [pa.field(c.name, arrow_types[c.type], c.nullable) for c in self.columns]
        )

    def markdown_table(self) -> str:
        lines = ["| column | type | nullable | meaning |", "| --- | --- | --- | --- |"]
        for c in self.columns:
            part = " (partition)" if c.name in self.partition_by else ""
            lines.append(
                f"| `{c.name}` | {c.type}{part} | {'yes' if c.nullable else 'no'} "
                f"| {c.description} |"
            )
        return "\n".join(lines)


COMPLAINT = RecordSchema(
    name="complaints",
    partition_by=("event_date", "source"),
    columns=(
        Column("complaint_id", "string", False,
               "stable id: hash of source and source record id, the same on every rerun"),
        Column("source", "string", False,
               "channel: call_center, web_form, complaint_management, mbpp_reports, "
               "chat_feedback, sms, social"),
        Column("source_record_id", "string", False,
               "the record's id in its source (derived from content when the source has none)"),
        Column("customer_id", "string", True, "customer id where the source knows it"),
        Column("case_id", "string", True,
               "the ticket / case the complaint belongs to in its source system, if any"),
        Column("event_time", "timestamp", False, "when the customer complained, UTC"),
        Column("ingest_time", "timestamp", False,
               "when the raw copy this row comes from was landed (its hour), UTC"),
        Column("first_ingest_time", "timestamp", False,
               "when the first copy of this complaint was landed (its hour), UTC"),
        Column("text", "string", False, "complaint text, whitespace-normalised, PII masked"),
        Column("category", "string", False, "taxonomy category (rules file)"),
        Column("subcategory", "string", False, "taxonomy subcategory (rules file)"),
        Column("severity", "string", False, "P1 (urgent) to P3"),
        Column("sentiment_score", "double", True,
               "VADER compound score in [-1, 1] of the text (NULL: classified before it existed)"),
        Column("sentiment", "string", False,
               "negative (score <= -0.05), neutral or positive (score >= 0.05)"),
        Column("region", "string", True, "US census region derived from the state, if known"),
        Column("state", "string", True, "two-letter US state, if known"),
        Column("location", "string", True, "city / ZIP / free-text location as given"),
        Column("duplicate_count", "int", False,
               "how many raw copies of this complaint were collapsed into this row (a copy "
               "that lost a conflicting_duplicate is quarantined, not counted)"),
        Column("taxonomy_version", "string", False, "version of the rules file that classified it"),
        Column("rule_id", "string", True,
               "the rule that decided the category (category.subcategory.n); NULL: no rule fired"),
        Column("classification_score", "double", False,
               "the category's share of the cue weight found (1.0 unambiguous, 0.0 no cue)"),
        Column("quality_flags", "array<string>", False,
               "e.g. missing_customer_id, missing_region, imputed_severity, future_dated, "
               "conflicting_duplicate (another copy under this id said something else: "
               "quarantined)"),
        Column("raw_file", "string", False,
               "raw-zone file the row came from, relative to the lake"),
        Column("raw_line", "long", False,
               "1-based line (JSON Lines) or record (CSV) number in raw_file"),
        Column("run_id", "string", False, "transform run that wrote the row"),
        Column("event_date", "date", False, "UTC date of event_time"),
    ),
)

QUARANTINE = RecordSchema(
    name="quarantine",
    partition_by=("source",),
    columns=(
        Column("source", "string", False, "raw source the record came from"),
        Column("reason", "string", False, "why the record could not be used"),
        Column("raw_file", "string", False, "raw-zone file, relative to the lake"),
        Column("raw_line", "long", False, "1-based line or record number in raw_file"),
        Column("raw_record", "string", True,
               "the record as it came (cut to 10,000 characters); for a conflicting_duplicate, "
               "the losing copy's fields as JSON with kept_complaint_id"),
        Column("run_id", "string", False, "transform run that quarantined it"),
    ),
)

# Stream events once per event id: the dedupe state the clean stream rows are derived from (the
# clean zone keeps one row per content; this keeps every event id, so a later copy merges exactly).
STREAM_BY_ID = RecordSchema(
    name="stream_by_id",
    partition_by=COMPLAINT.partition_by,
    columns=COMPLAINT.columns + (
        Column("content_key", "string", True,
               "hash of source, normalised text, sender and event time (same key: same message)"),
    ),
)

RUN = RecordSchema(
    name="runs",
    columns=(
        Column("run_id", "string", False, "transform run id"),
        Column("source", "string", False, "raw source"),
        Column("started_at", "timestamp", False, "run start, UTC"),
        Column("taxonomy_version", "string", False, "rules version used"),
        Column("mode", "string", True,
               "incremental (new raw files only), full (every raw file), backfill (some event "
               "dates again, from the files processed so far: records_in = the copies of "
               "their complaints), skipped (nothing new) or reclassify (rows classified "
               "again: records_in = clean = rows rewritten)"),
        Column("raw_files", "long", False, "raw files read by this run"),
        Column("files_quarantined", "long", True,
               "raw files that could not be read as a whole (one quarantine entry each)"),
        Column("records_in", "long", False, "raw records read by this run"),
        Column("clean", "long", False,
               "complaints this run added to the clean zone (all of them in a full run)"),
        Column("quarantined", "long", False, "records quarantined"),
        Column("duplicates", "long", False,
               "copies of complaints already known (in this run or earlier ones)"),
        Column("partitions_written", "long", True, "(event_date, source) partitions rewritten"),
        Column("deletes", "long", True,
               "operational tables: items whose standing change is an incremental export's "
               "delete (records_in = clean + quarantined + duplicates + deletes)"),
    ),
)

RUN_FILE = RecordSchema(
    name="run_files",
    columns=(
        Column("run_id", "string", False, "transform run id"),
        Column("source", "string", False, "raw source"),
        Column("raw_file", "string", False, "raw-zone file the run read, relative to the lake"),
        Column("status", "string", False, "processed, or quarantined (unreadable as a whole)"),
        Column("reason", "string", True, "why a quarantined file could not be read"),
        Column("records", "long", False, "records read from the file"),
        Column("notes", "string", True,
               "what the file's inspection noticed but read anyway, '; '-separated: schema "
               "drift (extra columns ignored, with their count and names; optional columns "
               "missing, read as null; columns in another order), a byte-order mark, a last "
               "record cut off"),
    ),
)
