"""Task failure alerts: every task that fails for good leaves a JSON file under ``alerts/``.

``record_task_failure`` is the ``on_failure_callback`` of every task of the complaint DAGs (see
``dags/complaint_tasks.py``). Airflow calls it once a task has failed and has no retry left (a try
that will be retried calls ``on_retry_callback`` instead), with the task's context. It writes

    <lake>/alerts/task_failures/<dag id>/<run id>__<task id>[__<map index>]__try<n>.json

atomically (``common.lake.write_atomically``), records it in ``alerts/current.parquet`` (kind
``task_failure``) and sends it to ``COMPLAINTS_ALERT_WEBHOOK_URL`` (``quality.alerts``). The
file says which DAG, run, task and try failed, when, with which error, and where its log is.

This module is imported when the DAG files are parsed, so it imports nothing heavy; it reads the
lake's location from the environment (``COMPLAINTS_LAKE``) the way every task does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.lake import Lake, write_atomically
from common.settings import Settings

# How much of an error message an alert keeps (a Spark stack trace can be megabytes).
MESSAGE_MAX_CHARS = 4000


def _when(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def failure_alert(context: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The alert of one failed task, from its Airflow context (``ti``, ``exception``, ...)."""
    ti = context["ti"]
    dag_run = context.get("dag_run")
    error = context.get("exception")
    message = str(error) if error is not None else "no exception recorded"
    map_index = getattr(ti, "map_index", None)
    run_type = getattr(dag_run, "run_type", None)
    return {
        "kind": "task_failure",
        "dag_id": str(ti.dag_id),
        "task_id": str(ti.task_id),
        "run_id": str(ti.run_id),
        "map_index": -1 if map_index is None else int(map_index),
        "try_number": int(ti.try_number),
        "max_tries": int(getattr(ti, "max_tries", 0) or 0),
        "logical_date": _when(context.get("logical_date")),
        "run_type": None if run_type is None else str(getattr(run_type, "value", run_type)),
        "failed_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "error_type": type(error).__name__ if error is not None else None,
        "error": message[:MESSAGE_MAX_CHARS],
        "hostname": getattr(ti, "hostname", None),
        "log_url": getattr(ti, "log_url", None),
    }


def write_failure_alert(lake: Lake, alert: Mapping[str, Any]) -> Path:
    """Write ``alert`` to its file under ``alerts/task_failures/`` (atomically); return the path."""
    target = lake.task_failure_alert(alert["dag_id"], alert["run_id"], alert["task_id"],
                                     try_number=alert["try_number"],
                                     map_index=alert["map_index"])
    return write_atomically(target, json.dumps(alert, indent=2, ensure_ascii=False,
                                               default=str) + "\n")


def record_task_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback``: record the failure under the lake's ``alerts/``.

    Never raises: a failing callback must not hide the task's own error (Airflow would log it
    anyway, but the log line should be about the task).
    """
    try:
        settings = Settings.from_env()
        alert = failure_alert(context)
        path = write_failure_alert(settings.zones, alert)
    except Exception as exc:  # noqa: BLE001 - report and carry on, see the docstring
        print(f"could not record the task failure alert: {exc!r}", file=sys.stderr)
        return
    print(f"task failure alert written to {path}")
    print(send_failure_alert(settings, alert))


def send_failure_alert(settings: Settings, failure: Mapping[str, Any]) -> str:
    """The failure as an alert in ``alerts/current.parquet`` and to the webhook (never raises)."""
    from quality.alerts import incident_alert, raise_alerts

    subject = f"{failure['dag_id']}.{failure['task_id']}"
    detail = f"{failure['error_type']}: {failure['error']}"[:500]
    alert = incident_alert("task_failure", subject, datetime.fromisoformat(failure["failed_at"]),
                           detail, key=f"{failure['run_id']}#{failure['try_number']}")
    return raise_alerts(settings.zones, [alert], settings.alert_webhook_url)
