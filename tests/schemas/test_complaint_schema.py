"""The unified complaint record: defined once, derived everywhere (Spark, Arrow, README)."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from pyspark.sql import types as T

from common.settings import REPO_ROOT
from schemas.complaint import COMPLAINT, QUARANTINE, RUN, TYPES, Column, RecordSchema
from schemas.sources import COMPLAINT_SOURCES, DYNAMODB_TABLES, operational_schema

SCHEMAS = [COMPLAINT, QUARANTINE, RUN, *(operational_schema(t) for t in DYNAMODB_TABLES.values())]
START_MARKER = "<!-- complaint-schema:start -->"
END_MARKER = "<!-- complaint-schema:end -->"

SPARK_TYPES = {
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
ARROW_TYPES = {
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

# Every class of field the architecture brief asks the unified record for, and the columns
# (name, type) that carry it.
ARCHITECTURE_FIELDS: dict[str, dict[str, str]] = {
    "complaint id (stable)": {"complaint_id": "string"},
    "source": {"source": "string"},
    "source record id": {"source_record_id": "string"},
    "customer id": {"customer_id": "string"},
    "event time (UTC) and ingest time": {"event_time": "timestamp", "ingest_time": "timestamp"},
    "text (PII masked)": {"text": "string"},
    "category / subcategory": {"category": "string", "subcategory": "string"},
    "severity": {"severity": "string"},
    "sentiment": {"sentiment": "string", "sentiment_score": "double"},
    "region / geolocation": {"region": "string", "state": "string", "location": "string"},
    "duplicate / case links": {"duplicate_count": "int", "case_id": "string"},
    "taxonomy version": {"taxonomy_version": "string"},
    "why this category": {"rule_id": "string", "classification_score": "double"},
    "quality flags": {"quality_flags": "array<string>"},
    "lineage (raw file, line)": {"raw_file": "string", "raw_line": "long"},
}
# Where a source does not know it, the record says so with NULL; everything else is required.
NULLABLE = {"customer_id", "case_id", "region", "state", "location", "rule_id",
            "sentiment_score"}


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_spark_schema_matches_the_definition(schema: RecordSchema) -> None:
    spark = schema.spark_schema()
    assert isinstance(spark, T.StructType)
    assert [(f.name, f.dataType, f.nullable) for f in spark.fields] == [
        (c.name, SPARK_TYPES[c.type], c.nullable) for c in schema.columns
    ]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_arrow_schema_matches_the_definition(schema: RecordSchema) -> None:
    arrow = schema.arrow_schema()
    assert isinstance(arrow, pa.Schema)
    assert [(f.name, f.type, f.nullable) for f in arrow] == [
        (c.name, ARROW_TYPES[c.type], c.nullable) for c in schema.columns
    ]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_columns_are_unique_described_and_partitions_exist(schema: RecordSchema) -> None:
    assert len(schema.names) == len(set(schema.names))
    assert all(c.description.strip() for c in schema.columns)
    assert all(c.type in SPARK_TYPES for c in schema.columns)
    assert set(schema.partition_by) <= set(schema.names)


def test_complaint_has_every_architecture_field_class() -> None:
    types = {c.name: c.type for c in COMPLAINT.columns}
    missing = {
        klass: {name: kind for name, kind in columns.items() if types.get(name) != kind}
        for klass, columns in ARCHITECTURE_FIELDS.items()
    }
    assert {k: v for k, v in missing.items() if v} == {}


def test_complaint_nullability() -> None:
    nullable = {c.name for c in COMPLAINT.columns if c.nullable}
    assert nullable == NULLABLE


def test_complaint_is_partitioned_by_event_date_and_source() -> None:
    assert COMPLAINT.partition_by == ("event_date", "source")
    source = next(c for c in COMPLAINT.columns if c.name == "source")
    assert all(s in source.description for s in COMPLAINT_SOURCES)


def test_markdown_table_has_one_row_per_column() -> None:
    lines = COMPLAINT.markdown_table().splitlines()
    assert lines[0] == "| column | type | nullable | meaning |"
    assert lines[1] == "| --- | --- | --- | --- |"
    rows = lines[2:]
    assert [re.match(r"\| `([^`]+)` \|", row).group(1) for row in rows] == COMPLAINT.names  # type: ignore[union-attr]
    assert "| `event_date` | date (partition) | no |" in COMPLAINT.markdown_table()
    assert "| `customer_id` | string | yes |" in COMPLAINT.markdown_table()


def test_readme_holds_the_generated_schema_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(START_MARKER) == 1, f"README.md needs exactly one {START_MARKER}"
    assert readme.count(END_MARKER) == 1, f"README.md needs exactly one {END_MARKER}"
    between = readme.split(START_MARKER, 1)[1].split(END_MARKER, 1)[0]
    assert between.strip() == COMPLAINT.markdown_table(), (
        "README.md's schema table is out of date: paste the output of `complaints schema` "
        f"between {START_MARKER} and {END_MARKER}"
    )


def test_a_column_type_outside_the_vocabulary_is_an_error_where_declared() -> None:
    with pytest.raises(ValueError, match="type 'float' is not one of"):
        Column("score", "float", False, "a score")


def test_every_type_of_the_vocabulary_has_a_spark_and_an_arrow_type() -> None:
    every = RecordSchema("all", tuple(Column(t, t, True, t) for t in TYPES))
    assert len(every.spark_schema().fields) == len(every.arrow_schema()) == len(TYPES)
