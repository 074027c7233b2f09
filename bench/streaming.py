"""Streaming benchmark: consumer throughput and memory, file sizes and landing latency with and
without buffering at a steady rate, and end-to-end freshness.

Against the local emulator (moto server over HTTP), so throughput is the emulator's and one
process's, not AWS's; Kinesis's own limits are printed beside it for scale.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds

from bench.memory import MemorySampler
from common.aws import Kinesis
from common.settings import Settings
from complaints.emulator import moto_server
from jobs.spark import spark_session
from jobs.transform import run_transform
from samples.producer import EventPlan, SendOptions, produce
from streaming.consumer import ConsumerEvent, ConsumerOptions, consume

FRESHNESS_BUFFER_S = 5.0
KINESIS_LIMITS = ("Kinesis per shard: 2 MB/s and 5 GetRecords calls/s read, "
                  "1 MB/s or 1,000 records/s write")


def _visible_ids(settings: Settings, source: str) -> set[str]:
    root = settings.zones.clean_complaints
    if not root.exists():
        return set()
    dataset = ds.dataset(str(root), partitioning="hive", format="parquet")
    table = dataset.to_table(columns=["source_record_id"],
                             filter=ds.field("source") == source)
    return {str(v) for v in table.column("source_record_id").to_pylist()}


def throughput(settings: Settings, events: int) -> list[str]:
    sent = produce(settings, "sms", EventPlan(rate_per_s=math.inf, count=events),
                   SendOptions(keep_ids=False))
    with MemorySampler(interval_s=0.05) as rss:
        began = time.perf_counter()
        stats = consume(settings, "sms", worker_id="bench",
                        options=ConsumerOptions(idle_exit_s=1.0))
        seconds = time.perf_counter() - began - 1.0  # minus the idle wait that ends the run
    raw_bytes = sum(p.stat().st_size for p in (settings.zones.raw / "sms").rglob("*.jsonl"))
    first, peak, last = rss.samples[0], max(rss.samples), rss.samples[-1]
    return [
        "## Streaming: consumer throughput (one process, 2 shards, emulator)",
        "",
        f"{sent.sent:,} SMS events produced, then consumed: {stats.records_landed:,} records in "
        f"{stats.files_written} files in {seconds:.1f} s = "
        f"**{stats.records_landed / seconds:,.0f} records/s, "
        f"{raw_bytes / 2**20 / seconds:.2f} MiB/s** (raw landing bytes, base64 included).",
        f"{KINESIS_LIMITS}.",
        f"Consumer process memory: {first / 2**20:,.0f} MiB at start, "
        f"peak {peak / 2**20:,.0f} MiB, {last / 2**20:,.0f} MiB at the end "
        f"({len(rss.samples)} samples).",
        "",
    ]


def _ensure_stream(settings: Settings, stream: str, shards: int = 2) -> None:
    kinesis = Kinesis(settings)
    if stream not in kinesis.stream_names():
        kinesis.create_stream(stream, shards)


@dataclass
class Landings:
    """batch_landed events of one consumer (files landed while the producer ran, and after)."""

    events: list[ConsumerEvent] = field(default_factory=list)
    steady_until_ms: int = 0

    def __call__(self, event: ConsumerEvent) -> None:
        if event.kind == "batch_landed":
            self.events.append(event)

    def steady(self) -> list[ConsumerEvent]:
        """Files landed by a size or an age while records flowed (not the flush on stop)."""
        return [e for e in self.events if e.at_ms <= self.steady_until_ms]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def _landing_latencies(events: list[ConsumerEvent]) -> list[float]:
    """Seconds from each record's arrival in Kinesis (put) to its file's landing."""
    latencies = []
    for event in events:
        for line in Path(event.detail["path"]).read_text().splitlines():
            arrival = datetime.fromisoformat(json.loads(line)["approximate_arrival"])
            latencies.append(event.at_ms / 1000 - arrival.timestamp())
    return latencies


def buffering(settings: Settings, rate: float, seconds: float) -> list[str]:
    """One stream at a steady ``rate``, read at once by a consumer with the default buffering
    hints and by one landing every read (each into its own lake, with its own lease table)."""
    stream = "complaints-bench-steady"
    variants = {"default hints (5 MiB / 60 s)": ConsumerOptions(),
                "unbuffered (--buffer-seconds 0)": ConsumerOptions(buffer_seconds=0)}
    stop = threading.Event()
    runs: list[tuple[str, Landings, threading.Thread]] = []
    streams = {**settings.streams, "sms": stream}
    for n, (name, options) in enumerate(variants.items()):
        lake = replace(settings, lake=settings.lake / f"steady-{n}", streams=streams)
        landings = Landings()
        thread = threading.Thread(target=consume, args=(lake, "sms"), kwargs={
            "worker_id": f"steady-{n}", "stop": stop, "on_event": landings,
            "options": replace(options, lease_table=f"bench-steady-{n}")}, daemon=True)
        runs.append((name, landings, thread))
    _ensure_stream(settings, stream)
    for _, _, thread in runs:
        thread.start()
    sent = produce(replace(settings, streams=streams), "sms",
                   EventPlan(rate_per_s=rate, duration_s=seconds), SendOptions(keep_ids=False))
    steady_until = int(time.time() * 1000)
    time.sleep(1.0)
    stop.set()
    for _, landings, thread in runs:
        landings.steady_until_ms = steady_until
        thread.join(timeout=60)
    lines = [
        f"## Streaming: buffering at a steady rate ({rate:.0f} events/s for {seconds:.0f} s, "
        "2 shards, emulator)",
        "",
        f"{sent.sent:,} SMS events put at a steady rate; two consumers read the same stream at "
        "once (each into its own lake). Files and latency count the files landed while events "
        "flowed (by size or age), not the flush on stop.",
        "",
        "| consumer | files (steady) | records per file | files per minute | "
        "put->landed p50 | p95 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, landings, _ in runs:
        steady = landings.steady()
        records = sum(e.detail["records"] for e in steady)
        latencies = _landing_latencies(steady)
        lines.append(
            f"| {name} | {len(steady)} | {records / max(len(steady), 1):,.0f} | "
            f"{len(steady) / (seconds / 60):,.1f} | {_percentile(latencies, 0.5):.1f} s | "
            f"{_percentile(latencies, 0.95):.1f} s |")
    per_day = rate * 86_400
    lines += [
        "",
        f"At this rate a day is {per_day:,.0f} events: with the default hints about "
        f"{2 * 1440:,} files a day on 2 shards (one per shard per minute while under 5 MiB), "
        "instead of one per read. Freshness in `complaints` = micro-batch interval + buffer age "
        "(at most `--buffer-seconds`).",
        "",
    ]
    return lines


def freshness(settings: Settings, batches: int, per_batch: int) -> list[str]:
    """Put ``per_batch`` social events every few seconds while a consumer runs and micro-batches
    of the transform follow back to back; freshness = first time an event is visible in clean."""
    stop = threading.Event()
    _ensure_stream(settings, settings.stream_of("social"))  # before the consumer lists shards
    consumer = threading.Thread(
        target=consume, args=(settings, "social"),
        kwargs={"worker_id": "fresh", "stop": stop,
                "options": ConsumerOptions(buffer_seconds=FRESHNESS_BUFFER_S)}, daemon=True)
    consumer.start()
    put_at: dict[str, float] = {}

    def producer() -> None:
        for k in range(batches):
            stats = produce(settings, "social", EventPlan(rate_per_s=math.inf, count=per_batch,
                                                          seed=100 + k, start=datetime.now(UTC)))
            now = time.monotonic()
            put_at.update(dict.fromkeys(stats.event_ids or [], now))
            time.sleep(5)

    feeder = threading.Thread(target=producer, daemon=True)
    feeder.start()
    spark = spark_session(settings.spark_master, app_name="complaints-bench-stream")
    latencies: dict[str, float] = {}
    micro_batches = []
    deadline = time.monotonic() + 300
    quiet_runs = 0  # micro-batches after the last burst that made nothing new visible
    while quiet_runs < 2 and time.monotonic() < deadline:
        began = time.monotonic()
        run_transform(settings, sources=("social",), spark=spark)
        micro_batches.append(time.monotonic() - began)
        now = time.monotonic()
        fresh = {i for i in _visible_ids(settings, "social") if i in put_at} - latencies.keys()
        for event_id in fresh:
            latencies[event_id] = now - put_at[event_id]
        quiet_runs = 0 if fresh or feeder.is_alive() else quiet_runs + 1
    stop.set()
    consumer.join(timeout=30)
    values = sorted(latencies.values())
    p95 = values[max(0, math.ceil(0.95 * len(values)) - 1)] if values else float("nan")
    return [
        "## Streaming: end-to-end freshness (put_records -> visible in `complaints`)",
        "",
        f"{len(put_at)} social events in {batches} bursts 5 s apart; consumer running "
        f"(`--buffer-seconds {FRESHNESS_BUFFER_S:g}`, so each burst waits up to that long); "
        f"transform micro-batches back to back ({len(micro_batches)} runs, median "
        f"{statistics.median(micro_batches):.1f} s each).",
        f"Visible: {len(values)} of {len(put_at)} (the others are brand replies, quarantined "
        f"as outbound by design); freshness "
        f"p50 **{statistics.median(values):.1f} s**, p95 **{p95:.1f} s** "
        "(micro-batch run time + buffer age at this scale).",
        "",
    ]


def streaming_section(settings: Settings, events: int = 60_000) -> list[str]:
    with moto_server() as endpoint:
        local = replace(settings, aws_endpoint_url=endpoint)
        return (throughput(local, events) + buffering(local, rate=200, seconds=65)
                + freshness(local, batches=6, per_batch=50))
