"""The transform: raw zone -> clean complaints (partitioned Parquet), quarantine, counts.

A run takes, per source, only the raw files it has not processed yet (``jobs.ledger``), parses
them into the staged shape, standardises (UTC time, text, PII, state/region), quarantines what is
unusable with the reason, collapses the copies of each complaint, classifies and enriches the new
rows, and merges them into the ``(event_date, source)`` partitions they touch:

* ``clean/complaints/event_date=…/source=…/`` — each touched partition rewritten whole (its old
  rows plus the merged new ones), staged then swapped in (``jobs.clean_zone``);
* ``state/stream_by_id/…`` — stream sources only: every event id once, before same-content copies
  are collapsed, so a later copy of either kind merges exactly;
* ``quarantine/records/source=…/`` — the run's unusable records (and unreadable files, and the
  copies that lost a conflict) added;
* ``runs/`` — one row per source (records_in = clean + quarantined + duplicates) and the files read.

Duplicates are found across all history: a copy that lands days later is still one complaint
(the existing row is found by its complaint id wherever it is), and its ``duplicate_count`` grows.
Copies under one id that say different things (``copy_content``: text or event time) are a
conflict, not duplicates: the kept copy is still the most recently landed, flagged
``conflicting_duplicate``, and the latest copy of each other content is quarantined with that
reason (within the run: ``conflicting_copies``; against the row an earlier run kept:
``displaced_copies``), so the other text stays findable and counts stay conserved.
Every rule here is order-free (the kept copy is the most recently landed; counts add up; the kept
same-content stream event is the earliest landed, ties by id), so any sequence of incremental runs
gives the rows one full run over the same raw files gives (``run_id`` aside). One exception: a
conflict whose content comes back to an earlier one (A, B, A), or a different copy landed out of
order, leaves one more ``conflicting_duplicate`` entry (and a ``duplicate_count`` one lower) after
incremental runs than after one full run: an earlier run's quarantine entries are not revisited.
Counts stay conserved either way. ``full=True``
recomputes sources from all their raw files; ``event_dates`` recomputes only the partitions in that
range of event dates, from the files earlier runs processed (the backfill after a change of parsing
or standardisation; files landed since are left to the next run).

By default a run takes the batch sources; the stream DAG runs ``STREAM_COMPLAINT_SOURCES`` (``sms``,
``social``), so the two never write the same partitions. Reads and writes sit in
``run_transform``; everything between is a pure ``DataFrame -> DataFrame`` function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from common.lake import Lake, event_partition, replace_folder
from common.settings import DEFAULT_FUTURE_TOLERANCE_HOURS, Settings
from jobs.classify import Rules, classify_complaints, load_rules
from jobs.clean_zone import (
    Partition,
    dates_between,
    existing_partitions,
    parquet_files,
    read_kept_rows,
    read_keys,
    rows_in,
    swap_partitions,
    write_staged,
)
from jobs.ledger import (
    PROCESSED,
    QUARANTINED,
    LedgerEntry,
    SourcePlan,
    clear_intent,
    plan_increment,
    read_ledger,
    write_intent,
    write_ledger,
)
from jobs.parse_sources import JSON_LINE_PARSERS, parse_web_form
from jobs.raw_files import FileVerdict, inspect_raw_file
from jobs.raw_zone import read_json_lines, read_web_forms
from jobs.runs import (
    FileRead,
    SourceCounts,
    TransformResult,
    new_run_id,
    raise_unless_conserved,
    write_run_files,
    write_run_record,
)
from jobs.spark import pinned, spark_session, unpin
from jobs.standardise import (
    is_date_only,
    mask_pii,
    normalise_severity,
    normalise_state,
    normalise_text,
    parse_event_time,
    region_of,
    strip_control,
)
from schemas.complaint import COMPLAINT, QUARANTINE, STREAM_BY_ID, RecordSchema
from schemas.sources import (
    BATCH_COMPLAINT_SOURCES,
    COMPLAINT_SOURCES,
    STREAM_COMPLAINT_SOURCES,
)

QUARANTINE_RECORD_CHARS = 10_000
# The run's standardised records and its increment are read several times (counts, quarantine,
# the write), so they are computed once and kept (``jobs.spark.pinned``: a query over them is
# planned from the kept rows, which halved a small run's time), on disk only: Spark's memory
# levels keep blocks on the driver's heap, whose size estimates ran the 2 GiB heap out of memory
# at 10M raw records (while caching the standardised records); on disk the heap does not grow with
# the run, and at 300k records the full run took the same time either way (159.6 s against 159.2 s).
RUN_CACHE = StorageLevel.DISK_ONLY
# Longer source record ids (event ids, call ids, ...) are quarantined: no source issues ids this
# long, and an id is copied into every row, key and dedupe state.
MAX_SOURCE_ID_CHARS = 256
ID_TOO_LONG_REASON = f"source record id too long (over {MAX_SOURCE_ID_CHARS} characters)"
ID_CONTROL_REASON = "source record id holds control characters"
FUTURE_REASON = "event_time_in_future"
FUTURE_TOLERANCE = "INTERVAL 1 HOUR"
# The lineage of a copy; the greatest is the most recently landed (ties: later file, later line).
LINEAGE = ("ingest_time", "raw_file", "raw_line")
# Two copies under one id that say different things: the kept one is flagged, the other
# quarantined with this reason (``collapse_copies``, ``merge_copies``).
CONFLICT_REASON = "conflicting_duplicate"
# The losing copy's fields kept in its quarantine entry (present on staged and on clean rows).
CONFLICT_FIELDS = ("source_record_id", "event_time", "text", "customer_id", "case_id", "state",
                   "location", "ingest_time")


def stage_source(spark: SparkSession, settings: Settings, source: str,
                 files: Sequence[FileVerdict]) -> DataFrame:
    """Parse the readable raw files of one source into the staged shape (web forms by their own
    CSV header; everything else as JSON Lines)."""
    if source == "web_form":
        return parse_web_form(read_web_forms(spark, settings.lake, files))
    return JSON_LINE_PARSERS[source](read_json_lines(spark, settings.lake,
                                                     [f.path for f in files]))


# --- pure transforms
def _id_errors(source_record_id: Column) -> Column:
    """Why a source record id cannot key a complaint (null when it can)."""
    return F.coalesce(
        F.when(F.length(source_record_id) > MAX_SOURCE_ID_CHARS, F.lit(ID_TOO_LONG_REASON)),
        F.when(strip_control(source_record_id) != source_record_id, F.lit(ID_CONTROL_REASON)),
    )


def in_future(event_time: Column, ingest_time: Column, tolerance_hours: float) -> Column:
    """True when the event happened more than ``tolerance_hours`` after its record was landed
    (a clock or a parse gone wrong, e.g. 2099): relative to the landing, not to the run, so a
    rerun decides the same."""
    return F.unix_micros(event_time) > F.unix_micros(ingest_time) + int(tolerance_hours * 3.6e9)


def standardise_complaints(staged: DataFrame,
                           future_tolerance_hours: float = DEFAULT_FUTURE_TOLERANCE_HOURS
                           ) -> DataFrame:
    """Add typed, cleaned fields and ``reason`` (null when the record is usable). Control
    characters are removed from the text and location (``normalise_text``) and from the
    customer and case ids (``strip_control``)."""
    event_time = parse_event_time(F.col("event_time_raw"), F.col("event_zone"),
                                  F.col("default_zone"))
    text = mask_pii(normalise_text(F.col("text_raw")))
    state = normalise_state(F.col("state_raw"))
    standardised = staged.withColumns({
        "customer_id": strip_control(F.col("customer_id")),
        "case_id": strip_control(F.col("case_id")),
        "location": normalise_text(F.col("location")),
    }).select(
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
        _id_errors(F.col("source_record_id")),
        F.when(F.col("text").isNull(), F.lit("missing complaint text")),
        F.when(F.col("event_time_raw").isNull(), F.lit("missing event time")),
        F.when(F.col("event_time").isNull(),
               F.concat(F.lit("unparseable event time: "),
                        F.substring(F.col("event_time_raw"), 1, 60))),
        F.when(F.col("ingest_time").isNull(),
               F.lit("raw file outside an ingest_date/hour partition")),
        F.when(in_future(F.col("event_time"), F.col("ingest_time"), future_tolerance_hours),
               F.lit(FUTURE_REASON)),
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
    are one message sent twice (a producer that re-created the event instead of retrying it).
    The event time is part of the key, so same-content copies always share an event date."""
    parts = [source, F.lower(normalise_text(text_raw)), F.coalesce(sender, F.lit("\u0000")),
             F.unix_micros(event_time).cast("string")]
    return F.when(source.isin(*STREAM_COMPLAINT_SOURCES),
                  F.sha2(F.concat_ws("\u0001", *parts), 256))


