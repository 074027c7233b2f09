"""Clean complaints for data scientists: read a date range (and columns, and filters) from the
Parquet lake, opening only the files of the partitions asked for.

::

    from warehouse.loader import load_complaints

    frame = load_complaints("2026-11-01", "2026-11-30",
                            columns=["complaint_id", "event_time", "category", "region"],
                            filters=[("source", "in", ["sms", "social"]),
                                     ("severity", "=", "P1")])

The dataset is ``<lake>/clean/complaints/event_date=YYYY-MM-DD/source=<source>/*.parquet``
(``schemas.complaint.COMPLAINT``; README, "For data scientists"). The file list is built from the
folder names before anything is opened: one ``event_date=`` folder per day of ``start..end``
(both included), and only the ``source=`` folders a ``source`` filter allows. Then pyarrow reads
only the columns asked for from those files, with the other filters pushed down to the row groups.

``filters`` are ``(column, op, value)`` triples, all of which must hold (``=``, ``==``, ``!=``,
``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``), as in ``pyarrow.parquet.read_table``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from common.lake import event_partition
from common.settings import Settings
from schemas.complaint import COMPLAINT

__all__ = ["Filter", "complaint_files", "load_complaints"]

Filter = tuple[str, str, Any]

_PARTITIONING = ds.partitioning(
    pa.schema([("event_date", pa.date32()), ("source", pa.string())]), flavor="hive")
_OPS = frozenset({"=", "==", "!=", "<", "<=", ">", ">=", "in", "not in"})


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _days(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _allowed_sources(filters: Sequence[Filter]) -> set[str] | None:
    """The sources ``=`` / ``in`` filters on ``source`` allow (None: any source)."""
    allowed: set[str] | None = None
    for column, op, value in filters:
        if column != "source" or op not in ("=", "==", "in"):
            continue
        values = {str(v) for v in value} if op == "in" else {str(value)}
        allowed = values if allowed is None else allowed & values
    return allowed


def _check(columns: Sequence[str] | None, filters: Sequence[Filter]) -> None:
    known = set(COMPLAINT.names)
    named = [*(columns or []), *(f[0] for f in filters)]
    unknown = [c for c in named if c not in known]
    if unknown:
        raise ValueError(f"unknown complaint columns {unknown}; "
                         f"known: {', '.join(COMPLAINT.names)}")
    bad = [op for _, op, _ in filters if op not in _OPS]
    if bad:
        raise ValueError(f"unknown filter operators {bad}; known: {', '.join(sorted(_OPS))}")


def complaint_files(root: Path, start: date | str, end: date | str,
                    filters: Sequence[Filter] = ()) -> list[Path]:
    """The data files of the partitions of ``start..end`` (both included) that the ``source``
    filters allow, found from folder names only (no file is opened). Hidden files and Spark's
    markers (``.crc``, ``_SUCCESS``) are not data files."""
    allowed = _allowed_sources(filters)
    files: list[Path] = []
    for day in _days(_day(start), _day(end)):
        folders: Iterable[Path] = (
            [event_partition(root, day.isoformat(), s) for s in sorted(allowed)]
            if allowed is not None else sorted((root / f"event_date={day}").glob("source=*")))
        for folder in folders:
            files += sorted(folder.glob("[!._]*.parquet"))
    return files


def _empty(columns: Sequence[str] | None) -> pa.Table:
    schema: pa.Schema = COMPLAINT.arrow_schema()
    return schema.empty_table().select(list(columns) if columns is not None else schema.names)


def load_complaints(start: date | str, end: date | str, columns: Sequence[str] | None = None,
                    filters: Sequence[Filter] = (), as_: Literal["pandas", "arrow"] = "pandas",
                    lake: Path | str | None = None) -> Any:
    """Clean complaints with ``event_date`` in ``start..end`` (both included): a pandas
    DataFrame (``as_="pandas"``) or a ``pyarrow.Table`` (``as_="arrow"``), with ``columns``
    (default: every column, schema order) and the rows where every filter holds.

    ``lake`` defaults to ``COMPLAINTS_LAKE`` (``./lake``). Types are the schema's: timestamps
    UTC-aware, ``event_date`` a date, ``quality_flags`` a list of strings.
    """
    if as_ not in ("pandas", "arrow"):
        raise ValueError(f"as_ must be 'pandas' or 'arrow', not {as_!r}")
    filters = list(filters)
    _check(columns, filters)
    root = (Path(lake) if lake is not None else Settings.from_env().lake) / "clean" / "complaints"
    files = complaint_files(root, start, end, filters)
    if not files:
        table = _empty(columns)
    else:
        dataset = ds.dataset([str(f) for f in files], schema=COMPLAINT.arrow_schema(),
                             format="parquet", partitioning=_PARTITIONING,
                             partition_base_dir=str(root))
        expression = pq.filters_to_expression(filters) if filters else None
        table = dataset.to_table(columns=list(columns) if columns is not None else None,
                                 filter=expression)
    return table.to_pandas() if as_ == "pandas" else table
