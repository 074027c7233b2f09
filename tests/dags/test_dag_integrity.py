"""DAG integrity: every DAG in ``dags/`` loads in Airflow's DagBag and follows the house rules.

Airflow reads its configuration when it is first imported, so the DagBag is filled in a fresh
interpreter with a temporary ``AIRFLOW_HOME`` (examples off); it reports what it found as JSON
and the tests assert on that. The test process itself never imports Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from common.settings import REPO_ROOT
from schemas.sources import DYNAMODB_TABLES

DAGS_FOLDER = REPO_ROOT / "dags"
HEAVY_MODULES = ("pyspark", "duckdb", "great_expectations", "pandas")

# Runs in the child: fill a DagBag from the dags folder and describe every DAG and task.
DESCRIBE_DAGS = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
dags = {}
for dag_id, dag in bag.dags.items():
    tasks = {}
    for task in dag.tasks:
        mapped = bool(getattr(task, "is_mapped", False))
        expand = {}
        if mapped:
            expand = {k: list(v) for k, v in task._get_specified_expand_input().value.items()}
        tasks[task.task_id] = {
            "owner": task.owner,
            "retries": task.retries,
            "mapped": mapped,
            "expand": expand,
            "upstream": sorted(task.upstream_task_ids),
            "downstream": sorted(task.downstream_task_ids),
        }
    dags[dag_id] = {
        "fileloc": str(dag.fileloc),
        "tags": sorted(dag.tags or ()),
        "owner": dag.owner,
        "default_args": {k: str(v) for k, v in (dag.default_args or {}).items()},
        "doc_md": dag.doc_md,
        "tasks": tasks,
    }
report = {
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": dags,
}
print("DAGBAG_REPORT=" + json.dumps(report))
"""

# Runs in the child: import each DAG file as a module and list the heavy modules it pulled in.
IMPORTED_HEAVY = r"""
import importlib.util, json, sys
heavy = sys.argv[1].split(",")
found = {}
for i, path in enumerate(sys.argv[2:]):
    spec = importlib.util.spec_from_file_location(f"dag_file_{i}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found[path] = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print("HEAVY_REPORT=" + json.dumps(found))
"""


def dag_files() -> list[Path]:
    return sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith(("_", ".")))


def child_env(airflow_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    })
    return env


def run_child(script: str, args: list[str], airflow_home: Path, marker: str) -> Any:
    airflow_home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=child_env(airflow_home), cwd=airflow_home,
        capture_output=True, text=True, timeout=300, check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(marker)]
    assert done.returncode == 0 and lines, (
        f"child exited {done.returncode}\nstdout:\n{done.stdout[-3000:]}\n"
        f"stderr:\n{done.stderr[-3000:]}"
    )
    return json.loads(lines[-1][len(marker):])


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("airflow_home")
    return run_child(DESCRIBE_DAGS, [str(DAGS_FOLDER)], home, "DAGBAG_REPORT=")  # type: ignore[no-any-return]


def test_every_dag_file_imports_without_errors(dagbag: dict[str, Any]) -> None:
    assert dagbag["import_errors"] == {}
    files = dag_files()
    assert files, f"no DAG files in {DAGS_FOLDER}"
    loaded_from = {Path(d["fileloc"]).resolve() for d in dagbag["dags"].values()}
    assert {p.resolve() for p in files} <= loaded_from, "a DAG file defines no DAG"
    assert "complaints_batch" in dagbag["dags"]


def test_every_dag_has_tags_owner_retries_and_docs(dagbag: dict[str, Any]) -> None:
    for dag_id, dag in dagbag["dags"].items():
        assert dag["tags"], f"{dag_id}: no tags"
        assert dag["doc_md"] and dag["doc_md"].strip(), f"{dag_id}: no doc_md"
        assert dag["tasks"], f"{dag_id}: no tasks"
        for task_id, task in dag["tasks"].items():
            assert task["owner"] and task["owner"].lower() != "airflow", (
                f"{dag_id}.{task_id}: owner is {task['owner']!r}")
            assert task["retries"] >= 2, f"{dag_id}.{task_id}: retries {task['retries']}"


def ancestors(tasks: dict[str, Any], task_id: str) -> set[str]:
    found: set[str] = set()
    todo = list(tasks[task_id]["upstream"])
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(tasks[current]["upstream"])
    return found


def test_complaints_batch_task_graph(dagbag: dict[str, Any]) -> None:
    tasks = dagbag["dags"]["complaints_batch"]["tasks"]
    land = {"land_call_logs", "land_web_forms", "land_dynamodb_export"}
    spine = ["transform_complaints", "check_complaints_quality", "refresh_warehouse"]
    assert land | set(spine) <= set(tasks)
    for task_id in land:
        assert tasks[task_id]["upstream"] == [], task_id
        assert "transform_complaints" in tasks[task_id]["downstream"], task_id
    assert set(tasks["transform_complaints"]["upstream"]) == land
    # transform -> check -> refresh, each directly after the one before.
    for before, after in zip(spine, spine[1:], strict=False):
        assert before in tasks[after]["upstream"], (before, after)
    assert tasks["check_complaints_quality"]["upstream"] == ["transform_complaints"]
    assert tasks["refresh_warehouse"]["downstream"] == [], "the warehouse refresh comes last"
    # Nothing reads the raw zone before every landing task is done, and the refresh waits for
    # every other task.
    for task_id in set(tasks) - land:
        assert land <= ancestors(tasks, task_id), task_id
    assert ancestors(tasks, "refresh_warehouse") == set(tasks) - {"refresh_warehouse"}


def test_dynamodb_landing_is_mapped_over_every_table(dagbag: dict[str, Any]) -> None:
    tasks = dagbag["dags"]["complaints_batch"]["tasks"]
    mapped = {task_id for task_id, task in tasks.items() if task["mapped"]}
    assert mapped == {"land_dynamodb_export"}
    assert tasks["land_dynamodb_export"]["expand"] == {"table": list(DYNAMODB_TABLES)}


def test_dag_files_do_not_import_heavy_libraries(tmp_path: Path) -> None:
    files = [str(p) for p in dag_files()]
    found = run_child(IMPORTED_HEAVY, [",".join(HEAVY_MODULES), *files], tmp_path / "airflow",
                      "HEAVY_REPORT=")
    assert set(found) == set(files)
    assert found == {path: [] for path in files}


def test_complaints_stream_task_graph(dagbag: dict[str, Any]) -> None:
    dag = dagbag["dags"]["complaints_stream"]
    assert "stream" in dag["tags"]
    tasks = dag["tasks"]
    chain = ["find_new_stream_files", "transform_stream", "check_complaints_quality",
             "refresh_warehouse"]
    assert set(tasks) == set(chain)
    for before, after in zip(chain, chain[1:], strict=False):
        assert tasks[after]["upstream"] == [before], (before, after)
    assert tasks["find_new_stream_files"]["upstream"] == []
    assert tasks["refresh_warehouse"]["downstream"] == []
