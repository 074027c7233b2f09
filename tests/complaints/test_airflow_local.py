"""``complaints airflow`` around Airflow: the port it takes, the environment it gives Airflow's
processes, what it prints and how it stops them (the run through the real scheduler is
tests/e2e/test_airflow_ui.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from common.settings import Settings
from complaints.airflow_local import (
    LOG_SERVER_PORTS,
    SESSION_VARIABLE,
    LauncherError,
    choose_ui_port,
    port_is_free,
    ready_banner,
    session_processes,
    standalone_env,
    stop_airflow,
)
from complaints.emulator import free_port

CONSOLE_SCRIPT = Path(sys.executable).with_name("complaints")


@contextmanager
def listening(port: int | None = None) -> Iterator[int]:
    """A server socket listening on 127.0.0.1 (on ``port``, or a free one) for the block."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", port or 0))
        server.listen()
        yield int(server.getsockname()[1])


def test_a_free_requested_port_is_taken() -> None:
    port = free_port()
    assert choose_ui_port(port) == port


def test_the_log_server_ports_are_never_the_ui_port() -> None:
    for port in LOG_SERVER_PORTS:
        with pytest.raises(LauncherError, match="log server port"):
            choose_ui_port(port)


def test_a_busy_requested_port_is_refused_and_a_busy_default_is_skipped() -> None:
    with listening() as busy:
        assert not port_is_free(busy)
        with pytest.raises(LauncherError, match=f"port {busy} is already in use"):
            choose_ui_port(busy)
        chosen = choose_ui_port(None, start=busy)
    assert chosen > busy and chosen not in LOG_SERVER_PORTS


def test_the_search_skips_the_log_server_ports() -> None:
    assert choose_ui_port(None, start=LOG_SERVER_PORTS[0], avoid=LOG_SERVER_PORTS) not in (
        LOG_SERVER_PORTS)


def test_standalone_env_points_tasks_at_the_api_server(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake", aws_endpoint_url="http://127.0.0.1:5999")
    env = standalone_env(settings, tmp_path / "airflow", 8123, base={"PATH": "/usr/bin"})
    assert env["AIRFLOW__API__PORT"] == "8123"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8123/execution/"
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) <= 2
    log_ports = {int(env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]),
                 int(env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"])}
    assert len(log_ports) == 2 and 8123 not in log_ports
    # Tasks the scheduler starts before the API server listens wait for it (minutes, not 15 s).
    assert int(env["AIRFLOW__WORKERS__EXECUTION_API_RETRIES"]) >= 10
    # The pipeline's settings reach every Airflow process (and so every task).
    assert Settings.from_env(env) == Settings.from_env(settings.to_env())


def test_standalone_env_keeps_what_the_caller_chose(tmp_path: Path) -> None:
    base = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "18793"}
    env = standalone_env(Settings(lake=tmp_path), tmp_path, 8123, base=base)
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "8"
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "18793"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--port", "8793"], 1, "airflow: port 8793 is Airflow's log server port"),
    (["--seed-days", "0"], 2,
     "complaints airflow: error: argument --seed-days: '0' is not a whole number of at least 1"),
])
def test_the_command_refuses_bad_options_in_one_line(tmp_path: Path, args: list[str], code: int,
                                                     message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "COMPLAINTS_"))}
    env.update({"AIRFLOW_HOME": str(tmp_path / "airflow"), "COMPLAINTS_LAKE": str(tmp_path)})
    done = subprocess.run([str(CONSOLE_SCRIPT), "airflow", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr
    assert not (tmp_path / "airflow").exists(), "nothing is started or written before the check"


def test_a_busy_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "COMPLAINTS_"))}
    env.update({"AIRFLOW_HOME": str(tmp_path / "airflow"), "COMPLAINTS_LAKE": str(tmp_path)})
    with listening() as busy:
        done = subprocess.run([str(CONSOLE_SCRIPT), "airflow", "--port", str(busy)], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith(f"airflow: port {busy} is already in use on 127.0.0.1")
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_ready_banner_says_how_to_log_in_and_trigger(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake", aws_endpoint_url="http://127.0.0.1:5999")
    url, home = "http://127.0.0.1:8123", tmp_path / "airflow"
    banner = ready_banner(url, home, settings)
    assert f"Airflow is ready: {url}" in banner
    assert f"password in {home / 'simple_auth_manager_passwords.json.generated'}" in banner
    assert f"AIRFLOW_HOME={home} " in banner and "dags trigger complaints_batch" in banner
    assert f"curl -X POST {url}/api/v2/dags/complaints_batch/dagRuns" in banner
    assert f"{url}/auth/token" in banner
    assert "unpaused" in banner and "complaints_spark (1 slot(s))" in banner
    assert "export COMPLAINTS_AWS_ENDPOINT_URL=http://127.0.0.1:5999" in banner
    assert "unpause them in the UI" in ready_banner(url, home, settings, paused=True)


# A stand-in for `airflow standalone`: it ignores SIGINT (as the scheduler waits for its tasks)
# and starts a "task" in a session of its own (as Airflow's task supervisor does).
FAKE_STANDALONE = r"""
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
task = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                        start_new_session=True)
print(task.pid, flush=True)
time.sleep(300)
"""


def test_stop_airflow_stops_every_process_of_the_session() -> None:
    session = "test-" + os.urandom(6).hex()
    env = dict(os.environ, **{SESSION_VARIABLE: session})
    standalone = subprocess.Popen([sys.executable, "-c", FAKE_STANDALONE], env=env,
                                  stdout=subprocess.PIPE)
    assert standalone.stdout is not None
    task_pid = int(standalone.stdout.readline())
    try:
        assert {pid for pid, _ in session_processes(session)} == {standalone.pid, task_pid}
        began = time.monotonic()
        # It ignores the SIGINT forwarded to it: SIGTERM to the whole session ends it.
        took = stop_airflow(standalone, session, signal.SIGTERM, grace_s=1.0)
        assert time.monotonic() - began < 15
        assert took == "SIGTERM to what was left"
        assert standalone.returncode is not None
        assert session_processes(session) == set()
    finally:
        for pid in (standalone.pid, task_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        standalone.wait()
