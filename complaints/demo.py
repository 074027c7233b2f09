"""``make demo``: the whole pipeline on the local default, end to end, then a short summary.

Starts the AWS emulator, generates several days of sample sources (inbox files and DynamoDB
tables), produces a burst of SMS and social events to Kinesis and consumes them into the raw zone,
runs the ``complaints_batch`` and ``complaints_stream`` DAGs through real Airflow, prints counts per
source and category, the surge alert the DAGs' ``detect_surges`` task raised (and the injected
surge it should match), the surge day and an example query, and stops the emulator. Rerunning it
gives the same clean complaints: landing skips what is already landed, the transform reads only new
raw files, and events streamed again are recognised by their event ids (counted as duplicates).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any, Literal

from common.lake import utc
from common.settings import Settings
from complaints.airflow_local import run_dag
from complaints.emulator import moto_server
from complaints.progress import say, timed
from quality.quality_gate import quality_subject
from samples.generate import generate
from warehouse.duckdb_warehouse import format_result, run_query
from warehouse.report import write_report

DEMO_DAG = "complaints_batch"
STREAM_DAG = "complaints_stream"
STREAM_BURST = 400  # events per streamed source, plus a few bad ones

# Per source, the runs since its last full one (incremental runs add up to what is in the lake;
# a reclassification rewrites rows without adding any).
COUNTS_BY_SOURCE = """
WITH worked AS (
    SELECT *, max(CASE WHEN coalesce(mode, 'full') = 'full' THEN started_at END)
                  OVER (PARTITION BY source) AS last_full
    FROM runs WHERE coalesce(mode, 'full') NOT IN ('skipped', 'reclassify', 'backfill')
)
SELECT source, count(*) AS runs, sum(records_in) AS records_in, sum(clean) AS clean,
       sum(quarantined) AS quarantined, sum(duplicates) AS duplicates,
       bool_and(counts_conserved) AS counts_conserved
FROM worked WHERE last_full IS NULL OR started_at >= last_full
GROUP BY source ORDER BY source LIKE 'dynamodb:%', source
"""

COUNTS_BY_CATEGORY = """
PIVOT (SELECT source, category FROM complaints) ON category USING count(*) GROUP BY source
ORDER BY source
"""

# The surge alerts the DAGs' detect_surges tasks raised (warehouse view ``alerts``).
SURGE_ALERTS = """
SELECT alert_id, category, region, source, strftime(window_start, '%Y-%m-%d %H:%M') AS since,
       strftime(window_end, '%H:%M') AS until, observed, round(expected, 1) AS expected,
       round(score, 1) AS score, status, array_to_string(top_terms, ' ') AS top_terms,
       array_to_string(example_complaint_ids[1:2], ' ') AS examples
FROM alerts WHERE kind = 'surge' ORDER BY score DESC
"""

# The (day, region, category) whose count stands furthest above its other days' average.
SURGE_DAY = """
WITH daily AS (
    SELECT event_date, region, category, sum(complaints) AS complaints
    FROM daily_complaints WHERE region IS NOT NULL GROUP BY ALL
), compared AS (
    SELECT *,
        (sum(complaints) OVER w - complaints) / nullif(count(*) OVER w - 1, 0) AS other_days
    FROM daily WINDOW w AS (PARTITION BY region, category)
)
SELECT event_date, region, category, complaints,
       round(other_days, 1) AS other_days_average,
       round(complaints / other_days, 1) AS times_other_days
FROM compared WHERE other_days > 0
ORDER BY times_other_days DESC, complaints DESC LIMIT 1
"""

EXAMPLE_QUERY = """SELECT category, count(*) AS complaints,
       count(*) FILTER (WHERE severity = 'P1') AS p1,
       round(100.0 * count(*) FILTER (WHERE sentiment = 'negative') / count(*), 1) AS pct_negative
