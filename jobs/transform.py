"""The batch transform: raw zone -> clean complaints (partitioned Parquet), quarantine, counts.

Flow per run: read each source's raw files (lineage: file and line), parse into the staged shape,
standardise (UTC time, text, PII, state/region), quarantine what is unusable with the reason,
collapse duplicates, classify with the versioned rules, and write:

* ``clean/complaints/event_date=…/source=…/`` — replacing only the partitions of the sources this
  run processed (dynamic partition overwrite; stale partitions of those sources are removed);
* ``quarantine/records/source=…/`` — every unusable record with its reason;
* ``runs/<run id>.parquet`` — one row per source: records_in = clean + quarantined + duplicates.

A run recomputes each selected source from all of its raw files, so reruns and backfills give the
same result (raw is immutable). By default a run takes the batch sources; the stream sources
(``sms``, ``social``) are run by the stream DAG with ``sources=STREAM_COMPLAINT_SOURCES`` (see
``jobs/stream_ledger.py``), so the two DAGs never write the same partitions. Reads and writes sit
in ``run_transform``; everything between is a pure ``DataFrame -> DataFrame`` function.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from common.lake import Lake
from common.settings import Settings
from jobs.classify import Rules, classify_complaints, load_rules
from jobs.parse_sources import JSON_LINE_PARSERS, parse_web_form
from jobs.raw_zone import raw_files_of, read_json_lines, read_web_forms
from jobs.runs import (
    SourceCounts,
    TransformResult,
    new_run_id,
    raise_unless_conserved,
    write_run_record,
)
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
from schemas.complaint import COMPLAINT, QUARANTINE
from schemas.sources import (
    BATCH_COMPLAINT_SOURCES,
    COMPLAINT_SOURCES,
    STREAM_COMPLAINT_SOURCES,
)

QUARANTINE_RECORD_CHARS = 10_000
FUTURE_TOLERANCE = "INTERVAL 1 HOUR"


def stage_source(spark: SparkSession, settings: Settings, source: str,
                 files: Sequence[Path]) -> DataFrame:
    if source == "web_form":
        return parse_web_form(read_web_forms(spark, settings.lake, files))
    return JSON_LINE_PARSERS[source](read_json_lines(spark, settings.lake, files))


# --- pure transforms
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
        F.when(F.col("ingest_time").isNull(),
               F.lit("raw file outside an ingest_date/hour partition")),
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


def content_key(source: Column, text_raw: Column, sender: Column, event_time: Column) -> Column:
    """Same-content key of a stream event (null for batch sources): source, whitespace-normalised
    lower-cased text, sender and event time. Two events with different event ids and the same key
    are one message sent twice (a producer that re-created the event instead of retrying it)."""
    parts = [source, F.lower(normalise_text(text_raw)), F.coalesce(sender, F.lit("\u0000")),
             F.unix_micros(event_time).cast("string")]
    return F.when(source.isin(*STREAM_COMPLAINT_SOURCES),
                  F.sha2(F.concat_ws("\u0001", *parts), 256))


def dedupe_complaints(usable: DataFrame, by_content: bool = True) -> DataFrame:
    """One row per complaint; ``duplicate_count`` copies seen (>= 1).

    1. By complaint id (source + source record id): the most recently landed copy is kept. For the
       stream sources this makes Kinesis's at-least-once delivery exactly-once per event id (a
       producer retry or a shard replay lands the same event in another raw file).
    2. Stream sources only, by ``content_key``: of the events with the same content but different
       event ids, the earliest landed is kept (ties: smallest complaint id) and the others count as
       its duplicates. Batch sources are untouched by this step, so a run without stream sources
       passes ``by_content=False`` and saves its shuffle.
    """
    with_id = usable.withColumn("complaint_id",
                                complaint_id(F.col("source"), F.col("source_record_id")))
    copies = Window.partitionBy("complaint_id")
    latest_first = copies.orderBy(F.col("ingest_time").desc(), F.col("raw_file").desc(),
                                  F.col("raw_line").desc())
    by_id = (
        with_id.withColumn("duplicate_count", F.count(F.lit(1)).over(copies).cast("int"))
        .withColumn("_first_landed", F.min("ingest_time").over(copies))
        .withColumn("_copy", F.row_number().over(latest_first))
        .where(F.col("_copy") == 1)
    )
    if not by_content:
        return by_id.drop("_copy", "_first_landed")
    same = Window.partitionBy(F.coalesce(
        content_key(F.col("source"), F.col("text_raw"), F.col("sender"), F.col("event_time")),
        F.col("complaint_id"),
    ))
    earliest_first = same.orderBy(F.col("_first_landed"), F.col("complaint_id"))
    return (
        by_id.withColumn("duplicate_count", F.sum("duplicate_count").over(same).cast("int"))
        .withColumn("_copy", F.row_number().over(earliest_first))
        .where(F.col("_copy") == 1)
        .drop("_copy", "_first_landed")
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


# --- the run (edges)
def _remove_stale_partitions(lake: Lake, source: str, kept_dates: Iterable[str]) -> None:
    kept = {f"event_date={d}" for d in kept_dates}
    for part in lake.complaint_partitions(source):
        if part.parent.name not in kept:
            shutil.rmtree(part)
            if not any(part.parent.iterdir()):
                part.parent.rmdir()


def run_transform(
    settings: Settings,
    sources: Sequence[str] = BATCH_COMPLAINT_SOURCES,
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
    clean_root = settings.zones.clean_complaints
    quarantine_root = settings.zones.quarantine_records

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
                dedupe_complaints(
                    standardised.where(F.col("reason").isNull()),
                    by_content=any(s in STREAM_COMPLAINT_SOURCES for s in present),
                ),
                rules, run_id,
            ).persist()
            clean.write.mode("overwrite").partitionBy(*COMPLAINT.partition_by).parquet(
                str(clean_root))
            quarantined.write.mode("overwrite").partitionBy(*QUARANTINE.partition_by).parquet(
                str(quarantine_root))
            records_in: dict[str, int] = {
                r["source"]: r["count"] for r in standardised.groupBy("source").count().collect()}
            n_quarantined: dict[str, int] = {
                r["source"]: r["count"] for r in quarantined.groupBy("source").count().collect()}
            clean_dates = clean.groupBy("source", "event_date").agg(
                F.count(F.lit(1)).alias("count"), F.sum("duplicate_count").alias("copies")
            ).collect()
            clean.unpersist()
        finally:
            standardised.unpersist()
        for source in present:
            dates = [str(r["event_date"]) for r in clean_dates if r["source"] == source]
            _remove_stale_partitions(settings.zones, source, dates)
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
    write_run_record(settings, result, "complaints")
    raise_unless_conserved(result)
    return result
