"""The batch transform: raw zone -> clean complaints (partitioned Parquet) + quarantine + run counts.

Flow per run: read each source's raw files (lineage: file and line), parse into the staged shape,
standardise (UTC time, text, PII, state/region), quarantine what is unusable with the reason,
collapse duplicates, classify with the versioned rules, and write:

* ``clean/complaints/event_date=…/source=…/`` — replacing only the partitions of the sources this
  run processed (dynamic partition overwrite; stale partitions of those sources are removed);
* ``quarantine/complaints/source=…/`` — every unusable record with its reason;
* ``runs/<run id>.parquet`` — one row per source: records_in = clean + quarantined + duplicates.

A run recomputes each selected source from all of its raw files, so reruns and backfills give the
same result (raw is immutable). Reads and writes sit in ``run_transform``; everything between is a
pure ``DataFrame -> DataFrame`` function.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from complaints.settings import Settings
from jobs.classify import Rules, classify_complaints, load_rules
from jobs.parse_sources import JSON_LINE_PARSERS, RAW_RECORD_COLUMNS, parse_web_form
from jobs.spark import spark_session
from jobs.standardise import (
    is_date_only,
    mask_pii,
    normalise_severity,
    normalise_state,
    normalise_text,
    parse_event_time,
    region_of,
)
from schemas.complaint import COMPLAINT, QUARANTINE, RUN
from schemas.sources import COMPLAINT_SOURCE_TABLE, COMPLAINT_SOURCES, WEB_FORM_COLUMNS

QUARANTINE_RECORD_CHARS = 10_000
FUTURE_TOLERANCE = "INTERVAL 1 HOUR"


class CountsNotConserved(RuntimeError):
    """Records went missing between raw and clean: a bug, never accepted silently."""


@dataclass(frozen=True)
class SourceCounts:
    source: str
    raw_files: int
    records_in: int
    clean: int
    quarantined: int
    duplicates: int

    @property
    def conserved(self) -> bool:
        return self.records_in == self.clean + self.quarantined + self.duplicates


@dataclass(frozen=True)
class TransformResult:
    run_id: str
    taxonomy_version: str
    started_at: datetime
    counts: tuple[SourceCounts, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "taxonomy_version": self.taxonomy_version,
            "started_at": self.started_at.isoformat(),
            "counts": [asdict(c) for c in self.counts],
        }


# --- raw files (edges) -------------------------------------------------------------------------
def raw_files_of(settings: Settings, source: str) -> list[Path]:
    """Raw-zone files holding a source's records, in a stable order."""
    if source in COMPLAINT_SOURCE_TABLE:
        table_dir = settings.raw_dir / COMPLAINT_SOURCE_TABLE[source]
        pattern = "ingest_date=*/hour=*/AWSDynamoDB/*/data/*"
    else:
        table_dir = settings.raw_dir / source
        pattern = "ingest_date=*/hour=*/*"
    return sorted(p for p in table_dir.glob(pattern) if p.is_file() and not p.name.startswith("."))


def _lineage(lake: Path) -> tuple[Column, Column]:
    """raw_file (relative to the lake) and ingest_time (from the hour partition) of each row."""
    path = F.regexp_replace(F.col("_metadata.file_path"), r"^file:(//)?", "")
    relative = F.regexp_replace(path, "^" + re.escape(str(lake.resolve())) + "/", "")
    partition = F.regexp_extract(path, r"ingest_date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})", 0)
    ingest = F.try_to_timestamp(
        F.regexp_replace(partition, r"ingest_date=(.*)/hour=(.*)", "$1 $2:00:00"),
        F.lit("yyyy-MM-dd HH:mm:ss"),
    )
    return relative.alias("raw_file"), ingest.alias("ingest_time")


def read_json_lines(spark: SparkSession, lake: Path, files: Sequence[Path]) -> DataFrame:
    """One row per non-blank line, with its 1-based line number. Gzip files are decompressed."""
    raw_file, ingest_time = _lineage(lake)
    whole = spark.read.option("wholetext", True).text([str(f) for f in files])
    lines = whole.select(
        raw_file, ingest_time, F.posexplode(F.split(F.col("value"), "\n")).alias("pos", "line")
    )
    return lines.where(F.trim(F.col("line")) != "").select(
        "raw_file",
        (F.col("pos") + 1).cast("long").alias("raw_line"),
        F.regexp_replace(F.col("line"), "\r$", "").alias("raw_record"),
        "ingest_time",
    )


