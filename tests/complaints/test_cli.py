"""The ``complaints`` console script, run as a user runs it, on a small Parquet lake.

A user's mistake ends with one line on stderr saying what is wrong and what to do, a non-zero exit
(2 for usage errors) and no traceback; these tests make each mistake of issue 6 once.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.settings import REPO_ROOT, Settings
from complaints.cli import build_parser
from schemas.complaint import COMPLAINT
from schemas.sources import DYNAMODB_TABLES, FILE_SOURCES
from tests.builders import clean_complaint
from warehouse.duckdb_warehouse import refresh_warehouse

CONSOLE_SCRIPT = Path(sys.executable).with_name("complaints")

COUNT_BY_SOURCE = "SELECT source, count(*) AS n FROM complaints GROUP BY source ORDER BY source"


def complaint(n: int, source: str, event_time: datetime, **overrides: Any) -> dict[str, Any]:
    return clean_complaint(n, source=source, event_time=event_time,
                           ingest_time=datetime(2026, 11, 6, 14, 0, tzinfo=UTC),
                           customer_id=None if n % 2 else f"cust-{n}",
                           quality_flags=[] if n % 2 else ["missing_customer_id"], **overrides)


ROWS = [
    complaint(1, "call_center", datetime(2026, 11, 2, 10, 0, tzinfo=UTC)),
    complaint(2, "call_center", datetime(2026, 11, 2, 11, 30, tzinfo=UTC)),
    complaint(3, "web_form", datetime(2026, 11, 3, 0, 0, tzinfo=UTC), text="bill, too high"),
]


def write_clean_lake(lake: Path, rows: list[dict[str, Any]]) -> None:
    """Hive layout as Spark writes it: partition columns in the path, not in the file."""
    schema = COMPLAINT.arrow_schema()
    file_schema = pa.schema([f for f in schema if f.name not in COMPLAINT.partition_by])
    groups: dict[tuple[date, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["event_date"], row["source"]), []).append(row)
    for (event_date, source), group in groups.items():
        folder = lake / "clean" / "complaints" / f"event_date={event_date}" / f"source={source}"
        folder.mkdir(parents=True)
        table = pa.Table.from_pylist(
            [{k: v for k, v in r.items() if k in file_schema.names} for r in group],
            schema=file_schema,
        )
        pq.write_table(table, folder / "part-00000.snappy.parquet")


@pytest.fixture
def clean_lake(tmp_path: Path) -> Path:
    """Clean complaints, no warehouse yet."""
    lake = tmp_path / "lake"
    write_clean_lake(lake, ROWS)
    return lake


@pytest.fixture
def lake(clean_lake: Path) -> Path:
    """Clean complaints and the warehouse over them."""
    refresh_warehouse(Settings(lake=clean_lake))
    return clean_lake


def run_cli(lake: Path, *args: str, env: Mapping[str, str] | None = None,
            prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """The console script with ``COMPLAINTS_LAKE=lake``, no other COMPLAINTS_ or AWS_ setting and
    an Airflow home beside the lake; ``prefix`` runs it through another program (setpriv)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COMPLAINTS_", "AWS_"))}
    environ.update(COMPLAINTS_LAKE=str(lake), AIRFLOW_HOME=str(lake.parent / "airflow-home"))
    environ.update(env or {})
    return subprocess.run([*prefix, str(CONSOLE_SCRIPT), *args], env=environ, cwd=lake.parent,
                          capture_output=True, text=True, timeout=300, check=False)


def one_line_error(done: subprocess.CompletedProcess[str], exit_code: int = 1) -> str:
    """The single stderr line of a failed command (after any progress lines), checked."""
    assert done.returncode == exit_code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines, "no error message"
    assert lines[-1].startswith("complaints"), lines[-1]
    return lines[-1]


def test_console_script_is_installed() -> None:
    assert CONSOLE_SCRIPT.is_file(), f"{CONSOLE_SCRIPT} missing: run `make install`"
    assert "complaints.cli" in CONSOLE_SCRIPT.read_text()


def test_refresh_builds_the_warehouse_in_the_lake_of_the_environment(clean_lake: Path) -> None:
    done = run_cli(clean_lake, "refresh")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["complaints"] == len(ROWS)
    assert (clean_lake / "warehouse.duckdb").is_file()
    assert re.search(r"^refresh: done in \d+\.\d s$", done.stderr, re.M), done.stderr


