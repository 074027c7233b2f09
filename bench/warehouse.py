"""Warehouse benchmark: typical analyst queries over N clean complaints (issue 9, "Benchmark").

1. **Lake.** N synthetic clean complaints are written straight into the clean layout
   (``clean/complaints/event_date=…/source=…/*.parquet``, every ``COMPLAINT`` column) by DuckDB's
   ``COPY … PARTITION_BY``: no raw zone and no Spark (the transform has its own benchmark,
   ``scale``). ``--warehouse-days`` days (default 60) x 7 sources; 1,000,000 customers (80% of
   complaints name one); categories, regions and severities drawn with fixed weights.
2. **Warehouse.** ``refresh_warehouse`` builds the views; every query runs through a read-only
   connection on the ``complaints`` view, as ``complaints sql`` does.
3. **Queries**, each with partition pruning (a filter on the partition columns ``event_date`` /
   ``source``) and without (the same rows chosen by ``event_time``, which is not a partition
   column, so every file is opened):

   * 30-day counts by category and region;
   * one customer's history (without a date bound no pruning is possible; "pruned" bounds it to
     the last 30 days);
   * one day's surge drill-down: hourly counts of network complaints in the South per source.

   Each query runs ``--warehouse-repeats`` times (default 7; the first run is included: files
   are in the OS cache after the lake was written, as on a warehouse in use); p50 and p95 are
   over those runs. Files read come from DuckDB's profiler (``Total Files Read`` of the Parquet
   scans) on one more run.
4. **Loader**: ``warehouse.loader.load_complaints`` for the last 30 days, three columns, as Arrow:
   time and the files it opens (from folder names).
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb  # noqa: TID253 - not a DAG file
import psutil

from common.settings import Settings
from schemas.sources import COMPLAINT_SOURCES

DEFAULT_ROWS = 1_000_000
DEFAULT_DAYS = 60
LAST_DAY = date(2026, 11, 30)
CUSTOMERS = 1_000_000
WRITE_MEMORY = "2GB"

_CATEGORIES = "['network', 'network', 'billing', 'billing', 'billing', 'service', 'device', " \
              "'privacy_fraud', 'other']"
_REGIONS = "['South', 'South', 'West', 'Midwest', 'Northeast', NULL]"
_TEXTS = ("['no internet since this morning', 'charged twice on my bill', "
          "'technician never showed up', 'phone keeps dropping calls', "
          "'someone opened an account in my name', 'fiber outage again in my street', "
          "'router replacement still not shipped', 'agent was rude on the phone']")


def _clean_sql(rows: int, days: int, root: Path) -> str:
    """DuckDB ``COPY`` writing ``rows`` clean complaints over ``days`` days ending ``LAST_DAY``."""
    first = LAST_DAY - timedelta(days=days - 1)
    sources = "[" + ", ".join(f"'{s}'" for s in COMPLAINT_SOURCES) + "]"
    return f"""