def copy_content(text: Column, event_time: Column) -> Column:
    """What two copies of one complaint must share to be copies of each other: the standardised
    text (whitespace-normalised, PII masked) and the event time. Copies under one id that differ
    in either are a conflict, not a duplicate: one is kept, the other quarantined."""
    return F.sha2(F.concat_ws("\u0001", text, F.unix_micros(event_time).cast("string")), 256)


def rank_copies(usable: DataFrame) -> DataFrame:
    """Every usable copy with its complaint id, content key, and where it stands among the copies
    of its complaint: ``_copy`` 1 is the most recently landed (the kept one); ``_same`` says
    whether it has the kept copy's content; ``_latest_of_content`` marks the most recently landed
    copy of each content (for another content than the kept one: the copy quarantined);
    ``duplicate_count`` counts the copies not quarantined; ``conflicting`` says whether any copy
    differs; ``first_ingest_time`` is the earliest landing of any copy."""
    with_id = usable.withColumn(
        "complaint_id", complaint_id(F.col("source"), F.col("source_record_id"))
    ).withColumn("content_key", content_key(F.col("source"), F.col("text_raw"), F.col("sender"),
                                            F.col("event_time"))
                 ).withColumn("_content", copy_content(F.col("text"), F.col("event_time")))
    copies = Window.partitionBy("complaint_id")
    latest_first = copies.orderBy(*[F.col(c).desc() for c in LINEAGE])
    # The contents of the copies landed after this one: one sort of the copies serves every
    # window (a window per content would sort all rows a second time).
    later_contents = F.collect_set("_content").over(
        latest_first.rowsBetween(Window.unboundedPreceding, -1))
    ranked = with_id.select(
        "*",
        F.row_number().over(latest_first).alias("_copy"),
        F.first("_content").over(latest_first).alias("_kept_content"),
        (~F.array_contains(later_contents, F.col("_content"))).alias("_latest_of_content"),
        F.min("ingest_time").over(copies).alias("first_ingest_time"),
    ).withColumn("_same", F.col("_content") == F.col("_kept_content"))
    losing_contents = F.count_if(~F.col("_same") & F.col("_latest_of_content")).over(copies)
    return ranked.select(
        "*",
        (F.count(F.lit(1)).over(copies) - losing_contents).cast("int").alias("duplicate_count"),
        (losing_contents > 0).alias("conflicting"),
    )


