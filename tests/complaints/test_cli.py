"""The ``complaints`` console script, run as a user runs it, on a small Parquet lake."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.settings import REPO_ROOT, Settings
from schemas.complaint import COMPLAINT
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


def run_cli(lake: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINTS_")}
    env["COMPLAINTS_LAKE"] = str(lake)
    return subprocess.run([str(CONSOLE_SCRIPT), *args], env=env, cwd=lake.parent,
                          capture_output=True, text=True, timeout=120, check=False)


def test_console_script_is_installed() -> None:
    assert CONSOLE_SCRIPT.is_file(), f"{CONSOLE_SCRIPT} missing: run `make install`"
    assert "complaints.cli" in CONSOLE_SCRIPT.read_text()


def test_refresh_builds_the_warehouse_in_the_lake_of_the_environment(clean_lake: Path) -> None:
    done = run_cli(clean_lake, "refresh")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["complaints"] == len(ROWS)
    assert (clean_lake / "warehouse.duckdb").is_file()


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
    assert done.stderr.startswith("sql: ")
    assert expected.lower() in done.stderr.lower()
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) < 15


def test_unknown_format_is_a_usage_error(lake: Path) -> None:
    done = run_cli(lake, "sql", "SELECT 1", "--format", "xml")
    assert done.returncode == 2
    assert "invalid choice: 'xml'" in done.stderr
    assert "Traceback" not in done.stderr


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
