"""The DuckDB warehouse: SQL views over the Parquet lake, and read-only querying.

``<lake>/warehouse.duckdb`` holds **views only**; every query reads the Parquet files the
transform jobs wrote, so the warehouse never goes stale and never copies data.

Views (column lists and types come from ``schemas.complaint``, never written out twice):

``complaints``
    One row per clean complaint, every ``COMPLAINT`` column in schema order. Reads
    ``<lake>/clean/complaints/event_date=*/source=*/[!._]*.parquet`` with hive partitioning.
    The partition columns are typed explicitly (``hive_types``: ``event_date`` DATE,
    ``source`` VARCHAR) so DuckDB never guesses: a source named ``12345`` stays text.
    Partitions held by a critical quality failure (``<lake>/quality/held_partitions.json``,
    ``quality.held_partitions``) are left out, and their last good version
    (``<lake>/quality/last_good/``) is read instead when one was kept: analysts keep the last
    good data. The held list is read at refresh time (the quality gate refreshes when it holds).
``daily_complaints``
    ``event_date, category, source, region, complaints``: row counts of ``complaints`` per
    day, category, source and region (a NULL region is its own group).
``quarantine``
    Every ``QUARANTINE`` column; ``source`` comes from the ``source=`` partition directory.
``runs``
    Every ``RUN`` column (``<lake>/runs/[!._]*.parquet``) plus ``counts_conserved``:
    ``records_in = clean + quarantined + duplicates + deletes`` (false, never NULL, if any of
    the first four is NULL; ``deletes`` is NULL, read as 0, outside the operational runs).
``run_files``
    Every ``RUN_FILE`` column: the raw files each transform run read (``<lake>/runs/files/``).
Marts (``hourly_complaints``, ``channel_mix``, ``time_to_resolution``, ``customer_complaints``,
``repeat_complainers``, ``taxonomy_versions``) and the role schemas ``analyst`` (masked PII,
hashed customer keys) and ``cx`` (customer links): ``warehouse.marts``.
``customer_links``, ``customer_link_counts``
    Every ``CUSTOMER_LINK`` column (``schemas.customer_links``): one row per complaint-customer
    link with its evidence and confidence (``<lake>/clean/customer_links/source=*/``), and each
    source's linked / ambiguous / unmatched / no-identifier counts of the last linking run.
``complaint_cases``
    Every ``COMPLAINT_CASE`` column (``schemas.complaint_cases``): each complaint's case across
    channels (``complaint_case_id``, not the source's ``case_id``), its size, channels, and the
    evidence and text similarity that joined it (``<lake>/clean/complaint_cases/source=*/``).
``case_state_changes``
    Every ``CASE_STATE_CHANGE`` column (``schemas.sources``): each write that moved a tracked
    case's state (``complaint_management.current_state``, ``mbpp_reports.status``), read from the
    incremental exports' ``OldImage`` -> ``NewImage`` (``<lake>/clean/case_state_changes/``).
``alerts``
    Every ``ALERT`` column (``schemas.alerts``), one row per alert (surges, freshness, volume,
    quality gates, task failures), read from ``<lake>/alerts/current.parquet``.

Types. ``string`` -> VARCHAR, ``long`` -> BIGINT, ``int`` -> INTEGER, ``date`` -> DATE,
``array<string>`` -> VARCHAR[], and ``timestamp`` -> **TIMESTAMP WITH TIME ZONE**
(TIMESTAMPTZ): the schema defines timestamps as UTC instants, which is what Spark
(``TIMESTAMP_MICROS``) and pyarrow (``timestamp("us", tz="UTC")``) write. A file holding a
naive TIMESTAMP instead (Spark's INT96 default, TIMESTAMP_NTZ) is read as UTC wall-clock
time, not in the session's zone. Connections opened here run with ``TimeZone = 'UTC'``, so
timestamps come back as UTC-aware ``datetime`` objects and render as ``...+00:00``.

Files. The globs follow the partition layout rather than ``**/*.parquet``: with
``partitionOverwriteMode=dynamic`` Spark stages output under ``.spark-staging-*/`` (and
``_temporary/``) inside the table directory while it writes, and a recursive glob would count
those rows twice. Files whose name starts with ``.`` or ``_`` (``_SUCCESS``, ``.crc``) are
ignored, as Spark does. Paths are absolute, so the warehouse works from any directory (it
must be refreshed if the lake moves).

Refresh. ``refresh_warehouse`` (re)creates all views in one transaction with
``CREATE OR REPLACE VIEW``. New files in a zone that already has files show up without a
refresh (the glob is evaluated per query). A zone with no files yet gets an empty, typed
view with the same columns; refresh again once files appear. A column missing from every
file of a zone becomes a typed NULL if the schema says it is nullable, and fails the refresh
(``WarehouseError``) if it is required. DuckDB locks the file: a refresh cannot run while
another process holds the warehouse open, read-only or not.

Readers (``open_readonly``, ``run_query``) never create a lake or a warehouse: without the file
they raise ``WarehouseMissing``, so a mistyped lake path is an error, not an empty answer.
"""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb  # noqa: TID253 - not a DAG file; the warehouse is DuckDB through and through