def collapse_copies(usable: DataFrame) -> DataFrame:
    """One row per complaint id (source + source record id): the most recently landed copy, with
    ``duplicate_count`` (copies not quarantined, >= 1: so the sum of ``duplicate_count - 1``
    is the duplicates a run counts), ``conflicting`` (another copy says
    something else: see ``conflicting_copies``), ``first_ingest_time`` (the earliest copy's
    landing) and ``content_key``. For the stream sources this makes Kinesis's at-least-once
    delivery exactly-once per event id (a producer retry or a shard replay lands the same event
    again)."""
    return (rank_copies(usable).where(F.col("_copy") == 1)
            .drop("_copy", "_kept_content", "_latest_of_content", "_same", "_content"))


def conflicting_copies(usable: DataFrame, run_id: str) -> DataFrame:
    """Quarantine entries (reason ``conflicting_duplicate``) for the copies ``collapse_copies``
    did not keep because they say something else: the most recently landed copy of each other
    content (its older exact copies stay plain duplicates of it). Nothing is lost silently."""
    return conflict_entries(losing_copies(usable), run_id)


def losing_copies(usable: DataFrame) -> DataFrame:
    """The copies ``conflicting_copies`` quarantines, as usable rows with their complaint id."""
    return rank_copies(usable).where(~F.col("_same") & F.col("_latest_of_content"))


def conflict_entries(losers: DataFrame, run_id: str) -> DataFrame:
    """Quarantine rows for copies that lost a conflict. ``raw_record`` holds the losing copy's
    standardised fields as JSON with ``kept_complaint_id``, the complaint the kept copy is; the
    raw copy as it came is at ``raw_file``, ``raw_line``. The same fields exist on a clean row
    and on a staged one, so a conflict settled within one run or across runs reads the same."""
    record = F.to_json(F.struct(
        F.col("complaint_id").alias("kept_complaint_id"), *[F.col(c) for c in CONFLICT_FIELDS]))
    return losers.select(
        "source", F.lit(CONFLICT_REASON).alias("reason"), "raw_file", "raw_line",
        F.substring(record, 1, QUARANTINE_RECORD_CHARS).alias("raw_record"),
        F.lit(run_id).alias("run_id"),
    )


def with_conflict_flag(flags: Column, conflicting: Column) -> Column:
    """``flags`` with ``conflicting_duplicate`` last when ``conflicting`` (once, whatever the
    flags held before): one order, whichever run saw the conflict."""
    kept = F.filter(flags, lambda f: f != F.lit(CONFLICT_REASON))
    return F.when(conflicting, F.concat(kept, F.array(F.lit(CONFLICT_REASON)))).otherwise(kept)


