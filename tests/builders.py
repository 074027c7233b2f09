"""Row builders shared by the tests: one valid clean complaint, shaped as ``schemas.complaint``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.complaint import COMPLAINT

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