from common.lake import atomic_target, write_atomically
from common.settings import Settings
from quality.held_partitions import last_good_partitions, read_held
from schemas.alerts import ALERT
from schemas.complaint import COMPLAINT, QUARANTINE, RUN, RUN_FILE, RecordSchema
from schemas.complaint_cases import COMPLAINT_CASE
from schemas.customer_links import CUSTOMER_LINK, CUSTOMER_LINK_COUNTS
from schemas.sources import CASE_STATE_CHANGE, DYNAMODB_TABLES, operational_schema
from warehouse.marts import MARTS, ROLES, customer_key_salt, mart_sql, role_sql

__all__ = [
    "DUCKDB_TYPES",
    "EXPORT_FORMATS",
    "VIEWS",
    "QueryResult",
    "WarehouseError",
    "WarehouseMissing",
    "WarehouseQueryError",
    "export_format",
    "export_query",
    "format_result",
    "open_readonly",
    "refresh_warehouse",
    "run_query",
]

#: DuckDB type of each type of the schema vocabulary.
DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "long": "BIGINT",
    "int": "INTEGER",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "array<string>": "VARCHAR[]",
    "decimal": "DECIMAL(38, 10)",
    "boolean": "BOOLEAN",
    "double": "DOUBLE",
    "array<decimal>": "DECIMAL(38, 10)[]",
}

#: The views ``refresh_warehouse`` creates, in creation order.
VIEWS: tuple[str, ...] = ("complaints", "daily_complaints", "quarantine", "runs", "run_files",
                          "alerts", *DYNAMODB_TABLES, "customer_links", "customer_link_counts",
                          "complaint_cases", "case_state_changes", *MARTS)

_DAILY_SQL = """\
SELECT event_date, category, source, region, count(*) AS complaints
FROM complaints
GROUP BY event_date, category, source, region
ORDER BY event_date, category, source, region NULLS LAST"""

_COUNTS_CONSERVED = (
    "coalesce(records_in = clean + quarantined + duplicates + coalesce(deletes, 0), false) "
    "AS counts_conserved"
)


class WarehouseError(RuntimeError):
    """The warehouse could not be built (e.g. the lake's files lack a required column)."""


class WarehouseQueryError(WarehouseError):
    """A query failed; the message is DuckDB's own (error class, text, position)."""

    def __init__(self, message: str, sql: str = "") -> None:
        super().__init__(message)
        self.sql = sql


class WarehouseMissing(WarehouseError):
    """There is no warehouse file to read. Readers never build one (a mistyped lake path must not
    turn into a new, empty lake that answers every query with 0 rows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lake_exists = path.parent.is_dir()
        where = "" if self.lake_exists else f" (there is no lake at {path.parent} either)"
        super().__init__(f"there is no warehouse at {path}{where}")


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class _Zone:
    """A view that reads one zone of the lake, shaped by one record schema."""

    view: str
    schema: RecordSchema
    root: Path
    file_name: str | None = None  # one named file of ``root`` instead of every data file

    @property
    def pattern(self) -> str:
        """Absolute glob of the zone's data files, one directory level per partition."""
        if self.file_name is not None:
            return str(self.root.resolve() / self.file_name)
        parts = [f"{column}=*" for column in self.schema.partition_by]
        return str(self.root.resolve().joinpath(*parts, "[!._]*.parquet"))


