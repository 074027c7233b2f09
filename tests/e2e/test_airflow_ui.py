"""``make airflow`` end to end: the UI comes up, and the real scheduler runs the DAGs to success.

Runs what ``make airflow`` runs, ``complaints airflow``, from a shell whose PATH does not hold the
virtualenv (as after ``make install`` without activating it), in its own process group with a
temporary AIRFLOW_HOME and lake, on a free port, with nothing started by hand: the launcher starts
and seeds the AWS emulator itself (two days of samples, to keep the runs short). The tests wait for
the API server's health endpoint, log in with the generated admin password the start-up line points
at, check the DAGs are loaded unpaused with the Spark pool in place, trigger ``complaints_batch``
through the REST API (v2) and follow that run, in the real scheduler (not ``dag.test``), to
success; the scheduler's own runs (the latest daily run, the stream micro-batch) must succeed too.
Then a Ctrl+C (SIGINT to the process group) must stop everything the launcher started: no process
left (task processes and Spark JVMs included), the UI port and the emulator's port free, and
nothing left for the test to stop: whatever outlives the launcher is a leak.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from common.settings import Settings
from complaints.airflow_local import DAGS_FOLDER, airflow_env
from complaints.emulator import free_port

pytestmark = pytest.mark.e2e

T = TypeVar("T")
VENV_BIN = Path(sys.executable).parent
CONSOLE_SCRIPT = VENV_BIN / "complaints"
SEED_DAYS = 2
HEALTH_TIMEOUT_S = 240
PARSE_TIMEOUT_S = 120
# The scheduler's own daily run comes first (one active run at a time), then the triggered one:
# about 6 minutes for both on an idle 2-core machine, much longer when other work shares it.
RUN_TIMEOUT_S = 1800
STOP_TIMEOUT_S = 90
# Once `complaints airflow` has exited (it waits for what it started), its process group must be
# empty within this; what is still there was left behind.
LEFTOVER_GRACE_S = 5
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
DAG_IDS = ("complaints_batch", "complaints_stream")
SPARK_TASKS = ("transform_complaints", "transform_operational_tables", "link_customers")
UI_LINE = re.compile(
    r"^Airflow UI: (?P<url>http://127\.0\.0\.1:(?P<port>\d+))\s+\(login: (?P<user>\w+);"
    r" password in (?P<password_file>\S+?), .*\)$"
)
EMULATOR_LINE = re.compile(r"^AWS emulator: (?P<url>http://127\.0\.0\.1:(?P<port>\d+)) ")
# The API server can take long to answer while Spark tasks keep both cores busy.
REQUEST_TIMEOUT_S = 60
# No proxy for 127.0.0.1, whatever the environment says.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Launcher:
    process: subprocess.Popen[bytes]
    port: int
    url: str
    home: Path
    lake: Path
    log: Path
    env: dict[str, str]
    subreaper: bool = False
    # this process's descendants before the launcher started (the session's Spark JVM, ...): not
    # the launcher's
    earlier: frozenset[int] = frozenset()

    def leftovers(self) -> dict[int, str]:
        """What the launcher left behind: orphans reparented to this process (a child subreaper)
        that were not there before it started."""
        if not self.subreaper:
            return {}
        return {pid: command for pid, command in descendants(os.getpid()).items()
                if pid not in self.earlier}

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def line(self, pattern: re.Pattern[str]) -> re.Match[str]:
        found = [m for m in map(pattern.match, self.lines()) if m]
        assert found, f"no line matching {pattern.pattern!r}:\n{log_tail(self.log)}"
        return found[0]


def request(method: str, url: str, body: dict[str, Any] | None = None,
            token: str | None = None, timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with HTTP.open(req, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


def log_tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def proc_stats() -> dict[int, list[str]]:
    """pid -> the fields of /proc/<pid>/stat after the command (state, parent, group, ...)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            found[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
    return found


def group_processes(pgid: int) -> dict[int, str]:
    """pid -> state of every process of a process group (zombies included), from /proc."""
    return {pid: fields[0] for pid, fields in proc_stats().items() if int(fields[2]) == pgid}


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    return sorted(pid for pid, state in group_processes(pgid).items() if state != "Z")


def describe(pids: list[int]) -> dict[int, str]:
    """pid -> state and command line, for a failure message."""
    found = {}
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError):
            continue
        found[pid] = f"{state} {command.decode(errors='replace').strip()[:200]}"
    return found