def collapse_same_content(by_id: DataFrame) -> DataFrame:
    """Stream rows with the same ``content_key`` (different event ids, same message) become the
    earliest landed one (ties: smallest complaint id); its ``duplicate_count`` sums theirs. Rows
    without a content key (batch sources) pass through untouched."""
    same = Window.partitionBy(F.coalesce(F.col("content_key"), F.col("complaint_id")))
    earliest_first = same.orderBy(F.col("first_ingest_time"), F.col("complaint_id"))
    return (
        by_id.withColumn("duplicate_count", F.sum("duplicate_count").over(same).cast("int"))
        .withColumn("_copy", F.row_number().over(earliest_first))
        .where(F.col("_copy") == 1)
        .drop("_copy")
    )


def dedupe_complaints(usable: DataFrame, by_content: bool = True) -> DataFrame:
    """One row per complaint over ``usable`` records: ``collapse_copies``, then (stream sources)
    ``collapse_same_content``. ``by_content=False`` skips the second step's shuffle when no stream
    source is present (batch rows pass through it unchanged anyway)."""
    by_id = collapse_copies(usable)
    return collapse_same_content(by_id) if by_content else by_id


def _paired_copies(existing: DataFrame, increment: DataFrame) -> DataFrame:
    """``existing`` and ``increment`` rows side by side per complaint id (``_old``, ``_new``,
    either null), with ``_take_new`` (the increment's copy is kept: it landed later, or the id
    is new) and ``_conflict`` (both copies exist and say different things: ``copy_content``)."""
    columns = STREAM_BY_ID.names
    old = existing.select(F.col("complaint_id").alias("_id"),
                          F.struct(*[F.col(c) for c in columns]).alias("_old"))
    new = increment.select(F.col("complaint_id").alias("_id"),
                           F.struct(*[F.col(c) for c in columns]).alias("_new"))
    joined = old.join(new, "_id", "full_outer")
    lineage_old = F.struct(*[F.col(f"_old.{c}") for c in LINEAGE])
    lineage_new = F.struct(*[F.col(f"_new.{c}") for c in LINEAGE])
    take_new = F.col("_old").isNull() | (F.col("_new").isNotNull() & (lineage_new > lineage_old))
    conflict = F.col("_old").isNotNull() & F.col("_new").isNotNull() & (
        copy_content(F.col("_old.text"), F.col("_old.event_time"))
        != copy_content(F.col("_new.text"), F.col("_new.event_time")))
    return joined.select("*", take_new.alias("_take_new"), conflict.alias("_conflict"))


def _flagged(row: str) -> Column:
    return F.coalesce(F.array_contains(F.col(f"{row}.quality_flags"), CONFLICT_REASON),
                      F.lit(False))


def merge_copies(existing: DataFrame, increment: DataFrame, run_id: str) -> DataFrame:
    """Merge an increment's complaints (enriched, one row per id) into the existing rows of the
    partitions it touches. For an id in both, the row is the increment's when its copy landed
    later, else the existing one; ``first_ingest_time`` is the earlier; the copies add up.
    Different content (``_paired_copies``): the kept row is flagged ``conflicting_duplicate``
    (the flag stays once set) and the other row goes to the quarantine (``displaced_copies``), so
    the copies add up less one, as one full run over both copies would count them. Rows only in
    ``existing`` are kept as they are; rows the increment touches get ``run_id``."""
    columns = STREAM_BY_ID.names
    old_copies = F.coalesce(F.col("_old.duplicate_count"), F.lit(0))
    new_copies = F.coalesce(F.col("_new.duplicate_count"), F.lit(0))
    chosen = _paired_copies(existing, increment).select(
        F.when(F.col("_take_new"), F.col("_new")).otherwise(F.col("_old")).alias("_row"),
        (old_copies + new_copies - F.col("_conflict").cast("int")).cast("int").alias("_copies"),
        F.least(F.col("_old.first_ingest_time"), F.col("_new.first_ingest_time"))
        .alias("_first"),
        F.col("_new").isNotNull().alias("_touched"),
        (F.col("_conflict") | _flagged("_old") | _flagged("_new")).alias("_conflicting"),
    )
    return chosen.select(*[
        F.col("_copies").alias(c) if c == "duplicate_count"
        else F.col("_first").alias(c) if c == "first_ingest_time"
        else F.when(F.col("_touched"), F.lit(run_id)).otherwise(F.col("_row.run_id")).alias(c)
        if c == "run_id"
        else with_conflict_flag(F.col("_row.quality_flags"), F.col("_conflicting")).alias(c)
        if c == "quality_flags"
        else F.col(f"_row.{c}").alias(c)
        for c in columns
    ])


