"""``make airflow``: the Airflow UI (``airflow standalone``) comes up with the project's DAGs.

Runs what ``make airflow`` runs, ``complaints airflow --port N``, from a shell whose PATH does
not hold the virtualenv (as after ``make install`` without activating it), in its own process
group with a temporary AIRFLOW_HOME and lake. It waits for the API server's health endpoint,
logs in with the generated admin password the start-up line points at, checks through the REST
API and the ``airflow`` CLI that the DAGs are loaded with no import errors, then stops the
whole process group and checks that nothing is left running or listening.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from complaints.airflow_local import DAGS_FOLDER, airflow_env
from complaints.emulator import free_port

pytestmark = pytest.mark.e2e

VENV_BIN = Path(sys.executable).parent
CONSOLE_SCRIPT = VENV_BIN / "complaints"
HEALTH_TIMEOUT_S = 150
PARSE_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
UI_LINE = re.compile(
    r"^Airflow UI: (?P<url>http://127\.0\.0\.1:(?P<port>\d+))\s+\(login: (?P<user>\w+);"
    r" password in (?P<password_file>\S+?), .*\)$"
)
# No proxy for 127.0.0.1, whatever the environment says.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Standalone:
    process: subprocess.Popen[bytes]
    port: int
    url: str
    home: Path
    lake: Path
    log: Path
    env: dict[str, str]
    ui_line: str = ""
    subreaper: bool = False


def request(method: str, url: str, body: dict[str, Any] | None = None,
            token: str | None = None, timeout: float = 10) -> tuple[int, Any]:
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


def group_processes(pgid: int) -> dict[int, str]:
    """pid -> state of every process of a process group (zombies included), from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            found[int(stat.parent.name)] = fields[0]
    return found


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    return sorted(pid for pid, state in group_processes(pgid).items() if state != "Z")


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


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is still there after a grace period."""
    pgid = process.pid  # start_new_session=True: the leader's pid is the group id
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 10)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            reap_group(pgid)
            if process.poll() is not None and not group_members(pgid):
                time.sleep(0.5)  # let the last orphans be reparented, then reap them
                reap_group(pgid)
                return


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


def wait_for(what: str, ui: Standalone, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ui.process.poll() is not None:
            pytest.fail(f"`complaints airflow` exited {ui.process.returncode} while waiting for "
                        f"{what}:\n{log_tail(ui.log)}")
        result = check()
        if result:
            return result
        time.sleep(1)
    pytest.fail(f"no {what} within {timeout_s} s:\n{log_tail(ui.log)}")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    base = tmp_path_factory.mktemp("airflow_ui")
    home, lake, log = base / "airflow", base / "lake", base / "standalone.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "COMPLAINTS_", "VIRTUAL_ENV"))}
    env.update({
        "PATH": shell_path(),
        "AIRFLOW_HOME": str(home),
        "COMPLAINTS_LAKE": str(lake),
        # Nothing gets scheduled while the test looks at the UI.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT": "False",
    })
    subreaper = set_child_subreaper(True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(CONSOLE_SCRIPT), "airflow", "--port", str(port)], env=env, cwd=base,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    # What the Airflow CLI needs to read the same metadata DB (as `make airflow`'s processes).
    cli_env = airflow_env(Settings(lake=lake), home, base=env, port=port)
    cli_env["PATH"] = os.pathsep.join([str(VENV_BIN), env["PATH"]])
    ui = Standalone(process, port, f"http://127.0.0.1:{port}", home, lake, log, cli_env,
                    subreaper=subreaper)
    try:
        began = time.monotonic()
        wait_for("/api/v2/monitor/health", ui, lambda: healthy(ui), HEALTH_TIMEOUT_S)
        print(f"\nAirflow standalone healthy after {time.monotonic() - began:.0f} s")
        ui.ui_line = next(line for line in log.read_text(errors="replace").splitlines()
                          if line.startswith("Airflow UI:"))
        yield ui
    finally:
        stop_group(process)
        if subreaper:
            set_child_subreaper(False)


def healthy(ui: Standalone) -> bool:
    try:
        status, body = request("GET", f"{ui.url}/api/v2/monitor/health", timeout=3)
    except OSError:
        return False
    return status == 200 and isinstance(body, dict) and \
        body.get("metadatabase", {}).get("status") == "healthy"


@pytest.fixture(scope="module")
def token(standalone: Standalone) -> str:
    password = json.loads(password_file(standalone).read_text())["admin"]
    status, body = request("POST", f"{standalone.url}/auth/token",
                           {"username": "admin", "password": password})
    assert status == 201, body
    return str(body["access_token"])


def password_file(ui: Standalone) -> Path:
    match = UI_LINE.match(ui.ui_line)
    assert match, f"unexpected start-up line: {ui.ui_line!r}"
    return Path(match["password_file"])


@pytest.fixture(scope="module")
def dags(standalone: Standalone, token: str) -> dict[str, dict[str, Any]]:
    """The DAGs in the metadata DB, once the DAG processor has parsed complaints_batch."""
    def parsed() -> dict[str, dict[str, Any]] | None:
        status, body = request("GET", f"{standalone.url}/api/v2/dags?limit=100", token=token)
        assert status == 200, body
        found = {d["dag_id"]: d for d in body["dags"]}
        return found if "complaints_batch" in found else None

    return wait_for("parsed complaints_batch", standalone, parsed, PARSE_TIMEOUT_S)  # type: ignore[no-any-return]


def airflow_cli(ui: Standalone, *args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "airflow", *args], env=ui.env, cwd=ui.home,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # Airflow logs warnings to stdout too; the JSON document is the last line that parses.
    for line in reversed(done.stdout.splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    pytest.fail(f"no JSON in the output of airflow {' '.join(args)}:\n{done.stdout[-3000:]}")


def test_startup_line_names_the_url_login_and_password_file(standalone: Standalone) -> None:
    match = UI_LINE.match(standalone.ui_line)
    assert match, f"unexpected start-up line: {standalone.ui_line!r}"
    assert match["url"] == standalone.url
    assert int(match["port"]) == standalone.port
    assert match["user"] == "admin"
    path = Path(match["password_file"])
    assert path == standalone.home / "simple_auth_manager_passwords.json.generated"
    assert path.is_file()
    assert set(json.loads(path.read_text())) == {"admin"}
    status, body = request("GET", f"{standalone.url}/")
    assert status == 200 and "<html" in str(body).lower()


def test_login_checks_the_password(standalone: Standalone, token: str) -> None:
    assert token
    status, _ = request("POST", f"{standalone.url}/auth/token",
                        {"username": "admin", "password": "not-the-password"})
    assert status == 401
    status, _ = request("GET", f"{standalone.url}/api/v2/dags")
    assert status == 401


def test_dags_are_loaded_paused_with_no_import_errors(standalone: Standalone, token: str,
                                                      dags: dict[str, dict[str, Any]]) -> None:
    batch = dags["complaints_batch"]
    assert batch["is_paused"] is True
    assert batch["has_import_errors"] is False
    assert "complaints-data" in batch["owners"]
    assert {t["name"] for t in batch["tags"]} >= {"complaints", "batch"}
    assert Path(batch["fileloc"]).resolve().parent == DAGS_FOLDER.resolve()
    status, body = request("GET", f"{standalone.url}/api/v2/importErrors", token=token)
    assert status == 200, body
    assert body["total_entries"] == 0, body["import_errors"]


def test_airflow_cli_sees_the_same_dags(standalone: Standalone,
                                        dags: dict[str, dict[str, Any]]) -> None:
    assert airflow_cli(standalone, "dags", "list-import-errors", "-o", "json") == []
    listed = {d["dag_id"] for d in airflow_cli(standalone, "dags", "list", "-o", "json")}
    assert "complaints_batch" in listed
    assert listed == set(dags)


def test_nothing_is_left_running_after_stop(standalone: Standalone,
                                            dags: dict[str, dict[str, Any]]) -> None:
    # Runs last in this module: stops the group here (the fixture's teardown then has no work).
    assert group_members(standalone.process.pid), "standalone was not running"
    stop_group(standalone.process)
    assert standalone.process.poll() is not None
    assert group_members(standalone.process.pid) == []
    if standalone.subreaper:  # no zombies left behind either
        assert group_processes(standalone.process.pid) == {}
    assert port_is_free(standalone.port)