def descendants(root: int) -> dict[int, str]:
    """pid -> command of the live descendants of a process, from /proc. With this process a child
    subreaper, every orphan the launcher left behind is one, whatever its group or environment."""
    stats = proc_stats()
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return describe([pid for pid in found if stats[pid][0] != "Z"])


def processes_of_home(home: Path) -> dict[int, str]:
    """pid -> command of every live process whose environment names this AIRFLOW_HOME: whatever
    the launcher started, even in process groups of their own (Airflow's task processes are).
    Blind to a process that called ``setproctitle`` (it overwrites /proc/<pid>/environ: the
    LocalExecutor workers, the task processes forked from them, the API server); with the test
    a child subreaper, ``Launcher.leftovers`` finds those once orphaned."""
    marker = f"AIRFLOW_HOME={home}\0".encode()
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(proc.name) == os.getpid() or marker not in (proc / "environ").read_bytes():
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if state != "Z":
            found[int(proc.name)] = command[:200]
    return found


def reap_group(pgid: int) -> None:
    """Collect the exit status of the group's zombies that were reparented to this process."""
    for pid, state in group_processes(pgid).items():
        if state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass  # not our child: its own parent (or init) reaps it


def set_child_subreaper(on: bool) -> bool:
    """Orphans of our descendants are reparented to us (so we can reap them), not to PID 1,
    which in some containers never reaps. Linux only; False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def stop_group(process: subprocess.Popen[bytes],
               first: signal.Signals = signal.SIGINT) -> dict[int, str]:
    """Ctrl+C to the whole group (as in a terminal), then SIGTERM and SIGKILL for whatever is
    still there after each grace period: STOP_TIMEOUT_S for the launcher to exit, then
    LEFTOVER_GRACE_S for the rest of its group (the launcher waits for what it started, nobody
    stops what it left). Returns what the first signal did not stop: pid -> state and command
    line, empty when the group stopped by itself."""
    pgid = process.pid  # start_new_session=True: the leader's pid is the group id
    outlived: dict[int, str] = {}
    for sig, grace in ((first, STOP_TIMEOUT_S), (signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if sig is not first:
            outlived.update(describe(group_members(pgid)))
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        settling = False
        while time.monotonic() < deadline:
            try:
                process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            reap_group(pgid)
            if process.poll() is not None:
                if not group_members(pgid):
                    time.sleep(0.5)  # let the last orphans be reparented, then reap them
                    reap_group(pgid)
                    return outlived
                if not settling:  # the launcher is gone: only the next signal stops the rest
                    settling = True
                    deadline = min(deadline, time.monotonic() + LEFTOVER_GRACE_S)
    return outlived


def kill_leftovers(launcher: Launcher) -> None:
    """Last resort in teardown, so a failed test does not leave servers behind."""
    for pid in {**processes_of_home(launcher.home), **launcher.leftovers()}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False  # something still accepts connections
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def shell_path() -> str:
    """The caller's PATH without the virtualenv, as for ``make airflow`` in a fresh shell."""
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != VENV_BIN.resolve())