def displaced_copies(existing: DataFrame, increment: DataFrame, run_id: str) -> DataFrame:
    """Quarantine entries for the rows ``merge_copies`` did not keep because the other copy of
    their complaint says something else (``conflict_entries``): usually the existing row a later,
    different copy replaces."""
    paired = _paired_copies(existing, increment).where(F.col("_conflict"))
    losers = paired.select(F.when(F.col("_take_new"), F.col("_old")).otherwise(F.col("_new"))
                           .alias("_loser")).select("_loser.*")
    return conflict_entries(losers, run_id)


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


def classify_text(text: Column, hints: Column) -> Column:
    """What the rules read: the complaint text, then the source's hints (a web form's product
    and issue, a post's platform and brand), which the clean row does not keep."""
    return F.concat_ws(". ", text, hints)


def complaint_severity(urgent: Column, source_severity: Column, rule_severity: Column) -> Column:
    """P1 when the text is urgent; else the severity the source gave; else the rule's."""
    return F.when(urgent, F.lit("P1")).otherwise(F.coalesce(source_severity, rule_severity))


def enrich_complaints(deduped: DataFrame, rules: Rules, run_id: str) -> DataFrame:
    """Classify, set severity and flags (``conflicting_duplicate`` last when ``collapse_copies``
    saw copies that differ), and shape rows as the unified COMPLAINT record (plus
    ``content_key``, kept for the stream dedupe state)."""
    classified = classify_complaints(
        deduped.withColumn("classify_text", classify_text(F.col("text"), F.col("hints"))), rules,
        sentiment_col="text")
    severity = complaint_severity(F.col("urgent"), F.col("source_severity"),
                                  F.col("rule_severity"))
    enriched = classified.select(
        "*",
        severity.alias("severity"),
        with_conflict_flag(quality_flags(), F.col("conflicting")).alias("quality_flags"),
        F.lit(run_id).alias("run_id"),
        F.to_date(F.col("event_time")).alias("event_date"),
    )
    schema = STREAM_BY_ID.spark_schema()  # the complaint record, plus its content key
    return enriched.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


# --- the run (edges)
@dataclass
class _Run:
    """What one run is doing: its id, the sources' plans, and what it will report."""

    settings: Settings
    run_id: str
    plans: dict[str, SourcePlan]
    event_dates: tuple[date, date] | None
    files_read: list[FileRead] = field(default_factory=list)
    verdicts: dict[str, list[FileVerdict]] = field(default_factory=dict)

    def inspect(self) -> None:
        """Look at every file to read before Spark does: one unreadable file must not fail the
        run (``jobs.raw_files``)."""
        self.verdicts = {s: [inspect_raw_file(f, s) for f in p.files]
                         for s, p in self.plans.items()}

    def readable(self, source: str) -> list[FileVerdict]:
        return [v for v in self.verdicts.get(source, []) if v.readable]

    def unreadable(self) -> list[FileVerdict]:
        return [v for vs in self.verdicts.values() for v in vs if not v.readable]

    def file_notes(self) -> tuple[tuple[str, str], ...]:
        """(raw file, note) of what inspecting the readable files noticed (schema drift, ...)."""
        return tuple((self.lake.relative(v.path), note) for vs in self.verdicts.values()
                     for v in vs if v.readable for note in v.notes)

    @property
    def lake(self) -> Lake:
        return self.settings.zones

    @property
    def staging(self) -> Path:
        return self.lake.staging(self.run_id)

    def layer_root(self, source: str) -> Path:
        """Where a source's complaints are kept once per complaint id: the clean zone itself for
        batch sources, the dedupe state for the stream sources (clean keeps one per content)."""
        return self.lake.stream_by_id if source in STREAM_COMPLAINT_SOURCES else \
            self.lake.clean_complaints


def _layer_schema(source: str) -> RecordSchema:
    return STREAM_BY_ID if source in STREAM_COMPLAINT_SOURCES else COMPLAINT


def _stage_all(spark: SparkSession, run: _Run) -> DataFrame:
    frames = [stage_source(spark, run.settings, s, run.readable(s)) for s in run.plans]
    staged = frames[0]
    for frame in frames[1:]:
        staged = staged.unionByName(frame)
    return staged


def _touched(run: _Run, increment: DataFrame, spark: SparkSession) -> set[Partition]:
    """Partitions the run rewrites: those its complaints land in, those where an existing row of
    one of its complaint ids lives (it may move), and for full sources every existing one."""
    touched: set[Partition] = set()
    full = [s for s, p in run.plans.items() if p.full]
    incremental = [s for s, p in run.plans.items() if not p.full]
    new_keys = increment.select("complaint_id", "event_date", "source")
    found = [(r["event_date"], r["source"]) for r in new_keys.select("event_date", "source")
             .distinct().collect()]
    touched |= {(d.isoformat(), s) for d, s in found}
    roots = {run.layer_root(s) for s in incremental}
    for root in roots:
        sources = [s for s in incremental if run.layer_root(s) == root]
        keys = read_keys(spark, root, sources)
        if keys is None:
            continue
        moved = keys.join(new_keys.select("complaint_id"), "complaint_id", "left_semi")
        touched |= {(r["event_date"].isoformat(), r["source"]) for r in
                    moved.select("event_date", "source").distinct().collect()}
    for source in full:
        touched |= existing_partitions(run.layer_root(source), [source])
        touched |= existing_partitions(run.lake.clean_complaints, [source])
    if run.event_dates is not None:
        touched = dates_between(touched, *run.event_dates)
    return touched


