"""``make bench``: batch transform throughput and memory, and the streaming figures.

Generates ``--days`` of sample inbox files (no DynamoDB), lands them, and times the Spark
transform of the file sources twice (cold: first run in a fresh JVM; warm: a rerun, which also
shows idempotence: the counts must match). Peak memory is the driver JVM's and this process's
resident set, sampled while the transform runs. Figures are printed and written to
``bench/report.md``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import psutil

from bench.memory import MemorySampler
from bench.streaming import streaming_section
from common.settings import REPO_ROOT, Settings
from jobs.landing import land_files
from jobs.spark import spark_session
from jobs.transform import run_transform
from samples.generate import generate

REPORT = REPO_ROOT / "bench" / "report.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--stream-events", type=int, default=60_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="complaints-bench-") as tmp:
        settings = Settings(lake=Path(tmp) / "lake")
        began = time.perf_counter()
        summary = generate(settings, days=args.days, start=date(2026, 10, 1), load_dynamodb=False)
        generated_s = time.perf_counter() - began
        raw_bytes = sum(f.stat().st_size for f in summary.files)
        for source in ("call_center", "web_form"):
            land_files(settings, source)
        records = sum(summary.records.values())
        sources = ("call_center", "web_form")
        rows = []
        with MemorySampler(with_children=True) as memory:
            spark = spark_session(settings.spark_master, app_name="complaints-bench")
            for label in ("cold", "warm (rerun)"):
                began = time.perf_counter()
                result = run_transform(settings, sources=sources, spark=spark)
                seconds = time.perf_counter() - began
                rows.append((label, seconds, result))
            spark.stop()
        stream_lines = streaming_section(Settings(lake=Path(tmp) / "stream-lake"),
                                         events=args.stream_events)
    lines = [
        "# Benchmark report",
        "",
        "## Batch transform (call logs + web forms)",
        "",
        f"Machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"Spark `{settings.spark_master}`.",
        f"Input: {args.days} days generated in {generated_s:.1f} s: {records:,} raw records, "
        f"{raw_bytes / 2**20:.1f} MiB in {len(summary.files)} files (call logs + web forms).",
        "",
        "| transform run | seconds | records/s | MiB/s | clean | quarantined | duplicates |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, seconds, result in rows:
        clean = sum(c.clean for c in result.counts)
        bad = sum(c.quarantined for c in result.counts)
        dups = sum(c.duplicates for c in result.counts)
        lines.append(f"| {label} | {seconds:.1f} | {records / seconds:,.0f} | "
                     f"{raw_bytes / 2**20 / seconds:.2f} | {clean:,} | {bad:,} | {dups:,} |")
    same = [c for c in rows[0][2].counts] == [c for c in rows[1][2].counts]
    lines += [
        "",
        f"Peak resident memory (Python driver + Spark JVM): {memory.peak / 2**20:,.0f} MiB.",
        f"Rerun gives the same counts: {'yes' if same else 'NO'}.",
        "",
        *stream_lines,
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    REPORT.write_text(report)
    print(f"written to {REPORT}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
