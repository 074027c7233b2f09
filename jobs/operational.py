"""Clean operational tables: each DynamoDB table's latest landed export, decoded with its types.

Every table in ``schemas.sources.DYNAMODB_TABLES`` becomes ``clean/<table>/`` (Parquet, a full
snapshot replaced on each run), one column per declared attribute:

* S -> string; N -> decimal(38, 10) (never float); BOOL -> boolean; SS -> array<string>;
  NS -> array<decimal(38, 10)>; NULL (or any attribute sent as ``{"NULL": true}``) -> null;
* M and L -> JSON text of the plain values (nested DynamoDB JSON decoded recursively; numbers keep
  their exact digits), ready for ``json_extract`` in DuckDB or ``from_json`` in Spark.

Plus lineage (raw_file, raw_line, ingest_time). Lines that are not a valid item are quarantined
with the reason; the run records records_in = clean + quarantined + duplicates per table.
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from boto3.dynamodb.types import Binary, TypeDeserializer
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from common.lake import LANDED_RECORD, Lake
from common.settings import Settings
from jobs.parse_sources import parse_dynamodb_items
from jobs.raw_zone import read_json_lines
from jobs.runs import (
    SourceCounts,
    TransformResult,
    new_run_id,
    raise_unless_conserved,
    write_run_record,
)
from jobs.spark import spark_session
from schemas.sources import DYNAMODB_TABLES

QUARANTINE_RECORD_CHARS = 10_000

NUMBER = T.DecimalType(38, 10)


class NotDynamoJson(ValueError):
    """A value is not DynamoDB JSON (an attribute value must be an object with one type key)."""


class _ExportDeserializer(TypeDeserializer):
    """boto3's deserializer, reading binary the way export files carry it (base64 text)."""

    def _deserialize_b(self, value: Any) -> Binary:
        return Binary(base64.b64decode(value, validate=True))


_DESERIALIZER = _ExportDeserializer()


