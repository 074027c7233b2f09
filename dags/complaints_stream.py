"""
### complaints_stream: micro-batches of the streamed complaints (SMS and social posts)

The stream consumer lands Kinesis records continuously into `raw/sms/` and `raw/social/`
(`ingest_date=YYYY-MM-DD/hour=HH/`, one base64-encoded record per JSON line). Every
`COMPLAINTS_STREAM_INTERVAL_MINUTES` minutes (default 15; read when the DAG file is parsed):

1. **Find new stream files**: compare the raw files with the transform's ledger
   (`runs/ledger/<source>.parquet`). When nothing is new the run stops here and every later task
   is skipped (cheap: no Spark).
2. **Transform** (Spark) the new `sms` and `social` files only: decode and validate each record
   (quarantining bad ones, spam and brand posts with the reason), collapse duplicates by event id
   and by content across all history, classify, and merge into the partitions they touch. Counts
   go to `runs`, the files read to `run_files` and the ledger.
3. **Check** the partitions written with the clean and counts suites (Great Expectations
   checkpoints, data docs in the lake); a critical failure holds them out of the warehouse.
4. **Detect surges** (DuckDB, no Spark) on the new data: an alert within the micro-batch a surge
   starts in, updated (not repeated) while it lasts.
5. **Refresh** the DuckDB warehouse views.

On its own, every run, even with nothing new: **freshness and volume** (a source silent for longer
than its target is an alert).

The batch DAG (`complaints_batch`) transforms the other sources, so the two never write the same
partitions. The transform runs in the Spark pool it shares with the batch DAG's transforms, so the
two DAGs never run Spark at the same time on a small machine. Timeouts, retries, the failure alerts
(`alerts/task_failures/`) and the assets (`raw/sms`, `raw/social` -> `clean/complaints` ->
`warehouse`) are those of `dags/complaint_tasks.py`. Settings come from the environment, see the
README; heavy libraries are imported inside the tasks.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

from dags.complaint_tasks import (
    ASSETS,
    DEFAULT_ARGS,
    check_complaints_quality,
    check_freshness,
    detect_surges,
    refresh_warehouse,
    spark_task,
)
from schemas.sources import STREAM_COMPLAINT_SOURCES

DEFAULT_INTERVAL_MINUTES = 15
PLANNING_TIMEOUT = timedelta(minutes=10)


def interval_minutes(environ: dict[str, str] | None = None) -> int:
    """The micro-batch interval; a bad value fails the DAG import with a readable message."""
    raw = (os.environ if environ is None else environ).get(
        "COMPLAINTS_STREAM_INTERVAL_MINUTES", str(DEFAULT_INTERVAL_MINUTES))
    try:
        minutes = int(raw)
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= 24 * 60:
        raise ValueError(
            f"COMPLAINTS_STREAM_INTERVAL_MINUTES must be whole minutes in 1..1440, got {raw!r}")
    return minutes


@dag(
    dag_id="complaints_stream",
    schedule=timedelta(minutes=interval_minutes()),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["complaints", "stream", "kinesis", "spark", "quality"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
)
def complaints_stream() -> None:
    stream_raw = ASSETS.raw_of(STREAM_COMPLAINT_SOURCES)

    @task.short_circuit(inlets=stream_raw, execution_timeout=PLANNING_TIMEOUT)
    def find_new_stream_files() -> dict[str, Any] | bool:
        from common.settings import Settings
        from jobs.ledger import plan_increment
        from schemas.sources import STREAM_COMPLAINT_SOURCES

        plan = plan_increment(Settings.from_env(), STREAM_COMPLAINT_SOURCES)
        print(plan.summary())
        return plan.summary() if plan.has_work else False

    @spark_task(inlets=stream_raw, outlets=[ASSETS.clean_complaints])
    def transform_stream() -> dict[str, Any]:
        from common.settings import Settings
        from jobs.transform import run_transform
        from schemas.sources import STREAM_COMPLAINT_SOURCES

        result = run_transform(Settings.from_env(), STREAM_COMPLAINT_SOURCES,
                               run_id=get_current_context()["run_id"])
        for counts in result.counts:
            print(counts)
        return result.to_dict()

    check_freshness()  # on its own: it must run when nothing new arrived, above all
    found = find_new_stream_files()
    transformed = transform_stream()
    checked = check_complaints_quality(transformed)  # type: ignore[arg-type]  # XCom, resolved
    surges = detect_surges(transformed)  # type: ignore[arg-type]  # XCom, resolved
    found >> transformed
    [checked, surges] >> refresh_warehouse()


complaints_stream()