def read_web_forms(spark: SparkSession, lake: Path, files: Sequence[Path]) -> DataFrame:
    """CFPB-layout CSV (quoted multi-line narratives); raw_line is the 1-based record number."""
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in WEB_FORM_COLUMNS]
        + [T.StructField("_corrupt_record", T.StringType())]
    )
    raw_file, ingest_time = _lineage(lake)
    rows = (
        spark.read.schema(schema)
        .options(header=True, multiLine=True, escape='"', mode="PERMISSIVE",
                 columnNameOfCorruptRecord="_corrupt_record", enforceSchema=False)
        .csv([str(f) for f in files])
        .select("*", raw_file, ingest_time, F.monotonically_increasing_id().alias("_order"))
    )
    in_file_order = Window.partitionBy("raw_file").orderBy("_order")
    as_json = F.to_json(F.struct(*[F.col(f"`{c}`") for c in WEB_FORM_COLUMNS]))
    return rows.select(
        *[F.col(f"`{c}`") for c in WEB_FORM_COLUMNS],
        "raw_file",
        F.row_number().over(in_file_order).cast("long").alias("raw_line"),
        F.coalesce(F.col("_corrupt_record"), as_json).alias("raw_record"),
        "ingest_time",
        F.when(F.col("_corrupt_record").isNotNull(), F.lit("malformed CSV row")).alias("parse_error"),
    )


def stage_source(spark: SparkSession, settings: Settings, source: str,
                 files: Sequence[Path]) -> DataFrame:
    if source == "web_form":
        return parse_web_form(read_web_forms(spark, settings.lake, files))
    return JSON_LINE_PARSERS[source](read_json_lines(spark, settings.lake, files))


# --- pure transforms ---------------------------------------------------------------------------
def standardise_complaints(staged: DataFrame) -> DataFrame:
    """Add typed, cleaned fields and ``reason`` (null when the record is usable)."""
    event_time = parse_event_time(F.col("event_time_raw"), F.col("event_zone"),
                                  F.col("default_zone"))
    text = mask_pii(normalise_text(F.col("text_raw")))
    state = normalise_state(F.col("state_raw"))
    standardised = staged.select(
        "*",
        event_time.alias("event_time"),
        text.alias("text"),
        state.alias("state"),
        region_of(state).alias("region"),
        normalise_severity(F.col("severity_raw")).alias("source_severity"),
    )
    reason = F.coalesce(
        F.col("parse_error"),
        F.when(F.col("source_record_id").isNull(), F.lit("missing source record id")),
        F.when(F.col("text").isNull(), F.lit("missing complaint text")),
        F.when(F.col("event_time_raw").isNull(), F.lit("missing event time")),
        F.when(F.col("event_time").isNull(),
               F.concat(F.lit("unparseable event time: "),
                        F.substring(F.col("event_time_raw"), 1, 60))),
        F.when(F.col("ingest_time").isNull(), F.lit("raw file outside an ingest_date/hour partition")),
    )
    return standardised.withColumn("reason", reason)


def quarantine_records(standardised: DataFrame, run_id: str) -> DataFrame:
    return standardised.where(F.col("reason").isNotNull()).select(
        "source", "reason", "raw_file", "raw_line",
        F.substring(F.col("raw_record"), 1, QUARANTINE_RECORD_CHARS).alias("raw_record"),
        F.lit(run_id).alias("run_id"),
    )


def complaint_id(source: Column, source_record_id: Column) -> Column:
    """Stable across reruns: the same source record always gets the same id."""
    return F.substring(F.sha2(F.concat_ws("\u0001", source, source_record_id), 256), 1, 32)


def dedupe_complaints(usable: DataFrame) -> DataFrame:
    """One row per complaint id: the most recently landed copy; ``duplicate_count`` copies seen."""
    with_id = usable.withColumn("complaint_id",
                                complaint_id(F.col("source"), F.col("source_record_id")))
    copies = Window.partitionBy("complaint_id")
    latest_first = copies.orderBy(F.col("ingest_time").desc(), F.col("raw_file").desc(),
                                  F.col("raw_line").desc())
    return (
        with_id.withColumn("duplicate_count", F.count(F.lit(1)).over(copies).cast("int"))
        .withColumn("_copy", F.row_number().over(latest_first))
        .where(F.col("_copy") == 1)
        .drop("_copy")
    )


def quality_flags() -> Column:
    flags = [
        F.when(F.col("customer_id").isNull(), F.lit("missing_customer_id")),
        F.when(F.col("region").isNull(), F.lit("missing_region")),
        F.when(F.col("state_raw").isNotNull() & F.col("state").isNull(), F.lit("unknown_state")),
        F.when(F.col("source_severity").isNull(), F.lit("imputed_severity")),
        F.when(is_date_only(F.col("event_time_raw")), F.lit("date_only")),
        F.when(F.col("event_time") > F.col("ingest_time") + F.expr(FUTURE_TOLERANCE),
               F.lit("future_dated")),
    ]
    return F.array_compact(F.array(*flags))