def _existing_rows(run: _Run, spark: SparkSession, touched: set[Partition]) -> DataFrame | None:
    """Rows already kept (once per complaint id) in the touched partitions of incremental
    sources; None when there are none (a full run, a first run): then the increment is the
    result as it is, without a join (``merge_copies`` against no rows changes nothing)."""
    frames = []
    for source, plan in run.plans.items():
        mine = {p for p in touched if p[1] == source}
        rows = None if plan.full else read_kept_rows(spark, run.layer_root(source), mine,
                                                     _layer_schema(source))
        if rows is None:
            continue
        if source not in STREAM_COMPLAINT_SOURCES:
            rows = rows.withColumn("content_key", F.lit(None).cast("string"))
        frames.append(rows.select(*STREAM_BY_ID.names))
    if not frames:
        return None
    merged = frames[0]
    for frame in frames[1:]:
        merged = merged.unionByName(frame)
    return merged


def _conflicts(run: _Run, usable: DataFrame, existing: DataFrame | None, increment: DataFrame
               ) -> DataFrame:
    """Quarantine entries of the copies that lost a conflict: within the run's records (looked
    for only when a complaint of the increment was flagged), and between an existing row and the
    run's copy of the same complaint (only the complaints of a backfill's date range)."""
    flagged = increment.where(F.array_contains("quality_flags", CONFLICT_REASON))
    if flagged.limit(1).count() == 0:  # the common case: no second ranking of the copies
        within = usable.sparkSession.createDataFrame([], QUARANTINE.spark_schema())
    else:
        losers = losing_copies(usable)
        if run.event_dates is not None:
            losers = losers.join(increment.select("complaint_id"), "complaint_id", "left_semi")
        within = conflict_entries(losers, run.run_id)
    if existing is None:
        return within
    return within.unionByName(displaced_copies(existing, increment, run.run_id))


