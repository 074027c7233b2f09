"""
### complaints_batch: land, transform, check and publish the day's complaints

1. **Land** call-centre log exports and web-form exports from the inbox, and every operational
   DynamoDB table through `ExportTableToPointInTime`, into the raw zone
   (`raw/<source>/ingest_date=YYYY-MM-DD/hour=HH/`). Landing is idempotent: content already landed
   is skipped, and an export already landed for this run's date is not taken again.
2. **Transform** (Spark): parse, standardise to UTC, quarantine bad records with the reason, drop
   duplicates, classify with the versioned rules file, and write clean Parquet partitioned by
   event date and source. Counts per source are recorded in `runs`. Each operational table's
   latest export is decoded with its DynamoDB types into `clean/<table>/`.
3. **Check** (the quality gate): Great Expectations checkpoints of the lake's GX project, the raw
   suites on the files the transform read, the clean suite on the partitions it wrote and the
   counts suite on its run record; results in `quality/validations/`, HTML data docs in
   `quality/gx/uncommitted/data_docs/local_site/`. A warning raises a `quality` alert; a critical
   failure also holds the run's partitions (the warehouse serves their last good version, and is
   refreshed at once) and fails the task without retries. The operational tables' snapshots get
   their `clean_<table>` suites (reported and alerted, never held).
4. **Detect surges** (DuckDB, no Spark): hourly counts per category, region and source against
   their baseline; new and updated alerts go to `alerts/current.parquet` and the webhook
   (`COMPLAINTS_ALERT_WEBHOOK_URL`).
   Beside them, **freshness and volume**: a source silent for longer than its target, or a day's
   file or export much smaller than the one before, is an alert too.
5. **Link customers** (Spark, once both transforms have written): each clean complaint to the
   customers of the master, through its customer id, its complaint-system case, phone numbers
   (E.164), e-mails and social handles, each link with its evidence and confidence
   (`clean/customer_links/`; ambiguous and unmatched complaints counted in
   `clean/customer_link_counts/`).
   In the same task and Spark session, after the links: the same person's copies of one
   complaint across channels (an SMS, a tweet, a web form, re-sent with small edits within a
   week) become one case (`clean/complaint_cases/`).
6. **Refresh** the DuckDB warehouse views (`complaints`, `daily_complaints`, `runs`, `quarantine`,
   `customer_links`, `complaint_cases`, ...).

Both transforms and the linking (with the cases) run in the Spark pool (`complaints_spark`, one
slot by default), one after the other. Every task has an execution timeout and two retries; a
task that fails for good leaves a JSON alert in `alerts/task_failures/`. Assets: the landing
tasks update `raw/<source>`, the transforms read those and update `clean/complaints` and
`clean/<table>`, the linking updates `clean/customer_links` and `clean/complaint_cases`, the
refresh updates `warehouse` (see the UI's Assets view).

Settings come from the environment (`COMPLAINTS_LAKE`, `COMPLAINTS_AWS_ENDPOINT_URL`, ...), see
the README. This file only wires callables; the shared wiring is in `dags/complaint_tasks.py`, and
heavy libraries are imported inside the tasks.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

from dags.complaint_tasks import (
    ASSETS,
    DEFAULT_ARGS,
    check_complaints_quality,
    check_freshness,
    check_operational_quality,
    detect_surges,
    link_customers,
    refresh_warehouse,
    spark_task,
)
from schemas.sources import BATCH_COMPLAINT_SOURCES, DYNAMODB_TABLES


def _run_date() -> str:
    """The day this run stands for: its logical date, or when it was due for a manual run."""
    context = get_current_context()
    moment = context.get("logical_date") or context["dag_run"].run_after
    return str(moment.date().isoformat())


def _land_inbox(source: str) -> dict[str, int]:
    from common.settings import Settings
    from jobs.landing import land_files

    landing = land_files(Settings.from_env(), source)
    return {"landed": len(landing.landed), "skipped": len(landing.skipped)}


@dag(
    dag_id="complaints_batch",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["complaints", "batch", "landing", "spark", "quality"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
)
def complaints_batch() -> None:
    @task(outlets=[ASSETS.raw["call_center"]])
    def land_call_logs() -> dict[str, int]:
        return _land_inbox("call_center")

    @task(outlets=[ASSETS.raw["web_form"]])
    def land_web_forms() -> dict[str, int]:
        return _land_inbox("web_form")

    @task(outlets=[ASSETS.raw_exports])
    def land_dynamodb_export(table: str) -> dict[str, Any]:
        from common.settings import Settings
        from jobs.landing import land_dynamodb_export as land

        export = land(Settings.from_env(), table, snapshot_label=_run_date())
        # This mapped instance updated this table's raw asset (through the alias).
        get_current_context()["outlet_events"][ASSETS.raw_exports].add(ASSETS.raw[table])
        return {"table": table, "items": export.items, "skipped": export.skipped}

    @spark_task(inlets=ASSETS.raw_of(BATCH_COMPLAINT_SOURCES), outlets=[ASSETS.clean_complaints])
    def transform_complaints() -> dict[str, object]:
        from common.settings import Settings
        from jobs.transform import run_transform

        context = get_current_context()
        result = run_transform(Settings.from_env(), run_id=context["run_id"])
        for counts in result.counts:
            print(counts)
        return result.to_dict()

    @spark_task(inlets=ASSETS.raw_of(DYNAMODB_TABLES), outlets=list(ASSETS.clean_tables.values()))
    def transform_operational_tables() -> dict[str, object]:
        from common.settings import Settings
        from jobs.operational import run_operational_tables

        context = get_current_context()
        result = run_operational_tables(Settings.from_env(), run_id=context["run_id"])
        for counts in result.counts:
            print(counts)
        return result.to_dict()

    landed = [
        land_call_logs(),
        land_web_forms(),
        land_dynamodb_export.expand(table=list(DYNAMODB_TABLES)),
    ]
    complaints = transform_complaints()
    operational = transform_operational_tables()
    checked = check_complaints_quality(complaints)  # type: ignore[arg-type]  # XCom, resolved
    surges = detect_surges(complaints)  # type: ignore[arg-type]  # XCom, resolved
    operational_checked = check_operational_quality(operational)  # type: ignore[arg-type]
    fresh = check_freshness()
    linked = link_customers()
    landed >> complaints
    landed >> operational
    landed >> fresh
    [complaints, operational] >> linked
    [checked, surges, operational_checked, fresh, linked] >> refresh_warehouse()


complaints_batch()
