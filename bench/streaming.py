"""Streaming benchmark: consumer throughput and memory, and end-to-end freshness.

Against the local emulator (moto server over HTTP), so throughput is the emulator's and one
process's, not AWS's; Kinesis's own limits are printed beside it for scale.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import pyarrow.dataset as ds

from bench.memory import MemorySampler
from common.settings import Settings
from complaints.emulator import moto_server
from jobs.spark import spark_session
from jobs.transform import run_transform
from samples.producer import EventPlan, SendOptions, produce
from streaming.consumer import ConsumerOptions, consume

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


def freshness(settings: Settings, batches: int, per_batch: int) -> list[str]:
    """Put ``per_batch`` social events every few seconds while a consumer runs and micro-batches
    of the transform follow back to back; freshness = first time an event is visible in clean."""
    stop = threading.Event()
    consumer = threading.Thread(
        target=consume, args=(settings, "social"),
        kwargs={"worker_id": "fresh", "stop": stop}, daemon=True)
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
        f"{len(put_at)} social events in {batches} bursts 5 s apart; consumer running; "
        f"transform micro-batches back to back ({len(micro_batches)} runs, median "
        f"{statistics.median(micro_batches):.1f} s each).",
        f"Visible: {len(values)} of {len(put_at)} (the others are brand replies, quarantined "
        f"as outbound by design); freshness "
        f"p50 **{statistics.median(values):.1f} s**, p95 **{p95:.1f} s** "
        f"(bounded by the transform's run time at this scale).",
        "",
    ]


def streaming_section(settings: Settings, events: int = 60_000) -> list[str]:
    with moto_server() as endpoint:
        local = replace(settings, aws_endpoint_url=endpoint)
        return throughput(local, events) + freshness(local, batches=6, per_batch=50)
