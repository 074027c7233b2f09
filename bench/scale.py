"""Scale benchmark: does a run cost what its new data costs? (issue 7, "Benchmark")

For each size N (raw records) the section builds a lake under a temporary folder and measures, in
one process with one Spark session (a fresh JVM per size, so every size starts cold alike):

1. **Input.** ``samples.bulk`` writes N raw records over 180 event days (default mix: 60%
   call-centre JSON Lines, 25% web-form CSV, 15% DynamoDB export items of complaint_management,
   mbpp_reports and chat_messages), with about 5% verbatim copies (a third of them landing 1-10
   days later) and about 1% broken records. Each event day lands the next day at 02:00 UTC: the
   file sources through ``jobs.landing.land_files``; the DynamoDB export data files are written
   straight into the raw zone's export layout (``samples.bulk.write_export``: no emulator, no
   manifest check; the transform reads them exactly as it reads a landed export).
2. **Full transform**: ``run_transform`` over the batch sources: wall time, CPU time (this process
   plus its children: the Spark JVM and any Python workers, from psutil) and peak resident memory
   (``bench.memory.MemorySampler`` with children).
3. **Stages** (``--no-profile`` skips): the same transform once more in a profiling mode that
   forces each stage and caches its output on disk before the next starts (``persist`` +
   ``count``), so each stage is timed on its own: read (the raw readers into Spark's ``noop``
   sink), parse + standardise (to the cache, minus the read), dedupe, classify + enrich, write.
   Caching adds a little to each stage; the stages add up to about the full run. (Spark's event
   log cannot split them: whole-stage code generation fuses parse, standardise and the dedupe's
   map side into one Spark stage, and classification and the write into another.)
4. **Spark I/O floor** on the same raw files, same session: read every file (JSON Lines and the
   gzip export files as text lines, the CSV with the reader's options) and write Parquet
   partitioned by date and source (the landing date of the file: no parsing), snappy like the
   transform. Partition folders are counted for both. Ratio = full / floor, target <= 2.0x.
5. **Incremental run**: ``increment_share`` (1%) more records for one new event day, plus copies of
   lines landed 1-10 days before (late duplicates), landed the day after; then ``run_transform``
   again. Target: <= 15% of the full run at 10M.
6. **Stream micro-batch**: ``stream_history_share`` x N SMS events spread over the same 180 days
   are written in the consumer's raw format (``streaming.consumer.land_batch``, files of 5,000
   records, about 1% bad events) and transformed once (history); then 10,000 new SMS events land
   and the stream sources are transformed (timed). The same 10,000 events are then transformed in
   an empty lake. Target: within 2x. Both run in the bench's warm session; the same batch is also
   transformed in a new process (``complaints transform --sources sms social`` on a third, empty
   lake: a new JVM, as each run of the stream DAG's task starts one), which adds the session's
   start and the first-run compilation of Spark's generated code.

``run_scale`` runs each size in its own subprocess (``python -m bench.scale --size N ...``) and
returns the report lines; ``python -m bench --sections scale --scale 1000000,10000000`` is the
command behind the figures in ``bench/report.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psutil

from bench.memory import MemorySampler
from common.lake import INGEST_PARTITION_REGEX
from common.settings import REPO_ROOT, Settings

T = TypeVar("T")

DEFAULT_SIZES = (100_000,)
DEFAULT_DAYS = 180
START = date(2026, 1, 1)
STREAM_BATCH = 10_000
STREAM_FILE_RECORDS = 5_000
BYTES_PER_RECORD = 450  # raw bytes per record of the default mix, rounded up (measured: ~330)
# Disk a size needs at its peak, in raw sizes: the generated files, their landed copy, the clean
# output, the floor's output, Spark's shuffle and spill files.
DISK_FACTOR = 5
PARTS = ("floor", "incremental", "stream")
BATCH_SOURCES = ("call_center", "web_form", "complaint_management", "mbpp_reports",
                 "chat_feedback")
# The raw-zone folder of each table-backed source.
TABLE_OF = {"complaint_management": "complaint_management", "mbpp_reports": "mbpp_reports",
            "chat_feedback": "chat_messages"}


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float
    peak_rss: int


@dataclass
class SizeResult:
    size: int
    mix: dict[str, float]
    raw_records: int = 0
    raw_bytes: int = 0
    raw_files: int = 0
    generated_s: float = 0.0
    landed_s: float = 0.0
    full: Measured | None = None
    counts: list[dict[str, Any]] = field(default_factory=list)
    clean_partitions: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    floor: Measured | None = None
    floor_partitions: int = 0
    increment_records: int = 0
    incremental: Measured | None = None
    incremental_counts: list[dict[str, Any]] = field(default_factory=list)
    stream_history_events: int = 0
    stream_history_s: float = 0.0
    micro_history: Measured | None = None
    micro_empty: Measured | None = None
    micro_new_process_s: float = 0.0
    load_average: list[float] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SizeResult:
        measured = ("full", "floor", "incremental", "micro_history", "micro_empty")
        values: dict[str, Any] = {k: (Measured(**v) if k in measured and v is not None else v)
                                  for k, v in data.items()}
        return cls(**values)


@dataclass(frozen=True)
class ScaleOptions:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    days: int = DEFAULT_DAYS
    mix: dict[str, float] | None = None  # None: samples.bulk.DEFAULT_MIX
    workers: int = 2
    profile: bool = True
    increment_share: float = 0.01
    stream_history_share: float = 0.1
    stream_batch: int = STREAM_BATCH
    root: Path | None = None  # where the temporary lakes go (default: the system's temp dir)
    keep: bool = False
    parts: tuple[str, ...] = PARTS  # which measurements (the full run is always taken)

    def size_args(self, size: int, out: Path) -> list[str]:
        """The command line of one size's subprocess."""
        args = ["--size", str(size), "--days", str(self.days), "--workers", str(self.workers),
                "--increment-share", str(self.increment_share),
                "--stream-history-share", str(self.stream_history_share),
                "--stream-batch", str(self.stream_batch), "--out", str(out)]
        if self.mix:
            args += ["--mix", format_mix(self.mix)]
        if not self.profile:
            args.append("--no-profile")
        if self.parts != PARTS:
            args += ["--parts", ",".join(self.parts)]
        if self.root:
            args += ["--root", str(self.root)]
        if self.keep:
            args.append("--keep")
        return args

    def command(self, size: int) -> str:
        """The ``python -m bench`` command that reproduces one size's figures."""
        parts = [".venv/bin/python -m bench --sections scale", f"--scale {size}"]
        if self.days != DEFAULT_DAYS:
            parts.append(f"--scale-days {self.days}")
        if self.mix:
            parts.append(f"--scale-mix {format_mix(self.mix)}")
        if not self.profile:
            parts.append("--no-profile")
        if self.parts != PARTS:
            parts.append(f"--scale-parts {','.join(self.parts)}")
        if self.stream_history_share != 0.1:
            parts.append(f"--stream-history-share {self.stream_history_share}")
        return " ".join(parts)


