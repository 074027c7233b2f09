"""DAG integrity: every DAG in ``dags/`` loads in Airflow's DagBag and follows the house rules.

Airflow reads its configuration when it is first imported, so the DagBag is filled in a fresh
interpreter with a temporary ``AIRFLOW_HOME`` (examples off) and a temporary lake; it reports what
it found as JSON and the tests assert on that. The test process itself never imports Airflow.

House rules: tags, docs, an owner, retries, an execution timeout and the failure-alert callback on
every task; the Spark transforms (and only they) in the Spark pool; assets saying what each task
reads and updates; the shared modules of ``dags/`` not parsed as DAG files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from common.settings import REPO_ROOT, Settings
from schemas.sources import DYNAMODB_TABLES

DAGS_FOLDER = REPO_ROOT / "dags"
HEAVY_MODULES = ("pyspark", "duckdb", "great_expectations", "pandas")
FAILURE_CALLBACK = "dags.failure_alerts.record_task_failure"
SPARK_TASKS = {
    ("complaints_batch", "transform_complaints"),
    ("complaints_batch", "transform_operational_tables"),
    ("complaints_batch", "link_customers"),
    ("complaints_stream", "transform_stream"),
}

# Runs in the child: fill a DagBag from the dags folder and describe every DAG and task.
DESCRIBE_DAGS = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import Asset, AssetAlias
from airflow.utils.file import list_py_file_paths

def callbacks(value):
    found = value if isinstance(value, (list, tuple)) else [value] if value else []
    return [f"{c.__module__}.{c.__qualname__}" for c in found]

def assets(values):
    described = []
    for a in values or []:
        if isinstance(a, AssetAlias):
            described.append({"alias": a.name})
        elif isinstance(a, Asset):
            described.append({"name": a.name, "uri": a.uri, "group": a.group})
        else:
            described.append({"other": repr(a)})
    return described

bag = DagBag(dag_folder=sys.argv[1])
dags = {}
for dag_id, dag in bag.dags.items():
    tasks = {}
    for task in dag.tasks:
        mapped = bool(getattr(task, "is_mapped", False))
        expand = {}
        if mapped:
            expand = {k: list(v) for k, v in task._get_specified_expand_input().value.items()}
        timeout = task.execution_timeout
        tasks[task.task_id] = {
            "owner": task.owner,
            "retries": task.retries,
            "mapped": mapped,
            "expand": expand,
            "upstream": sorted(task.upstream_task_ids),
            "downstream": sorted(task.downstream_task_ids),
            "execution_timeout_s": timeout.total_seconds() if timeout else None,
            "pool": task.pool,
            "on_failure_callback": callbacks(task.on_failure_callback),
            "inlets": assets(task.inlets),
            "outlets": assets(task.outlets),
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
    "parsed_files": sorted(list_py_file_paths(sys.argv[1])),
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


def shared_modules() -> list[Path]:
    """Modules of dags/ that DAG files import, kept from the DAG processor by .airflowignore."""
    patterns = [line.strip() for line in (DAGS_FOLDER / ".airflowignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    return sorted(p for p in DAGS_FOLDER.glob("*.py") if any(p.match(g) for g in patterns))


def dag_files() -> list[Path]:
    return sorted(p for p in DAGS_FOLDER.glob("*.py")
                  if not p.name.startswith(("_", ".")) and p not in shared_modules())


def child_env(airflow_home: Path, lake: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "COMPLAINTS_"))}
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "COMPLAINTS_LAKE": str(lake or airflow_home.parent / "lake"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    })
    return env


def run_child(script: str, args: list[str], airflow_home: Path, marker: str,
              lake: Path | None = None) -> Any:
    airflow_home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=child_env(airflow_home, lake),
        cwd=airflow_home, capture_output=True, text=True, timeout=300, check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(marker)]
    assert done.returncode == 0 and lines, (
        f"child exited {done.returncode}\nstdout:\n{done.stdout[-3000:]}\n"
        f"stderr:\n{done.stderr[-3000:]}"
    )
    return json.loads(lines[-1][len(marker):])


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dag_parse") / "lake"


@pytest.fixture(scope="module")
def dagbag(lake: Path) -> dict[str, Any]:
    home = lake.parent / "airflow_home"
    return run_child(DESCRIBE_DAGS, [str(DAGS_FOLDER)], home, "DAGBAG_REPORT=", lake)  # type: ignore[no-any-return]


def all_tasks(dagbag: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(dag_id, task_id, task) for dag_id, dag in dagbag["dags"].items()
            for task_id, task in dag["tasks"].items()]


def test_every_dag_file_imports_without_errors(dagbag: dict[str, Any]) -> None:
    assert dagbag["import_errors"] == {}
    files = dag_files()
    assert files, f"no DAG files in {DAGS_FOLDER}"
    loaded_from = {Path(d["fileloc"]).resolve() for d in dagbag["dags"].values()}
    assert {p.resolve() for p in files} <= loaded_from, "a DAG file defines no DAG"
    assert {"complaints_batch", "complaints_stream"} <= set(dagbag["dags"])


def test_shared_modules_are_not_parsed_as_dag_files(dagbag: dict[str, Any]) -> None:
    shared = {p.name for p in shared_modules()}
    assert {"complaint_tasks.py", "failure_alerts.py"} <= shared
    parsed = {Path(f).name for f in dagbag["parsed_files"]}
    assert parsed == {p.name for p in dag_files()}, "the DAG processor would parse these files"


def test_every_dag_has_tags_owner_retries_and_docs(dagbag: dict[str, Any]) -> None:
    for dag_id, dag in dagbag["dags"].items():
        assert dag["tags"], f"{dag_id}: no tags"
        assert dag["doc_md"] and dag["doc_md"].strip(), f"{dag_id}: no doc_md"
        assert dag["tasks"], f"{dag_id}: no tasks"
        for task_id, task in dag["tasks"].items():
            assert task["owner"] and task["owner"].lower() != "airflow", (
                f"{dag_id}.{task_id}: owner is {task['owner']!r}")
            assert task["retries"] >= 2, f"{dag_id}.{task_id}: retries {task['retries']}"


def test_every_task_has_an_execution_timeout(dagbag: dict[str, Any]) -> None:
    for dag_id, task_id, task in all_tasks(dagbag):
        timeout = task["execution_timeout_s"]
        assert timeout is not None and 0 < timeout <= 6 * 3600, (dag_id, task_id, timeout)
    # Spark transforms recompute whole sources: they get more time than the rest.
    spark = {(d, t): task["execution_timeout_s"] for d, t, task in all_tasks(dagbag)
             if (d, t) in SPARK_TASKS}
    others = [task["execution_timeout_s"] for d, t, task in all_tasks(dagbag)
              if (d, t) not in SPARK_TASKS]
    assert min(spark.values()) > max(others)


def test_spark_tasks_and_only_they_run_in_the_spark_pool(dagbag: dict[str, Any]) -> None:
    pool = Settings().spark_pool
    in_pool = {(dag_id, task_id) for dag_id, task_id, task in all_tasks(dagbag)
               if task["pool"] == pool}
    assert in_pool == SPARK_TASKS
    for dag_id, task_id, task in all_tasks(dagbag):
        if (dag_id, task_id) not in SPARK_TASKS:
            assert task["pool"] == "default_pool", (dag_id, task_id, task["pool"])


def test_every_task_records_its_failure_as_an_alert(dagbag: dict[str, Any]) -> None:
    for dag_id, task_id, task in all_tasks(dagbag):
        assert task["on_failure_callback"] == [FAILURE_CALLBACK], (dag_id, task_id)


def asset_names(assets: list[dict[str, str]]) -> set[str]:
    return {a.get("name") or f"alias:{a['alias']}" for a in assets}


def test_assets_connect_the_dags_to_the_lake(dagbag: dict[str, Any], lake: Path) -> None:
    batch = dagbag["dags"]["complaints_batch"]["tasks"]
    stream = dagbag["dags"]["complaints_stream"]["tasks"]
    tables = set(DYNAMODB_TABLES)
    assert asset_names(batch["land_call_logs"]["outlets"]) == {"raw/call_center"}
    assert asset_names(batch["land_web_forms"]["outlets"]) == {"raw/web_form"}
    assert asset_names(batch["land_dynamodb_export"]["outlets"]) == {"alias:raw/dynamodb_exports"}
    assert asset_names(batch["transform_complaints"]["inlets"]) == {
        "raw/call_center", "raw/web_form", "raw/complaint_management", "raw/mbpp_reports",
        "raw/chat_messages"}
    assert asset_names(batch["transform_operational_tables"]["inlets"]) == {
        f"raw/{t}" for t in tables}
    assert asset_names(batch["transform_operational_tables"]["outlets"]) == {
        f"clean/{t}" for t in tables}
    assert asset_names(batch["check_operational_quality"]["inlets"]) == {
        f"clean/{t}" for t in tables}
    assert asset_names(batch["link_customers"]["inlets"]) == {
        "clean/complaints", *(f"clean/{t}" for t in tables)}
    assert asset_names(batch["link_customers"]["outlets"]) == {"clean/customer_links",
                                                               "clean/complaint_cases"}
    assert "clean/customer_links" in asset_names(batch["refresh_warehouse"]["inlets"])
    assert "clean/complaint_cases" in asset_names(batch["refresh_warehouse"]["inlets"])
    for tasks, transform in ((batch, "transform_complaints"), (stream, "transform_stream")):
        assert asset_names(tasks[transform]["outlets"]) == {"clean/complaints"}
        assert "clean/complaints" in asset_names(tasks["check_complaints_quality"]["inlets"])
        assert "clean/complaints" in asset_names(tasks["refresh_warehouse"]["inlets"])
        assert asset_names(tasks["refresh_warehouse"]["outlets"]) == {"warehouse"}
    assert asset_names(stream["transform_stream"]["inlets"]) == {"raw/sms", "raw/social"}
    # Every asset is a folder (or the warehouse file) of the lake the DAGs were parsed with.
    for dag_id, task_id, task in all_tasks(dagbag):
        for asset in task["inlets"] + task["outlets"]:
            if "alias" in asset:
                continue
            name = asset["name"]
            path = lake / "warehouse.duckdb" if name == "warehouse" else lake / name
            assert asset["uri"] == path.resolve().as_uri(), (dag_id, task_id, asset)
            assert asset["group"] == "complaints-lake", (dag_id, task_id, asset)


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
    assert tasks["detect_surges"]["upstream"] == ["transform_complaints"]
    assert tasks["check_operational_quality"]["upstream"] == ["transform_operational_tables"]
    assert "check_operational_quality" in tasks["refresh_warehouse"]["upstream"]
    assert "detect_surges" in tasks["refresh_warehouse"]["upstream"]
    assert "check_freshness" in tasks["refresh_warehouse"]["upstream"]
    # Links need both the clean complaints and the master (an operational table).
    assert tasks["link_customers"]["upstream"] == ["transform_complaints",
                                                   "transform_operational_tables"]
    # The cases are made in the linking task (they need the links); the refresh waits for it.
    assert "link_customers" in tasks["refresh_warehouse"]["upstream"]
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
    assert set(tasks) == {*chain, "detect_surges", "check_freshness"}
    # Freshness runs on every run, also when no new stream file skips the rest.
    assert tasks["check_freshness"]["upstream"] == tasks["check_freshness"]["downstream"] == []
    for before, after in zip(chain[:3], chain[1:3], strict=False):
        assert tasks[after]["upstream"] == [before], (before, after)
    # Surge detection runs beside the quality gate, after the transform; the refresh waits for
    # both.
    assert tasks["detect_surges"]["upstream"] == ["transform_stream"]
    assert sorted(tasks["refresh_warehouse"]["upstream"]) == ["check_complaints_quality",
                                                              "detect_surges"]
    assert tasks["find_new_stream_files"]["upstream"] == []
    assert tasks["refresh_warehouse"]["downstream"] == []
