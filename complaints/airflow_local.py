"""Run the project's DAGs through real Airflow on one machine (SQLite metadata DB).

* ``airflow_env``: the environment every Airflow process of the local default gets.
* ``prepare_metadata_db``: migrate the metadata DB and create the Spark pool (one interpreter).
* ``run_dag``: one DAG run with ``dag.test()`` in a fresh process, reporting its final state
  (``complaints run-dag``, the demo; ``airflow dags test`` exits 0 even when the run fails).
* ``serve``: ``complaints airflow`` / ``make airflow``: ``airflow standalone`` (API server and UI,
  scheduler, DAG processor, triggerer) on a free port, with the AWS emulator started and seeded
  when no endpoint is configured, the Spark pool created and the DAGs unpaused. Ctrl+C (or
  SIGTERM) stops Airflow and the emulator it started.

Ports: Airflow's worker log server listens on 8793 and the triggerer's on 8794 by default; the API
server must not take either, and tasks report to the execution API on the API server's port
(``AIRFLOW__CORE__EXECUTION_API_SERVER_URL``). The UI takes 8080 when free, else the next free
port; the log servers get free ports too, so two local Airflows (or a test) can run side by side.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType

from common.settings import REPO_ROOT, Settings
from complaints.emulator import (
    LOG_FILE,
    SEED_DAYS,
    SEED_START,
    moto_server,
    running_emulator,
    seed_if_empty,
)

DAGS_FOLDER = REPO_ROOT / "dags"
DAG_IDS = ("complaints_batch", "complaints_stream")
DEFAULT_UI_PORT = 8080
# Airflow's defaults for the worker and triggerer log servers: never the API server's port.
LOG_SERVER_PORTS = (8793, 8794)
PORT_SEARCH = 200
# Two cores: two tasks at a time (the Spark pool keeps it to one JVM).
LOCAL_PARALLELISM = 2
HEALTH_TIMEOUT_S = 300.0
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"


class LauncherError(RuntimeError):
    """``complaints airflow`` cannot start as asked; the message says what to do."""


# ------------------------------------------------------------------------------------------------
# Environment and metadata DB
# ------------------------------------------------------------------------------------------------


def airflow_env(settings: Settings, airflow_home: Path, base: Mapping[str, str] | None = None,
                port: int | None = None) -> dict[str, str]:
    """The environment of the local default's Airflow processes; settings a caller already has
    in ``base`` for parallelism are kept."""
    env = dict(os.environ if base is None else base)
    env.update(settings.to_env())
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        # `airflow standalone` starts its components as `airflow <command>` from PATH: make that
        # this interpreter's Airflow even when the virtualenv is not activated (`make airflow`).
        "PATH": os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env.get("PATH")])),
        "NO_PROXY": "*",
    })
    env.setdefault("AIRFLOW__CORE__PARALLELISM", str(LOCAL_PARALLELISM))
    env.setdefault("AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG", env["AIRFLOW__CORE__PARALLELISM"])
    if port is not None:
        env["AIRFLOW__API__PORT"] = str(port)
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
    return env


def prepare_metadata_db(env: Mapping[str, str]) -> None:
    """Migrate the metadata DB and create (or resize) the Spark pool, before any scheduler runs:
    a task whose pool does not exist is never scheduled."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "complaints.airflow_local", "prepare"],
                          env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.decode(errors="replace").splitlines()[-20:])
        raise LauncherError(f"preparing Airflow's metadata DB in {env['AIRFLOW_HOME']} failed:\n"
                            f"{tail}")


def _prepare_in_this_process() -> None:
    """In the child: ``airflow db migrate`` and ``airflow pools set``, sharing one import."""
    from airflow.models.pool import Pool
    from airflow.utils import db

    settings = Settings.from_env()
    db.initdb()
    Pool.create_or_update_pool(
        name=settings.spark_pool, slots=settings.spark_pool_slots, include_deferred=False,
        description="Spark transforms of the complaint DAGs: one JVM per slot "
                    "(COMPLAINTS_SPARK_POOL_SLOTS)",
    )


# ------------------------------------------------------------------------------------------------
# One DAG run with dag.test()
# ------------------------------------------------------------------------------------------------