def _zones(settings: Settings) -> list[_Zone]:
    return [
        _Zone("complaints", COMPLAINT, settings.zones.clean_complaints),
        # Quarantined records of every source and table: <lake>/quarantine/records/source=.../
        _Zone("quarantine", QUARANTINE, settings.zones.quarantine_records),
        _Zone("runs", RUN, settings.zones.runs),
        # The raw files each transform run read: <lake>/runs/files/<run id>.parquet
        _Zone("run_files", RUN_FILE, settings.zones.run_files),
        # Every alert's current state: <lake>/alerts/current.parquet
        _Zone("alerts", ALERT, settings.zones.alerts, settings.zones.current_alerts.name),
        # The operational tables' latest snapshots: <lake>/clean/<table>/part-*.parquet
        *[_Zone(t.logical, operational_schema(t), settings.zones.clean / t.logical)
          for t in DYNAMODB_TABLES.values()],
        # Complaint -> customer links and what became of each source's complaints
        # (jobs.customer_links): <lake>/clean/customer_links/source=.../, customer_link_counts/
        _Zone("customer_links", CUSTOMER_LINK, settings.zones.clean / "customer_links"),
        _Zone("customer_link_counts", CUSTOMER_LINK_COUNTS,
              settings.zones.clean / "customer_link_counts"),
        # Each complaint's case across channels (jobs.complaint_cases):
        # <lake>/clean/complaint_cases/source=.../
        _Zone("complaint_cases", COMPLAINT_CASE, settings.zones.clean / "complaint_cases"),
        # Tracked cases' state transitions from the incremental exports (jobs.operational):
        # <lake>/clean/case_state_changes/source=.../
        _Zone("case_state_changes", CASE_STATE_CHANGE,
              settings.zones.clean / CASE_STATE_CHANGE.name),
    ]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duckdb_type(schema: RecordSchema, column: str) -> str:
    for c in schema.columns:
        if c.name == column:
            return DUCKDB_TYPES[c.type]
    raise KeyError(column)


def _read_parquet(zone: _Zone) -> str:
    options = ["union_by_name = true"]
    if zone.schema.partition_by:
        hive_types = ", ".join(
            f"{_literal(p)}: {_duckdb_type(zone.schema, p)}" for p in zone.schema.partition_by
        )
        options += ["hive_partitioning = true", f"hive_types = {{{hive_types}}}"]
    else:
        options.append("hive_partitioning = false")
    return f"read_parquet({_literal(zone.pattern)}, {', '.join(options)})"


def _has_files(conn: duckdb.DuckDBPyConnection, zone: _Zone) -> bool:
    row = conn.execute(f"SELECT count(*) FROM glob({_literal(zone.pattern)})").fetchone()
    return bool(row and row[0])


def _empty_select(schema: RecordSchema) -> str:
    columns = ",\n  ".join(
        f"CAST(NULL AS {DUCKDB_TYPES[c.type]}) AS {_ident(c.name)}" for c in schema.columns
    )
    return f"SELECT\n  {columns}\nWHERE false"


def _parquet_select(conn: duckdb.DuckDBPyConnection, zone: _Zone) -> str:
    source = _read_parquet(zone)
    relation = conn.sql(f"SELECT * FROM {source}")  # lazy: reads Parquet footers only
    found = {
        name: str(kind).upper() for name, kind in zip(relation.columns, relation.types, strict=True)
    }
    expressions = []
    for c in zone.schema.columns:
        target = DUCKDB_TYPES[c.type]
        name = _ident(c.name)
        if c.name not in found:
            if not c.nullable:
                raise WarehouseError(
                    f"{zone.view}: required column {c.name!r} is in no file matching {zone.pattern}"
                )
            expr = f"CAST(NULL AS {target})"
        elif (
            c.type == "timestamp"
            and found[c.name].startswith("TIMESTAMP")
            and "TIME ZONE" not in found[c.name]
        ):
            # A naive timestamp in the file is UTC wall-clock time (schema: "UTC").
            expr = f"timezone('UTC', CAST({name} AS TIMESTAMP))"
        else:
            expr = f"CAST({name} AS {target})"
        expressions.append(f"{expr} AS {name}")
    return "SELECT\n  " + ",\n  ".join(expressions) + f"\nFROM {source}"


def _zone_select(conn: duckdb.DuckDBPyConnection, zone: _Zone) -> str:
    return _parquet_select(conn, zone) if _has_files(conn, zone) else _empty_select(zone.schema)


def _partition_key() -> str:
    return "concat(CAST(event_date AS VARCHAR), '/', source)"