def test_sql_csv_has_the_header_first(lake: Path) -> None:
    done = run_cli(lake, "sql", COUNT_BY_SOURCE, "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "source,n"
    assert list(csv.reader(io.StringIO(done.stdout))) == [
        ["source", "n"], ["call_center", "2"], ["web_form", "1"],
    ]


def test_sql_csv_quotes_commas(lake: Path) -> None:
    done = run_cli(lake, "sql", "SELECT text FROM complaints WHERE source = 'web_form'",
                   "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout == 'text\n"bill, too high"\n'


def test_sql_json_parses(lake: Path) -> None:
    done = run_cli(lake, "sql",
                   "SELECT complaint_id, source, event_time, event_date, quality_flags "
                   "FROM complaints ORDER BY complaint_id", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["complaint_id"] for r in rows] == [r["complaint_id"] for r in ROWS]
    assert rows[0] == {
        "complaint_id": ROWS[0]["complaint_id"],
        "source": "call_center",
        "event_time": "2026-11-02T10:00:00+00:00",
        "event_date": "2026-11-02",
        "quality_flags": [],
    }
    assert rows[1]["quality_flags"] == ["missing_customer_id"]


def test_sql_table_has_header_rule_and_footer(lake: Path) -> None:
    done = run_cli(lake, "sql", COUNT_BY_SOURCE)  # table is the default
    assert done.returncode == 0, done.stderr
    lines = done.stdout.rstrip("\n").splitlines()
    assert lines[0].split("|")[0].strip() == "source"
    assert lines[0].split("|")[1].strip() == "n"
    assert set(lines[1]) <= {"-", "+"}
    assert lines[-1] == "(2 rows)"
    assert len(lines) == 2 + 2 + 1
    explicit = run_cli(lake, "sql", COUNT_BY_SOURCE, "--format", "table")
    assert explicit.stdout == done.stdout


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT no_such_column FROM complaints", "no_such_column"),
        ("SELECT * FROM no_such_view", "no_such_view"),
        ("SELEC 1", "syntax error"),
        ("CREATE TABLE t AS SELECT 1", "read-only"),
        ("   ", "Empty query"),
    ],
)
def test_bad_query_exits_1_with_a_clear_message(lake: Path, query: str, expected: str) -> None:
    done = run_cli(lake, "sql", query, "--format", "csv")
    assert done.returncode == 1
    assert done.stdout == ""
    first, *position = done.stderr.strip().splitlines()
    assert first.startswith("complaints sql: ")
    assert expected.lower() in first.lower()
    assert "Traceback" not in done.stderr
    # Besides the message, only DuckDB's pointer into the query: "LINE 1: ..." and "^^^".
    assert position == [] or (len(position) == 2 and position[0].startswith("LINE 1: ")
                              and set(position[1].strip()) == {"^"}), position


def test_unknown_format_is_a_usage_error(lake: Path) -> None:
    done = run_cli(lake, "sql", "SELECT 1", "--format", "xml")
    line = one_line_error(done, exit_code=2)
    assert "invalid choice: 'xml'" in line and "complaints sql --help" in line
    assert len(done.stderr.splitlines()) == 1


def test_schema_prints_the_markdown_table(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "no-lake", "schema")
    assert done.returncode == 0, done.stderr
    assert done.stdout == COMPLAINT.markdown_table() + "\n"
    assert done.stdout.splitlines()[0] == "| column | type | nullable | meaning |"
    assert not (tmp_path / "no-lake").exists(), "schema must not touch the lake"


