"""A local AWS emulator (moto server) over real HTTP, for the local default and for tests.

The pipeline talks to it with the same boto3 calls it makes against AWS; only the endpoint URL
differs (``Settings.aws_endpoint_url``).

* ``moto_server()``: an emulator for the duration of a ``with`` block (the demo, tests,
  ``complaints airflow``).
* ``start_detached()`` / ``emulator_status()`` / ``stop_detached()``: ``complaints emulator
  start|status|stop``, an emulator that outlives the command that started it. Its pid, port and
  URL are recorded in ``<AIRFLOW_HOME>/emulator.json`` (log: ``emulator.log`` beside it), where
  ``status``, ``stop`` and ``complaints airflow`` find it.
* ``seed_if_empty()``: sample data (inbox files and DynamoDB tables) for an emulator with no tables.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from common.lake import write_atomically

if TYPE_CHECKING:
    from common.settings import Settings
    from samples.generate import GenerationSummary

STATE_FILE = "emulator.json"
LOG_FILE = "emulator.log"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Sample data for an empty emulator: a few days keep `complaints airflow` quick to start.
SEED_DAYS = 3
SEED_START = date(2026, 11, 2)
# No proxy for the emulator on 127.0.0.1, whatever the environment says.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorError(RuntimeError):
    """The emulator is not where the command expects it; the message says what to do."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether a moto server answers on ``url``."""
    try:
        with _HTTP.open(f"{url}/moto-api/", timeout=timeout_s):
            return True
    except OSError:
        return False


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with code {process.returncode}")
        if answers(url):
            return
        time.sleep(0.1)
    raise TimeoutError(f"moto server did not answer on {url} within {timeout_s}s")


@contextmanager
def moto_server(port: int | None = None, log_file: Path | None = None,
                command: Sequence[str] | None = None) -> Iterator[str]:
    """Run ``moto_server`` on 127.0.0.1 for the duration of the block; yields its endpoint URL.

    ``command`` replaces the server's command line (it gets the port as its last argument), for a
    test that needs a moto with a behaviour adjusted.
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    argv = [*command, str(port)] if command else _server_argv(port)
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(url, process, timeout_s=START_TIMEOUT_S)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log_file:
            log.close()  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------
# A detached emulator: complaints emulator start | status | stop
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmulatorState:
    """What ``complaints emulator start`` recorded about the server it started."""

    pid: int
    port: int
    url: str
    log: str
    started_at: str


def state_file(home: Path) -> Path:
    return home / STATE_FILE


def read_state(home: Path) -> EmulatorState | None:
    """The recorded emulator, or None when none was recorded (or the record is unreadable)."""
    try:
        raw = json.loads(state_file(home).read_text())
        return EmulatorState(int(raw["pid"]), int(raw["port"]), str(raw["url"]),
                             str(raw["log"]), str(raw["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _process_state(pid: int) -> str | None:
    """The process's state letter from /proc (``Z`` for a zombie), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)  # no /proc (macOS): ask the kernel whether the pid exists
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # exists, owned by someone else
    return "?"


def _alive(pid: int) -> bool:
    return _process_state(pid) not in (None, "Z")


def _is_moto(pid: int) -> bool:
    """Whether ``pid`` still runs a moto server (a recycled pid must never be signalled)."""
    try:
        return b"moto" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _alive(pid)


def running_emulator(home: Path) -> EmulatorState | None:
    """The recorded emulator if it answers, else None."""
    state = read_state(home)
    return state if state is not None and answers(state.url) else None


def start_detached(home: Path, port: int | None = None) -> tuple[EmulatorState, bool]:
    """Start a moto server that outlives this process; returns its state and whether it was
    started now (False: the recorded one already answers)."""
    current = running_emulator(home)
    if current is not None:
        return current, False
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    if answers(url):
        raise EmulatorError(f"something already answers on {url}; choose another --port")
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / LOG_FILE
    with open(log_path, "ab") as log:
        # A session of its own: Ctrl+C in this terminal later does not stop it; `stop` does.
        process = subprocess.Popen(_server_argv(port), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_until_up(url, process, timeout_s=START_TIMEOUT_S)
    except (RuntimeError, TimeoutError) as exc:
        process.kill()
        raise EmulatorError(f"the emulator did not start ({exc}); see {log_path}") from exc
    state = EmulatorState(process.pid, port, url, str(log_path),
                          datetime.now(UTC).isoformat(timespec="seconds"))
    write_atomically(state_file(home), json.dumps(asdict(state), indent=2) + "\n")
    return state, True


def emulator_status(home: Path) -> EmulatorState:
    """The recorded emulator, checked to answer; ``EmulatorError`` says what is wrong."""
    state = read_state(home)
    if state is None:
        raise EmulatorError(f"no emulator recorded in {state_file(home)}; start one with "
                            "`complaints emulator start`")
    if not answers(state.url):
        alive = "is running but" if _alive(state.pid) else "is gone and"
        raise EmulatorError(f"the emulator recorded on {state.url} (pid {state.pid}) {alive} does "
                            "not answer; run `complaints emulator stop`, then `start`")
    return state


def stop_detached(home: Path) -> EmulatorState:
    """Stop the recorded emulator and forget it; ``EmulatorError`` when none is recorded."""
    state = read_state(home)
    if state is None:
        raise EmulatorError(f"no emulator is running (nothing recorded in {state_file(home)})")
    if _alive(state.pid) and _is_moto(state.pid):
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
    state_file(home).unlink(missing_ok=True)
    return state


# ------------------------------------------------------------------------------------------------
# Sample data for an empty emulator
# ------------------------------------------------------------------------------------------------


def seed_if_empty(settings: Settings, days: int = SEED_DAYS,
                  start: date = SEED_START) -> GenerationSummary | None:
    """Generate ``days`` days of sample sources (inbox files, DynamoDB tables) when the emulator
    at ``settings.aws_endpoint_url`` has no tables; None when it already had some."""
    from common.aws import DynamoDB
    from samples.generate import generate

    if DynamoDB(settings).table_names():
        return None
    return generate(settings, days=days, start=start)
