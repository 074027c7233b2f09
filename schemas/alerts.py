"""The alert record, defined once: surges, freshness, volume, quality gates and task failures.

``<lake>/alerts/current.parquet`` holds the current state of every alert (one row per alert,
rewritten atomically after each detection run); the warehouse's ``alerts`` view reads it. A surge
that lasts stays one row: its ``alert_id`` is fixed when it is first seen (a hash of kind,
category, region, source and start) and later runs update ``window_end``, ``observed``,
``last_seen`` and ``status``.
"""

from __future__ import annotations

from schemas.complaint import Column, RecordSchema

ALERT_KINDS = ("surge", "freshness", "volume", "quality", "task_failure")
ALERT_STATUSES = ("open", "resolved")

ALERT = RecordSchema(
    name="alerts",
    columns=(
        Column("alert_id", "string", False,
               "stable id: hash of kind, category, region, source and window_start"),
        Column("kind", "string", False, "surge, freshness, volume, quality or task_failure"),
        Column("category", "string", True, "taxonomy category (surges)"),
        Column("region", "string", True, "US census region, 'unknown' when not known (surges)"),
        Column("source", "string", True, "channel or raw source the alert is about"),
        Column("window_start", "timestamp", False, "when the anomaly started (UTC)"),
        Column("window_end", "timestamp", False,
               "end of the last hour (or moment) seen anomalous (UTC, exclusive)"),
        Column("observed", "long", True, "complaints (or records, bytes) seen in the window"),
        Column("expected", "decimal", True, "what the baseline expected in the same window"),
        Column("score", "decimal", True,
               "how far above normal: a Poisson z-score (surges), a ratio (volume), hours late "
               "(freshness)"),
        Column("first_seen", "timestamp", False, "as-of time of the run that raised it (UTC)"),
        Column("last_seen", "timestamp", False, "as-of time of the last run that saw it (UTC)"),
        Column("status", "string", False, "open or resolved"),
        Column("top_terms", "array<string>", False,
               "words over-represented in the window against the baseline period"),
        Column("example_complaint_ids", "array<string>", False,
               "a few complaint ids of the window, to read"),
    ),
)