def run_dag(settings: Settings, dag_id: str, logical_date: str, airflow_home: Path,
            log_file: Path | None = None) -> str:
    """Run ``dag_id`` for ``logical_date`` (YYYY-MM-DD); returns the final DagRun state.

    Airflow's output goes to ``log_file`` (default: under ``airflow_home``).
    """
    env = airflow_env(settings, airflow_home)
    prepare_metadata_db(env)
    log_file = log_file or airflow_home / "dag-runs" / f"{dag_id}-{logical_date}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "wb") as out:
        subprocess.run([sys.executable, "-m", "complaints.airflow_local", "test", dag_id,
                        logical_date], env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
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


# ------------------------------------------------------------------------------------------------
# complaints airflow: ports
# ------------------------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_ui_port(requested: int | None, start: int = DEFAULT_UI_PORT,
                   avoid: tuple[int, ...] = LOG_SERVER_PORTS) -> int:
    """``requested`` if it can be used, else (when None) ``start`` or the next free port."""
    if requested is not None:
        if requested in avoid:
            raise LauncherError(f"port {requested} is Airflow's log server port; choose another "
                                "--port (or leave it out to take the first free one from "
                                f"{start})")
        if not 0 < requested < 65536:
            raise LauncherError(f"--port must be 1..65535, got {requested}")
        if not port_is_free(requested):
            raise LauncherError(f"port {requested} is already in use on 127.0.0.1; choose another "
                                f"--port (or leave it out to take the first free one from {start})")
        return requested
    for port in range(start, start + PORT_SEARCH):
        if port not in avoid and port_is_free(port):
            return port
    raise LauncherError(f"no free port in {start}..{start + PORT_SEARCH - 1}; pass --port")


def _free_port(exclude: set[int]) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in exclude:
            return port