def enrich_complaints(deduped: DataFrame, rules: Rules, run_id: str) -> DataFrame:
    """Classify, set severity and flags, and shape rows as the unified COMPLAINT record."""
    classified = classify_complaints(
        deduped.withColumn("classify_text", F.concat_ws(". ", F.col("text"), F.col("hints"))),
        rules,
    )
    severity = F.when(F.col("urgent"), F.lit("P1")).otherwise(
        F.coalesce(F.col("source_severity"), F.col("rule_severity"))
    )
    enriched = classified.select(
        "*",
        severity.alias("severity"),
        quality_flags().alias("quality_flags"),
        F.lit(run_id).alias("run_id"),
        F.to_date(F.col("event_time")).alias("event_date"),
    )
    schema = COMPLAINT.spark_schema()
    return enriched.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


# --- the run (edges) ---------------------------------------------------------------------------
def new_run_id(now: datetime) -> str:
    return f"transform__{now:%Y%m%dT%H%M%SZ}__{uuid.uuid4().hex[:8]}"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".")[:150] or "run"


def _remove_stale_partitions(clean_root: Path, source: str, kept_dates: Iterable[str]) -> None:
    kept = {f"event_date={d}" for d in kept_dates}
    for part in clean_root.glob(f"event_date=*/source={source}"):
        if part.parent.name not in kept:
            shutil.rmtree(part)
            if not any(part.parent.iterdir()):
                part.parent.rmdir()


def _write_run_record(settings: Settings, result: TransformResult) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {**asdict(c), "run_id": result.run_id, "started_at": result.started_at,
         "taxonomy_version": result.taxonomy_version}
        for c in result.counts
    ]
    table = pa.Table.from_pylist(rows, schema=RUN.arrow_schema())
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    target = settings.runs_dir / f"{safe_name(result.run_id)}.parquet"
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(target)
    return target


def run_transform(
    settings: Settings,
    sources: Sequence[str] = COMPLAINT_SOURCES,
    run_id: str | None = None,
    spark: SparkSession | None = None,
) -> TransformResult:
    unknown = [s for s in sources if s not in COMPLAINT_SOURCES]
    if unknown:
        raise ValueError(f"unknown sources {unknown}; known: {COMPLAINT_SOURCES}")
    started_at = datetime.now(UTC)
    run_id = run_id or new_run_id(started_at)
    rules = load_rules(settings.rules)
    spark = spark or spark_session(settings.spark_master)
    clean_root = settings.clean_dir / "complaints"
    quarantine_root = settings.quarantine_dir / "complaints"

    files = {s: raw_files_of(settings, s) for s in sources}
    present = [s for s in sources if files[s]]
    counts: list[SourceCounts] = [SourceCounts(s, 0, 0, 0, 0, 0) for s in sources if not files[s]]
    if present:
        staged = stage_source(spark, settings, present[0], files[present[0]])
        for source in present[1:]:
            staged = staged.unionByName(stage_source(spark, settings, source, files[source]))
        standardised = standardise_complaints(staged).persist()
        try:
            quarantined = quarantine_records(standardised, run_id)
            clean = enrich_complaints(
                dedupe_complaints(standardised.where(F.col("reason").isNull())), rules, run_id
            ).persist()
            clean.write.mode("overwrite").partitionBy(*COMPLAINT.partition_by).parquet(
                str(clean_root))
            quarantined.write.mode("overwrite").partitionBy(*QUARANTINE.partition_by).parquet(
                str(quarantine_root))
            records_in = dict(standardised.groupBy("source").count().collect())
            n_quarantined = dict(quarantined.groupBy("source").count().collect())
            clean_dates = clean.groupBy("source", "event_date").agg(
                F.count(F.lit(1)).alias("count"), F.sum("duplicate_count").alias("copies")
            ).collect()
            clean.unpersist()
        finally:
            standardised.unpersist()
        for source in present:
            dates = [str(r["event_date"]) for r in clean_dates if r["source"] == source]
            _remove_stale_partitions(clean_root, source, dates)
            if not n_quarantined.get(source):
                shutil.rmtree(quarantine_root / f"source={source}", ignore_errors=True)
            rows = [r for r in clean_dates if r["source"] == source]
            n_clean = sum(int(r["count"]) for r in rows)
            n_duplicates = sum(int(r["copies"]) for r in rows) - n_clean
            counts.append(SourceCounts(source, len(files[source]), int(records_in.get(source, 0)),
                                       n_clean, int(n_quarantined.get(source, 0)), n_duplicates))
    order = {s: i for i, s in enumerate(sources)}
    result = TransformResult(run_id, rules.version, started_at,
                             tuple(sorted(counts, key=lambda c: order[c.source])))
    _write_run_record(settings, result)
    broken = [c for c in result.counts if not c.conserved]
    if broken:
        raise CountsNotConserved(f"run {run_id}: records_in != clean + quarantined + duplicates "
                                 f"for {[asdict(c) for c in broken]}")
    return result
