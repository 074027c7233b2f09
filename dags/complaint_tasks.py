"""What both complaint DAGs share, written once: default arguments, timeouts, the Spark pool, the
lake's assets, and the tasks that end every run (quality gate, surge detection, customer links,
warehouse refresh).

Not a DAG file: ``dags/.airflowignore`` keeps Airflow's DAG processor from parsing it on its own;
``complaints_batch.py`` and ``complaints_stream.py`` import it.

* **Default arguments**: owner, retries with a delay, an ``execution_timeout`` for every task (Spark
  tasks get a longer one) and ``on_failure_callback`` = ``dags.failure_alerts.record_task_failure``,
  which writes a JSON alert under ``alerts/task_failures/`` when a task has failed for good.
* **Spark pool**: ``spark_task`` puts a task in the Airflow pool ``COMPLAINTS_SPARK_POOL`` (default
  ``complaints_spark``, ``COMPLAINTS_SPARK_POOL_SLOTS`` slots, default 1), so the batch DAG's two
  transforms and the stream DAG's transform never start three JVMs at once on a small machine.
  ``complaints airflow`` (and the docker-compose stack's init) creates the pool; a task whose pool
  does not exist is never scheduled.
* **Assets** (Airflow 3): one per raw source, the clean complaints, each clean operational table,
  the customer links and the warehouse, named after their folders (``raw/call_center``,
  ``clean/complaints``, ``warehouse``) and located by ``file://`` URIs inside the lake. Tasks
  declare what they read (inlets) and what they update (outlets), so the UI's asset graph shows
  what feeds what.

The lake's location and the pool's name are read from the environment when the DAG files are
parsed (``Settings.from_env()``: no I/O); the tasks resolve their settings again when they run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias, get_current_context, task

from common.lake import Lake
from common.settings import Settings
from dags.failure_alerts import record_task_failure
from schemas.sources import COMPLAINT_SOURCE_TABLE, DYNAMODB_TABLES, FILE_SOURCES
from schemas.streaming import STREAM_SOURCES

if TYPE_CHECKING:
    from airflow.sdk.bases.decorator import TaskDecorator

    from quality.complaint_checks import QualityReport

OWNER = "complaints-data"
# Generous for the sample data on a laptop (minutes), tight enough that a hung task is noticed the
# same day. Spark transforms recompute whole sources, so they get the longest.
DEFAULT_TIMEOUT = timedelta(minutes=30)
SPARK_TIMEOUT = timedelta(hours=2)
QUALITY_TIMEOUT = timedelta(minutes=30)
REFRESH_TIMEOUT = timedelta(minutes=10)
SURGE_TIMEOUT = timedelta(minutes=15)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "execution_timeout": DEFAULT_TIMEOUT,
    "on_failure_callback": record_task_failure,
}

SETTINGS = Settings.from_env()
SPARK_POOL = SETTINGS.spark_pool


@dataclass(frozen=True)
class LakeAssets:
    """The lake's data as Airflow assets: raw sources, clean tables, the warehouse."""

    raw: Mapping[str, Asset]
    clean_complaints: Asset
    clean_tables: Mapping[str, Asset]
    customer_links: Asset
    complaint_cases: Asset
    warehouse: Asset
    # Each mapped DynamoDB landing task updates one table's raw asset, chosen when it runs.
    raw_exports: AssetAlias

    @classmethod
    def of(cls, lake: Lake) -> LakeAssets:
        def asset(name: str, path: Path) -> Asset:
            return Asset(name=name, uri=path.as_uri(), group="complaints-lake")

        raw_sources = [*FILE_SOURCES, *STREAM_SOURCES, *DYNAMODB_TABLES]
        return cls(
            raw={s: asset(f"raw/{s}", lake.raw_source(s)) for s in raw_sources},
            clean_complaints=asset("clean/complaints", lake.clean_complaints),
            clean_tables={t: asset(f"clean/{t}", lake.clean_table(t)) for t in DYNAMODB_TABLES},
            customer_links=asset("clean/customer_links", lake.clean_table("customer_links")),
            complaint_cases=asset("clean/complaint_cases", lake.clean_table("complaint_cases")),
            warehouse=asset("warehouse", lake.warehouse),
            raw_exports=AssetAlias(name="raw/dynamodb_exports"),
        )

    def raw_of(self, sources: Iterable[str]) -> list[Asset]:
        """Raw assets a transform of ``sources`` reads (DynamoDB-borne sources: their table)."""
        return [self.raw[COMPLAINT_SOURCE_TABLE.get(s, s)] for s in sources]


ASSETS = LakeAssets.of(SETTINGS.zones)


def spark_task(**kwargs: Any) -> TaskDecorator:
    """``@task`` for a Spark transform: in the Spark pool, with the Spark timeout."""
    return task(pool=SPARK_POOL, execution_timeout=SPARK_TIMEOUT, **kwargs)