def _complaints_sql(conn: duckdb.DuckDBPyConnection, settings: Settings, live: str) -> str:
    """The clean complaints without the partitions a critical quality failure holds
    (``quality.held_partitions``); for those, their last good version when one was kept."""
    held = read_held(settings.zones)
    if not held:
        return live
    keys = ", ".join(_literal(f"{d}/{s}") for d, s in sorted(held))
    sql = f"SELECT * FROM (\n{live}\n) AS live\nWHERE {_partition_key()} NOT IN ({keys})"
    kept = sorted(set(held) & last_good_partitions(settings.zones))
    if kept:
        last_good = _parquet_select(conn, _Zone("complaints", COMPLAINT, settings.zones.last_good))
        kept_keys = ", ".join(_literal(f"{d}/{s}") for d, s in kept)
        sql += (f"\nUNION ALL BY NAME\nSELECT * FROM (\n{last_good}\n) AS last_good\n"
                f"WHERE {_partition_key()} IN ({kept_keys})")
    return sql


def _view_sql(conn: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, str]:
    selects = {zone.view: _zone_select(conn, zone) for zone in _zones(settings)}
    return {
        "complaints": _complaints_sql(conn, settings, selects["complaints"]),
        "daily_complaints": _DAILY_SQL,
        "quarantine": selects["quarantine"],
        "runs": f"SELECT *, {_COUNTS_CONSERVED}\nFROM (\n{selects['runs']}\n) AS r",
        "run_files": selects["run_files"],
        "alerts": selects["alerts"],
        **{table: selects[table] for table in DYNAMODB_TABLES},
        "customer_links": selects["customer_links"],
        "customer_link_counts": selects["customer_link_counts"],
        "complaint_cases": selects["complaint_cases"],
        "case_state_changes": selects["case_state_changes"],
        **mart_sql(),
    }


def _create_role_views(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """The ``analyst`` and ``cx`` schemas (``warehouse.marts``), replaced whole: a view dropped
    from a role disappears on the next refresh."""
    # Alerts name categories, regions and complaint ids, no PII: every role sees them.
    shared = {"alerts": "SELECT * FROM main.alerts"}
    for role, views in role_sql(customer_key_salt(settings.zones.warehouse_salt)).items():
        views = {**views, **shared}
        conn.execute(f"DROP SCHEMA IF EXISTS {_ident(role)} CASCADE")
        conn.execute(f"CREATE SCHEMA {_ident(role)}")
        for view, sql in views.items():
            conn.execute(f"CREATE VIEW {_ident(role)}.{_ident(view)} AS\n{sql}")


def _set_session(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("SET TimeZone = 'UTC'")


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file; DuckDB's I/O errors (no permission, the file locked
    by a writer in another process) become ``WarehouseError`` with DuckDB's message."""
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise WarehouseError(f"cannot open the warehouse {path}: {exc}") from exc


def refresh_warehouse(settings: Settings) -> dict[str, int]:
    """(Re)create every view in ``settings.zones.warehouse``; return the row count per view.

    Creates the lake directory and the warehouse file if needed. The views are replaced in
    one transaction, so a reader sees either the old set or the new one.
    """
    path = settings.zones.warehouse
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path, read_only=False)
    try:
        _set_session(conn)
        statements = _view_sql(conn, settings)
        conn.execute("BEGIN TRANSACTION")
        try:
            for view in VIEWS:
                conn.execute(f"CREATE OR REPLACE VIEW {_ident(view)} AS\n{statements[view]}")
            _create_role_views(conn, settings)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        counts: dict[str, int] = {}
        for view in VIEWS:
            row = conn.execute(f"SELECT count(*) FROM {_ident(view)}").fetchone()
            counts[view] = int(row[0]) if row else 0
        return counts
    finally:
        conn.close()


#: Table functions a role's query may call: they make rows, they read no file.
_ROLE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})


def _references(node: Any, tables: set[tuple[str, str]], functions: set[str],
                ctes: set[str]) -> None:
    """Collect the tables (schema, name), table functions and CTE names of a parsed query."""
    if isinstance(node, list):
        for item in node:
            _references(item, tables, functions, ctes)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "BASE_TABLE":
        schema = node.get("schema_name") or node.get("catalog_name") or ""
        tables.add((str(schema).lower(), str(node.get("table_name", "")).lower()))
    elif kind == "TABLE_FUNCTION":
        functions.add(str(node.get("function", {}).get("function_name", "")).lower())
    for entry in node.get("cte_map", {}).get("map", []) if isinstance(node.get("cte_map"),
                                                                       dict) else []:
        ctes.add(str(entry.get("key", "")).lower())
    for value in node.values():
        _references(value, tables, functions, ctes)