def _conflicts_staged(folder: Path) -> int:
    """How many of a staged quarantine partition's entries are conflict losers."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    return sum(int(pc.sum(pc.equal(pq.read_table(f, columns=["reason"])["reason"],
                                   CONFLICT_REASON)).as_py() or 0)
               for f in parquet_files(folder))


def _quarantine_staged(run: _Run, quarantined: DataFrame) -> dict[str, int]:
    """Write the run's quarantine rows to staging, then add them to (or, for full sources,
    replace) ``quarantine/records/source=…``. Returns the conflict losers per source (they count
    as quarantined records of the run)."""
    staged = run.staging / "quarantine"
    quarantined.repartition("source").write.mode("overwrite").partitionBy(
        *QUARANTINE.partition_by).parquet(str(staged))
    conflicts = {s: _conflicts_staged(staged / f"source={s}") for s in run.plans}
    for source, plan in run.plans.items():
        if run.event_dates is not None:
            continue  # a date-range backfill leaves the quarantine as it is
        live = run.lake.quarantine_records / f"source={source}"
        files = parquet_files(staged / f"source={source}")
        if plan.full:
            replace_folder(live, staged / f"source={source}" if files else None)
            continue
        live.mkdir(parents=True, exist_ok=True)
        _drop_file_entries(live, {run.lake.relative(f) for f in plan.retried})
        for f in files:
            f.rename(live / f"{run.run_id}-{f.name}")
    return conflicts


def _drop_file_entries(live: Path, raw_files: set[str]) -> None:
    """Remove the file-level entries (``raw_line`` 0) of ``raw_files`` from a quarantine
    partition: a retried file gets its entry from the retry (again, or none when it now reads),
    one per file, as a full run leaves it."""
    if not raw_files:
        return
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from common.lake import atomic_target

    wanted = pa.array(sorted(raw_files), pa.string())
    for path in parquet_files(live):
        table = pq.read_table(path)
        stale = pc.and_(pc.equal(table["raw_line"], 0), pc.is_in(table["raw_file"], wanted))
        if not pc.any(stale).as_py():
            continue
        with atomic_target(path) as tmp:
            pq.write_table(table.filter(pc.invert(stale)), tmp)


def _unreadable_files(spark: SparkSession, run: _Run) -> DataFrame:
    """One quarantine entry per raw file that cannot be read as a whole (``raw_line`` 0)."""
    rows = [(v.source, f"unreadable file: {v.reason}", run.lake.relative(v.path), 0, None,
             run.run_id) for v in run.unreadable()]
    return spark.createDataFrame(rows, QUARANTINE.spark_schema()).select(*QUARANTINE.names)


@dataclass(frozen=True)
class FileTally:
    """What the run read of one raw file: its records, how many were quarantined, and the first
    and last event date of its usable ones (the ledger keeps these)."""

    source: str
    records: int
    quarantined: int
    first: date | None
    last: date | None


def _tally_files(standardised: DataFrame) -> dict[str, FileTally]:
    """One pass over the run's records, by raw file (a file holds one source's records)."""
    usable_date = F.when(F.col("reason").isNull(), F.to_date("event_time"))
    rows = standardised.groupBy("raw_file", "source").agg(
        F.count(F.lit(1)).alias("records"),
        F.count_if(F.col("reason").isNotNull()).alias("quarantined"),
        F.min(usable_date).alias("first"), F.max(usable_date).alias("last")).collect()
    return {r["raw_file"]: FileTally(r["source"], int(r["records"]), int(r["quarantined"]),
                                     r["first"], r["last"]) for r in rows}


def _commit_ledger(run: _Run, tallies: Mapping[str, FileTally]) -> None:
    for source, plan in run.plans.items():
        entries = {} if plan.full else read_ledger(run.lake, source)
        for verdict in run.verdicts.get(source, []):
            relative = run.lake.relative(verdict.path)
            tally = tallies.get(relative, FileTally(source, 0, 0, None, None))
            status = PROCESSED if verdict.readable else QUARANTINED
            entries[relative] = LedgerEntry(relative, verdict.path.stat().st_size, status,
                                            verdict.reason, run.run_id, tally.records,
                                            tally.first, tally.last)
            run.files_read.append(FileRead(source, relative, status, verdict.reason,
                                           tally.records, "; ".join(verdict.notes) or None))
        if run.event_dates is None or not plan.files:
            write_ledger(run.lake, source, entries.values())
        clear_intent(run.lake, source)


def _copies_in_range(increment: DataFrame) -> Counter[str]:
    """Per source, the copies (not quarantined) of a backfill's complaints."""
    rows = increment.groupBy("source").agg(F.sum("duplicate_count").alias("copies")).collect()
    return Counter({r["source"]: int(r["copies"] or 0) for r in rows})


def _counts(run: _Run, tallies: Iterable[FileTally], before: dict[str, int],
            touched: set[Partition], conflicts: dict[str, int],
            backfilled: Counter[str] | None = None) -> list[SourceCounts]:
    """Per source: records read, clean rows added, records quarantined (unusable ones and the
    copies that lost a conflict, which may be rows an earlier run had kept: their place in the
    clean zone goes to this run's copy) and duplicates (the rest).

    A backfill (``backfilled``: its complaints' copies per source) counts the copies of the
    complaints of its dates only, not every record of the files it read (the records of other
    dates are not this run's), and as quarantined only their copies that lost a conflict (a
    backfill leaves the quarantine as it is: the unusable records are entries already)."""
    records: Counter[str] = Counter()
    quarantined: Counter[str] = Counter(conflicts)
    if backfilled is not None:
        records = backfilled + quarantined
    else:
        for tally in tallies:
            records[tally.source] += tally.records
            quarantined[tally.source] += tally.quarantined
    counts = []
    for source, plan in run.plans.items():
        mine = [p for p in touched if p[1] == source]
        after = rows_in(event_partition(run.lake.clean_complaints, d, s) for d, s in mine)
        clean = after if plan.full else after - before.get(source, 0)
        poison = sum(1 for v in run.verdicts.get(source, []) if not v.readable)
        counts.append(SourceCounts(
            source, len(plan.files) - poison, records[source], clean, quarantined[source],
            records[source] - quarantined[source] - clean,
            mode="backfill" if plan.backfill else "full" if plan.full else "incremental",
            files_quarantined=poison, partitions_written=len(mine)))
    return counts