def test_module_entry_point_matches_console_script(lake: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINTS_")}
    env["COMPLAINTS_LAKE"] = str(lake)
    env["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run([sys.executable, "-m", "complaints.cli", "sql", COUNT_BY_SOURCE,
                           "--format", "csv"], env=env, cwd=lake.parent, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == run_cli(lake, "sql", COUNT_BY_SOURCE, "--format", "csv").stdout


# ------------------------------------------------------------------------------------------------
# Mistakes a new user makes: one line saying what is wrong and what to do (issue 6)
# ------------------------------------------------------------------------------------------------

CALL = {"call_id": "c-1", "started": "2026-11-03T14:22:05-05:00", "tz": "America/Chicago",
        "notes": "no internet since monday, the router blinks red"}


def write_inbox(lake: Path, name: str = "calls.jsonl", **changes: str) -> Path:
    """A call-centre export of one call in the lake's inbox."""
    inbox = lake / "inbox" / "call_center"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(json.dumps(CALL | changes) + "\n", encoding="utf-8")
    return path


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_unknown_command_suggests_the_closest(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "lake", "trnasform")
    line = one_line_error(done, exit_code=2)
    assert "'trnasform' is not a command; did you mean 'transform'?" in line
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("twitter", "cannot be landed"),
        ("call_centre", "did you mean 'call_center'?"),
        ("sms", "complaints consume --source sms"),
    ],
)
def test_land_unknown_source_lists_every_landable_source(tmp_path: Path, source: str,
                                                         expected: str) -> None:
    done = run_cli(tmp_path / "lake", "land", source)
    line = one_line_error(done, exit_code=2)
    assert len(done.stderr.splitlines()) == 1
    assert expected in line
    if source != "sms":
        for landable in (*FILE_SOURCES, *DYNAMODB_TABLES):
            assert landable in line, f"{landable} missing from: {line}"
    assert not (tmp_path / "lake").exists()


