"""The DuckDB warehouse, on a real DuckDB and a tiny Parquet lake laid out as Spark writes it."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb  # noqa: TID253 - not a DAG file
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.settings import Settings
from schemas.complaint import COMPLAINT, QUARANTINE, RUN, TYPES, RecordSchema
from schemas.sources import DYNAMODB_TABLES
from tests.builders import clean_complaint
from warehouse.duckdb_warehouse import (
    DUCKDB_TYPES,
    VIEWS,
    QueryResult,
    WarehouseError,
    WarehouseMissing,
    WarehouseQueryError,
    format_result,
    open_readonly,
    refresh_warehouse,
    run_query,
)

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)

# ---------------------------------------------------------------------------------------------
# Fixture builders: Parquet written with the schemas' Arrow types, hive layout as Spark does it
# (partition columns only in the directory names, a _SUCCESS marker, .crc sidecars).
# ---------------------------------------------------------------------------------------------


def complaint(n: int, **overrides: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "complaint_id": f"c{n}", "source_record_id": f"r{n}",
        "event_time": T0 + timedelta(minutes=n), "customer_id": f"cust{n}",
        "text": f"complaint number {n}", "category": "billing", "subcategory": "overcharge",
        "region": "Northeast", "state": "MA", "location": "02134",
    }
    return clean_complaint(n, **{**defaults, **overrides})


def _file_schema(schema: RecordSchema) -> pa.Schema:
    arrow: pa.Schema = schema.arrow_schema()
    for name in schema.partition_by:
        arrow = arrow.remove(arrow.get_field_index(name))
    return arrow


def _write_part(directory: Path, table: pa.Table, **kwargs: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"part-00000-{uuid.uuid4()}.c000.snappy.parquet"
    pq.write_table(table, directory / name, **kwargs)
    (directory / f".{name}.crc").write_bytes(b"not parquet")
    return directory / name


def _write_partitioned(root: Path, schema: RecordSchema, rows: Iterable[dict[str, Any]]) -> None:
    file_schema = _file_schema(schema)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[p] for p in schema.partition_by), []).append(row)
    for key, group in groups.items():
        directory = root.joinpath(
            *(f"{p}={v}" for p, v in zip(schema.partition_by, key, strict=True))
        )
        table = pa.Table.from_pylist(
            [{n: r[n] for n in file_schema.names} for r in group], schema=file_schema
        )
        _write_part(directory, table)
    root.mkdir(parents=True, exist_ok=True)
    (root / "_SUCCESS").write_bytes(b"")
    (root / "._SUCCESS.crc").write_bytes(b"junk")


def write_clean(settings: Settings, rows: Iterable[dict[str, Any]]) -> None:
    _write_partitioned(settings.zones.clean_complaints, COMPLAINT, rows)


def quarantined(n: int, source: str = "web_form", **overrides: Any) -> dict[str, Any]:
    row = {
        "source": source,
        "reason": "unparseable_json",
        "raw_file": f"raw/{source}/2024-05-01.jsonl",
        "raw_line": n,
        "raw_record": "{not json",
        "run_id": "run-1",
    }
    row.update(overrides)
    return row


def write_quarantine(settings: Settings, rows: Iterable[dict[str, Any]]) -> None:
    _write_partitioned(settings.zones.quarantine_records, QUARANTINE, rows)


def run_row(
    source: str,
    records_in: int,
    clean: int,
    quarantined: int,
    duplicates: int,
    run_id: str = "run-1",
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "source": source,
        "started_at": T0,
        "taxonomy_version": "2024.1",
        "raw_files": 1,
        "records_in": records_in,
        "clean": clean,
        "quarantined": quarantined,
        "duplicates": duplicates,
    }


def write_runs(settings: Settings, rows: list[dict[str, Any]], run_id: str = "run-1") -> None:
    settings.zones.runs.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=RUN.arrow_schema())
    pq.write_table(table, settings.zones.runs / f"{run_id}.parquet")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(lake=tmp_path / "lake")


def describe(settings: Settings, view: str) -> list[tuple[str, str]]:
    result = run_query(settings, f"DESCRIBE {view}")
    return [(row[0], row[1]) for row in result.rows]


def expected_types(schema: RecordSchema) -> list[tuple[str, str]]:
    shown = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}  # how DESCRIBE spells it
    return [(c.name, shown.get(DUCKDB_TYPES[c.type], DUCKDB_TYPES[c.type])) for c in schema.columns]


@pytest.fixture
def lake(settings: Settings) -> Settings:
    """A lake with three days of complaints, including a numeric-looking source."""
    write_clean(
        settings,
        [
            complaint(1),
            complaint(2),
            complaint(3, category="network", subcategory="outage", region=None, state=None),
            complaint(4, region=None, state=None),
            complaint(
                5, source="12345", location="00501", quality_flags=["missing_region"], region=None
            ),
            complaint(6, source="web_form", event_time=T0 + timedelta(days=1)),
            complaint(7, source="web_form", event_time=T0 + timedelta(days=1)),
        ],
    )
    write_quarantine(settings, [quarantined(1), quarantined(2, source="12345")])
    write_runs(
        settings,
        [run_row("call_center", 10, 4, 3, 3), run_row("web_form", 10, 2, 1, 1)],
    )
    return settings


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------


def test_refresh_returns_row_counts_per_view(lake: Settings) -> None:
    counts = refresh_warehouse(lake)
    operational = dict.fromkeys(DYNAMODB_TABLES, 0)  # no exports in this lake
    assert counts == {"complaints": 7, "daily_complaints": 5, "quarantine": 2, "runs": 2,
                      "run_files": 0, "alerts": 0,
                      **operational, "customer_links": 0, "customer_link_counts": 0,
                      "complaint_cases": 0, "case_state_changes": 0,
                      # marts (tests/warehouse/test_marts.py checks their contents)
                      "hourly_complaints": 5, "channel_mix": 3, "time_to_resolution": 0,
                      "customer_complaints": 7, "repeat_complainers": 0, "taxonomy_versions": 1,
                      "complaint_case_channels": 0}
    assert tuple(counts) == VIEWS


def test_complaints_view_has_every_schema_column_with_duckdb_types(lake: Settings) -> None:
    refresh_warehouse(lake)
    types = describe(lake, "complaints")
    assert types == expected_types(COMPLAINT)
    # Spelled out, so a change to the mapping is a visible decision:
    by_name = dict(types)
    assert by_name["event_date"] == "DATE"
    assert by_name["source"] == "VARCHAR"
    assert by_name["location"] == "VARCHAR"
    assert by_name["quality_flags"] == "VARCHAR[]"
    assert by_name["event_time"] == "TIMESTAMP WITH TIME ZONE"
    assert by_name["ingest_time"] == "TIMESTAMP WITH TIME ZONE"
    assert by_name["duplicate_count"] == "INTEGER"
    assert by_name["raw_line"] == "BIGINT"


def test_numeric_looking_partition_and_zip_stay_text(lake: Settings) -> None:
    refresh_warehouse(lake)
    result = run_query(
        lake,
        "SELECT source, location, event_date, event_time, quality_flags "
        "FROM complaints WHERE complaint_id = 'c5'",
    )
    assert result.rows == [
        ("12345", "00501", date(2024, 5, 1), T0 + timedelta(minutes=5), ["missing_region"])
    ]
    # A string comparison, so no implicit cast is hiding a numeric column.
    assert run_query(lake, "SELECT count(*) FROM complaints WHERE source = '12345'").rows == [(1,)]
    event_time = result.rows[0][3]
    assert event_time.utcoffset() == timedelta(0)  # sessions run in UTC


def test_spark_junk_and_staging_files_are_ignored(lake: Settings) -> None:
    root = lake.zones.clean_complaints
    assert (root / "_SUCCESS").exists()
    staged = pa.Table.from_pylist(
        [{n: complaint(99)[n] for n in _file_schema(COMPLAINT).names}],
        schema=_file_schema(COMPLAINT),
    )
    # In-flight Spark writes (dynamic partition overwrite, committer temp dirs).
    _write_part(
        root / ".spark-staging-abc" / "event_date=2024-05-01" / "source=call_center", staged
    )
    _write_part(root / "_temporary" / "0" / "event_date=2024-05-01" / "source=call_center", staged)
    (root / "event_date=2024-05-01" / "source=call_center" / "notes.txt").write_text("junk")
    assert refresh_warehouse(lake)["complaints"] == 7
    assert run_query(lake, "SELECT count(*) FROM complaints WHERE complaint_id = 'c99'").rows == [
        (0,)
    ]


def test_daily_complaints_counts_by_day_category_source_region(lake: Settings) -> None:
    refresh_warehouse(lake)
    result = run_query(lake, "SELECT * FROM daily_complaints ORDER BY ALL NULLS LAST")
    assert result.columns == ["event_date", "category", "source", "region", "complaints"]
    d1, d2 = date(2024, 5, 1), date(2024, 5, 2)
    assert result.rows == [
        (d1, "billing", "12345", None, 1),
        (d1, "billing", "call_center", "Northeast", 2),
        (d1, "billing", "call_center", None, 1),
        (d1, "network", "call_center", None, 1),
        (d2, "billing", "web_form", "Northeast", 2),
    ]
    types = dict(describe(lake, "daily_complaints"))
    assert types["event_date"] == "DATE" and types["complaints"] == "BIGINT"


def test_quarantine_view_takes_source_from_partition(lake: Settings) -> None:
    refresh_warehouse(lake)
    assert describe(lake, "quarantine") == expected_types(QUARANTINE)
    result = run_query(lake, "SELECT source, raw_line, reason FROM quarantine ORDER BY raw_line")
    assert result.rows == [("web_form", 1, "unparseable_json"), ("12345", 2, "unparseable_json")]


def test_runs_view_flags_counts_conserved(lake: Settings) -> None:
    refresh_warehouse(lake)
    assert describe(lake, "runs") == expected_types(RUN) + [("counts_conserved", "BOOLEAN")]
    result = run_query(
        lake, "SELECT source, records_in, counts_conserved FROM runs ORDER BY source"
    )
    # call_center: 10 = 4 + 3 + 3; web_form: 10 != 2 + 1 + 1
    assert result.rows == [("call_center", 10, True), ("web_form", 10, False)]


def test_empty_lake_gives_typed_empty_views(settings: Settings) -> None:
    assert not settings.lake.exists()
    counts = refresh_warehouse(settings)
    assert settings.zones.warehouse.exists()
    assert counts == {view: 0 for view in VIEWS}
    assert describe(settings, "complaints") == expected_types(COMPLAINT)
    assert describe(settings, "quarantine") == expected_types(QUARANTINE)
    assert describe(settings, "runs") == expected_types(RUN) + [("counts_conserved", "BOOLEAN")]
    assert [c for c, _ in describe(settings, "daily_complaints")] == [
        "event_date",
        "category",
        "source",
        "region",
        "complaints",
    ]
    for view in VIEWS:
        assert run_query(settings, f"SELECT * FROM {view}").rows == []


def test_zone_with_only_junk_counts_as_empty(settings: Settings) -> None:
    root = settings.zones.clean_complaints
    root.mkdir(parents=True)
    (root / "_SUCCESS").write_bytes(b"")
    assert refresh_warehouse(settings)["complaints"] == 0


def test_refresh_picks_up_new_files(settings: Settings) -> None:
    assert refresh_warehouse(settings)["complaints"] == 0
    write_clean(settings, [complaint(1)])
    write_runs(settings, [run_row("call_center", 1, 1, 0, 0)])
    # Empty zones were typed placeholders; a refresh points them at the files.
    assert run_query(settings, "SELECT count(*) FROM complaints").rows == [(0,)]
    counts = refresh_warehouse(settings)
    assert counts["complaints"] == 1 and counts["runs"] == 1 and counts["quarantine"] == 0
    # Once a zone has files, new partitions and files show up without another refresh.
    write_clean(settings, [complaint(2, source="chat_feedback", event_time=T0 + timedelta(days=3))])
    write_runs(settings, [run_row("chat_feedback", 1, 1, 0, 0, run_id="run-2")], run_id="run-2")
    assert run_query(settings, "SELECT count(*) FROM complaints").rows == [(2,)]
    assert run_query(settings, "SELECT count(*) FROM runs").rows == [(2,)]


def test_warehouse_holds_views_only(lake: Settings) -> None:
    refresh_warehouse(lake)
    result = run_query(
        lake,
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'main' ORDER BY table_name",
    )
    assert result.rows == [(view, "VIEW") for view in sorted(VIEWS)]


def test_refresh_is_idempotent(lake: Settings) -> None:
    assert refresh_warehouse(lake) == refresh_warehouse(lake)


def test_views_use_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = Settings(lake=Path("lake"))
    write_clean(relative, [complaint(1)])
    refresh_warehouse(relative)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    absolute = Settings(lake=tmp_path / "lake")
    assert run_query(absolute, "SELECT count(*) FROM complaints").rows == [(1,)]


def test_naive_timestamps_are_read_as_utc(settings: Settings) -> None:
    """Files with naive timestamps (Spark INT96 / TIMESTAMP_NTZ) mean UTC, whatever the session."""
    file_schema = _file_schema(COMPLAINT)
    naive = pa.schema(
        [
            pa.field(f.name, pa.timestamp("us"), f.nullable) if f.name.endswith("_time") else f
            for f in file_schema
        ]
    )
    row = complaint(1)
    table = pa.Table.from_pylist(
        [
            {
                n: (row[n].replace(tzinfo=None) if n.endswith("_time") else row[n])
                for n in naive.names
            }
        ],
        schema=naive,
    )
    _write_part(
        settings.zones.clean_complaints / "event_date=2024-05-01" / "source=call_center",
        table,
        use_deprecated_int96_timestamps=True,
    )
    refresh_warehouse(settings)
    assert dict(describe(settings, "complaints"))["event_time"] == "TIMESTAMP WITH TIME ZONE"
    conn = duckdb.connect(str(settings.zones.warehouse), read_only=True)
    try:
        conn.execute("SET TimeZone = 'America/New_York'")
        (same,) = conn.execute(
            "SELECT event_time = TIMESTAMPTZ '2024-05-01 09:31:00+00' FROM complaints"
        ).fetchone()  # type: ignore[misc]
    finally:
        conn.close()
    assert same is True


def test_missing_nullable_column_is_null_and_missing_required_column_fails(
    settings: Settings,
) -> None:
    file_schema = _file_schema(COMPLAINT)
    directory = settings.zones.clean_complaints / "event_date=2024-05-01" / "source=call_center"
    without_case = file_schema.remove(file_schema.get_field_index("case_id"))
    row = complaint(1, case_id="ignored")
    _write_part(
        directory,
        pa.Table.from_pylist([{n: row[n] for n in without_case.names}], schema=without_case),
    )
    refresh_warehouse(settings)
    assert run_query(settings, "SELECT case_id FROM complaints").rows == [(None,)]
    assert dict(describe(settings, "complaints"))["case_id"] == "VARCHAR"

    for path in directory.glob("*.parquet"):
        path.unlink()
    without_text = without_case.remove(without_case.get_field_index("text"))
    _write_part(
        directory,
        pa.Table.from_pylist([{n: row[n] for n in without_text.names}], schema=without_text),
    )
    with pytest.raises(WarehouseError, match="required column 'text'"):
        refresh_warehouse(settings)


# ---------------------------------------------------------------------------------------------
# Connections and errors
# ---------------------------------------------------------------------------------------------


def test_readers_never_build_a_warehouse(lake: Settings) -> None:
    before = sorted(lake.lake.rglob("*"))
    with pytest.raises(WarehouseMissing) as missing:
        open_readonly(lake)
    assert missing.value.path == lake.zones.warehouse and missing.value.lake_exists
    with pytest.raises(WarehouseMissing):
        run_query(lake, "SELECT count(*) FROM complaints")
    assert sorted(lake.lake.rglob("*")) == before, "a reader wrote to the lake"


def test_readers_never_create_a_lake(tmp_path: Path) -> None:
    mistyped = Settings(lake=tmp_path / "lkae")
    with pytest.raises(WarehouseMissing, match="there is no lake") as missing:
        run_query(mistyped, "SELECT 1")
    assert not missing.value.lake_exists
    assert not mistyped.lake.exists()


def test_open_readonly_reads_a_refreshed_warehouse_in_utc(lake: Settings) -> None:
    refresh_warehouse(lake)
    conn = open_readonly(lake)
    try:
        assert conn.execute("SELECT count(*) FROM complaints").fetchone() == (7,)
        assert conn.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    finally:
        conn.close()


def test_read_only_connection_rejects_writes(lake: Settings) -> None:
    refresh_warehouse(lake)
    with pytest.raises(WarehouseQueryError, match="read-only"):
        run_query(lake, "CREATE TABLE x AS SELECT 1")
    with pytest.raises(WarehouseQueryError, match="read-only"):
        run_query(lake, "DROP VIEW complaints")
    names = run_query(lake, "SELECT table_name FROM information_schema.tables").rows
    assert ("x",) not in names and ("complaints",) in names


def test_sql_errors_carry_duckdb_message(lake: Settings) -> None:
    refresh_warehouse(lake)
    with pytest.raises(WarehouseQueryError) as missing:
        run_query(lake, "SELECT * FROM complaintz")
    message = str(missing.value)
    assert "complaintz" in message and "does not exist" in message
    assert "complaints" in message  # DuckDB's "Did you mean" hint survives
    assert missing.value.sql == "SELECT * FROM complaintz"

    with pytest.raises(WarehouseQueryError, match="(?i)syntax error"):
        run_query(lake, "SELEC 1")
    with pytest.raises(WarehouseQueryError, match="nonexistent_column"):
        run_query(lake, "SELECT nonexistent_column FROM runs")
    with pytest.raises(WarehouseQueryError, match="(?i)empty"):
        run_query(lake, "   ")


def test_run_query_returns_columns_and_python_values(lake: Settings) -> None:
    refresh_warehouse(lake)
    result = run_query(
        lake, "SELECT event_date, count(*) AS n FROM complaints GROUP BY 1 ORDER BY 1"
    )
    assert result == QueryResult(
        columns=["event_date", "n"], rows=[(date(2024, 5, 1), 5), (date(2024, 5, 2), 2)]
    )


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------

SAMPLE = QueryResult(
    columns=["day", "source", "n", "share", "at", "flags", "ok", "note"],
    rows=[
        (date(2024, 5, 1), "call_center", 12, Decimal("0.25"), T0, ["a", "b"], True, None),
        (
            date(2024, 5, 2),
            "12345",
            3,
            Decimal("1.5"),
            T0 + timedelta(days=1),
            [],
            False,
            'has "quotes", commas\nand a newline',
        ),
    ],
)


def test_csv_first_line_is_header_and_round_trips() -> None:
    text = format_result(SAMPLE, "csv")
    assert text.splitlines()[0] == "day,source,n,share,at,flags,ok,note"
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == SAMPLE.columns
    assert rows[1] == [
        "2024-05-01",
        "call_center",
        "12",
        "0.25",
        "2024-05-01T09:30:00+00:00",
        '["a", "b"]',
        "true",
        "",
    ]
    assert rows[2][1] == "12345" and rows[2][-1] == 'has "quotes", commas\nand a newline'
    assert len(rows) == 3  # header + rows, no footer


def test_csv_of_empty_result_is_just_the_header() -> None:
    assert format_result(QueryResult(columns=["a", "b"], rows=[]), "csv") == "a,b\n"


def test_json_parses_back_to_objects() -> None:
    parsed = json.loads(format_result(SAMPLE, "json"))
    assert parsed == [
        {
            "day": "2024-05-01",
            "source": "call_center",
            "n": 12,
            "share": 0.25,
            "at": "2024-05-01T09:30:00+00:00",
            "flags": ["a", "b"],
            "ok": True,
            "note": None,
        },
        {
            "day": "2024-05-02",
            "source": "12345",
            "n": 3,
            "share": 1.5,
            "at": "2024-05-02T09:30:00+00:00",
            "flags": [],
            "ok": False,
            "note": 'has "quotes", commas\nand a newline',
        },
    ]
    assert json.loads(format_result(QueryResult(columns=["a"], rows=[]), "json")) == []
    dupes = QueryResult(columns=["a", "a"], rows=[(1, 2)])
    assert json.loads(format_result(dupes, "json")) == [{"a": 1, "a_1": 2}]
    odd = QueryResult(columns=["x"], rows=[(float("nan"),)])
    assert json.loads(format_result(odd, "json")) == [{"x": "nan"}]


def test_json_of_real_query_has_iso_timestamps(lake: Settings) -> None:
    refresh_warehouse(lake)
    result = run_query(
        lake, "SELECT event_date, event_time, quality_flags FROM complaints WHERE complaint_id='c5'"
    )
    assert json.loads(format_result(result, "json")) == [
        {
            "event_date": "2024-05-01",
            "event_time": "2024-05-01T09:35:00+00:00",
            "quality_flags": ["missing_region"],
        }
    ]


def test_table_is_aligned_with_header_and_footer() -> None:
    text = format_result(SAMPLE, "table")
    lines = text.splitlines()
    header, rule, *body, footer = lines
    assert header.split(" | ")[0].strip() == "day"
    assert set(rule) <= {"-", "+"}
    assert footer == "(2 rows)"
    assert len(body) == 2  # the embedded newline is escaped, not a line break
    assert "\\n" in body[1]
    widths = {len(line) for line in [header, rule, *body]}
    assert len(widths) == 1  # every line equally wide
    bars = [i for i, ch in enumerate(header) if ch == "|"]
    for line in body:
        assert [i for i, ch in enumerate(line) if ch == "|"] == bars
    assert [i for i, ch in enumerate(rule) if ch == "+"] == bars
    assert "NULL" in body[0]
    # numbers right-aligned: "12" and " 3" end in the same column
    n_col = SAMPLE.columns.index("n")
    assert [line.split(" | ")[n_col] for line in body] == ["12", " 3"]


def test_table_footer_counts() -> None:
    one = format_result(QueryResult(columns=["a"], rows=[(1,)]), "table")
    assert one.splitlines()[-1] == "(1 row)"
    none = format_result(QueryResult(columns=["a"], rows=[]), "table")
    assert none.splitlines() == ["a", "-", "(0 rows)"]


def test_table_of_a_real_query(lake: Settings) -> None:
    refresh_warehouse(lake)
    text = format_result(
        run_query(lake, "SELECT * FROM daily_complaints ORDER BY ALL NULLS LAST"), "table"
    )
    lines = text.splitlines()
    assert lines[0].split(" | ")[0].rstrip() == "event_date"
    assert lines[-1] == "(5 rows)"
    assert len({len(line) for line in lines[:-1]}) == 1


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        format_result(SAMPLE, "xml")  # type: ignore[arg-type]


def test_every_type_of_the_schema_vocabulary_has_a_duckdb_type() -> None:
    assert set(DUCKDB_TYPES) == set(TYPES)
