"""``make bench``: batch transform throughput and memory, the streaming figures, and scale.

Sections (``--sections``, default all of them):

* ``batch``: generates ``--days`` of sample inbox files (no DynamoDB), lands them, and times the
  Spark transform of the file sources twice (cold: first run in a fresh JVM; warm: a rerun, which
  also shows idempotence: the counts must match). Peak memory is the driver JVM's and this
  process's resident set, sampled while the transform runs.
* ``streaming``: consumer throughput, buffering at a steady rate (files, records per file,
  put-to-landed latency, default hints vs unbuffered) and put-to-visible freshness
  (``bench/streaming.py``).
* ``warehouse``: analyst queries (30-day counts, one customer's history, one day's drill-down) on
  the DuckDB warehouse over ``--warehouse-rows`` synthetic clean complaints, with and without
  partition pruning, and the data scientists' loader (``bench/warehouse.py``; ``--warehouse-rows
  10000000`` for the issue's figures).
* ``surges``: precision, recall and delay of surge detection on generated history with planted
  surges, batch and streaming paths, and one detection run over a big history (``--surge-rows``,
  default 1M so that ``make bench`` stays quick; 10M for the issue's figure; ``bench/surges.py``).
* ``customer_links``: link rate per source, precision and recall of the customer links against
  the generator's truth, and planted hard cases (``bench/customer_links.py``; ``--links-days``,
  ``--links-events``).
* ``complaint_cases``: precision and recall of the cases across channels (exact and near /
  cross-channel pairs) against planted cases, and a threshold sweep (``bench/complaint_cases.py``;
  ``--cases-days``, ``--cases-planted``).
* ``operational``: an operational table from a full export and incremental exports (upserts,
  deletes, malformed lines): time, counts, and whether the table equals the state applied change by
  change (``bench/operational.py``; ``--ops-items``, ``--ops-exports``, ``--ops-changes``).
* ``scale``: full transform vs the Spark I/O floor, an incremental run, a stream micro-batch with
  and without history, per-stage timings, at each size of ``--scale`` (``bench/scale.py``; the
  default size is small so that ``make bench`` stays quick: ``--scale 1000000,10000000`` for the
  issue's figures).

Figures are printed and written to ``bench/report.md``; a section that was not run this time keeps
its text from the previous report.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from datetime import date
from pathlib import Path

import psutil

from bench.complaint_cases import complaint_cases_section
from bench.customer_links import customer_links_section
from bench.memory import MemorySampler
from bench.operational import operational_section
from bench.scale import (
    DEFAULT_DAYS,
    DEFAULT_SIZES,
    PARTS,
    ScaleOptions,
    parse_mix,
    parse_parts,
    run_scale,
)
from bench.streaming import streaming_section
from bench.surges import surges_section
from bench.warehouse import warehouse_section
from common.settings import REPO_ROOT, Settings

REPORT = REPO_ROOT / "bench" / "report.md"
SECTIONS = ("batch", "streaming", "scale", "warehouse", "surges", "customer_links",
            "complaint_cases", "operational")


def batch_section(days: int) -> tuple[list[str], bool]:
    from jobs.landing import land_files
    from jobs.spark import spark_session
    from jobs.transform import run_transform
    from samples.generate import generate

    with tempfile.TemporaryDirectory(prefix="complaints-bench-") as tmp:
        settings = Settings(lake=Path(tmp) / "lake")
        began = time.perf_counter()
        summary = generate(settings, days=days, start=date(2026, 10, 1), load_dynamodb=False)
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
    lines = [
        "## Batch transform (call logs + web forms)",
        "",
        f"Machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"Spark `{settings.spark_master}`.",
        f"Input: {days} days generated in {generated_s:.1f} s: {records:,} raw records, "
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
    same = list(rows[0][2].counts) == list(rows[1][2].counts)
    lines += [
        "",
        f"Peak resident memory (Python driver + Spark JVM): {memory.peak / 2**20:,.0f} MiB.",
        f"Rerun gives the same counts: {'yes' if same else 'NO'}.",
        "",
    ]
    return lines, same


def earlier_sections(report: Path) -> dict[str, str]:
    """The sections of the previous report, by name (empty when there is none)."""
    if not report.exists():
        return {}
    found = re.findall(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->", report.read_text(),
                       flags=re.S)
    return dict(found)


def write_report(report: Path, fresh: dict[str, list[str]]) -> str:
    sections = earlier_sections(report)
    sections.update({name: "\n".join(lines) + "\n" for name, lines in fresh.items()})
    parts = ["# Benchmark report", ""]
    for name in SECTIONS:
        if name in sections:
            parts += [f"<!-- bench:{name} -->", sections[name].rstrip("\n"),
                      f"<!-- /bench:{name} -->", ""]
    text = "\n".join(parts)
    report.write_text(text)
    return text


def parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(s.replace("_", "")) for s in text.split(",") if s.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--days", type=int, default=30, help="batch: days of sample data")
    parser.add_argument("--stream-events", type=int, default=60_000)
    parser.add_argument("--scale", type=parse_sizes, default=DEFAULT_SIZES,
                        help="scale: comma-separated raw record counts, e.g. 1000000,10000000")
    parser.add_argument("--scale-days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--scale-mix", type=parse_mix, default=None,
                        help="scale: shares by source, e.g. call_center=1 (default: every "
                             "batch source, see samples/bulk.py)")
    parser.add_argument("--scale-parts", type=parse_parts, default=PARTS,
                        help=f"scale: which of {', '.join(PARTS)} besides the full run")
    parser.add_argument("--no-profile", action="store_true", help="scale: no per-stage timings")
    parser.add_argument("--stream-history-share", type=float, default=0.1,
                        help="scale: SMS events of history, as a share of the size")
    parser.add_argument("--scale-root", type=Path, default=None,
                        help="scale: where the temporary lakes go (needs disk: checked first)")
    parser.add_argument("--keep", action="store_true", help="scale: keep the temporary lakes")
    parser.add_argument("--warehouse-rows", type=lambda t: int(t.replace("_", "")),
                        default=1_000_000, help="warehouse: clean complaints in the lake")
    parser.add_argument("--warehouse-days", type=int, default=60,
                        help="warehouse: days the complaints span")
    parser.add_argument("--warehouse-repeats", type=int, default=7,
                        help="warehouse: runs of each query (p50, p95 over them)")
    parser.add_argument("--surge-count", type=int, default=30, help="surges: surges planted")
    parser.add_argument("--surge-seed", type=int, default=21,
                        help="surges: seed of the planted surges and of the planted history "
                             "(the quiet history: seed + 1)")
    parser.add_argument("--surge-stream", type=int, default=12,
                        help="surges: surges followed by 15-minute runs")
    parser.add_argument("--surge-rows", type=int, default=1_000_000,
                        help="surges: rows of the history one detection run is timed on (0: no; "
                             "10000000 for the issue's figure)")
    parser.add_argument("--links-days", type=int, default=3,
                        help="customer_links: days of generated batch channels")
    parser.add_argument("--links-events", type=int, default=1500,
                        help="customer_links: SMS and social events (each)")
    parser.add_argument("--cases-days", type=int, default=7,
                        help="complaint_cases: days of generated channels")
    parser.add_argument("--cases-planted", type=int, default=200,
                        help="complaint_cases: planted cases")
    parser.add_argument("--ops-items", type=lambda t: int(t.replace("_", "")), default=200_000,
                        help="operational: items in the full export")
    parser.add_argument("--ops-exports", type=int, default=3,
                        help="operational: incremental exports")
    parser.add_argument("--ops-changes", type=lambda t: int(t.replace("_", "")), default=20_000,
                        help="operational: changes per incremental export")
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {SECTIONS}")

    fresh: dict[str, list[str]] = {}
    ok = True
    if "batch" in sections:
        fresh["batch"], ok = batch_section(args.days)
    if "streaming" in sections:
        with tempfile.TemporaryDirectory(prefix="complaints-bench-stream-") as tmp:
            fresh["streaming"] = streaming_section(Settings(lake=Path(tmp) / "stream-lake"),
                                                   events=args.stream_events)
    if "scale" in sections:
        fresh["scale"] = run_scale(ScaleOptions(
            sizes=args.scale, days=args.scale_days, mix=args.scale_mix, parts=args.scale_parts,
            profile=not args.no_profile, stream_history_share=args.stream_history_share,
            root=args.scale_root, keep=args.keep))
    if "warehouse" in sections:
        fresh["warehouse"] = warehouse_section(args.warehouse_rows, args.warehouse_days,
                                               args.warehouse_repeats, args.scale_root)
    if "surges" in sections:
        fresh["surges"] = surges_section(args.surge_count, seed=args.surge_seed,
                                         stream_surges=args.surge_stream,
                                         big_rows=args.surge_rows)
    if "customer_links" in sections:
        fresh["customer_links"] = customer_links_section(args.links_days, args.links_events)
    if "complaint_cases" in sections:
        fresh["complaint_cases"] = complaint_cases_section(args.cases_days, args.links_events,
                                                           args.cases_planted)
    if "operational" in sections:
        fresh["operational"] = operational_section(args.ops_items, args.ops_exports,
                                                   args.ops_changes)
    print(write_report(REPORT, fresh))
    print(f"written to {REPORT}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