def parse_parts(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown parts {sorted(unknown)}; known: {PARTS}")
    return parts


def format_mix(mix: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in mix.items())


def parse_mix(text: str) -> dict[str, float]:
    """``call_center=0.6,web_form=0.4`` -> shares (normalised to sum to 1)."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    mix = {k.strip(): float(v) for k, v in pairs}
    total = sum(mix.values())
    return {k: v / total for k, v in mix.items()}


# ------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------


def _cpu_seconds(me: psutil.Process) -> float:
    """CPU time of this process and its children (the Spark JVM and its Python workers)."""
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass  # ended between listing and reading
    return total


def measure(action: Callable[[], T]) -> tuple[T, Measured]:
    me = psutil.Process()
    cpu_before = _cpu_seconds(me)
    with MemorySampler(with_children=True) as memory:
        began = time.perf_counter()
        value = action()
        seconds = time.perf_counter() - began
    return value, Measured(seconds, _cpu_seconds(me) - cpu_before, memory.peak)


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def partition_folders(root: Path) -> int:
    """Leaf folders ``<a>=…/<b>=…`` holding Parquet files."""
    return len({p.parent for p in root.glob("*=*/*=*/*.parquet")})


# ------------------------------------------------------------------------------------------------
# Building the lake
# ------------------------------------------------------------------------------------------------


def needed_disk(size: int, stream_history_share: float) -> int:
    return int(size * (1 + stream_history_share) * BYTES_PER_RECORD * DISK_FACTOR)


def check_disk(folder: Path, needed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)  # --root names a folder that may not exist yet
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise SystemExit(f"not enough disk under {folder}: {free / 2**30:.1f} GiB free, "
                         f"about {needed / 2**30:.1f} GiB needed")


def landing_moment(day: date) -> datetime:
    """Each event day is landed the next day at 02:00 UTC."""
    return datetime(day.year, day.month, day.day, 2, tzinfo=UTC) + timedelta(days=1)


def land_day(settings: Settings, folder: Path, day: date, tag: str) -> None:
    """Land one generated day: files through the lander, export data files into the raw zone."""
    from jobs.landing import land_files
    from samples.bulk import FILE_PARTS, TABLE_PARTS, write_export

    at = landing_moment(day)
    for source in FILE_PARTS:
        if (folder / source).is_dir():
            land_files(replace(settings, inbox=folder), source, landed_at=at)
    for table in TABLE_PARTS:
        data = sorted((folder / table).glob("*.json.gz")) if (folder / table).is_dir() else []
        if data:
            write_export(settings, table, data, at, export_id=f"{tag}-{day:%Y%m%d}-{table}")
    shutil.rmtree(folder)  # the landed copy is the lake's; the generated one is no longer needed


def build_lake(settings: Settings, plan: Any, generated: Path, tag: str) -> tuple[Any, float]:
    from samples.bulk import generate_bulk

    summary = generate_bulk(plan, generated)
    began = time.perf_counter()
    for index in range(plan.days):
        folder = summary.day_folder(index)
        if folder.exists():
            land_day(settings, folder, plan.day(index), tag)
    return summary, time.perf_counter() - began


def raw_files(settings: Settings) -> list[Path]:
    from jobs.raw_zone import raw_files_of

    return [f for s in BATCH_SOURCES for f in raw_files_of(settings, s)]


def late_copies(settings: Settings, before: date, count: int, seed: int) -> list[bytes]:
    """``count`` call-centre lines landed in the 10 days before ``before``: copies that arrive
    again days later (the transform must count them as duplicates of what it already has)."""
    from jobs.raw_zone import raw_files_of

    recent = [f for f in raw_files_of(settings, "call_center")
              if any(f"ingest_date={before - timedelta(days=d):%Y-%m-%d}" in str(f)
                     for d in range(10))]
    if not recent or count <= 0:
        return []
    rng = random.Random(seed)
    lines = [line for f in recent for line in f.read_bytes().splitlines(keepends=True)]
    return [lines[rng.randrange(len(lines))] for _ in range(count)]


# ------------------------------------------------------------------------------------------------
# Spark parts
# ------------------------------------------------------------------------------------------------


def io_floor(spark: Any, settings: Settings, out: Path) -> None:
    """Read every raw file of the batch sources and write Parquet partitioned by (landing) date
    and source: what any transform of these files must at least spend."""
    from pyspark.sql import functions as F

    from jobs.raw_zone import raw_files_of
    from schemas.sources import WEB_FORM_COLUMNS

    for source in BATCH_SOURCES:
        files = [str(f) for f in raw_files_of(settings, source)]
        if not files:
            continue
        if source == "web_form":
            schema = ", ".join(f"`{c}` string" for c in WEB_FORM_COLUMNS)
            frame = spark.read.schema(schema).options(header=True, multiLine=True,
                                                      escape='"').csv(files)
        else:
            frame = spark.read.text(files)
        day = F.regexp_extract(F.col("_metadata.file_path"), INGEST_PARTITION_REGEX, 1)
        (frame.select("*", F.to_date(day).alias("event_date"), F.lit(source).alias("source"))
         .write.mode("append").partitionBy("event_date", "source").parquet(str(out)))


def stage_profile(spark: Any, settings: Settings, scratch: Path) -> dict[str, float]:
    """Each stage of the transform forced and cached in turn (see the module docstring)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from jobs.classify import load_rules
    from jobs.raw_files import inspect_raw_file
    from jobs.raw_zone import raw_files_of, read_json_lines, read_web_forms
    from jobs.transform import (
        dedupe_complaints,
        enrich_complaints,
        quarantine_records,
        stage_source,
        standardise_complaints,
    )
    from schemas.complaint import COMPLAINT, QUARANTINE

    files = {s: raw_files_of(settings, s) for s in BATCH_SOURCES}
    present = [s for s in BATCH_SOURCES if files[s]]

    def union(frames: Iterator[Any]) -> Any:
        first, *rest = list(frames)
        for frame in rest:
            first = first.unionByName(frame, allowMissingColumns=True)
        return first

    def raw(source: str) -> Any:
        if source == "web_form":
            return read_web_forms(spark, settings.lake, files[source])
        return read_json_lines(spark, settings.lake, files[source])

    stages: dict[str, float] = {}
    stages["read"] = timed(lambda: union(raw(s) for s in present)
                           .write.format("noop").mode("overwrite").save())
    # On disk: three cached frames of 1M+ rows do not fit the driver's 2 GB heap beside the work.
    level = StorageLevel.DISK_ONLY
    standardised = standardise_complaints(
        union(stage_source(spark, settings, s, [inspect_raw_file(p, s) for p in files[s]])
              for s in present)).persist(level)
    stages["parse + standardise"] = timed(standardised.count) - stages["read"]
    deduped = dedupe_complaints(standardised.where(F.col("reason").isNull()),
                                by_content=False).persist(level)
    stages["dedupe"] = timed(deduped.count)
    clean = enrich_complaints(deduped, load_rules(settings.rules), "profile").persist(level)
    stages["classify + enrich"] = timed(clean.count)
    stages["write clean"] = timed(lambda: clean.write.mode("overwrite").partitionBy(
        *COMPLAINT.partition_by).parquet(str(scratch / "clean")))
    stages["write quarantine"] = timed(lambda: quarantine_records(standardised, "profile")
                                       .write.mode("overwrite")
                                       .partitionBy(*QUARANTINE.partition_by)
                                       .parquet(str(scratch / "quarantine")))
    for frame in (clean, deduped, standardised):
        frame.unpersist()
    shutil.rmtree(scratch, ignore_errors=True)
    return stages


# ------------------------------------------------------------------------------------------------
# Stream micro-batch
# ------------------------------------------------------------------------------------------------


def sms_batches(count: int, seed: int, start: datetime, span: timedelta, first_sequence: int
                ) -> Iterator[list[Any]]:
    """SMS events (about 1% bad) as Kinesis records, ``STREAM_FILE_RECORDS`` per batch; event
    times spread evenly over ``span``; each arrives 2 s after it was sent."""
    from common.aws import StreamRecord
    from samples.producer import EventPlan, planned_events

    spacing = span / max(count, 1)
    plan = EventPlan(count=count, rate_per_s=1 / spacing.total_seconds(), seed=seed,
                     bad_fraction=0.01, start=start)
    batch: list[Any] = []
    for i, event in enumerate(planned_events("sms", plan, start=start, surge=None)):
        arrival = start + spacing * (i + 1) + timedelta(seconds=2)
        batch.append(StreamRecord(str(first_sequence + i), arrival, event.partition_key,
                                  event.data))
        if len(batch) == STREAM_FILE_RECORDS:
            yield batch
            batch = []
    if batch:
        yield batch


def land_sms(settings: Settings, batches: Iterator[list[Any]]) -> int:
    from streaming.consumer import land_batch

    stream = settings.stream_of("sms")
    landed = 0
    for n, batch in enumerate(batches):
        land_batch(settings.zones, "sms", stream, f"shardId-{n % 2:012d}", batch)
        landed += len(batch)
    return landed


# ------------------------------------------------------------------------------------------------
# One size
# ------------------------------------------------------------------------------------------------


def _counts(result: Any) -> list[dict[str, Any]]:
    return [asdict(c) for c in result.counts]


def run_size(size: int, options: ScaleOptions) -> SizeResult:
    """Everything measured for one size (this process owns the Spark session)."""
    from jobs.spark import spark_session
    from jobs.transform import run_transform
    from samples.bulk import DEFAULT_MIX, BulkPlan

    mix = options.mix or dict(DEFAULT_MIX)
    parent = options.root or Path(tempfile.gettempdir())
    check_disk(parent, needed_disk(size, options.stream_history_share))
    tmp = Path(tempfile.mkdtemp(prefix=f"complaints-scale-{size}-", dir=parent))
    result = SizeResult(size=size, mix=mix)
    try:
        settings = Settings(lake=tmp / "lake")
        plan = BulkPlan(records=size, days=options.days, start=START, mix=mix,
                        workers=options.workers)
        summary, result.landed_s = build_lake(settings, plan, tmp / "generated", "full")
        result.generated_s = summary.seconds
        result.raw_records = summary.records
        landed = raw_files(settings)
        result.raw_files = len(landed)
        result.raw_bytes = sum(f.stat().st_size for f in landed)

        spark = spark_session(settings.spark_master, app_name=f"complaints-scale-{size}")
        full, result.full = measure(lambda: run_transform(settings, sources=BATCH_SOURCES,
                                                          spark=spark))
        result.counts = _counts(full)
        result.clean_partitions = partition_folders(settings.zones.clean_complaints)
        if options.profile:
            result.stages = stage_profile(spark, settings, tmp / "profile")
        if "floor" in options.parts:
            _, result.floor = measure(lambda: io_floor(spark, settings, tmp / "floor"))
            result.floor_partitions = partition_folders(tmp / "floor")
            shutil.rmtree(tmp / "floor")
        if "incremental" in options.parts:
            incremental_run(spark, settings, tmp, size, options, result)
        if "stream" in options.parts:
            stream_micro_batches(spark, settings, tmp, size, options, result)
        spark.stop()
    finally:
        if not options.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result.load_average = list(os.getloadavg())
    return result


def incremental_run(spark: Any, settings: Settings, tmp: Path, size: int, options: ScaleOptions,
                    result: SizeResult) -> None:
    """+1% for one new event day, plus copies of lines landed days before; then a second run."""
    from jobs.transform import run_transform
    from samples.bulk import BulkPlan, generate_bulk

    mix = options.mix or result.mix
    new_day = START + timedelta(days=options.days)
    increment = BulkPlan(records=max(int(size * options.increment_share), 1), days=1,
                         start=new_day, seed=8, mix=mix, workers=1)
    copies = late_copies(settings, landing_moment(new_day).date(),
                         int(increment.records * 0.05), seed=9)
    generated = generate_bulk(increment, tmp / "increment")
    calls = next((generated.day_folder(0) / "call_center").glob("*.jsonl"), None)
    if calls is not None:
        with calls.open("ab") as f:
            f.write(b"".join(copies))
    land_day(settings, generated.day_folder(0), new_day, "increment")
    result.increment_records = generated.records + len(copies)
    incremental, result.incremental = measure(
        lambda: run_transform(settings, sources=BATCH_SOURCES, spark=spark))
    result.incremental_counts = _counts(incremental)


def stream_micro_batches(spark: Any, settings: Settings, tmp: Path, size: int,
                         options: ScaleOptions, result: SizeResult) -> None:
    from jobs.transform import run_transform
    from schemas.sources import STREAM_COMPLAINT_SOURCES

    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    history = int(size * options.stream_history_share)
    span = timedelta(days=options.days)
    result.stream_history_events = land_sms(
        settings, sms_batches(history, 11, start, span, 10**20))
    result.stream_history_s = timed(
        lambda: run_transform(settings, sources=STREAM_COMPLAINT_SOURCES, spark=spark))
    fresh_start = start + span + timedelta(days=1)

    def fresh() -> Iterator[list[Any]]:
        return sms_batches(options.stream_batch, 12, fresh_start, timedelta(minutes=15),
                           2 * 10**20)

    empty = Settings(lake=tmp / "empty-lake")
    land_sms(empty, fresh())
    _, result.micro_empty = measure(
        lambda: run_transform(empty, sources=STREAM_COMPLAINT_SOURCES, spark=spark))
    land_sms(settings, fresh())
    _, result.micro_history = measure(
        lambda: run_transform(settings, sources=STREAM_COMPLAINT_SOURCES, spark=spark))
    new_process = Settings(lake=tmp / "new-process-lake")
    land_sms(new_process, fresh())
    command = [str(Path(sys.executable).with_name("complaints")), "transform", "--sources",
               *STREAM_COMPLAINT_SOURCES]
    result.micro_new_process_s = timed(lambda: subprocess.run(
        command, check=True, cwd=REPO_ROOT, env={**os.environ, **new_process.to_env()},
        stdout=subprocess.DEVNULL))


# ------------------------------------------------------------------------------------------------
# The section: one subprocess per size, then the report
# ------------------------------------------------------------------------------------------------


def _ratio(a: Measured | None, b: Measured | None) -> float:
    return a.seconds / b.seconds if a and b and b.seconds else float("nan")


def _m(value: Measured | None) -> str:
    return f"{value.seconds:,.1f}" if value else "-"


def report_lines(results: Sequence[SizeResult], options: ScaleOptions) -> list[str]:
    lines = [
        "## Scale: full transform, I/O floor, incremental run, stream micro-batch",
        "",
        f"Machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        "shared with other jobs (load average over the last 1/5/15 minutes at the end of each "
        "size in the last column; absolute times vary, compare the ratios, measured side by "
        "side in one process).",
        "Method and input: see `bench/scale.py` (docstring). Times in seconds; CPU = this "
        "process + the Spark JVM; memory = peak resident set of both.",
        "",
        "| records | raw MiB / files | full s | CPU s | peak MiB | floor s | full/floor "
        "(<= 2.0) | +1% incr. s | incr./full (<= 15%) | stream 10k: history s | empty lake s "
        "| ratio (<= 2) | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        full = r.full
        lines.append(
            f"| {r.raw_records:,} | {r.raw_bytes / 2**20:,.0f} / {r.raw_files} | {_m(full)} | "
            f"{full.cpu_seconds if full else 0:,.0f} | {full.peak_rss / 2**20 if full else 0:,.0f}"
            f" | {_m(r.floor)} | **{_ratio(full, r.floor):.2f}x** | {_m(r.incremental)} | "
            f"**{_ratio(r.incremental, full):.0%}** | {_m(r.micro_history)} | {_m(r.micro_empty)}"
            f" | **{_ratio(r.micro_history, r.micro_empty):.2f}x** | "
            f"{'/'.join(f'{x:.1f}' for x in r.load_average)} |")
    lines += ["", "Per stage (profiling mode; see the docstring for how each is forced):", ""]
    stage_names = list(dict.fromkeys(k for r in results for k in r.stages))
    if stage_names:
        lines += ["| records | " + " | ".join(stage_names) + " | sum | full run |",
                  "| --- " * (len(stage_names) + 3) + "|"]
        for r in results:
            cells = " | ".join(f"{r.stages.get(k, 0):,.1f}" for k in stage_names)
            lines.append(f"| {r.raw_records:,} | {cells} | {sum(r.stages.values()):,.1f} | "
                         f"{_m(r.full)} |")
    lines += ["", "Details per size:", ""]
    for r in results:
        lines += _details(r, options)
    return lines


def _details(r: SizeResult, options: ScaleOptions) -> list[str]:
    counts = ", ".join(f"{c['source']} {c['records_in']:,} in / {c['clean']:,} clean / "
                       f"{c['quarantined']:,} quarantined / {c['duplicates']:,} duplicates"
                       for c in r.counts)
    incr = ", ".join(f"{c['source']} {c['records_in']:,} in" for c in r.incremental_counts)
    return [
        f"- **{r.size:,}** (`{options.command(r.size)}`): generated in {r.generated_s:,.0f} s, "
        f"landed in {r.landed_s:,.0f} s; mix {format_mix(r.mix)}. Full run: {counts}. "
        f"Partition folders: clean {r.clean_partitions}, floor {r.floor_partitions}. "
        f"Increment: {r.increment_records:,} raw records; that run read {incr}. "
        f"Stream: {r.stream_history_events:,} SMS events of history transformed in "
        f"{r.stream_history_s:,.1f} s before the 10,000-event micro-batch; that batch in a new "
        f"process (`complaints transform`, a new JVM as for each stream DAG run): "
        f"{r.micro_new_process_s:,.1f} s. CPU s: floor "
        f"{r.floor.cpu_seconds if r.floor else 0:,.0f}, incremental "
        f"{r.incremental.cpu_seconds if r.incremental else 0:,.0f}.",
    ]


def run_scale(options: ScaleOptions) -> list[str]:
    """Each size in its own process (a fresh JVM), then the report lines."""
    results = []
    with tempfile.TemporaryDirectory(prefix="complaints-scale-results-") as out:
        for size in options.sizes:
            target = Path(out) / f"{size}.json"
            command = [sys.executable, "-m", "bench.scale", *options.size_args(size, target)]
            print(f"scale {size:,}: {' '.join(command)}", flush=True)
            subprocess.run(command, check=True, cwd=REPO_ROOT)
            results.append(SizeResult.from_dict(json.loads(target.read_text())))
    return report_lines(results, options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one size of the scale benchmark")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mix", type=parse_mix, default=None)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--increment-share", type=float, default=0.01)
    parser.add_argument("--stream-history-share", type=float, default=0.1)
    parser.add_argument("--stream-batch", type=int, default=STREAM_BATCH)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--parts", default=",".join(PARTS))
    args = parser.parse_args(argv)
    options = ScaleOptions(sizes=(args.size,), days=args.days, mix=args.mix,
                           workers=args.workers, profile=not args.no_profile,
                           increment_share=args.increment_share,
                           stream_history_share=args.stream_history_share,
                           stream_batch=args.stream_batch, root=args.root, keep=args.keep,
                           parts=parse_parts(args.parts))
    result = run_size(args.size, options)
    args.out.write_text(json.dumps(asdict(result), indent=2))
    print(json.dumps(asdict(result), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
