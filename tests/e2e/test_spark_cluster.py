"""The transform on a Spark standalone cluster gives the rows local mode gives (issue 7, item 6).

A master and two workers (1 core, 1 GiB each) are started with pyspark's own launcher
(``<pyspark>/bin/spark-class org.apache.spark.deploy.master.Master`` / ``...worker.Worker``), on
127.0.0.1, free ports, temporary work and scratch folders, each in its own process group. Bulk
sample data of every batch source (``samples.bulk``: call-centre and web-form files landed through
the lander, DynamoDB export files) is put in two lakes with the same raw files; ``complaints
transform`` runs against the cluster (``COMPLAINTS_SPARK_MASTER=spark://127.0.0.1:<port>``, a
separate driver process: executors write where the driver says, local paths on one machine) and
``run_transform`` in local mode on the other lake. Clean and quarantined rows must be identical
(every column but ``run_id``), the run counts too; both workers must have run executors of the
application; afterwards no process of the cluster is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psutil
import pyarrow.dataset as ds
import pyspark
import pytest

from bench.scale import build_lake
from common.settings import Settings
from complaints.emulator import free_port
from jobs.transform import run_transform
from samples.bulk import BulkPlan
from schemas.sources import BATCH_COMPLAINT_SOURCES, COMPLAINT_SOURCES

pytestmark = pytest.mark.e2e

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"
WORKERS = 2
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for 127.0.0.1


@dataclass
class Cluster:
    master_url: str
    web_url: str
    work_dirs: list[Path]
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]


def master_state(cluster: Cluster) -> dict[str, Any]:
    """The master's own JSON status (its web UI's /json/)."""
    with HTTP.open(f"{cluster.web_url}/json/", timeout=5) as response:
        state: dict[str, Any] = json.loads(response.read())
    return state


def log_tails(cluster: Cluster) -> str:
    return "\n".join(f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                     for log in cluster.logs)


def launch(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([str(SPARK_CLASS), *args], stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)


def wait_for_workers(cluster: Cluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in cluster.processes):
            break
        try:
            alive = [w for w in master_state(cluster).get("workers", [])
                     if w.get("state") == "ALIVE"]
            if len(alive) == WORKERS:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(1)
    raise AssertionError(f"the cluster did not come up with {WORKERS} workers\n"
                         f"{log_tails(cluster)}")


def group_of(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The launcher's process group (start_new_session: its pid is the group id): the master or
    worker JVM and, for a worker, the executors it started."""
    found = []
    for candidate in psutil.process_iter():
        try:
            if os.getpgid(candidate.pid) == process.pid and candidate.status() != "zombie":
                found.append(candidate)
        except (ProcessLookupError, psutil.Error):
            pass
    return found


def stop(processes: list[subprocess.Popen[bytes]]) -> list[psutil.Process]:
    """SIGTERM each process group (workers first), SIGKILL what is left after a grace period;
    returns what is still running after that (should be nothing)."""
    started = {p.pid: group_of(p) for p in processes}
    for process in reversed(processes):
        for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
            psutil.wait_procs(group_of(process), timeout=grace)
            if not group_of(process):
                break
    return [p for group in started.values() for p in group if p.is_running()
            and p.status() != "zombie"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_DAEMON_MEMORY": "512m",
           "PYSPARK_PYTHON": sys.executable}
    port, web_port = free_port(), free_port()
    logs = tmp_path / "cluster-logs"
    logs.mkdir()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web_port}", [], [], [])
    try:
        cluster.logs.append(logs / "master.log")
        cluster.processes.append(launch(
            ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(web_port)], cluster.logs[-1], env))
        for n in range(WORKERS):
            work, scratch = tmp_path / f"worker-{n}", tmp_path / f"worker-{n}-scratch"
            work.mkdir()
            scratch.mkdir()
            cluster.work_dirs.append(work)
            cluster.logs.append(logs / f"worker-{n}.log")
            cluster.processes.append(launch(
                ["org.apache.spark.deploy.worker.Worker", cluster.master_url,
                 "--host", "127.0.0.1", "--port", str(free_port()),
                 "--webui-port", str(free_port()), "--cores", "1", "--memory", "1g",
                 "--work-dir", str(work)],
                cluster.logs[-1], {**env, "SPARK_LOCAL_DIRS": str(scratch)}))
        wait_for_workers(cluster)
        yield cluster
    finally:
        left = stop(cluster.processes)
        assert not left, f"still running after the cluster was stopped: {left}"


def rows(root: Path, sort_by: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every row of a hive-partitioned Parquet folder but run_id, in a stable order."""
    table = ds.dataset(str(root), format="parquet", partitioning="hive").to_table()
    found = [{k: v for k, v in r.items() if k != "run_id"} for r in table.to_pylist()]
    return sorted(found, key=lambda r: tuple(str(r[k]) for k in sort_by))


def counts(result: Any) -> list[tuple[Any, ...]]:
    return [(c.source, c.raw_files, c.records_in, c.clean, c.quarantined, c.duplicates)
            for c in result.counts]


def test_transform_on_a_standalone_cluster_equals_local_mode(
        cluster: Cluster, spark: Any, tmp_path: Path) -> None:
    local = Settings(lake=tmp_path / "local" / "lake")
    plan = BulkPlan(records=6_000, days=4, start=date(2026, 11, 2), workers=1)
    summary, _ = build_lake(local, plan, tmp_path / "generated", "e2e")
    on_cluster = Settings(lake=tmp_path / "cluster" / "lake",
                          spark_master=cluster.master_url)
    shutil.copytree(local.zones.raw, on_cluster.zones.raw)

    env = {**os.environ, **on_cluster.to_env(), "SPARK_LOCAL_IP": "127.0.0.1",
           "PYSPARK_PYTHON": sys.executable}
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "complaints.cli", "transform"], env=env,
                          capture_output=True, text=True, timeout=600)
    cluster_s = time.monotonic() - began
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    cluster_result = json.loads(done.stdout)

    began = time.monotonic()
    local_result = run_transform(local, sources=COMPLAINT_SOURCES, spark=spark)
    local_s = time.monotonic() - began
    print(f"transform: cluster {cluster_s:.1f} s (separate driver JVM), local {local_s:.1f} s")

    # The application ran on the cluster, with executors on both workers.
    apps = master_state(cluster)["completedapps"]
    assert [a["name"] for a in apps] == ["complaints"]
    assert all(list(w.glob("app-*/*/stderr")) for w in cluster.work_dirs), log_tails(cluster)

    # Same counts, same rows.
    assert [(c["source"], c["raw_files"], c["records_in"], c["clean"], c["quarantined"],
             c["duplicates"]) for c in cluster_result["counts"]] == counts(local_result)
    local_rows = rows(local.zones.clean_complaints, ("complaint_id",))
    assert {r["source"] for r in local_rows} == set(BATCH_COMPLAINT_SOURCES)
    assert len(local_rows) > 0.8 * summary.counts["call_center"].records
    assert rows(on_cluster.zones.clean_complaints, ("complaint_id",)) == local_rows
    key = ("source", "raw_file", "raw_line")
    local_quarantine = rows(local.zones.quarantine_records, key)
    assert len(local_quarantine) > 0
    assert rows(on_cluster.zones.quarantine_records, key) == local_quarantine