def wait_for(what: str, launcher: Launcher, check: Callable[[], T | None], timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if launcher.process.poll() is not None:
            pytest.fail(f"`complaints airflow` exited {launcher.process.returncode} while waiting "
                        f"for {what}:\n{log_tail(launcher.log)}")
        try:
            result = check()
        except OSError:  # the API server is slow to answer on a busy machine: ask again
            result = None
        if result:
            return result
        time.sleep(2)
    pytest.fail(f"no {what} within {timeout_s} s:\n{log_tail(launcher.log)}")


def healthy(launcher: Launcher) -> bool:
    try:
        status, body = request("GET", f"{launcher.url}/api/v2/monitor/health", timeout=3)
    except OSError:
        return False
    return status == 200 and isinstance(body, dict) and all(
        body.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler"))


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    base = tmp_path_factory.mktemp("airflow_ui")
    home, lake, log = base / "airflow", base / "lake", base / "launcher.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "COMPLAINTS_", "VIRTUAL_ENV"))}
    env.update({"PATH": shell_path(), "AIRFLOW_HOME": str(home), "COMPLAINTS_LAKE": str(lake)})
    subreaper = set_child_subreaper(True)
    earlier = frozenset(descendants(os.getpid()))
    began = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(CONSOLE_SCRIPT), "airflow", "--port", str(port), "--seed-days", str(SEED_DAYS)],
            env=env, cwd=base, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    # What the Airflow CLI needs to read the same metadata DB (as the launcher's processes).
    cli_env = airflow_env(Settings(lake=lake), home, base=env, port=port)
    cli_env["PATH"] = os.pathsep.join([str(VENV_BIN), env["PATH"]])
    ui = Launcher(process, port, f"http://127.0.0.1:{port}", home, lake, log, cli_env,
                  subreaper=subreaper, earlier=earlier)
    try:
        wait_for("/api/v2/monitor/health", ui, lambda: healthy(ui), HEALTH_TIMEOUT_S)
        # the launcher prints its banner after its own health check, which may come a poll later
        wait_for("the ready banner", ui,
                 lambda: any(line.startswith("Airflow is ready:") for line in ui.lines()), 60)
        print(f"\n`complaints airflow` healthy after {time.monotonic() - began:.0f} s")
        yield ui
    finally:
        stop_group(process)
        kill_leftovers(ui)
        if subreaper:
            set_child_subreaper(False)


@pytest.fixture(scope="module")
def token(launcher: Launcher) -> str:
    password_file = Path(launcher.line(UI_LINE)["password_file"])
    password = json.loads(password_file.read_text())["admin"]
    status, body = request("POST", f"{launcher.url}/auth/token",
                           {"username": "admin", "password": password})
    assert status == 201, body
    return str(body["access_token"])


def api(launcher: Launcher, token: str, path: str, body: dict[str, Any] | None = None,
        method: str | None = None) -> Any:
    for _ in range(5):  # SQLite may be locked by the scheduler a moment: "Database error" 500
        status, answer = request(method or ("POST" if body is not None else "GET"),
                                 f"{launcher.url}/api/v2/{path}", body, token=token)
        if status != 500:
            break
        time.sleep(3)
    assert status in (200, 201), (path, status, answer)
    return answer


@pytest.fixture(scope="module")
def dags(launcher: Launcher, token: str) -> dict[str, dict[str, Any]]:
    """The DAGs in the metadata DB, once the DAG processor has parsed both."""
    def parsed() -> dict[str, dict[str, Any]] | None:
        found = {d["dag_id"]: d for d in api(launcher, token, "dags?limit=100")["dags"]}
        return found if set(DAG_IDS) <= set(found) else None

    return wait_for("parsed DAGs", launcher, parsed, PARSE_TIMEOUT_S)


def airflow_cli(launcher: Launcher, *args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "airflow", *args], env=launcher.env,
                          cwd=launcher.home, capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # Airflow logs warnings to stdout too; the JSON document is the last line that parses.
    for line in reversed(done.stdout.splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    pytest.fail(f"no JSON in the output of airflow {' '.join(args)}:\n{done.stdout[-3000:]}")


def test_startup_names_the_url_login_emulator_and_how_to_trigger(launcher: Launcher) -> None:
    ui = launcher.line(UI_LINE)
    assert ui["url"] == launcher.url and int(ui["port"]) == launcher.port
    assert ui["user"] == "admin"
    path = Path(ui["password_file"])
    assert path == launcher.home / "simple_auth_manager_passwords.json.generated"
    assert set(json.loads(path.read_text())) == {"admin"}
    emulator = launcher.line(EMULATOR_LINE)
    assert request("GET", f"{emulator['url']}/moto-api/")[0] == 200
    assert any(line.startswith(f"Seeded {SEED_DAYS} days of sample data")
               for line in launcher.lines())
    text = "\n".join(launcher.lines())
    assert f"Airflow is ready: {launcher.url}" in text
    assert "dags trigger complaints_batch" in text  # the CLI way
    assert f"{launcher.url}/api/v2/dags/complaints_batch/dagRuns" in text  # the REST way
    assert f"COMPLAINTS_AWS_ENDPOINT_URL={emulator['url']}" in text
    status, body = request("GET", f"{launcher.url}/")
    assert status == 200 and "<html" in str(body).lower()


def test_login_checks_the_password(launcher: Launcher, token: str) -> None:
    assert token
    status, _ = request("POST", f"{launcher.url}/auth/token",
                        {"username": "admin", "password": "not-the-password"})
    assert status == 401
    status, _ = request("GET", f"{launcher.url}/api/v2/dags")
    assert status == 401


def test_dags_are_loaded_unpaused_with_no_import_errors(
        launcher: Launcher, token: str, dags: dict[str, dict[str, Any]]) -> None:
    for dag_id in DAG_IDS:
        dag = dags[dag_id]
        assert dag["is_paused"] is False, f"{dag_id} is paused"
        assert dag["has_import_errors"] is False
        assert "complaints-data" in dag["owners"]
        assert Path(dag["fileloc"]).resolve().parent == DAGS_FOLDER.resolve()
    assert {t["name"] for t in dags["complaints_batch"]["tags"]} >= {"complaints", "batch"}
    assert api(launcher, token, "importErrors")["total_entries"] == 0


def test_spark_pool_is_created_with_one_slot(launcher: Launcher, token: str) -> None:
    pool = api(launcher, token, "pools/complaints_spark")
    assert pool["slots"] == 1


def test_airflow_cli_sees_the_same_dags(launcher: Launcher,
                                        dags: dict[str, dict[str, Any]]) -> None:
    assert airflow_cli(launcher, "dags", "list-import-errors", "-o", "json") == []
    listed = {d["dag_id"] for d in airflow_cli(launcher, "dags", "list", "-o", "json")}
    assert listed == set(dags)


def finished_run(launcher: Launcher, token: str, dag_id: str, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = api(launcher, token, f"dags/{dag_id}/dagRuns/{run_id}")
        return run if run["state"] in ("success", "failed") else None

    return wait_for(f"end of {dag_id} run {run_id}", launcher, done, RUN_TIMEOUT_S)


def task_instances(launcher: Launcher, token: str, dag_id: str,
                   run_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(
        launcher, token, f"dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100"
    )["task_instances"]
    return found


@pytest.mark.timeout(RUN_TIMEOUT_S + 300)
def test_triggered_batch_run_succeeds_in_the_scheduler(
        launcher: Launcher, token: str, dags: dict[str, dict[str, Any]]) -> None:
    began = time.monotonic()
    triggered = api(launcher, token, "dags/complaints_batch/dagRuns", {"logical_date": None})
    assert triggered["run_type"] == "manual"
    run = finished_run(launcher, token, "complaints_batch", triggered["dag_run_id"])
    tasks = task_instances(launcher, token, "complaints_batch", run["dag_run_id"])
    states = {(t["task_id"], t["map_index"]): t["state"] for t in tasks}
    assert run["state"] == "success", states
    print(f"\ntriggered complaints_batch run finished after {time.monotonic() - began:.0f} s")
    assert set(states.values()) == {"success"}
    # No try failed (e.g. a task started before the API server listened) and was retried.
    assert {(t["task_id"], t["map_index"]): t["try_number"] for t in tasks if t["try_number"] != 1
            } == {}
    # The Spark tasks (two transforms, the linking, the cases) ran in the pool, one after the
    # other.
    spark = {t["task_id"]: t for t in tasks if t["task_id"] in SPARK_TASKS}
    assert {t["pool"] for t in spark.values()} == {"complaints_spark"}
    ordered = sorted(spark.values(), key=lambda t: str(t["start_date"]))
    for first, second in zip(ordered, ordered[1:], strict=False):
        assert datetime.fromisoformat(first["end_date"]) <= datetime.fromisoformat(
            second["start_date"]), spark
    # The clean complaints are in the lake, the warehouse was refreshed, no task failure alert.
    settings = Settings(lake=launcher.lake)
    parquet = list(settings.zones.clean_complaints.glob("event_date=*/source=*/*.parquet"))
    assert parquet, f"no clean complaints under {settings.zones.clean_complaints}"
    sources = {p.parent.name.split("=", 1)[1] for p in parquet}
    assert {"call_center", "web_form"} <= sources
    assert settings.zones.warehouse.is_file()
    assert not list(settings.zones.task_failure_alerts.rglob("*.json"))


def test_the_schedulers_own_runs_succeed(launcher: Launcher, token: str,
                                         dags: dict[str, dict[str, Any]]) -> None:
    """Nothing started by hand: the unpaused DAGs' scheduled runs end in success too."""
    for dag_id in DAG_IDS:
        runs = api(launcher, token, f"dags/{dag_id}/dagRuns?run_type=scheduled")["dag_runs"]
        assert runs, f"the scheduler started no {dag_id} run"
        for run in runs:
            ended = finished_run(launcher, token, dag_id, run["dag_run_id"])
            assert ended["state"] == "success", (dag_id, ended["dag_run_id"])
            retried = {(t["task_id"], t["map_index"]): t["try_number"]
                       for t in task_instances(launcher, token, dag_id, run["dag_run_id"])
                       if t["try_number"] > 1}
            assert retried == {}, (dag_id, run["dag_run_id"])


def test_assets_show_what_feeds_what(launcher: Launcher, token: str,
                                     dags: dict[str, dict[str, Any]]) -> None:
    assets = {a["name"]: a for a in api(launcher, token, "assets?limit=100")["assets"]}
    producers = {name: {(t["dag_id"], t["task_id"]) for t in a["producing_tasks"]}
                 for name, a in assets.items()}
    consumers = {name: {(t["dag_id"], t["task_id"]) for t in a["consuming_tasks"]}
                 for name, a in assets.items()}
    assert producers["raw/call_center"] == {("complaints_batch", "land_call_logs")}
    assert ("complaints_batch", "transform_complaints") in consumers["raw/call_center"]
    assert producers["clean/complaints"] == {("complaints_batch", "transform_complaints"),
                                             ("complaints_stream", "transform_stream")}
    assert ("complaints_stream", "transform_stream") in consumers["raw/sms"]
    assert producers["warehouse"] == {("complaints_batch", "refresh_warehouse"),
                                      ("complaints_stream", "refresh_warehouse")}
    # After the runs: the raw table a mapped landing task reported through the alias, the clean
    # complaints and the warehouse have events.
    for name in ("raw/chat_messages", "clean/complaints", "warehouse"):
        assert assets[name]["last_asset_event"], name


def test_ctrl_c_stops_everything_the_launcher_started(launcher: Launcher,
                                                      dags: dict[str, dict[str, Any]]) -> None:
    # Runs last in this module: stops the group here (the fixture's teardown then has no work).
    emulator_port = int(launcher.line(EMULATOR_LINE)["port"])
    assert group_members(launcher.process.pid), "`complaints airflow` was not running"
    began = time.monotonic()
    outlived = stop_group(launcher.process, signal.SIGINT)
    print(f"\nCtrl+C stopped the group in {time.monotonic() - began:.1f} s")
    # Nothing had to be stopped by the test: the launcher exited with its whole group stopped.
    assert outlived == {}, ("still running after `complaints airflow` had exited (stopped by the "
                            f"test with SIGTERM/SIGKILL): {outlived}\n{log_tail(launcher.log)}")
    assert launcher.process.poll() is not None
    assert group_members(launcher.process.pid) == []
    if launcher.subreaper:  # no zombies left behind either
        assert group_processes(launcher.process.pid) == {}

    # Airflow's task processes (and their Spark JVMs) run in process groups of their own.
    def left() -> dict[int, str]:
        return {**processes_of_home(launcher.home), **launcher.leftovers()}

    deadline = time.monotonic() + 30
    while left() and time.monotonic() < deadline:
        time.sleep(1)
    assert left() == {}
    said = "\n".join(launcher.lines())
    assert "Stopping Airflow (SIGINT)" in said
    # The launcher says how long each part took to stop and what it took.
    stopped = r"^Airflow stopped in [0-9.]+ s \((SIGINT|SIGTERM|SIGKILL)"
    assert re.search(stopped, said, re.M), said[-2000:]
    assert re.search(r"^AWS emulator stopped in [0-9.]+ s$", said, re.M), said[-2000:]
    assert port_is_free(launcher.port)
    assert port_is_free(emulator_port)
