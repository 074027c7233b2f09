"""The failure callback of every task: a task that fails for good leaves a JSON alert in the lake.

One test runs a real failing task through Airflow (``dag.test()`` in a fresh interpreter, with the
DAGs' own default arguments), so the callback gets the context Airflow really passes; the others
call it directly with a context of the same shape.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from common.lake import Lake
from common.settings import REPO_ROOT
from dags.failure_alerts import failure_alert, record_task_failure
from quality.alerts import read_alerts as read_current_alerts
from tests.webhook import Webhook

# Runs in the child: a one-task DAG with the complaint DAGs' default arguments, whose task fails.
FAILING_DAG = r"""
import pendulum
from airflow.sdk import dag, task
from dags.complaint_tasks import DEFAULT_ARGS

@dag(dag_id="complaints_probe", schedule=None, default_args={**DEFAULT_ARGS, "retries": 0},
     start_date=pendulum.datetime(2026, 11, 1, tz="UTC"))
def complaints_probe():
    @task
    def land_call_logs():
        raise FileNotFoundError("inbox/call_center is missing")
    land_call_logs()

probe = complaints_probe()
if __name__ == "__main__":
    run = probe.test(logical_date=pendulum.datetime(2026, 11, 6, tz="UTC"))
    print(f"DAG_RUN={run.run_id}|{run.state}")
"""


def context(lake_run_id: str = "scheduled__2026-11-06T00:00:00+00:00", *, try_number: int = 3,
            map_index: int = -1, error: BaseException | None = None) -> dict[str, Any]:
    """A context shaped like the one Airflow's task runner hands to ``on_failure_callback``."""
    ti = SimpleNamespace(dag_id="complaints_batch", task_id="land_dynamodb_export",
                         run_id=lake_run_id, try_number=try_number, max_tries=2,
                         map_index=map_index, hostname="worker-1",
                         log_url="http://127.0.0.1:8080/dags/complaints_batch/runs/x")
    return {
        "ti": ti,
        "task_instance": ti,
        "dag_run": SimpleNamespace(run_type=SimpleNamespace(value="scheduled")),
        "run_id": lake_run_id,
        "logical_date": datetime(2026, 11, 6, tzinfo=UTC),
        "exception": error if error is not None else RuntimeError("export timed out"),
    }


def read_alerts(lake: Path) -> dict[str, dict[str, Any]]:
    root = Lake(lake).task_failure_alerts
    return {p.relative_to(root).as_posix(): json.loads(p.read_text())
            for p in sorted(root.rglob("*.json"))}


def test_callback_writes_one_alert_per_failed_try(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    os.environ["COMPLAINTS_LAKE"] = str(lake)
    record_task_failure(context(map_index=4))
    record_task_failure(context(map_index=4, try_number=4))
    alerts = read_alerts(lake)
    # Run ids hold ':' and '+': the file name has safe characters plus a hash of the original.
    run_part = r"scheduled__2026-11-06T00_00_00_00_00-[0-9a-f]{8}"
    assert len(alerts) == 2
    for name, try_number in zip(sorted(alerts), (3, 4), strict=True):
        assert re.fullmatch(
            rf"complaints_batch/{run_part}__land_dynamodb_export__4__try{try_number}\.json", name
        ), name
    alert = alerts[sorted(alerts)[0]]
    assert alert["kind"] == "task_failure"
    assert (alert["dag_id"], alert["task_id"], alert["run_id"]) == (
        "complaints_batch", "land_dynamodb_export", "scheduled__2026-11-06T00:00:00+00:00")
    assert (alert["map_index"], alert["try_number"], alert["max_tries"]) == (4, 3, 2)
    assert (alert["error_type"], alert["error"]) == ("RuntimeError", "export timed out")
    assert alert["logical_date"] == "2026-11-06T00:00:00+00:00"
    assert alert["run_type"] == "scheduled"
    assert datetime.fromisoformat(alert["failed_at"]).tzinfo is not None
    # Written atomically: no temporary file is left beside the alerts.
    assert [p.name for p in lake.rglob(".*")] == []


def test_alert_keeps_a_bounded_error_message() -> None:
    alert = failure_alert(context(error=ValueError("x" * 100_000)))
    assert alert["error_type"] == "ValueError"
    assert 0 < len(alert["error"]) <= 4000


def test_callback_never_raises_when_the_lake_cannot_be_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake should be")
    os.environ["COMPLAINTS_LAKE"] = str(blocker)
    record_task_failure(context())
    assert "could not record the task failure alert" in capsys.readouterr().err
    assert blocker.read_text() == "a file where the lake should be"


def test_a_task_failing_in_airflow_leaves_its_alert(tmp_path: Path) -> None:
    lake, home = tmp_path / "lake", tmp_path / "airflow"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "COMPLAINTS_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path),
        "COMPLAINTS_LAKE": str(lake),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    })
    hook = Webhook().__enter__()
    env["COMPLAINTS_ALERT_WEBHOOK_URL"] = hook.url
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=home,
                   capture_output=True, check=True, timeout=300)
    dag_file = tmp_path / "complaints_probe.py"
    dag_file.write_text(FAILING_DAG)
    try:
        done = subprocess.run([sys.executable, str(dag_file)], env=env, cwd=home,
                              capture_output=True, text=True, timeout=300, check=False)
    finally:
        hook.__exit__()
    runs = [line.split("=", 1)[1] for line in done.stdout.splitlines()
            if line.startswith("DAG_RUN=")]
    assert runs, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    run_id, state = runs[-1].split("|")
    assert state == "failed"
    alerts = read_alerts(lake)
    assert len(alerts) == 1, alerts
    alert = next(iter(alerts.values()))
    assert (alert["dag_id"], alert["task_id"], alert["run_id"]) == (
        "complaints_probe", "land_call_logs", run_id)
    assert (alert["try_number"], alert["max_tries"], alert["map_index"]) == (1, 0, -1)
    assert alert["error_type"] == "FileNotFoundError"
    assert alert["error"] == "inbox/call_center is missing"
    assert alert["logical_date"] == "2026-11-06T00:00:00+00:00"
    assert alert["log_url"] and "complaints_probe" in alert["log_url"]
    # The same failure reached the webhook (and the alerts view's file).
    assert [(m["kind"], m["source"]) for m in hook.received] == [
        ("task_failure", "complaints_probe.land_call_logs")]
    assert hook.received[0]["detail"] == "FileNotFoundError: inbox/call_center is missing"
    assert [a.kind for a in read_current_alerts(Lake(lake))] == ["task_failure"]