def _check_role_query(conn: duckdb.DuckDBPyConnection, role: str, sql: str) -> None:
    """A role's query is SELECTs over the role's views only (DuckDB has no grants: without this
    check unqualified names would still fall back to ``main``, and ``read_parquet`` reads any
    file). Raise ``WarehouseQueryError`` naming what the role may use."""
    row = conn.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    parsed = json.loads(row[0]) if row else {"error": True}
    if parsed.get("error"):
        detail = parsed.get("error_message", "")
        raise WarehouseQueryError(f"as {role}, only SELECT queries over the {role} views can run"
                                  + (f" ({detail})" if detail else ""), sql)
    views = {str(r[0]).lower() for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
        [role]).fetchall()}
    tables: set[tuple[str, str]] = set()
    functions: set[str] = set()
    ctes: set[str] = set()
    _references(parsed["statements"], tables, functions, ctes)
    denied = sorted(f"{schema}.{name}" if schema else name for schema, name in tables
                    if schema not in ("", role) or name not in views | ctes)
    denied += sorted(f"{f}()" for f in functions - _ROLE_TABLE_FUNCTIONS)
    if denied:
        raise WarehouseQueryError(
            f"the {role} role cannot read {', '.join(denied)}; its views: "
            f"{', '.join(sorted(views))}", sql)


def _use_role(conn: duckdb.DuckDBPyConnection, role: str) -> None:
    """Put the role's schema first on the search path: its views answer unqualified names."""
    if role not in ROLES:
        raise WarehouseQueryError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    row = conn.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
                       [role]).fetchone()
    if not row or not row[0]:
        raise WarehouseQueryError(f"the warehouse has no {role} views yet: run `complaints "
                                  "refresh` to create them")
    conn.execute(f"SET search_path = {_literal(role)}")


def open_readonly(settings: Settings, role: str | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse (session time zone UTC); the caller closes it.

    Never builds anything: without a warehouse file it raises ``WarehouseMissing``
    (``refresh_warehouse`` builds one). With ``role`` (``analyst``, ``cx``) unqualified names
    resolve in that role's schema only (``warehouse.marts``).
    """
    path = settings.zones.warehouse
    if not path.is_file():
        raise WarehouseMissing(path)
    conn = _connect(path, read_only=True)
    try:
        _set_session(conn)
        if role is not None:
            _use_role(conn, role)
    except BaseException:
        conn.close()
        raise
    return conn


def run_query(settings: Settings, sql: str, role: str | None = None) -> QueryResult:
    """Run ``sql`` on a read-only connection; any DuckDB error becomes ``WarehouseQueryError``.

    Several statements separated by ``;`` are allowed; the result is the last one's.
    """
    if not sql.strip():
        raise WarehouseQueryError("Empty query: nothing to run.", sql)
    conn = open_readonly(settings, role)
    try:
        if role is not None:
            _check_role_query(conn, role, sql)
        cursor = conn.execute(sql)
        if cursor.description is None:
            return QueryResult(columns=[], rows=[])
        columns = [str(d[0]) for d in cursor.description]
        rows = [tuple(row) for row in cursor.fetchall()]
        return QueryResult(columns=columns, rows=rows)
    except duckdb.Error as exc:
        raise WarehouseQueryError(str(exc), sql) from exc
    finally:
        conn.close()


#: File formats ``export_query`` writes, by file extension.
EXPORT_FORMATS: dict[str, str] = {".csv": "csv", ".json": "json", ".parquet": "parquet"}


def export_format(target: Path) -> str:
    """The format of an export file, from its extension; ``WarehouseError`` for any other."""
    fmt = EXPORT_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise WarehouseError(
            f"cannot tell the format of {target.name!r} from its extension: name the file "
            f"{', '.join('*' + e for e in EXPORT_FORMATS)}")
    return fmt


def _arrow_result(settings: Settings, sql: str, role: str | None) -> Any:
    if not sql.strip():
        raise WarehouseQueryError("Empty query: nothing to run.", sql)
    conn = open_readonly(settings, role)
    try:
        if role is not None:
            _check_role_query(conn, role, sql)
        relation = conn.sql(sql)
        if relation is None:
            raise WarehouseQueryError("the last statement returns no rows: nothing to write", sql)
        return relation.to_arrow_table()
    except duckdb.Error as exc:
        raise WarehouseQueryError(str(exc), sql) from exc
    finally:
        conn.close()


def export_query(settings: Settings, sql: str, target: Path, role: str | None = None) -> int:
    """Write the result of ``sql`` to ``target`` (CSV, JSON or Parquet by its extension, written
    atomically: a failed query leaves no file); return the number of rows.

    CSV and JSON are exactly ``format_result``'s; Parquet keeps DuckDB's column types (dates,
    timestamps with their zone, lists, decimals).
    """
    import pyarrow.parquet as pq

    fmt = export_format(target)
    if fmt == "parquet":
        table = _arrow_result(settings, sql, role)
        with atomic_target(target) as tmp:
            pq.write_table(table, tmp)
        return int(table.num_rows)
    result = run_query(settings, sql, role)
    text = format_result(result, "csv" if fmt == "csv" else "json")
    write_atomically(target, text if text.endswith("\n") else text + "\n")
    return len(result.rows)


# --- formatting ---------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    """A JSON-ready value: ISO 8601 strings for dates and times, DECIMAL as a number."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # "nan", "inf", "-inf"
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)  # UUID, INTERVAL (timedelta), ...