FROM complaints GROUP BY category ORDER BY complaints DESC"""


def _section(title: str, settings: Settings, sql: str) -> None:
    print(f"\n== {title}")
    print(format_result(run_query(settings, sql), "table"))


def stream_burst(settings: Settings, start: datetime) -> None:
    """Produce SMS and social events (with a few bad ones) and consume them into the raw zone."""
    from samples.producer import EventPlan, SendOptions, produce
    from streaming.consumer import ConsumerOptions, consume

    bursts: tuple[tuple[Literal["sms", "social"], tuple[str, ...]], ...] = (
        ("sms", ("not_json", "invalid_utf8", "missing_text")),
        ("social", ("unknown_platform", "oversized", "sent_at_list")),
    )
    for source, bad in bursts:
        plan = EventPlan(rate_per_s=math.inf, count=STREAM_BURST, bad_events=bad, start=start)
        with timed(f"stream {source}", f"{STREAM_BURST} events (and {len(bad)} bad ones) to "
                   f"Kinesis, then consumed into raw/{source}/") as step:
            sent = produce(settings, source, plan, SendOptions(keep_ids=False))
            landed = consume(settings, source, worker_id=f"demo-{source}",
                             options=ConsumerOptions(idle_exit_s=2.0))
            step.outcome = (f"{sent.sent} sent, {landed.records_landed} consumed "
                            f"({landed.files_written} files)")


def _report(settings: Settings) -> None:
    """The static HTML report, last: its path and the open alerts it shows."""
    with timed("report", "static HTML report from the warehouse") as step:
        path, data = write_report(settings)
        step.outcome = f"{len(data.open_alerts)} open alerts"
    checks = newest_validations(settings.zones.validations)
    for alert in data.open_alerts:
        print(alert_line(alert, checks))
    print(f"Report: {path}")


def newest_validations(folder: Path) -> dict[str, tuple[str, Path]]:
    """What each quality suite's newest validation says (its summary's first line and file),
    keyed by the subject its alerts carry (``raw/web_form``, ``clean/complaints``)."""
    found: dict[str, tuple[str, Path]] = {}
    for suite in sorted(p for p in folder.glob("[!._]*") if p.is_dir()):
        files = sorted(suite.glob("[!._]*.json"), key=lambda p: p.stat().st_mtime)
        if not files:
            continue
        try:
            summary = str(json.loads(files[-1].read_text(encoding="utf-8")).get("summary", ""))
        except (OSError, ValueError):
            summary = "unreadable validation file"
        found[quality_subject(suite.name)] = (summary.splitlines()[0] if summary else "", files[-1])
    return found


def alert_line(alert: Mapping[str, Any], checks: Mapping[str, tuple[str, Path]]) -> str:
    """One line per open alert, in the words of its kind: a surge's size, a failed check's
    outcome and where its details are, a failed task's name."""
    kind, source, since = alert.get("kind"), alert.get("source"), alert.get("window_start")
    moment = f"{utc(since):%Y-%m-%d %H:%M} UTC" if isinstance(since, datetime) else str(since)
    if kind == "surge":
        return (f"open alert: surge of {alert.get('category')} complaints in "
                f"{alert.get('region')} ({source}) from {moment}: {alert.get('observed')} "
                f"complaints, {float(alert.get('expected') or 0):.1f} expected")
    if kind == "quality" and source in checks:
        summary, path = checks[str(source)]
        return f"open alert: quality checks on {source} ({moment}): {summary}; details: {path}"
    return f"open alert: {kind} on {source} since {moment}"


def run_demo(settings: Settings, airflow_home: Path, *, seed: int = 7, days: int = 5,
             start: date = date(2026, 11, 2)) -> int:
    began = time.monotonic()
    settings.lake.mkdir(parents=True, exist_ok=True)
    run_date = (start + timedelta(days=days - 1)).isoformat()
    with moto_server(log_file=settings.lake / "emulator.log") as endpoint:
        local = replace(settings, aws_endpoint_url=endpoint)
        say(f"AWS emulator (moto server) on {endpoint}")
        with timed("generate", f"{days} days of sample data from {start} (inbox files, "
                   "DynamoDB tables)") as step:
            summary = generate(local, seed=seed, days=days, start=start)
            step.outcome = (f"{sum(summary.records.values())} inbox records, "
                            f"{sum(summary.dynamodb_items.values())} DynamoDB items in "
                            f"{len(summary.dynamodb_items)} tables")
        stream_burst(local, datetime.combine(start + timedelta(days=days - 1), dt_time(12),
                                              tzinfo=UTC))
        for dag_id in (DEMO_DAG, STREAM_DAG):
            log_file = airflow_home / "dag-runs" / f"{dag_id}-{run_date}.log"
            with timed(f"DAG {dag_id}", f"run for {run_date} through Airflow (log: {log_file})"
                       ) as step:
                state = run_dag(local, dag_id, run_date, airflow_home, log_file=log_file)
                step.outcome = state
            if state != "success":
                say("\n".join(log_file.read_text(errors="replace").splitlines()[-40:]))
                say(f"complaints demo: DAG {dag_id} ended {state} (its last log lines are above); "
                    f"the whole log: {log_file}")
                return 1
    _section("Counts per source (runs since its last full one): in = clean + quarantined + "
             "duplicates",
             settings, COUNTS_BY_SOURCE)
    _section("Clean complaints per source and category", settings, COUNTS_BY_CATEGORY)
    _section("Surge alerts raised by the DAGs (complaints surges; warehouse view alerts)",
             settings, SURGE_ALERTS)
    if summary.surge:
        s = summary.surge
        print(f"(injected: {s.category} in {s.region} on {s.day}, "
              f"{s.start_hour_utc:02d}:00-{s.start_hour_utc + s.hours:02d}:00 UTC)")
    _section("Surge day (count against the same region and category on the other days)", settings,
             SURGE_DAY)
    print(f"\n== Example query: complaints sql \"{' '.join(EXAMPLE_QUERY.split())}\"")
    print(format_result(run_query(settings, EXAMPLE_QUERY), "table"))
    print(f"\nLake: {settings.lake}   Warehouse: {settings.zones.warehouse}")
    _report(settings)
    print(f"Demo finished in {time.monotonic() - began:.0f} s")
    return 0