def standalone_env(settings: Settings, airflow_home: Path, port: int,
                   base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``airflow_env`` plus what ``airflow standalone`` needs on a shared small machine: the DAGs
    unpaused when first parsed, the log servers on free ports (not 8793/8794, which another
    Airflow may hold), patience with an API server still starting. Values already set in
    ``base`` are kept."""
    env = airflow_env(settings, airflow_home, base=base, port=port)
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    # The scheduler can start tasks before the API server listens (it comes up last on a busy
    # machine): a task then waits for the execution API, up to about 3 minutes, instead of failing
    # its try with "connection refused" (Airflow's default gives up after about 15 s).
    env.setdefault("AIRFLOW__WORKERS__EXECUTION_API_RETRIES", "10")
    env.setdefault("AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MIN", "2")
    env.setdefault("AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX", "30")
    taken = {port}
    for key in ("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"):
        if key not in env:
            env[key] = str(_free_port(taken))
        taken.add(int(env[key]))
    return env


# ------------------------------------------------------------------------------------------------
# complaints airflow: the emulator, what to print, start and stop
# ------------------------------------------------------------------------------------------------


@contextmanager
def local_emulator(settings: Settings, airflow_home: Path,
                   seed_days: int = SEED_DAYS) -> Iterator[Settings]:
    """Settings with an AWS endpoint for the block: the configured one untouched, else an
    emulator started by ``complaints emulator start``, else one started (and, on leaving,
    stopped) here. An emulator with no tables is seeded with ``seed_days`` days of samples."""
    if settings.aws_endpoint_url:
        print(f"AWS endpoint: {settings.aws_endpoint_url} (COMPLAINTS_AWS_ENDPOINT_URL; "
              "no emulator started, nothing seeded)", flush=True)
        yield settings
        return
    recorded = running_emulator(airflow_home)
    if recorded is not None:
        print(f"AWS emulator: {recorded.url} (started by `complaints emulator start`; it keeps "
              "running after Airflow stops)", flush=True)
        local = replace(settings, aws_endpoint_url=recorded.url)
        _seed(local, seed_days)
        yield local
        return
    airflow_home.mkdir(parents=True, exist_ok=True)
    with moto_server(log_file=airflow_home / LOG_FILE) as url:
        print(f"AWS emulator: {url} (moto server, log {airflow_home / LOG_FILE}; stops with "
              "Airflow)", flush=True)
        local = replace(settings, aws_endpoint_url=url)
        _seed(local, seed_days)
        yield local
        stopping = time.monotonic()
    print(f"AWS emulator stopped in {time.monotonic() - stopping:.1f} s", flush=True)


def _seed(settings: Settings, days: int) -> None:
    began = time.monotonic()
    settings.lake.mkdir(parents=True, exist_ok=True)
    summary = seed_if_empty(settings, days=days)
    if summary is None:
        print("AWS emulator already holds tables: not seeded", flush=True)
        return
    print(f"Seeded {days} days of sample data from {SEED_START}: "
          f"{sum(summary.records.values())} inbox records in {settings.zones.inbox}, "
          f"{sum(summary.dynamodb_items.values())} DynamoDB items "
          f"({time.monotonic() - began:.0f} s)", flush=True)


def startup_line(url: str, airflow_home: Path) -> str:
    return (f"Airflow UI: {url}  (login: admin; password in {airflow_home / PASSWORD_FILE}, "
            "also printed below on the first start)")


def ready_banner(url: str, airflow_home: Path, settings: Settings, *, paused: bool = False) -> str:
    """How to log in and trigger a run, printed once the API server answers."""
    airflow = Path(sys.executable).with_name("airflow")
    token = (f"TOKEN=$(curl -s -X POST {url}/auth/token -H 'Content-Type: application/json' "
             "-d '{\"username\": \"admin\", \"password\": \"<password>\"}' "
             "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')")
    lines = [
        "",
        f"Airflow is ready: {url}",
        f"  login     admin, password in {airflow_home / PASSWORD_FILE}",
        f"  DAGs      {', '.join(DAG_IDS)}: "
        + ("paused when first parsed (AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION): unpause them "
           "in the UI" if paused else "unpaused when first parsed (catchup off)")
        + f"; Spark tasks share the pool {settings.spark_pool} "
          f"({settings.spark_pool_slots} slot(s))",
        "  trigger   UI: open complaints_batch, press Trigger",
        f"            CLI: AIRFLOW_HOME={airflow_home} {airflow} dags trigger complaints_batch",
        f"            REST: {token}",
        f"                  curl -X POST {url}/api/v2/dags/complaints_batch/dagRuns "
        "-H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        "-d '{\"logical_date\": null}'",
        f"  lake      {settings.lake}   (failed tasks: {settings.zones.task_failure_alerts})",
    ]
    if settings.aws_endpoint_url:
        lines.append(f"  AWS       export COMPLAINTS_AWS_ENDPOINT_URL={settings.aws_endpoint_url} "
                     "to produce / consume against it from another shell")
    lines.append("  stop      Ctrl+C")
    return "\n".join(lines)


def is_healthy(url: str) -> bool:
    """The API server answers and reports a healthy metadata DB and scheduler."""
    import json

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/api/v2/monitor/health", timeout=10) as response:
            health = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return all(health.get(part, {}).get("status") == "healthy"
               for part in ("metadatabase", "scheduler"))


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if is_healthy(url):
            return True
        time.sleep(1)
    return False


class _Stop(Exception):
    """SIGTERM or SIGINT reached the launcher."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


# Every process of one `complaints airflow` session carries this variable (with a value of its
# own), whatever process group it ends up in: Airflow's task processes (and their Spark JVMs) run in
# groups of their own and outlive the scheduler unless stopped. /proc/<pid>/environ does not show
# it for a process that called ``setproctitle`` (which overwrites that memory): the LocalExecutor
# workers, the task processes forked from them, the API server. Those are found as descendants of
# the launcher, a child subreaper, so that orphans stay its descendants.
SESSION_VARIABLE = "COMPLAINTS_AIRFLOW_SESSION"
GRACEFUL_STOP_S = 10.0
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def _set_child_subreaper(on: bool) -> bool:
    """Orphans of this process's descendants are reparented to it, not to PID 1 (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, start time) of every process, from /proc (empty elsewhere)."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(stat.parent.name)] = (int(fields[1]), fields[0], fields[19])
    return table


def launched_processes(exclude: Collection[tuple[int, str]] = ()) -> set[tuple[int, str]]:
    """(pid, start time) of the live descendants of this process, but those in ``exclude``."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        _, state, started = table[pid]
        if state != "Z" and (pid, started) not in exclude:
            found.add((pid, started))
    return found


def _reap_adopted(keep: Collection[int]) -> None:
    """Collect the exit status of orphans reparented to this process (not of ``keep``, which
    their ``Popen`` objects wait for)."""
    for pid, (ppid, state, _) in _process_table().items():
        if ppid == os.getpid() and state == "Z" and pid not in keep:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def session_processes(session: str) -> set[tuple[int, str]]:
    """(pid, start time) of the live processes of this session, from /proc (empty elsewhere)."""
    marker = f"{SESSION_VARIABLE}={session}\0".encode()
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker not in (proc / "environ").read_bytes():
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            found.add((int(proc.name), fields[19]))  # field 22 of stat: start time
    return found


def _stoppable(session: str, exclude: Collection[tuple[int, str]] | None) -> set[tuple[int, str]]:
    """The session's processes; with ``exclude`` (not None), every descendant of this process
    but those too."""
    found = session_processes(session)
    if exclude is not None:
        found |= launched_processes(exclude)
    return found


def _signal_session(session: str, sig: signal.Signals,
                    exclude: Collection[tuple[int, str]] | None = None) -> None:
    for pid, _ in _stoppable(session, exclude):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_session(process: subprocess.Popen[bytes], session: str, timeout_s: float,
                  exclude: Collection[tuple[int, str]] | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        process.poll()  # reap standalone when it is done
        if exclude is not None:
            _reap_adopted({process.pid, *(pid for pid, _ in exclude)})
        if process.returncode is not None and not _stoppable(session, exclude):
            return True
        time.sleep(0.5)
    return False


def stop_airflow(process: subprocess.Popen[bytes], session: str, signum: int,
                 grace_s: float = GRACEFUL_STOP_S,
                 exclude: Collection[tuple[int, str]] | None = None) -> str:
    """Stop ``airflow standalone`` and everything it started; says what it took.

    Standalone stops its components on SIGINT: a Ctrl+C in the terminal has reached it already
    (same process group), a SIGTERM sent to the launcher alone has not, so it is forwarded as
    SIGINT. Airflow's scheduler then waits for running tasks to finish; a Ctrl+C should not, so
    after a grace period what is left of the session gets SIGTERM, then SIGKILL. LocalExecutor
    workers ignore SIGINT and SIGTERM (they keep the scheduler's handler, a no-op in a child) and
    wait for the scheduler's "stop" message, which a scheduler stopped by standalone's SIGTERM may
    never send: only SIGKILL ends those. With ``exclude`` (not None), every descendant of this
    process but those counts as the session's: the workers do not show the session variable.
    """
    if process.poll() is None and signum != signal.SIGINT:
        process.send_signal(signal.SIGINT)
    for sig, grace in ((None, grace_s), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if sig is not None:
            _signal_session(session, sig, exclude)
        if _wait_session(process, session, grace, exclude):
            return "SIGINT" if sig is None else f"{sig.name} to what was left"
    process.wait()
    left = len(_stoppable(session, exclude))
    return f"SIGKILL; {left} process(es) of the session still there"


def serve(settings: Settings, airflow_home: Path, port: int | None = None,
          seed_days: int = SEED_DAYS) -> int:
    """``complaints airflow``: Airflow standalone with these DAGs until Ctrl+C or SIGTERM."""
    if seed_days < 1:
        raise LauncherError(f"--seed-days must be at least 1, got {seed_days}")
    ui_port = choose_ui_port(port)
    url = f"http://127.0.0.1:{ui_port}"
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    # Orphans (a LocalExecutor worker whose scheduler is gone) stay this process's descendants.
    subreaper = _set_child_subreaper(True)
    try:
        with local_emulator(settings, airflow_home, seed_days) as local:
            env = standalone_env(local, airflow_home, ui_port)
            prepare_metadata_db(env)
            print(startup_line(url, airflow_home), flush=True)
            env[SESSION_VARIABLE] = session = uuid.uuid4().hex
            # What runs before Airflow (the emulator) is not Airflow's to stop.
            before = launched_processes() if subreaper else None
            process = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env)
            stopped_by = signal.SIGTERM
            try:
                if _wait_until_healthy(url, process, HEALTH_TIMEOUT_S):
                    paused = env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"].lower() == "true"
                    print(ready_banner(url, airflow_home, local, paused=paused), flush=True)
                elif process.poll() is None:
                    print(f"Airflow did not report healthy on {url}/api/v2/monitor/health within "
                          f"{HEALTH_TIMEOUT_S:.0f} s; still waiting (see the output above)",
                          flush=True)
                return process.wait()
            except _Stop as stop:
                print(f"\nStopping Airflow ({stop}) ...", flush=True)
                stopped_by = signal.Signals(stop.signum)
                return 0
            finally:
                # A second Ctrl+C must not cut the shutdown short (it is bounded by timeouts).
                for signum in previous:
                    signal.signal(signum, signal.SIG_IGN)
                began = time.monotonic()
                took = stop_airflow(process, session, stopped_by, exclude=before)
                print(f"Airflow stopped in {time.monotonic() - began:.1f} s ({took})", flush=True)
    except _Stop:
        return 0  # stopped before Airflow started; the emulator block has cleaned up
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if subreaper:
            _set_child_subreaper(False)


if __name__ == "__main__":
    if sys.argv[1:2] == ["prepare"]:
        _prepare_in_this_process()
    elif sys.argv[1:2] == ["test"] and len(sys.argv) == 4:
        state = _test_dag(sys.argv[2], sys.argv[3])
        print(f"DAG_RUN_STATE={state}", flush=True)
    else:
        sys.exit("usage: python -m complaints.airflow_local prepare | test <dag_id> <date>")