def _text(value: Any, null: str) -> str:
    """One cell as text (CSV and table): ISO dates, true/false, lists and structs as JSON."""
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(_json_value(value), ensure_ascii=False)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def _width(text: str) -> int:
    """Terminal columns ``text`` takes (wide East Asian characters 2, combining marks 0)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


_CONTROL = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _format_table(result: QueryResult) -> str:
    n = len(result.rows)
    footer = f"({n} row{'' if n == 1 else 's'})"
    if not result.columns:
        return footer
    cells = [[_text(v, "NULL").translate(_CONTROL) for v in row] for row in result.rows]
    numeric = [
        all(
            row[i] is None
            or (isinstance(row[i], (int, float, Decimal)) and not isinstance(row[i], bool))
            for row in result.rows
        )
        and any(row[i] is not None for row in result.rows)
        for i in range(len(result.columns))
    ]
    widths = [
        max([_width(name)] + [_width(row[i]) for row in cells])
        for i, name in enumerate(result.columns)
    ]

    def line(values: list[str], right: list[bool]) -> str:
        out = []
        for value, width, align_right in zip(values, widths, right, strict=True):
            pad = " " * (width - _width(value))
            out.append(pad + value if align_right else value + pad)
        return " | ".join(out)

    lines = [line(result.columns, [False] * len(widths))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [line(row, numeric) for row in cells]
    lines.append(footer)
    return "\n".join(lines)


def _format_csv(result: QueryResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_text(v, "") for v in row])
    return buffer.getvalue()


def _format_json(result: QueryResult) -> str:
    keys: list[str] = []
    seen: set[str] = set()
    for name in result.columns:  # JSON objects need unique keys: a, a -> a, a_1
        key, i = name, 0
        while key in seen:
            i += 1
            key = f"{name}_{i}"
        seen.add(key)
        keys.append(key)
    objects = [
        {key: _json_value(value) for key, value in zip(keys, row, strict=True)}
        for row in result.rows
    ]
    return json.dumps(objects, ensure_ascii=False, indent=2)


def format_result(result: QueryResult, fmt: Literal["table", "csv", "json"]) -> str:
    """Render a result for people (``table``) or programs (``csv``, ``json``).

    ``table``: aligned columns (numbers right-aligned), a header, a dashed rule and a
    ``(N rows)`` footer; NULL shows as ``NULL``, newlines and tabs as ``\\n`` and ``\\t``.
    ``csv``: ``csv`` module, header on the first line, no footer, NULL as an empty field,
    booleans ``true``/``false``, lists and structs as JSON, ``\\n`` line endings.
    ``json``: an array of objects, one per row; dates and timestamps as ISO 8601 strings,
    DECIMAL as JSON numbers, non-finite floats as the strings ``nan``/``inf``/``-inf``;
    repeated column names get ``_1``, ``_2``... suffixes.
    """
    if fmt == "table":
        return _format_table(result)
    if fmt == "csv":
        return _format_csv(result)
    if fmt == "json":
        return _format_json(result)
    raise ValueError(f"unknown format {fmt!r}: expected 'table', 'csv' or 'json'")