def _transform(run: _Run, spark: SparkSession, rules: Rules) -> tuple[list[SourceCounts],
                                                                      set[Partition]]:
    """Read the increment, merge it into the partitions it touches, swap them in."""
    lake = run.lake
    run.inspect()
    standardised = pinned(standardise_complaints(
        _stage_all(spark, run), run.settings.future_tolerance_hours), RUN_CACHE)
    increment = None
    try:
        usable = standardised.where(F.col("reason").isNull())
        enriched = enrich_complaints(collapse_copies(usable), rules, run.run_id)
        if run.event_dates is not None:
            first, last = run.event_dates
            enriched = enriched.where(F.col("event_date").between(first, last))
        increment = pinned(enriched, RUN_CACHE)
        touched = _touched(run, increment, spark)
        before = {s: rows_in(event_partition(lake.clean_complaints, d, s2)
                             for d, s2 in touched if s2 == s) for s in run.plans}
        existing = _existing_rows(run, spark, touched)
        merged = increment if existing is None else merge_copies(existing, increment,
                                                                 run.run_id)
        stream = [s for s in run.plans if s in STREAM_COMPLAINT_SOURCES]
        if stream:
            write_staged(merged.where(F.col("source").isin(*stream)),
                         run.staging / "stream_by_id", STREAM_BY_ID)
            by_id = spark.read.schema(STREAM_BY_ID.spark_schema()).parquet(
                str(run.staging / "stream_by_id"))
            clean = merged.where(~F.col("source").isin(*stream)).unionByName(
                collapse_same_content(by_id))
        else:
            clean = merged
        write_staged(clean, run.staging / "complaints", COMPLAINT)
        conflicts = _quarantine_staged(run, quarantine_records(standardised, run.run_id)
                                       .unionByName(_unreadable_files(spark, run))
                                       .unionByName(_conflicts(run, usable, existing, increment)))
        tallies = _tally_files(standardised)
        swap_partitions(run.staging / "complaints", lake.clean_complaints, touched)
        if stream:
            swap_partitions(run.staging / "stream_by_id", lake.stream_by_id,
                            {p for p in touched if p[1] in stream})
        backfilled = None if run.event_dates is None else _copies_in_range(increment)
        counts = _counts(run, tallies.values(), before, touched, conflicts, backfilled)
        _commit_ledger(run, tallies)
    finally:
        for frame in (increment, standardised):
            if frame is not None:
                unpin(frame)
    return counts, touched


def run_transform(
    settings: Settings,
    sources: Sequence[str] = BATCH_COMPLAINT_SOURCES,
    run_id: str | None = None,
    spark: SparkSession | None = None,
    *,
    full: bool = False,
    event_dates: tuple[date, date] | None = None,
    retry_quarantined: bool = False,
) -> TransformResult:
    """Transform the raw files of ``sources`` that no run has processed yet (all of them with
    ``full``; only partitions of ``event_dates`` when given, from the files processed so far).
    With nothing new it starts no Spark session and records the sources as skipped."""
    unknown = [s for s in sources if s not in COMPLAINT_SOURCES]
    if unknown:
        raise ValueError(f"unknown sources {unknown}; known: {COMPLAINT_SOURCES}")
    started_at = datetime.now(UTC)
    run_id = run_id or new_run_id(started_at)
    rules = load_rules(settings.rules)
    plan = plan_increment(settings, sources, full=full, retry_quarantined=retry_quarantined,
                          backfill=event_dates is not None)
    working = {p.source: p for p in plan.sources if p.has_work}
    run = _Run(settings, run_id, working, event_dates)
    counts: list[SourceCounts] = [SourceCounts(p.source, 0, 0, 0, 0, 0, mode="skipped")
                                  for p in plan.sources if not p.has_work]
    touched: set[Partition] = set()
    if any(p.files for p in working.values()):
        for source, source_plan in working.items():
            write_intent(run.lake, source, run_id, source_plan.files)
        try:
            done, touched = _transform(run, spark or spark_session(settings.spark_master),
                                       rules)
        finally:
            replace_folder(run.staging, None)
        counts += done
    elif working:  # full runs of sources whose raw files are all gone: empty them
        counts += _empty_sources(run)
    order = {s: i for i, s in enumerate(sources)}
    result = TransformResult(run_id, rules.version, started_at,
                             tuple(sorted(counts, key=lambda c: order[c.source])),
                             tuple(sorted(touched)),
                             run.file_notes())
    write_run_record(settings, result, "complaints")
    write_run_files(settings, run_id, run.files_read)
    raise_unless_conserved(result)
    return result


def _empty_sources(run: _Run) -> list[SourceCounts]:
    counts = []
    for source in run.plans:
        live = existing_partitions(run.lake.clean_complaints, [source])
        swap_partitions(run.staging / "none", run.lake.clean_complaints, live)
        swap_partitions(run.staging / "none", run.lake.stream_by_id,
                        existing_partitions(run.lake.stream_by_id, [source]))
        replace_folder(run.lake.quarantine_records / f"source={source}", None)
        write_ledger(run.lake, source, [])
        counts.append(SourceCounts(source, 0, 0, 0, 0, 0, mode="full",
                                   partitions_written=len(live)))
    return counts