def _json_text(value: Any) -> str:
    """JSON text of a deserialized value; numbers keep their exact digits (Decimal), sets are
    sorted so the text is the same on every run."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"N value {value} is not a number")
        return str(value)
    if isinstance(value, Binary):
        raw = bytes(value)  # type: ignore[call-overload]  # the stub says __bytes__ -> str
        return json.dumps(base64.b64encode(raw).decode("ascii"))
    if isinstance(value, set | frozenset):
        return "[" + ",".join(sorted(_json_text(v) for v in value)) + "]"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(
            f"{json.dumps(k, ensure_ascii=False)}:{_json_text(v)}" for k, v in value.items()
        ) + "}"
    return json.dumps(value, ensure_ascii=False)


def attribute_json(av: Any) -> str:
    """JSON text of one DynamoDB attribute value's plain value (boto3's TypeDeserializer)."""
    if not isinstance(av, dict) or len(av) != 1:
        raise NotDynamoJson(f"not an attribute value: {str(av)[:80]}")
    try:
        return _json_text(_DESERIALIZER.deserialize(av))  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError, ArithmeticError, binascii.Error) as exc:
        raise NotDynamoJson(f"not DynamoDB JSON: {str(av)[:80]} ({exc})") from exc


def decode_nested(raw_json: str | None) -> str | None:
    """M / L attribute (as raw DynamoDB JSON text) -> plain JSON text; None when absent/invalid."""
    if raw_json is None:
        return None
    try:
        av = json.loads(raw_json)
        if av == {"NULL": True}:
            return None
        return attribute_json(av)
    except (ValueError, TypeError, RecursionError):
        return None


@F.pandas_udf(T.StringType())  # type: ignore[attr-defined,untyped-decorator]
def _decode_nested_udf(values: pd.Series) -> pd.Series:
    # Nested maps/lists have no native Spark decoder; one vectorised (Arrow) UDF per column.
    return values.map(decode_nested)


def decode_attribute(item: Column, name: str, kind: str) -> Column:
    av = item[name]
    if kind == "S":
        return av["S"]
    if kind == "N":
        return av["N"].try_cast(NUMBER)
    if kind == "BOOL":
        return av["BOOL"]
    if kind == "NULL":
        return F.lit(None).cast("string")
    if kind == "SS":
        return av["SS"]
    if kind == "NS":
        return F.transform(av["NS"], lambda x: x.try_cast(NUMBER))
    if kind in ("M", "L"):
        nested: Column = _decode_nested_udf(av)
        return nested
    raise ValueError(f"unknown DynamoDB type {kind!r} for attribute {name}")


def nested_type_errors(item: Column, attributes: dict[str, str]) -> Column:
    """A reason when an N attribute is not a number (a type error the declared schema catches)."""
    checks = [
        F.when(item[name]["N"].isNotNull() & item[name]["N"].try_cast(NUMBER).isNull(),
               F.lit(f"wrong type: {name} is not a number"))
        for name, kind in attributes.items() if kind == "N"
    ]
    return F.coalesce(*checks) if checks else F.lit(None).cast("string")


def decode_items(raw_lines: DataFrame, logical_table: str, attributes: dict[str, str],
                 key: Sequence[str]) -> DataFrame:
    """Raw export lines -> typed items + ``reason`` (null when usable) + lineage."""
    items = parse_dynamodb_items(raw_lines, logical_table)
    item = F.col("_item")
    key_missing = F.coalesce(*[
        F.when(item[k]["S"].isNull(), F.lit(f"missing key attribute: {k}")) for k in key
    ])
    reason = F.coalesce(F.col("_error"), key_missing, nested_type_errors(item, attributes))
    return items.select(
        *[decode_attribute(item, name, kind).alias(name) for name, kind in attributes.items()],
        "raw_file", "raw_line", "raw_record", "ingest_time", reason.alias("reason"),
    )


def latest_items(decoded_usable: DataFrame, key: Sequence[str]) -> DataFrame:
    """One row per item key (a snapshot should have no repeats; if it does, keep the last line)."""
    per_key = Window.partitionBy(*key).orderBy(F.col("raw_file").desc(), F.col("raw_line").desc())
    return (decoded_usable.withColumn("_copy", F.row_number().over(per_key))
            .where(F.col("_copy") == 1).drop("_copy", "reason", "raw_record"))


@dataclass(frozen=True)
class LatestExport:
    table: str
    export_dir: Path
    data_files: tuple[Path, ...]


def latest_export(lake: Lake, logical_table: str) -> LatestExport | None:
    """The most recently landed export of a table (by ingest partition, then landing record)."""
    exports = sorted(
        lake.export_folders(logical_table),
        key=lambda d: (d.parent.parent.parent.name, d.parent.parent.name,
                       json.loads((d / LANDED_RECORD).read_text()).get("landed_at", "")),
    )
    if not exports:
        return None
    newest = exports[-1]
    files = tuple(sorted(p for p in (newest / "data").glob("*") if p.is_file()))
    return LatestExport(logical_table, newest, files)


def read_export_lines(spark: SparkSession, lake: Path, export: LatestExport) -> DataFrame:
    if not export.data_files:
        schema = "raw_file string, raw_line long, raw_record string, ingest_time timestamp"
        return spark.createDataFrame([], schema)
    return read_json_lines(spark, lake, export.data_files)


def run_operational_tables(settings: Settings, run_id: str | None = None,
                           spark: SparkSession | None = None,
                           tables: Sequence[str] = tuple(DYNAMODB_TABLES)) -> TransformResult:
    """Replace ``clean/<table>/`` with each table's latest export; quarantine what is unusable."""
    started_at = datetime.now(UTC)
    run_id = run_id or new_run_id(started_at)
    spark = spark or spark_session(settings.spark_master)
    counts: list[SourceCounts] = []
    for logical in tables:
        table = DYNAMODB_TABLES[logical]
        export = latest_export(settings.zones, logical)
        target = settings.zones.clean / logical
        source = f"dynamodb:{logical}"
        if export is None:
            counts.append(SourceCounts(source, 0, 0, 0, 0, 0))
            continue
        key = [table.partition_key] + ([table.sort_key] if table.sort_key else [])
        decoded = decode_items(read_export_lines(spark, settings.lake, export), logical,
                               table.attributes, key).persist()
        try:
            tally = decoded.agg(
                F.count(F.lit(1)).alias("records_in"),
                F.count_if(F.col("reason").isNotNull()).alias("quarantined"),
                F.count_distinct(F.when(F.col("reason").isNull(), F.struct(*key)))
                .alias("distinct_keys"),
            ).first()
            n_in, n_bad, n_keys = (int(tally[k]) if tally else 0
                                   for k in ("records_in", "quarantined", "distinct_keys"))
            usable = decoded.where(F.col("reason").isNull())
            # A snapshot repeats a key only if the export is odd; then keep the last line's copy.
            snapshot = latest_items(usable, key) if n_keys < n_in - n_bad else usable.drop(
                "reason", "raw_record")
            snapshot.write.mode("overwrite").parquet(str(target))
            quarantine_part = settings.zones.quarantine_records / f"source={source}"
            shutil.rmtree(quarantine_part, ignore_errors=True)
            if n_bad:
                decoded.where(F.col("reason").isNotNull()).select(
                    F.lit(source).alias("source"), "reason", "raw_file", "raw_line",
                    F.substring("raw_record", 1, QUARANTINE_RECORD_CHARS).alias("raw_record"),
                    F.lit(run_id).alias("run_id"),
                ).write.mode("overwrite").partitionBy("source").parquet(
                    str(settings.zones.quarantine_records))
            n_clean = spark.read.parquet(str(target)).count()
        finally:
            decoded.unpersist()
        counts.append(SourceCounts(source, len(export.data_files), n_in, n_clean, n_bad,
                                   n_in - n_bad - n_keys))
    result = TransformResult(run_id, "-", started_at, tuple(counts))
    write_run_record(settings, result, "operational")
    raise_unless_conserved(result)
    return result
