"""Run the project's DAGs through real Airflow on one machine (SQLite metadata DB).

``airflow_env`` is the environment every Airflow process of the local default gets;
``run_dag`` runs one DAG with ``dag.test()`` in a fresh process and reports its final state
(``airflow dags test`` exits 0 even when the run fails, so it is not used for checking);
``standalone`` starts the UI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from common.settings import REPO_ROOT, Settings

DAGS_FOLDER = REPO_ROOT / "dags"


def airflow_env(settings: Settings, airflow_home: Path, base: Mapping[str, str] | None = None,
                port: int | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(settings.to_env())
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        # `airflow standalone` starts its components as `airflow <command>` from PATH: make that
        # this interpreter's Airflow even when the virtualenv is not activated (`make airflow`).
        "PATH": os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env.get("PATH")])),
        "NO_PROXY": "*",
    })
    if port is not None:
        env["AIRFLOW__API__PORT"] = str(port)
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
    return env


def migrate_db(env: Mapping[str, str]) -> None:
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=dict(env), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def run_dag(settings: Settings, dag_id: str, logical_date: str, airflow_home: Path,
            log_file: Path | None = None) -> str:
    """Run ``dag_id`` for ``logical_date`` (YYYY-MM-DD); returns the final DagRun state.

    Airflow's output goes to ``log_file`` (default: under ``airflow_home``).
    """
    env = airflow_env(settings, airflow_home)
    migrate_db(env)
    log_file = log_file or airflow_home / "dag-runs" / f"{dag_id}-{logical_date}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "wb") as out:
        subprocess.run([sys.executable, "-m", "complaints.airflow_local", dag_id, logical_date],
                       env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    states = [line.split("=", 1)[1] for line in log_file.read_text(errors="replace").splitlines()
              if line.startswith("DAG_RUN_STATE=")]
    return states[-1] if states else "failed"


def _test_dag(dag_id: str, logical_date: str) -> str:
    """In this process: load the DAG from the dags folder and run it with ``dag.test()``."""
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise KeyError(f"no DAG {dag_id!r} in {DAGS_FOLDER}")
    run = dag.test(logical_date=pendulum.parse(logical_date, tz="UTC"))
    return str(run.state)


def standalone(settings: Settings, airflow_home: Path, port: int) -> int:
    env = airflow_env(settings, airflow_home, port=port)
    migrate_db(env)
    print(f"Airflow UI: http://127.0.0.1:{port}  (login: admin; password in "
          f"{airflow_home}/simple_auth_manager_passwords.json.generated, also printed below "
          f"on the first start)", flush=True)
    return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=env)


if __name__ == "__main__":
    state = _test_dag(sys.argv[1], sys.argv[2])
    print(f"DAG_RUN_STATE={state}", flush=True)
