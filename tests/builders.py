"""Row builders shared by the tests: one valid clean complaint, shaped as ``schemas.complaint``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas.complaint import COMPLAINT, RecordSchema

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def clean_complaint(n: int, **overrides: Any) -> dict[str, Any]:
    """Clean complaint number ``n`` (every COMPLAINT column); ``overrides`` replace fields.

    ``event_date`` follows ``event_time``; ``ingest_time`` and ``first_ingest_time`` are an hour
    later unless given.
    """
    event_time: datetime = overrides.pop("event_time", T0 + timedelta(minutes=n))
    source: str = overrides.pop("source", "call_center")
    row: dict[str, Any] = {
        "complaint_id": f"c{n:031d}",
        "source": source,
        "source_record_id": f"rec-{n}",
        "customer_id": f"cust-{n}",
        "case_id": None,
        "event_time": event_time,
        "ingest_time": event_time + timedelta(hours=1),
        "first_ingest_time": event_time + timedelta(hours=1),
        "text": f"no internet since monday, ticket {n}",
        "category": "network",
        "subcategory": "outage",
        "severity": "P2",
        "sentiment_score": -0.296,
        "sentiment": "negative",
        "region": "South",
        "state": "TX",
        "location": "Austin",
        "duplicate_count": 1,
        "taxonomy_version": "test-1",
        "rule_id": "network.outage.2",
        "classification_score": 1.0,
        "quality_flags": [],
        "raw_file": f"raw/{source}/ingest_date={event_time:%Y-%m-%d}/hour=14/file.jsonl",
        "raw_line": n,
        "run_id": "run-test",
        "event_date": event_time.date(),
    }
    row.update(overrides)
    assert list(row) == COMPLAINT.names, "overrides must name COMPLAINT columns only"
    return row


def write_partitions(root: Path, rows: list[dict[str, Any]],
                     schema: RecordSchema = COMPLAINT) -> None:
    """``rows`` (shaped as ``schema``) as Spark lays them out: one file per ``event_date=…/
    source=…`` folder under ``root``, the partition columns in the path only."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = schema.arrow_schema()
    file_schema = pa.schema([f for f in arrow if f.name not in schema.partition_by])
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["event_date"], row["source"]), []).append(row)
    for (event_date, source), group in groups.items():
        folder = root / f"event_date={event_date}" / f"source={source}"
        folder.mkdir(parents=True)
        table = pa.Table.from_pylist(
            [{k: v for k, v in r.items() if k in file_schema.names} for r in group],
            schema=file_schema)
        pq.write_table(table, folder / "part-00000.snappy.parquet")
