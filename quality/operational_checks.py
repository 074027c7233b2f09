"""Great Expectations suites on the clean operational tables (``clean/<table>/``, one full
snapshot of each DynamoDB table, written by ``jobs.operational``), derived from
``schemas.sources.operational_schema``: ``clean_<table>``.

Critical: every declared column is there, the key attributes are filled and unique (one row per
item after the snapshot's dedupe), lineage is filled (``raw_file``, ``raw_line >= 1``,
``ingest_time``). Warning: the snapshot has at least one row.

These tables are replaced whole on each run, not by partition, so a failure is reported (results,
data docs, a ``quality`` alert) but nothing is held: holding applies to the complaint partitions
(``quality.held_partitions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.lake import Lake
from quality.complaint_checks import QualityReport, validate_frame
from quality.gx_project import critical, warning
from schemas.sources import DYNAMODB_TABLES, DynamoTable, operational_schema

if TYPE_CHECKING:
    import pandas
    from great_expectations.core import ExpectationSuite

__all__ = ["check_operational_tables", "load_operational_table", "operational_suite"]


def _keys(table: DynamoTable) -> list[str]:
    return [k for k in (table.partition_key, table.sort_key) if k is not None]


def operational_suite(table: DynamoTable) -> ExpectationSuite:
    """``clean_<table>``: the clean snapshot's shape, keys and lineage."""
    import great_expectations as gx
    import great_expectations.expectations as gx_expectations

    gxe: Any = gx_expectations
    schema = operational_schema(table)
    keys = _keys(table)
    expectations: list[Any] = [warning(gxe.ExpectTableRowCountToBeBetween(min_value=1))]
    expectations += [critical(gxe.ExpectColumnToExist(column=c.name)) for c in schema.columns]
    expectations += [critical(gxe.ExpectColumnValuesToNotBeNull(column=c.name))
                     for c in schema.columns if not c.nullable]
    expectations.append(
        critical(gxe.ExpectCompoundColumnsToBeUnique(column_list=keys)) if len(keys) > 1
        else critical(gxe.ExpectColumnValuesToBeUnique(column=keys[0])))
    expectations.append(critical(gxe.ExpectColumnValuesToBeBetween(column="raw_line",
                                                                   min_value=1)))
    return gx.ExpectationSuite(name=f"clean_{table.logical}", expectations=expectations)


def load_operational_table(lake: Lake, table: str) -> pandas.DataFrame:
    """The clean snapshot of ``table`` (empty, with no column, when there is none yet)."""
    import pandas as pd
    import pyarrow.parquet as pq

    folder = lake.clean_table(table)
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(("_", ".")))
    if not files:
        return pd.DataFrame()
    frame: pandas.DataFrame = pq.read_table(files).to_pandas() if len(files) == 1 else \
        pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    return frame


def check_operational_tables(lake: Lake, tables: Sequence[str] = tuple(DYNAMODB_TABLES), *,
                             project_dir: Path | None = None,
                             run_name: str | None = None) -> list[QualityReport]:
    """Each table's suite on its clean snapshot; tables not transformed yet are skipped."""
    reports = []
    for name in tables:
        if not lake.clean_table(name).is_dir():
            continue
        frame = load_operational_table(lake, name)
        key = _keys(DYNAMODB_TABLES[name])[0]
        reports.append(validate_frame(frame, operational_suite(DYNAMODB_TABLES[name]),
                                      project_dir=project_dir, run_name=run_name,
                                      id_column=key))
    return reports