COPY (
  SELECT md5(i::VARCHAR) AS complaint_id, {sources}[1 + i % {len(COMPLAINT_SOURCES)}] AS source,
    'rec-' || i AS source_record_id,
    CASE WHEN i % 5 <> 0 THEN printf('CUST-%07d', hash(i) % {CUSTOMERS}) END AS customer_id,
    CASE WHEN i % 3 = 0 THEN 'case-' || i END AS case_id,
    ts AS event_time, ts + INTERVAL 1 HOUR AS ingest_time,
    ts + INTERVAL 1 HOUR AS first_ingest_time,
    {_TEXTS}[1 + CAST(hash(i, 1) % 8 AS BIGINT)] AS text, category,
    category || '_detail' AS subcategory,
    ['P1', 'P2', 'P2', 'P3'][1 + CAST(hash(i, 2) % 4 AS BIGINT)] AS severity,
    ['negative', 'negative', 'neutral', 'positive'][1 + CAST(hash(i, 3) % 4 AS BIGINT)]
      AS sentiment,
    region, CASE WHEN region IS NOT NULL THEN 'TX' END AS state, 'Austin' AS location,
    1::INTEGER AS duplicate_count, '2026.11' AS taxonomy_version,
    CAST([] AS VARCHAR[]) AS quality_flags, 'raw/bench/file.jsonl' AS raw_file,
    i AS raw_line, 'run-bench' AS run_id, CAST(ts AS DATE) AS event_date
  FROM (
    SELECT i, TIMESTAMPTZ '{first} 00:00:00+00'
              + to_microseconds(CAST(hash(i, 0) % {days * 86_400_000_000} AS BIGINT)) AS ts,
           {_CATEGORIES}[1 + CAST(hash(i, 4) % 9 AS BIGINT)] AS category,
           {_REGIONS}[1 + CAST(hash(i, 5) % 6 AS BIGINT)] AS region
    FROM range({rows}) t(i)
  )
) TO '{root}' (FORMAT parquet, PARTITION_BY (event_date, source), OVERWRITE_OR_IGNORE)"""


def write_clean_lake(settings: Settings, rows: int, days: int) -> float:
    """Write the synthetic clean complaints; return the seconds it took."""
    root = settings.zones.clean_complaints
    root.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        # Bounded memory on a shared machine: DuckDB then flushes partitions as it goes (a
        # partition may get more than one file, as with Spark's tasks).
        conn.execute(f"SET memory_limit = '{WRITE_MEMORY}'")
        conn.execute("SET preserve_insertion_order = false")
        conn.execute(_clean_sql(rows, days, root))
    finally:
        conn.close()
    return time.perf_counter() - began


@dataclass(frozen=True)
class Query:
    name: str
    pruned: str
    unpruned: str


def analyst_queries(customer: str, last_day: date = LAST_DAY) -> list[Query]:
    start = last_day - timedelta(days=29)
    end_ts = last_day + timedelta(days=1)
    return [
        Query("30-day counts by category and region",
              "SELECT category, region, count(*) FROM complaints "
              f"WHERE event_date BETWEEN DATE '{start}' AND DATE '{last_day}' GROUP BY ALL",
              "SELECT category, region, count(*) FROM complaints "
              f"WHERE event_time >= TIMESTAMPTZ '{start} 00:00:00+00' "
              f"AND event_time < TIMESTAMPTZ '{end_ts} 00:00:00+00' GROUP BY ALL"),
        Query("one customer's history",
              f"SELECT * FROM complaints WHERE customer_id = '{customer}' "
              f"AND event_date >= DATE '{start}' ORDER BY event_time",
              f"SELECT * FROM complaints WHERE customer_id = '{customer}' ORDER BY event_time"),
        Query("one day's surge drill-down",
              "SELECT date_trunc('hour', event_time) AS hour, source, count(*) FROM complaints "
              f"WHERE event_date = DATE '{last_day}' AND category = 'network' "
              "AND region = 'South' GROUP BY ALL ORDER BY 1, 2",
              "SELECT date_trunc('hour', event_time) AS hour, source, count(*) FROM complaints "
              f"WHERE event_time >= TIMESTAMPTZ '{last_day} 00:00:00+00' "
              f"AND event_time < TIMESTAMPTZ '{end_ts} 00:00:00+00' AND category = 'network' "
              "AND region = 'South' GROUP BY ALL ORDER BY 1, 2"),
    ]


@dataclass(frozen=True)
class Measure:
    p50_ms: float
    p95_ms: float
    files_read: int
    rows: int


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _scans(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node["extra_info"]] if node.get("type") == "TABLE_SCAN" else []
    for child in node.get("children", []):
        found += _scans(child)
    return found


def _files_read(conn: duckdb.DuckDBPyConnection, sql: str, out: Path) -> int:
    """Parquet files one run of ``sql`` opened (DuckDB's profiler: ``Total Files Read``)."""
    conn.execute("PRAGMA enable_profiling = 'json'")
    conn.execute(f"PRAGMA profiling_output = '{out}'")
    conn.execute(sql).fetchall()
    conn.execute("PRAGMA disable_profiling")
    profile = json.loads(out.read_text())
    scans = [s for op in profile.get("operator", []) for s in _scans(op)]
    return sum(int(s.get("Total Files Read", 0)) for s in scans)


def measure(conn: duckdb.DuckDBPyConnection, sql: str, repeats: int, scratch: Path) -> Measure:
    seconds, rows = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        rows = len(conn.execute(sql).fetchall())
        seconds.append(time.perf_counter() - began)
    return Measure(p50_ms=1000 * statistics.median(seconds),
                   p95_ms=1000 * _percentile(seconds, 0.95),
                   files_read=_files_read(conn, sql, scratch / "profile.json"), rows=rows)


def _loader_line(settings: Settings, repeats: int) -> str:
    from warehouse.loader import complaint_files, load_complaints

    start = LAST_DAY - timedelta(days=29)
    columns = ["event_time", "category", "region"]
    seconds = []
    rows = 0
    for _ in range(repeats):
        began = time.perf_counter()
        rows = load_complaints(start, LAST_DAY, columns=columns, as_="arrow",
                               lake=settings.lake).num_rows
        seconds.append(time.perf_counter() - began)
    files = len(complaint_files(settings.zones.clean_complaints, start, LAST_DAY))
    return (f"| loader: `load_complaints` last 30 days, 3 columns, Arrow | "
            f"{1000 * statistics.median(seconds):,.0f} | {1000 * _percentile(seconds, 0.95):,.0f} "
            f"| {files} | {rows:,} |")


def _query_lines(settings: Settings, repeats: int, scratch: Path) -> list[str]:
    from warehouse.duckdb_warehouse import open_readonly

    lines = []
    conn = open_readonly(settings)
    try:
        # A customer who complained on the last day (a history that exists at any size).
        row = conn.execute("SELECT min(customer_id) FROM complaints "
                           f"WHERE event_date = DATE '{LAST_DAY}'").fetchone()
        for query in analyst_queries(str(row[0]) if row else "CUST-0000000"):
            for label, sql in (("pruned", query.pruned), ("not pruned", query.unpruned)):
                m = measure(conn, sql, repeats, scratch)
                lines.append(f"| {query.name}, {label} | {m.p50_ms:,.0f} | {m.p95_ms:,.0f} | "
                             f"{m.files_read} | {m.rows:,} |")
    finally:
        conn.close()
    return lines


def warehouse_section(rows: int = DEFAULT_ROWS, days: int = DEFAULT_DAYS, repeats: int = 7,
                      root: Path | None = None) -> list[str]:
    """Build the lake, run the queries, return the report lines."""
    from warehouse.duckdb_warehouse import refresh_warehouse

    with tempfile.TemporaryDirectory(prefix="complaints-bench-warehouse-", dir=root) as tmp:
        settings = Settings(lake=Path(tmp) / "lake")
        print(f"warehouse: writing {rows:,} clean complaints over {days} days", flush=True)
        write_s = write_clean_lake(settings, rows, days)
        files = list(settings.zones.clean_complaints.glob("*/*/[!._]*.parquet"))
        mib = sum(f.stat().st_size for f in files) / 2**20
        refresh_warehouse(settings)
        lines = _query_lines(settings, repeats, Path(tmp))
        lines.append(_loader_line(settings, repeats))
    load = psutil.getloadavg()[0]
    return [
        "## Warehouse queries (DuckDB views over the clean Parquet)",
        "",
        f"Machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"load average {load:.1f} at the end (other work shares the cores). "
        f"Lake: {rows:,} synthetic clean complaints over {days} days x "
        f"{len(COMPLAINT_SOURCES)} sources, {len(files)} Parquet files, {mib:,.0f} MiB, written "
        f"by DuckDB in {write_s:.1f} s (`bench/warehouse.py`).",
        f"Each query {repeats} times on a read-only connection (`complaints` view); files read "
        f"(of {len(files)}) from DuckDB's profiler. \"Not pruned\": the same rows chosen by "
        "`event_time` (not a partition column). Command: `python -m bench --sections warehouse "
        f"--warehouse-rows {rows}`.",
        "",
        "| query | p50 ms | p95 ms | files read | rows |",
        "| --- | --- | --- | --- | --- |",
        *lines,
        "",
    ]
