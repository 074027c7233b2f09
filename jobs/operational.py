"""Clean operational tables: each DynamoDB table as it stands, decoded with its types.

Every table in ``schemas.sources.DYNAMODB_TABLES`` becomes ``clean/<table>/`` (Parquet, rebuilt
whole when a new export of it has landed; a run with the same exports as its last build keeps it,
``jobs.built_from``) from its latest landed full export and every incremental export landed after
it (``ExportToTime`` later than the full export's time), applied in ``ExportToTime`` order:

* a full export's ``{"Item": ...}`` line is an upsert;
* an incremental export's line (``Metadata.WriteTimestampMicros``, ``Keys``, ``NewImage``,
  ``OldImage``) is an upsert by the table's key (``NewImage`` replaces the item) or, without a
  ``NewImage``, a delete;
* per key the change of the latest export stands; within one export the highest
  ``WriteTimestampMicros`` (then the last line). Applying the same exports again gives the same
  table.

One column per declared attribute:

* S -> string; N -> decimal(38, 10) (never float); BOOL -> boolean; SS -> array<string>;
  NS -> array<decimal(38, 10)>; NULL (or any attribute sent as ``{"NULL": true}``) -> null;
* M and L -> JSON text of the plain values (nested DynamoDB JSON decoded recursively; numbers keep
  their exact digits), ready for ``json_extract`` in DuckDB or ``from_json`` in Spark.

Plus lineage (raw_file, raw_line, ingest_time). Lines that are not a usable item or change are
quarantined with the reason; the run records, per table, records_in = clean + quarantined +
duplicates (changes another change of the same key overtook) + deletes (keys whose standing
change is a delete). The tables that track a case's state (``CASE_STATE_ATTRIBUTE``) also give
``clean/case_state_changes/``: each write of an incremental export that moved the state
(``OldImage`` -> ``NewImage``), which the ``time_to_resolution`` mart reads.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import shutil
import sys
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

from common.lake import INCREMENTAL_EXPORT, LANDED_RECORD, Lake, utc
from common.settings import Settings
from jobs.built_from import fingerprint, last_build, record_path, remember
from jobs.parse_sources import parse_dynamodb_changes
from jobs.raw_zone import read_json_lines
from jobs.runs import (
    SourceCounts,
    TransformResult,
    new_run_id,
    raise_unless_conserved,
    write_run_record,
)
from jobs.spark import spark_session
from schemas import sources as sources_module
from schemas.sources import CASE_STATE_ATTRIBUTE, DYNAMODB_TABLES

QUARANTINE_RECORD_CHARS = 10_000
#: clean/<CASE_STATE_CHANGES>/source=<table>/: the state transitions of the tracked cases.
CASE_STATE_CHANGES = "case_state_changes"
_LOG = logging.getLogger(__name__)

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
    """Raw export lines (a full export's items or an incremental export's changes) -> typed items
    + ``reason`` (null when usable) + lineage, and the change: ``_deleted`` (a change with no
    ``NewImage``), ``_write_micros`` (``WriteTimestampMicros``; 0 for a full export's item) and
    ``_prior_state`` (the ``OldImage``'s case state, for tables that track one)."""
    lines = parse_dynamodb_changes(raw_lines, logical_table)
    item, keys, change = F.col("_item"), F.col("_keys"), F.coalesce(F.col("_change"), F.lit(False))
    key_value = {k: F.when(change, keys[k]["S"]).otherwise(item[k]["S"]) for k in key}
    key_missing = F.coalesce(*[
        F.when(key_value[k].isNull(), F.lit(f"missing key attribute: {k}")) for k in key
    ])
    micros = F.col("_write_micros").try_cast("long")
    change_errors = F.when(change, F.coalesce(
        F.when(micros.isNull(), F.lit("missing Metadata.WriteTimestampMicros")),
        *[F.when(item.isNotNull() & ~item[k]["S"].eqNullSafe(keys[k]["S"]),
                 F.lit(f"NewImage {k} differs from Keys")) for k in key],
    ))
    reason = F.coalesce(F.col("_error"), key_missing, change_errors,
                        nested_type_errors(item, attributes))
    state = CASE_STATE_ATTRIBUTE.get(logical_table)
    prior_state = F.col("_old")[state]["S"] if state else F.lit(None).cast("string")
    return lines.select(
        *[(key_value[name] if name in key_value else decode_attribute(item, name, kind))
          .alias(name) for name, kind in attributes.items()],
        "raw_file", "raw_line", "raw_record", "ingest_time", reason.alias("reason"),
        (change & item.isNull()).alias("_deleted"),
        F.when(change, micros).otherwise(F.lit(0)).alias("_write_micros"),
        prior_state.alias("_prior_state"),
        *[c for c in ("_export_seq",) if c in raw_lines.columns],  # kept when the reader set it
    )


_CHANGE_COLUMNS = ("_export_seq", "_deleted", "_write_micros", "_prior_state")


def last_changes(decoded_usable: DataFrame, key: Sequence[str]) -> DataFrame:
    """Per item key, the change that stands: the one of the latest export applied
    (``_export_seq``), then the highest ``WriteTimestampMicros``, then the last line. A full
    export's item is a change too (an upsert); ``_export_seq`` < 0 marks lines never applied."""
    per_key = Window.partitionBy(*key).orderBy(
        F.col("_export_seq").desc(), F.col("_write_micros").desc(), F.col("raw_file").desc(),
        F.col("raw_line").desc())
    return (decoded_usable.where(F.col("_export_seq") >= 0)
            .withColumn("_copy", F.row_number().over(per_key))
            .where(F.col("_copy") == 1).drop("_copy"))


def current_items(standing: DataFrame) -> DataFrame:
    """The table's state: the standing changes that are not deletes, as table rows."""
    return standing.where(~F.col("_deleted")).drop("reason", "raw_record", *_CHANGE_COLUMNS)


def case_state_changes(decoded_usable: DataFrame, logical_table: str) -> DataFrame | None:
    """A case's state transitions (``OldImage`` -> ``NewImage``) in the incremental exports:
    ``source, case_id, from_state, to_state, changed_at`` (the write's time) + lineage. An insert
    is a transition from null; an overlap of two exports gives one row per write."""
    state = CASE_STATE_ATTRIBUTE.get(logical_table)
    if state is None:
        return None
    case_key = DYNAMODB_TABLES[logical_table].partition_key
    moved = decoded_usable.where(
        (F.col("_write_micros") > 0) & ~F.col("_deleted") & F.col(state).isNotNull()
        & ~F.col(state).eqNullSafe(F.col("_prior_state")))
    return moved.select(
        F.lit(logical_table).alias("source"), F.col(case_key).alias("case_id"),
        F.col("_prior_state").alias("from_state"), F.col(state).alias("to_state"),
        F.timestamp_micros(F.col("_write_micros")).alias("changed_at"),
        "raw_file", "raw_line",
    ).dropDuplicates(["source", "case_id", "changed_at", "to_state"])


@dataclass(frozen=True)
class LandedExport:
    """One landed export of a table: a full table (``point_in_time`` = its export time) or the
    changes up to ``point_in_time`` (its ExportToTime) from ``from_time``."""

    table: str
    export_dir: Path
    data_files: tuple[Path, ...]
    export_arn: str
    incremental: bool
    point_in_time: datetime
    from_time: datetime | None
    landed_at: str


def _instant(text: str) -> datetime:
    return utc(datetime.fromisoformat(text))


def _landed_export(logical_table: str, folder: Path) -> LandedExport:
    record = json.loads((folder / LANDED_RECORD).read_text(encoding="utf-8"))
    landed_at = str(record.get("landed_at", ""))
    incremental = record.get("export_type") == INCREMENTAL_EXPORT
    to_time = record.get("export_to_time") if incremental else record.get("export_time")
    from_time = record.get("export_from_time") if incremental else None
    return LandedExport(
        logical_table, folder,
        tuple(sorted(p for p in (folder / "data").glob("*") if p.is_file())),
        str(record.get("export_arn", folder.name)), incremental,
        _instant(str(to_time or landed_at or "1970-01-01T00:00:00+00:00")),
        _instant(str(from_time)) if from_time else None, landed_at,
    )


@dataclass(frozen=True)
class ExportChain:
    """What a table's clean snapshot is built from: its latest full export, then every later
    incremental export in ExportToTime order; ``history`` are the incremental exports the full
    one already holds (read for the case state changes only)."""

    table: str
    full: LandedExport
    incrementals: tuple[LandedExport, ...]
    history: tuple[LandedExport, ...] = ()

    @property
    def exports(self) -> tuple[LandedExport, ...]:
        return (self.full, *self.incrementals, *self.history)

    @property
    def data_files(self) -> tuple[Path, ...]:
        return tuple(f for e in self.exports for f in e.data_files)

    def gaps(self) -> list[tuple[datetime, datetime]]:
        """Time ranges after the full export that no applied incremental export covers."""
        missing, covered = [], self.full.point_in_time
        for export in self.incrementals:
            if export.from_time is not None and export.from_time > covered:
                missing.append((covered, export.from_time))
            covered = max(covered, export.point_in_time)
        return missing


def export_chain(lake: Lake, logical_table: str) -> ExportChain | None:
    """The latest full export of a table (by its export time, then landing) and the incremental
    exports to apply on it; None when no full export has landed. An export landed twice (same
    ARN) counts once."""
    by_arn: dict[str, LandedExport] = {}
    for folder in lake.export_folders(logical_table):
        export = _landed_export(logical_table, folder)
        by_arn.setdefault(export.export_arn, export)
    fulls = sorted((e for e in by_arn.values() if not e.incremental),
                   key=lambda e: (e.point_in_time, e.landed_at))
    if not fulls:
        return None
    full = fulls[-1]
    changes = sorted((e for e in by_arn.values() if e.incremental),
                     key=lambda e: (e.point_in_time, e.from_time or e.point_in_time, e.landed_at))
    return ExportChain(
        logical_table, full,
        tuple(e for e in changes if e.point_in_time > full.point_in_time),
        tuple(e for e in changes if e.point_in_time <= full.point_in_time),
    )


def read_export_lines(spark: SparkSession, lake: Path, chain: ExportChain) -> DataFrame:
    """Every line of the chain's exports with ``_export_seq``: 0 for the full export, 1, 2, ...
    for the incremental exports applied in order, -1 for those only read for their history."""
    if not chain.data_files:
        schema = ("raw_file string, raw_line long, raw_record string, ingest_time timestamp, "
                  "_export_seq int")
        return spark.createDataFrame([], schema)
    seq: Column = F.lit(-1)
    applied = (chain.full, *chain.incrementals)
    for number, export in reversed(list(enumerate(applied))):
        folder = export.export_dir.resolve().relative_to(lake.resolve()).as_posix() + "/"
        seq = F.when(F.col("raw_file").startswith(folder), F.lit(number)).otherwise(seq)
    return read_json_lines(spark, lake, chain.data_files).withColumn("_export_seq", seq)


@dataclass(frozen=True)
class _TableTally:
    records_in: int
    quarantined: int
    clean: int
    deletes: int
    superseded: int


def _quarantine(settings: Settings, decoded: DataFrame, source: str, run_id: str,
                any_bad: bool) -> None:
    quarantine_part = settings.zones.quarantine_records / f"source={source}"
    shutil.rmtree(quarantine_part, ignore_errors=True)
    if any_bad:
        decoded.where(F.col("reason").isNotNull()).select(
            F.lit(source).alias("source"), "reason", "raw_file", "raw_line",
            F.substring("raw_record", 1, QUARANTINE_RECORD_CHARS).alias("raw_record"),
            F.lit(run_id).alias("run_id"),
        ).write.mode("overwrite").partitionBy("source").parquet(
            str(settings.zones.quarantine_records))


def _build_table(settings: Settings, decoded: DataFrame, chain: ExportChain, key: list[str],
                 run_id: str) -> tuple[_TableTally, DataFrame | None]:
    """Write ``clean/<table>/`` from the decoded lines of its export chain; the tally and the
    table's case state changes (None for a table without a case state or without incremental
    exports)."""
    source = f"dynamodb:{chain.table}"
    changes = bool(chain.incrementals or chain.history)
    tally = decoded.agg(
        F.count(F.lit(1)).alias("records_in"),
        F.count_if(F.col("reason").isNotNull()).alias("quarantined"),
        # Keys are only counted to spot a full export that repeats one (then it is ordered too).
        (F.lit(0) if changes else F.count_distinct(
            F.when(F.col("reason").isNull(), F.struct(*key)))).alias("keys"),
    ).first()
    n_in, n_bad, n_keys = (int(tally[k]) if tally else 0
                           for k in ("records_in", "quarantined", "keys"))
    usable = decoded.where(F.col("reason").isNull())
    if not changes and n_keys == n_in - n_bad:
        # A full export alone, each key once (the usual case): no change to order, no shuffle.
        standing = usable
        n_standing, n_deletes = n_keys, 0
    else:
        standing = last_changes(usable, key).persist()
        counted = standing.agg(F.count(F.lit(1)).alias("standing"),
                               F.count_if(F.col("_deleted")).alias("deletes")).first()
        n_standing, n_deletes = (int(counted[k]) if counted else 0
                                 for k in ("standing", "deletes"))
    target = settings.zones.clean / chain.table
    try:
        current_items(standing).write.mode("overwrite").parquet(str(target))
    finally:
        standing.unpersist()
    _quarantine(settings, decoded, source, run_id, n_bad > 0)
    return (_TableTally(n_in, n_bad, n_standing - n_deletes, n_deletes,
                        n_in - n_bad - n_standing),
            case_state_changes(usable, chain.table) if changes else None)


def _write_state_changes(settings: Settings, frames: list[DataFrame],
                         tables: Sequence[str]) -> None:
    """``clean/case_state_changes/source=<table>/``: each run rewrites the tables it built."""
    target = settings.zones.clean / CASE_STATE_CHANGES
    for table in tables:
        if table in CASE_STATE_ATTRIBUTE:
            shutil.rmtree(target / f"source={table}", ignore_errors=True)
    if frames:
        union = frames[0]
        for frame in frames[1:]:
            union = union.unionByName(frame)
        union.write.mode("append").partitionBy("source").parquet(str(target))


def _chain_fingerprint(settings: Settings, chain: ExportChain) -> str:
    """The exports a table is built from (their folders: data, manifests, landing record) and
    the code that builds it."""
    return fingerprint(settings.lake, [e.export_dir for e in chain.exports],
                       [sys.modules[__name__], sources_module])


def run_operational_tables(settings: Settings, run_id: str | None = None,
                           spark: SparkSession | None = None,
                           tables: Sequence[str] = tuple(DYNAMODB_TABLES)) -> TransformResult:
    """Rebuild ``clean/<table>/`` from each table's latest full export and the incremental
    exports after it; quarantine what is unusable; write the case state changes. A table whose
    exports (and building code) are those of its last build is kept as it is (``skipped``), and
    with no table to build no Spark session starts."""
    started_at = datetime.now(UTC)
    run_id = run_id or new_run_id(started_at)
    counts: list[SourceCounts] = []
    state_changes: list[DataFrame] = []
    persisted: list[DataFrame] = []
    built: list[tuple[str, str]] = []
    try:
        for logical in tables:
            table = DYNAMODB_TABLES[logical]
            chain = export_chain(settings.zones, logical)
            source = f"dynamodb:{logical}"
            if chain is None:
                counts.append(SourceCounts(source, 0, 0, 0, 0, 0))
                continue
            inputs = _chain_fingerprint(settings, chain)
            if last_build(record_path(settings.zones.runs, f"dynamodb-{logical}"), inputs,
                          [settings.zones.clean_table(logical)]) is not None:
                counts.append(SourceCounts(source, 0, 0, 0, 0, 0, mode="skipped"))
                continue
            for start, end in chain.gaps():
                _LOG.warning("%s: no incremental export covers %s to %s; changes made then are "
                             "missing until the next full export", logical, start, end)
            spark = spark or spark_session(settings.spark_master)
            key = [table.partition_key] + ([table.sort_key] if table.sort_key else [])
            decoded = decode_items(read_export_lines(spark, settings.lake, chain), logical,
                                   table.attributes, key).persist()
            persisted.append(decoded)
            tally, changes = _build_table(settings, decoded, chain, key, run_id)
            if changes is not None:
                state_changes.append(changes)
            counts.append(SourceCounts(source, len(chain.data_files), tally.records_in,
                                       tally.clean, tally.quarantined, tally.superseded,
                                       deletes=tally.deletes))
            built.append((logical, inputs))
        _write_state_changes(settings, state_changes, [t for t, _ in built])
    finally:
        for frame in persisted:
            frame.unpersist()
    for logical, inputs in built:
        remember(record_path(settings.zones.runs, f"dynamodb-{logical}"), inputs,
                 {"run_id": run_id})
    result = TransformResult(run_id, "-", started_at, tuple(counts))
    write_run_record(settings, result, "operational")
    raise_unless_conserved(result)
    return result