def test_land_with_an_empty_inbox_does_not_report_success(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    done = run_cli(lake, "land", "call_center")
    line = one_line_error(done)
    assert "nothing to land" in line and str(lake / "inbox" / "call_center") in line
    assert "complaints generate --no-dynamodb" in line
    assert "landed" not in done.stdout
    assert not lake.exists()


def no_aws_credentials(home: Path) -> dict[str, str]:
    """An environment in which boto3 finds no credentials (nor asks instance metadata)."""
    return {"AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
            "AWS_CONFIG_FILE": str(home / "no-config"), "AWS_EC2_METADATA_DISABLED": "true",
            "HOME": str(home)}


STREAM_COMMANDS = [
    ("produce", "--source", "sms", "--count", "5"),
    ("consume", "--source", "sms", "--max-seconds", "1"),
]


@pytest.mark.parametrize("command", STREAM_COMMANDS, ids=lambda c: c[0])
def test_streaming_without_credentials_says_to_start_the_emulator(
        tmp_path: Path, command: tuple[str, ...]) -> None:
    done = run_cli(tmp_path / "lake", *command, env=no_aws_credentials(tmp_path))
    line = one_line_error(done)
    assert len(done.stderr.splitlines()) == 1
    assert "complaints emulator start" in line and "COMPLAINTS_AWS_ENDPOINT_URL" in line


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", STREAM_COMMANDS, ids=lambda c: c[0])
def test_streaming_with_no_emulator_running_says_to_start_it(
        tmp_path: Path, command: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    done = run_cli(tmp_path / "lake", *command, env={"COMPLAINTS_AWS_ENDPOINT_URL": url})
    line = one_line_error(done)
    assert len(done.stderr.splitlines()) == 1
    assert url in line and "complaints emulator start" in line


@pytest.fixture
def emulator_that_stops() -> Iterator[str]:
    """An endpoint that answers the first connection (the command's reachability check) and
    then stops listening, as an emulator does when it is stopped under a running command."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer_once() -> None:
        connection, _ = listener.accept()
        connection.close()
        listener.close()

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    if thread.is_alive():
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    thread.join(timeout=5)


def test_emulator_gone_mid_command_is_one_line(tmp_path: Path, emulator_that_stops: str) -> None:
    """botocore's EndpointConnectionError, raised deep in the producer, translated by main."""
    done = run_cli(tmp_path / "lake", "produce", "--source", "sms", "--count", "5",
                   env={"COMPLAINTS_AWS_ENDPOINT_URL": emulator_that_stops})
    line = one_line_error(done)
    assert f"cannot connect to {emulator_that_stops}" in line
    assert "complaints emulator start" in line


# --- a lake this user cannot write ------------------------------------------------------------


def as_ordinary_user() -> list[str]:
    """A prefix that runs a command without root's power to write anything (file modes apply
    to it as to anyone); nothing when the tests do not run as root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root: util-linux `setpriv` is needed to drop CAP_DAC_OVERRIDE"
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)


@pytest.fixture
def read_only_lake(tmp_path: Path) -> Iterator[Path]:
    """A lake with an inbox file and a raw file that this user may read but not write."""
    lake = tmp_path / "lake"
    write_inbox(lake)
    raw = lake / "raw" / "call_center" / "ingest_date=2026-11-06" / "hour=10"
    raw.mkdir(parents=True)
    shutil.copy(lake / "inbox" / "call_center" / "calls.jsonl", raw / "0123456789abcdef__c.jsonl")
    make_read_only(lake)
    probe = subprocess.run([*as_ordinary_user(), sys.executable, "-c",
                            f"open({str(lake / 'probe')!r}, 'x')"],
                           capture_output=True, check=False)
    assert probe.returncode != 0, "the test set-up failed: the lake is still writable"
    yield lake
    make_writable(lake)


@pytest.mark.parametrize(
    "command",
    [("land", "call_center"), ("transform",), ("refresh",), ("generate", "--no-dynamodb"),
     ("demo",)],
    ids=lambda c: c[0],
)
def test_lake_it_cannot_write_is_one_line_naming_the_path(read_only_lake: Path,
                                                          command: tuple[str, ...]) -> None:
    before = files_under(read_only_lake)
    done = run_cli(read_only_lake, *command, prefix=as_ordinary_user())
    line = one_line_error(done)
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "permission denied" in line and str(read_only_lake) in line
    assert "write access" in line and "COMPLAINTS_LAKE" in line
    assert "landed" not in done.stdout
    assert files_under(read_only_lake) == before


def test_unreadable_inbox_file_is_one_line(tmp_path: Path) -> None:
    """A PermissionError deep in landing (no check before it), translated by main."""
    lake = tmp_path / "lake"
    secret = write_inbox(lake)
    secret.chmod(0)
    try:
        done = run_cli(lake, "land", "call_center", prefix=as_ordinary_user())
    finally:
        secret.chmod(0o644)
    line = one_line_error(done)
    assert f"permission denied: {secret}" in line
    assert files_under(lake / "raw") == []


def test_lake_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.write_text("not a folder")
    done = run_cli(lake, "generate", "--no-dynamodb")
    line = one_line_error(done)
    assert f"not a directory: {lake}" in line and "COMPLAINTS_LAKE" in line


# --- readers never create a lake --------------------------------------------------------------


def test_sql_on_a_mistyped_lake_creates_nothing(tmp_path: Path) -> None:
    mistyped = tmp_path / "lkae"
    done = run_cli(mistyped, "sql", COUNT_BY_SOURCE)
    line = one_line_error(done)
    assert len(done.stderr.splitlines()) == 1
    assert f"there is no lake at {mistyped}" in line
    assert "check COMPLAINTS_LAKE" in line and "make demo" in line
    assert done.stdout == ""
    assert not mistyped.exists()


def test_sql_without_a_warehouse_says_to_refresh(clean_lake: Path) -> None:
    before = files_under(clean_lake)
    done = run_cli(clean_lake, "sql", COUNT_BY_SOURCE)
    line = one_line_error(done)
    assert f"there is no warehouse at {clean_lake / 'warehouse.duckdb'}" in line
    assert "complaints refresh" in line
    assert files_under(clean_lake) == before


@pytest.mark.parametrize("command", ["transform", "check", "refresh"])
def test_commands_on_a_mistyped_lake_create_nothing(tmp_path: Path, command: str) -> None:
    mistyped = tmp_path / "lkae"
    line = one_line_error(run_cli(mistyped, command))
    assert f"there is no lake at {mistyped}: check COMPLAINTS_LAKE" in line
    assert not mistyped.exists()


def test_debug_setting_shows_the_traceback(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "lkae", "sql", "SELECT 1", env={"COMPLAINTS_DEBUG": "1"})
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "WarehouseMissing" in done.stderr


# --- an empty lake ----------------------------------------------------------------------------


def test_transform_on_an_empty_lake_says_to_land_first(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "raw").mkdir(parents=True)
    done = run_cli(lake, "transform")
    line = one_line_error(done)
    assert len(done.stderr.splitlines()) == 1
    assert "nothing to transform" in line and "complaints land SOURCE" in line
    assert files_under(lake) == []


def test_link_customers_on_an_empty_lake_says_to_transform_first(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    done = run_cli(lake, "link-customers")
    line = one_line_error(done)
    assert len(done.stderr.splitlines()) == 1
    assert "nothing to link" in line and "complaints transform" in line
    assert files_under(lake) == []


def test_cases_on_an_empty_lake_says_to_transform_first(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    line = one_line_error(run_cli(lake, "cases"))
    assert "no cases to make" in line and "complaints transform" in line
    assert files_under(lake) == []


def test_check_on_an_empty_lake_says_there_is_no_clean_data(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    line = one_line_error(run_cli(lake, "check"))
    assert f"no clean complaints yet in {lake / 'clean' / 'complaints'}" in line
    assert "complaints transform" in line


def test_transform_without_java_is_one_line(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_inbox(lake)
    assert run_cli(lake, "land", "call_center").returncode == 0
    done = run_cli(lake, "transform", env={"JAVA_HOME": str(tmp_path / "no-java")})
    line = one_line_error(done)
    assert "Spark could not start Java" in line and "Java 17" in line


# --- run-dag ----------------------------------------------------------------------------------


def test_run_dag_unknown_dag_lists_the_dags(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    done = run_cli(lake, "run-dag", "nosuch_dag", "2026-11-06")
    line = one_line_error(done, exit_code=2)
    assert len(done.stderr.splitlines()) == 1
    assert "there is no DAG 'nosuch_dag'" in line
    assert "complaints_batch" in line and "complaints_stream" in line
    assert not (tmp_path / "airflow-home").exists(), "Airflow was started for an unknown DAG"


def test_run_dag_suggests_a_close_dag_id(tmp_path: Path) -> None:
    line = one_line_error(run_cli(tmp_path / "lake", "run-dag", "complaints_bach", "2026-11-06"),
                          exit_code=2)
    assert "did you mean 'complaints_batch'?" in line


@pytest.mark.parametrize("day", ["11/06/2026", "2026-13-01", "20261106", "yesterday"])
def test_run_dag_rejects_a_date_that_is_not_yyyy_mm_dd(tmp_path: Path, day: str) -> None:
    done = run_cli(tmp_path / "lake", "run-dag", "complaints_batch", day)
    line = one_line_error(done, exit_code=2)
    assert len(done.stderr.splitlines()) == 1
    assert f"{day!r} is not a date: expected YYYY-MM-DD" in line
    assert not (tmp_path / "airflow-home").exists(), "nothing may be written for a bad date"


def test_run_dag_failure_says_why_and_where_the_log_is(tmp_path: Path) -> None:
    """A DAG file that cannot be parsed (a bad setting read at parse time): the run fails, and
    the line names the reason from Airflow's log and the log's path."""
    lake = tmp_path / "lake"
    lake.mkdir()
    done = run_cli(lake, "run-dag", "complaints_stream", "2026-11-06",
                   env={"COMPLAINTS_STREAM_INTERVAL_MINUTES": "often"})
    line = one_line_error(done)
    log = tmp_path / "airflow-home" / "dag-runs" / "complaints_stream-2026-11-06.log"
    assert line.endswith(f"; the whole log: {log}")
    assert "ended failed" in line and "COMPLAINTS_STREAM_INTERVAL_MINUTES" in line
    assert log.is_file() and "often" in log.read_text()


# --- help and progress ------------------------------------------------------------------------


def test_every_command_and_option_has_help_with_its_default() -> None:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helped = {c.dest for c in commands._choices_actions if c.help}
    assert helped == set(commands.choices), "commands without help"
    for name, command in commands.choices.items():
        text = command.format_help()
        for action in command._actions:
            if action.dest == "help":
                continue
            assert action.help, f"complaints {name} {action.dest}: no help"
            has_default = action.default is not None and action.default is not False
            if not action.option_strings or action.required or action.nargs == 0:
                continue  # positionals, required options and flags have no default to show
            if has_default and "default" not in action.help:
                assert f"(default: {action.default})" in " ".join(text.split()), \
                    f"complaints {name} {action.option_strings[0]}: default not shown"
            else:
                assert "default" in action.help, \
                    f"complaints {name} {action.option_strings[0]}: what happens without it?"


def test_help_says_how_to_see_tracebacks(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "lake", "--help")
    assert done.returncode == 0
    assert "COMPLAINTS_DEBUG=1" in done.stdout and "COMPLAINTS_LAKE" in done.stdout
    for command in ("land", "transform", "run-dag", "sql", "consume"):
        assert command in done.stdout


def test_land_and_transform_say_what_they_do_and_how_long_it_took(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_inbox(lake)
    # The same call exported again with its notes completed: one complaint, one duplicate.
    write_inbox(lake, name="more-calls.jsonl", notes=CALL["notes"] + ", still down")
    landed = run_cli(lake, "land", "call_center")
    assert landed.returncode == 0, landed.stderr
    assert landed.stdout == "call_center: landed 2, already landed 0\n"
    assert re.search(r"^land call_center: files of .*inbox/call_center \.\.\.$", landed.stderr,
                     re.M), landed.stderr
    assert re.search(r"^land call_center: done in \d+\.\d s: landed 2, already landed 0$",
                     landed.stderr, re.M), landed.stderr
    again = run_cli(lake, "land", "call_center")
    assert again.stdout == "call_center: landed 0, already landed 2\n"

    done = run_cli(lake, "transform", "--sources", "call_center")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^transform: 1 sources, 2 raw files in the lake \(call_center\); "
                     r"new raw files only \.\.\.$", done.stderr,
                     re.M), done.stderr
    assert re.search(r"^transform: done in \d+\.\d s: 2 files read, 2 records in, 1 clean, "
                     r"1 quarantined, 0 duplicates$", done.stderr, re.M), done.stderr
    [counts] = json.loads(done.stdout)["counts"]
    # the two copies say different things: a conflict, the other copy quarantined
    assert (counts["records_in"], counts["clean"], counts["quarantined"],
            counts["duplicates"]) == (2, 1, 1, 0)


def test_check_runs_a_checkpoint_and_prints_the_data_docs(clean_lake: Path) -> None:
    done = run_cli(clean_lake, "check")
    assert done.returncode == 0, done.stderr
    docs = clean_lake / "quality" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert f"data docs: {docs}" in done.stdout.splitlines()
    assert "complaints" in docs.read_text(encoding="utf-8")
    assert re.match(r"complaints quality: (\d+)/\1 expectations passed on 3 rows", done.stdout)
    sliced = run_cli(clean_lake, "check", "--no-docs", "--slice-rows", "1")
    assert sliced.returncode == 0, sliced.stderr
    assert re.search(r"quality suite on 3 clean complaints in [23] slices", sliced.stderr)
    assert re.match(r"complaints quality: (\d+)/\1 expectations passed on 3 rows", sliced.stdout)


def test_check_release_serves_a_held_partition_again(clean_lake: Path) -> None:
    from common.lake import Lake
    from quality.held_partitions import read_held, update_partitions

    row = ROWS[0]
    held = (row["event_date"].isoformat(), row["source"])
    update_partitions(Lake(clean_lake), "run-1", [], {held: ["complaints"]})
    line = one_line_error(run_cli(clean_lake, "check", "--release", "2026-11-03"))
    assert "give a partition as EVENT_DATE/SOURCE" in line
    line = one_line_error(run_cli(clean_lake, "check", "--release", "2020-01-01/sms"))
    assert f"not held: 2020-01-01/sms; held partitions: {held[0]}/{held[1]}" in line
    done = run_cli(clean_lake, "check", "--release", f"{held[0]}/{held[1]}")
    assert done.returncode == 0, done.stderr
    assert read_held(Lake(clean_lake)) == {}
    assert (clean_lake / "warehouse.duckdb").is_file()


@pytest.mark.parametrize("arguments", [
    ("produce", "--source", "sms", "--rate", "0"),
    ("produce", "--source", "sms", "--count", "-5"),
    ("produce", "--source", "sms", "--duration", "-1"),
    ("produce", "--source", "sms", "--bad-fraction", "2"),
    ("consume", "--source", "sms", "--lease-seconds", "0"),
    ("consume", "--source", "sms", "--max-seconds", "-1"),
    ("consume", "--source", "sms", "--buffer-mb", "0"),
    ("consume", "--source", "sms", "--batch-limit", "10001"),
], ids=lambda a: f"{a[0]} {a[3]} {a[4]}")
def test_streaming_numbers_out_of_range_are_one_line_usage_errors(
        tmp_path: Path, arguments: tuple[str, ...]) -> None:
    done = run_cli(tmp_path / "lake", *arguments)
    line = one_line_error(done, exit_code=2)
    assert len(done.stderr.splitlines()) == 1
    assert f"argument {arguments[3]}: '{arguments[4]}'" in line
