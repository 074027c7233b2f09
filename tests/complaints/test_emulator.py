"""``complaints emulator start|status|stop``: a moto server that outlives the command, run as a user
runs it (the console script, a temporary AIRFLOW_HOME), and the seeding of an empty emulator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from common.aws import DynamoDB
from common.settings import Settings
from complaints.emulator import (
    STATE_FILE,
    answers,
    free_port,
    moto_server,
    read_state,
    seed_if_empty,
)

CONSOLE_SCRIPT = Path(sys.executable).with_name("complaints")


def emulator(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "COMPLAINTS_"))}
    env["AIRFLOW_HOME"] = str(home)
    return subprocess.run([str(CONSOLE_SCRIPT), "emulator", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    assert done.stdout == "" and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not pid_alive(pid)


def test_status_and_stop_without_an_emulator_say_so_in_one_line(tmp_path: Path) -> None:
    assert "no emulator recorded" in one_line_error(emulator(tmp_path, "status"))
    assert "no emulator is running" in one_line_error(emulator(tmp_path, "stop"))


def test_start_status_stop(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    port = free_port()
    started = emulator(home, "start", "--port", str(port))
    try:
        assert started.returncode == 0, started.stderr
        url = f"http://127.0.0.1:{port}"
        state = read_state(home)
        assert state is not None and (state.port, state.url) == (port, url)
        assert started.stdout.strip().splitlines() == [
            f"emulator started on {url} (pid {state.pid}); "
            f"export COMPLAINTS_AWS_ENDPOINT_URL={url}"]
        assert json.loads((home / STATE_FILE).read_text())["pid"] == state.pid
        assert answers(url)

        status = emulator(home, "status")
        assert status.returncode == 0
        assert status.stdout.startswith(f"emulator running on {url} (pid {state.pid}")
        again = emulator(home, "start")
        assert again.returncode == 0 and again.stdout.startswith(f"emulator already running on "
                                                                  f"{url}")
        assert read_state(home) == state  # the same server, not a second one
    finally:
        stopped = emulator(home, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"emulator stopped (was {url}, pid {state.pid})"
    assert wait_gone(state.pid)
    assert not answers(url)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))  # raises if the server still held the port
    assert not (home / STATE_FILE).exists()
    assert "no emulator recorded" in one_line_error(emulator(home, "status"))


def test_a_recorded_emulator_that_died_is_reported_and_forgotten(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    started = emulator(home, "start")
    assert started.returncode == 0, started.stderr
    state = read_state(home)
    assert state is not None
    os.kill(state.pid, 9)
    assert wait_gone(state.pid)
    message = one_line_error(emulator(home, "status"))
    assert state.url in message and "complaints emulator stop" in message
    assert emulator(home, "stop").returncode == 0
    assert read_state(home) is None


def test_start_refuses_a_port_something_else_answers_on(tmp_path: Path) -> None:
    with moto_server() as url:
        port = url.rsplit(":", 1)[1]
        message = one_line_error(emulator(tmp_path, "start", "--port", port))
    assert f"something already answers on {url}" in message
    assert read_state(tmp_path) is None


def test_an_empty_emulator_is_seeded_once(tmp_path: Path) -> None:
    with moto_server() as url:
        settings = replace(Settings(lake=tmp_path / "lake"), aws_endpoint_url=url)
        summary = seed_if_empty(settings, days=1)
        assert summary is not None and summary.days == 1
        tables = set(DynamoDB(settings).table_names())
        assert tables == set(settings.tables.values())
        assert sum(summary.dynamodb_items.values()) > 0
        inbox = sorted(p.name for p in settings.zones.inbox.rglob("*") if p.is_file())
        assert inbox, "no inbox files were written"
        # Not empty any more: nothing is generated again.
        assert seed_if_empty(settings, days=1) is None
        assert sorted(p.name for p in settings.zones.inbox.rglob("*") if p.is_file()) == inbox