@task(inlets=[ASSETS.clean_complaints], execution_timeout=QUALITY_TIMEOUT)
def check_complaints_quality(transformed: Mapping[str, Any]) -> dict[str, object]:
    """The quality gate (``quality.quality_gate``) on what the transform (``transformed``: its
    result) read and wrote: raw and clean suites as GX checkpoints, results and data docs in the
    lake. A warning raises an alert and the task succeeds (the data is published); a critical
    failure holds the run's bad partitions, refreshes the warehouse at once (it serves their last
    good version) and fails the task without retries (a retry would find the same data)."""
    from quality.quality_gate import run_quality_gate

    settings = Settings.from_env()
    partitions = [(str(day), str(source)) for day, source in transformed["partitions"]]
    run_id = str(transformed.get("run_id") or get_current_context()["run_id"])
    outcome = run_quality_gate(settings.zones, run_id, partitions)
    print(outcome.summary())
    _alert_quality(settings, run_id, outcome.reports, outcome.held)
    if outcome.critical:
        from airflow.sdk.exceptions import AirflowFailException

        from warehouse.duckdb_warehouse import WarehouseError
        from warehouse.duckdb_warehouse import refresh_warehouse as refresh

        try:
            refresh(settings)
        except WarehouseError as error:  # the next refresh applies the hold
            print(f"warehouse not refreshed: {error}")
        raise AirflowFailException(outcome.summary())
    return outcome.to_dict()


@task(inlets=list(ASSETS.clean_tables.values()), execution_timeout=QUALITY_TIMEOUT)
def check_operational_quality(transformed: Mapping[str, Any]) -> dict[str, object]:
    """The ``clean_<table>`` suites on the operational tables' new snapshots (those the transform,
    ``transformed``: its result, rebuilt; a table it kept was checked when it was built), as
    checkpoints of the lake's GX project; failures raise ``quality`` alerts, the task never fails
    for them (whole snapshots, nothing to hold: see ``quality.operational_checks``)."""
    from quality.operational_checks import check_operational_tables
    from quality.quality_gate import write_validation

    settings = Settings.from_env()
    run_id = str(get_current_context()["run_id"])
    rebuilt = [str(c["source"]).removeprefix("dynamodb:") for c in transformed["counts"]
               if c["mode"] != "skipped"]
    reports = check_operational_tables(settings.zones, rebuilt,
                                       project_dir=settings.zones.gx_project, run_name=run_id)
    for report in reports:
        write_validation(settings.zones, report, run_id)
        print(report.summary())
    _alert_quality(settings, run_id, reports, ())
    return {"suites": len(reports), "failed": [r.suite for r in reports if not r.success]}


def _alert_quality(settings: Settings, run_id: str, reports: Iterable[QualityReport],
                   held: Iterable[tuple[str, str]]) -> None:
    """One quality alert per suite that failed (critical or warning), to the lake and webhook."""
    from quality.alerts import incident_alert, raise_alerts
    from quality.quality_gate import quality_subject

    now = datetime.now(UTC)
    shown = ", ".join(f"{d}/{s}" for d, s in held)
    alerts = [
        incident_alert("quality", quality_subject(r.suite), now,
                       r.summary() + (f"\nheld: {shown}" if r.critical and shown else ""),
                       key=run_id)
        for r in reports if not r.success
    ]
    if alerts:
        print(raise_alerts(settings.zones, alerts, settings.alert_webhook_url))


@task(inlets=[ASSETS.clean_complaints], execution_timeout=SURGE_TIMEOUT)
def detect_surges(transformed: Mapping[str, Any]) -> dict[str, object]:
    """Surge detection over the clean complaints (DuckDB, no Spark) once the transform
    (``transformed``: its result) has written; new and updated alerts go to the lake and the
    webhook. A webhook that does not answer leaves its messages in the outbox: never a failure."""
    from quality.surges import run_surge_detection

    settings = Settings.from_env()
    run, changed = run_surge_detection(settings.zones, settings.alert_webhook_url)
    for alert in changed:
        print(alert.summary())
    summary = run.to_dict()
    return {"since": summary["since"], "until": summary["until"],
            "surge_hours": run.surge_hours, "alerts": len(run.alerts), "changed": len(changed)}


@task(execution_timeout=SURGE_TIMEOUT)
def check_freshness() -> dict[str, object]:
    """Is every source still arriving (its freshness target), and did a day's file or an export
    shrink sharply? Alerts go to the lake and the webhook; the task itself never fails for them."""
    from quality.freshness import run_source_health

    health, changed = run_source_health(Settings.from_env())
    for alert in changed:
        print(alert.summary())
    return {"late": [c.source for c in health.freshness if c.late], "changed": len(changed)}


@spark_task(inlets=[ASSETS.clean_complaints, *ASSETS.clean_tables.values()],
            outlets=[ASSETS.customer_links, ASSETS.complaint_cases])
def link_customers() -> dict[str, object]:
    """Link the clean complaints to the customers of the master (``jobs.customer_links``): each
    link with its evidence and confidence; ambiguous and unmatched complaints counted. Then, in
    the same Spark session (one JVM start less per run), join each person's copies of one
    complaint across channels into one case (``jobs.complaint_cases``), which needs the links.
    Either keeps its last output when its inputs have not changed (``jobs.built_from``); a Spark
    session starts only for what is rebuilt."""
    from jobs.complaint_cases import run_complaint_cases
    from jobs.customer_links import run_customer_links

    settings = Settings.from_env()
    run_id = str(get_current_context()["run_id"])
    result = run_customer_links(settings, run_id=run_id)
    for counts in result.counts:
        print(counts)
    cases = run_complaint_cases(settings, run_id=run_id)
    print(cases)
    return {**result.to_dict(), "cases": cases.to_dict()}


@task(inlets=[ASSETS.clean_complaints, *ASSETS.clean_tables.values(), ASSETS.customer_links,
              ASSETS.complaint_cases],
      outlets=[ASSETS.warehouse], execution_timeout=REFRESH_TIMEOUT)
def refresh_warehouse() -> dict[str, int]:
    """(Re)create the DuckDB warehouse views over the clean Parquet."""
    from warehouse.duckdb_warehouse import refresh_warehouse as refresh

    return refresh(Settings.from_env())
