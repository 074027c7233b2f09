"""Re-classify history (``complaints reclassify``): a backfill of the classification only.

The clean complaints of a range of event dates (every date without one) are classified again
with a rules file, the transform's own expressions (``jobs.classify``), and their partitions are
rewritten with only ``CLASSIFICATION`` changed: staged, then swapped in whole
(``jobs.clean_zone``), so readers see a partition before or after, never half. The stream
sources' dedupe state (``state/stream_by_id/``) keeps the classification too, so its partitions
of the range are rewritten the same way: a later copy of a stream event then merges with a row
of the new taxonomy. Every other column, ``run_id`` included, is written as it was; the run is
one ``runs/`` row per source with mode ``reclassify`` (records_in = clean = rows rewritten).

What the rules read besides the clean text is not kept in the clean row: the source's hints (a
web form's product and issue, a chat's feedback category, a post's platform and brand) and the
severity the source gave (urgency and the rules decide severity only where the source gave
none). Both are read again from the row's raw copy (``raw_file``, ``raw_line``) with the
transform's parsers. A row whose raw copy is gone is classified on its text alone and keeps the
source severity it has (``imputed_severity`` not in its flags); a P1 stays P1 there, as whether
the source said P1 or urgency raised it cannot be told apart.

The same rules file over the same rows gives the same rows: running it twice is running it once.
Run it while no transform is running (like ``complaints transform --full``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.lake import Lake, event_partition, replace_folder
from common.settings import Settings
from jobs.classify import Rules, classify_complaints
from jobs.clean_zone import (
    Partition,
    dates_between,
    existing_partitions,
    read_partitions,
    rows_in,
    swap_partitions,
    write_staged,
)
from jobs.raw_files import FileVerdict, inspect_raw_file
from jobs.runs import SourceCounts, TransformResult, new_run_id, write_run_record
from jobs.standardise import normalise_severity
from jobs.transform import classify_text, complaint_severity, stage_source
from schemas.complaint import COMPLAINT, STREAM_BY_ID, RecordSchema
from schemas.sources import COMPLAINT_SOURCES, STREAM_COMPLAINT_SOURCES

# The columns a rules file decides; a reclassification changes these and nothing else.
CLASSIFICATION = ("category", "subcategory", "severity", "taxonomy_version",
                  "rule_id", "classification_score")
IMPUTED_SEVERITY = "imputed_severity"
RUN_MODE = "reclassify"
# What a decision reads from a clean row (the rest comes from its raw copy).
KEY = ("complaint_id", "raw_file", "raw_line", "text", "quality_flags", "severity")


@dataclass(frozen=True)
class ReclassifyResult:
    """The run record, and the partitions rewritten (clean zone; stream dedupe state)."""

    result: TransformResult
    clean: tuple[Partition, ...]
    stream_state: tuple[Partition, ...]


def raw_context(spark: SparkSession, settings: Settings, rows: DataFrame) -> DataFrame:
    """``raw_file, raw_line, hints, source_severity`` of the raw copies of ``rows`` still in the
    lake and readable, parsed as the transform parses them."""
    lake = settings.zones
    wanted: dict[str, list[FileVerdict]] = {}
    for r in rows.select("source", "raw_file").distinct().collect():
        path = lake.root / r["raw_file"]
        if path.is_file():
            verdict = inspect_raw_file(path, r["source"])
            if verdict.readable:
                wanted.setdefault(r["source"], []).append(verdict)
    frames = [stage_source(spark, settings, source, sorted(files, key=lambda v: v.path))
              .select("raw_file", "raw_line", "hints",
                      normalise_severity(F.col("severity_raw")).alias("source_severity"))
              for source, files in sorted(wanted.items())]
    context = spark.createDataFrame(
        [], "raw_file string, raw_line long, hints string, source_severity string")
    for frame in frames:
        context = context.unionByName(frame)
    # one row per raw record (a source's parser could emit none for a line it cannot read)
    return context.dropDuplicates(["raw_file", "raw_line"])


def decide_classification(rows: DataFrame, context: DataFrame, rules: Rules) -> DataFrame:
    """``complaint_id`` and ``CLASSIFICATION`` decided again by ``rules`` for each of ``rows``
    (one per complaint id; ``KEY`` columns), from their text and their raw copy's ``context``
    (``raw_context``)."""
    found = rows.join(context.withColumn("_raw", F.lit(True)), ["raw_file", "raw_line"], "left")
    kept_source_severity = F.when(
        ~F.array_contains(F.col("quality_flags"), IMPUTED_SEVERITY), F.col("severity"))
    prepared = found.select(
        "complaint_id",
        classify_text(F.col("text"), F.col("hints")).alias("classify_text"),
        F.when(F.col("_raw").isNotNull(), F.col("source_severity"))
        .otherwise(kept_source_severity).alias("source_severity"),
    )
    classified = classify_complaints(prepared, rules).withColumn(
        "severity", complaint_severity(F.col("urgent"), F.col("source_severity"),
                                       F.col("rule_severity")))
    types = {f.name: f.dataType for f in COMPLAINT.spark_schema().fields}
    return classified.select("complaint_id",
                             *[F.col(c).cast(types[c]).alias(c) for c in CLASSIFICATION])


def with_decided(rows: DataFrame, decided: DataFrame, schema: RecordSchema) -> DataFrame:
    """``rows`` (shaped as ``schema``) with the ``decided`` classification of their complaint
    id; every other column as it was."""
    return rows.drop(*CLASSIFICATION).join(decided, "complaint_id").select(*schema.names)


def _in_range(root: Path, event_dates: tuple[date, date] | None) -> set[Partition]:
    partitions = existing_partitions(root, COMPLAINT_SOURCES)
    return partitions if event_dates is None else dates_between(partitions, *event_dates)


def partitions_to_reclassify(lake: Lake, event_dates: tuple[date, date] | None
                             ) -> set[Partition]:
    """The clean partitions a reclassification of ``event_dates`` (all when None) rewrites."""
    return _in_range(lake.clean_complaints, event_dates)


def _rewrite(spark: SparkSession, staging: Path, root: Path, partitions: set[Partition],
             schema: RecordSchema, decided: DataFrame) -> None:
    if not partitions:
        return
    rows = read_partitions(spark, root, partitions, schema)
    write_staged(with_decided(rows, decided, schema), staging, schema)
    swap_partitions(staging, root, partitions)


def _counts(lake: Lake, partitions: set[Partition]) -> list[SourceCounts]:
    counts = []
    for source in sorted({s for _, s in partitions}):
        mine = [p for p in partitions if p[1] == source]
        n = rows_in(event_partition(lake.clean_complaints, d, s) for d, s in mine)
        counts.append(SourceCounts(source, 0, n, n, 0, 0, mode=RUN_MODE,
                                   partitions_written=len(mine)))
    return counts


def run_reclassify(settings: Settings, rules: Rules, spark: SparkSession,
                   event_dates: tuple[date, date] | None = None,
                   run_id: str | None = None) -> ReclassifyResult:
    """Classify the clean complaints of ``event_dates`` (all when None) again with ``rules``,
    rewrite their partitions (and the stream dedupe state's), and record the run."""
    started_at = datetime.now(UTC)
    run_id = run_id or new_run_id(started_at, RUN_MODE)
    lake = settings.zones
    clean = partitions_to_reclassify(lake, event_dates)
    state = {p for p in _in_range(lake.stream_by_id, event_dates)
             if p[1] in STREAM_COMPLAINT_SOURCES}
    staging = lake.staging(run_id)
    try:
        clean_rows = read_partitions(spark, lake.clean_complaints, clean, COMPLAINT)
        state_rows = read_partitions(spark, lake.stream_by_id, state, STREAM_BY_ID)
        # A clean stream row is one of its dedupe state's rows: one decision serves both, and it
        # is written down before any partition is swapped (it reads the partitions it replaces).
        keys = clean_rows.select(*KEY).unionByName(state_rows.select(*KEY))
        lineage = clean_rows.select("source", "raw_file").unionByName(
            state_rows.select("source", "raw_file"))
        decision = staging / "classification"
        decide_classification(keys.dropDuplicates(["complaint_id"]),
                              raw_context(spark, settings, lineage), rules
                              ).write.parquet(str(decision))
        decided = spark.read.parquet(str(decision))
        _rewrite(spark, staging / "complaints", lake.clean_complaints, clean, COMPLAINT, decided)
        _rewrite(spark, staging / "stream_by_id", lake.stream_by_id, state, STREAM_BY_ID, decided)
    finally:
        replace_folder(staging, None)
    result = TransformResult(run_id, rules.version, started_at, tuple(_counts(lake, clean)),
                             tuple(sorted(clean)))
    write_run_record(settings, result, RUN_MODE)
    return ReclassifyResult(result, tuple(sorted(clean)), tuple(sorted(state)))
