"""Clean-zone complaint history for surge detection: weeks of hourly complaints per category x
region x source with the call centre's daily profile and quieter weekends, and planted surges.

Written straight into ``clean/complaints/event_date=…/source=…/part-*.parquet`` with the columns
surge detection reads (``complaint_id``, ``event_time``, ``text``, ``category``, ``region``), so
that a benchmark can build millions of rows in seconds without running the transform. Counts are
Poisson draws (``numpy``, fully determined by ``seed``); texts come from ``samples.generate``'s
wordings (a planted network surge uses its outage wordings, so its top terms say "outage").
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from samples.generate import (
    CATEGORIES,
    CATEGORY_WEIGHTS,
    HOURLY_CALL_WEIGHTS,
    complaint_text,
    surge_text,
)
from schemas.regions import REGIONS

REGION_WEIGHTS: tuple[float, ...] = (0.18, 0.21, 0.38, 0.23)  # Northeast, Midwest, South, West
WEEKDAY_FACTORS: tuple[float, ...] = (1.05, 1.0, 1.0, 1.0, 1.05, 0.75, 0.7)  # Monday first
TEXTS_PER_CATEGORY = 200


@dataclass(frozen=True)
class PlantedSurge:
    """Complaints of one series multiplied by ``factor`` for ``hours`` from ``start``."""

    category: str
    region: str
    source: str
    start: datetime
    hours: int
    factor: float

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)


@dataclass(frozen=True)
class HistoryPlan:
    """``per_day``: complaints a day per source (weekday average) before the surges."""

    start: date
    days: int
    per_day: dict[str, float]
    seed: int = 11
    surges: Sequence[PlantedSurge] = field(default_factory=tuple)

    @property
    def series(self) -> list[tuple[str, str, str]]:
        return [(c, r, s) for s in self.per_day for c in CATEGORIES for r in REGIONS]


def hourly_rates(plan: HistoryPlan) -> Any:
    """Expected complaints per series (rows) and hour (columns), surges included."""
    import numpy as np

    profile = np.array(HOURLY_CALL_WEIGHTS) / sum(HOURLY_CALL_WEIGHTS)
    hours = plan.days * 24
    weekday = np.array([WEEKDAY_FACTORS[(plan.start + timedelta(days=h // 24)).weekday()]
                        for h in range(hours)])
    shape = np.tile(profile, plan.days) * weekday
    category_w = dict(zip(CATEGORIES, CATEGORY_WEIGHTS, strict=True))
    region_w = dict(zip(REGIONS, REGION_WEIGHTS, strict=True))
    rates = np.array([plan.per_day[s] * category_w[c] * region_w[r] * shape
                      for c, r, s in plan.series])
    index = {key: i for i, key in enumerate(plan.series)}
    first = datetime.combine(plan.start, time(0), tzinfo=UTC)
    for surge in plan.surges:
        row = index[(surge.category, surge.region, surge.source)]
        begin = int((surge.start - first) / timedelta(hours=1))
        rates[row, begin:begin + surge.hours] *= surge.factor
    return rates


def _texts(rng: random.Random) -> dict[str, list[str]]:
    pools = {c: [complaint_text(rng, c, "Springfield") for _ in range(TEXTS_PER_CATEGORY)]
             for c in CATEGORIES}
    pools["surge"] = [surge_text(rng, "Springfield") for _ in range(TEXTS_PER_CATEGORY)]
    return pools


def history_table(plan: HistoryPlan) -> Any:
    """The history as an Arrow table (one row per complaint)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    gen = np.random.default_rng(plan.seed)
    counts = gen.poisson(hourly_rates(plan))
    series_idx, hour_idx = np.nonzero(counts)
    repeats = counts[series_idx, hour_idx]
    series_of_row = np.repeat(series_idx, repeats)
    hour_of_row = np.repeat(hour_idx, repeats)
    first = np.datetime64(datetime.combine(plan.start, time(0)), "us")
    seconds = gen.integers(0, 3600 * 10**6, size=len(series_of_row))
    event_time = first + hour_of_row.astype("timedelta64[h]") + seconds.astype("timedelta64[us]")
    series = plan.series
    cat = np.array([s[0] for s in series])[series_of_row]
    reg = np.array([s[1] for s in series])[series_of_row]
    src = np.array([s[2] for s in series])[series_of_row]
    text = _row_texts(plan, gen, cat, event_time.astype("datetime64[h]"), reg, src)
    ids = pc.binary_join_element_wise(
        "h", pc.cast(pa.array(np.arange(len(cat))), pa.string()), "")
    times = pa.array(event_time).cast(pa.timestamp("us", tz="UTC"))
    return _complete(pa.table({
        "complaint_id": ids,
        "source_record_id": ids,
        "event_time": times,
        "ingest_time": times,
        "first_ingest_time": times,
        "text": text,
        "category": cat, "region": reg,
        "raw_line": pa.array(np.arange(1, len(cat) + 1)),
        "event_date": pa.array(event_time.astype("datetime64[D]")),
        "source": src,
    }))


# The other columns of ``schemas.complaint.COMPLAINT``: one value for every row.
CONSTANTS: dict[str, object] = {
    "customer_id": None, "case_id": None, "subcategory": "general", "severity": "P3",
    "sentiment": "negative", "sentiment_score": None, "state": None, "location": None,
    "duplicate_count": 1,
    "taxonomy_version": "history", "rule_id": None, "classification_score": 1.0,
    "quality_flags": [], "raw_file": "samples/history",
    "run_id": "history",
}


def _complete(table: Any) -> Any:
    """``table`` with every COMPLAINT column, in the schema's order (the warehouse reads it)."""
    import numpy as np
    import pyarrow as pa

    from schemas.complaint import COMPLAINT

    schema = COMPLAINT.arrow_schema()
    zeros = np.zeros(table.num_rows, dtype=np.int64)
    columns = {}
    for name in COMPLAINT.names:
        if name in table.column_names:
            columns[name] = table[name].cast(schema.field(name).type)
        else:
            columns[name] = pa.array([CONSTANTS[name]], schema.field(name).type).take(zeros)
    return pa.table(columns)


def _row_texts(plan: HistoryPlan, gen: Any, cat: Any, hour: Any, reg: Any, src: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    pools = _texts(random.Random(plan.seed))
    pick = gen.integers(0, TEXTS_PER_CATEGORY, size=len(cat))
    text = np.empty(len(cat), dtype=object)
    for category in CATEGORIES:
        mask = cat == category
        text[mask] = np.array(pools[category], dtype=object)[pick[mask]]
    for surge in plan.surges:
        if surge.category != "network":
            continue
        start = np.datetime64(surge.start.replace(tzinfo=None), "h")
        mask = ((cat == surge.category) & (reg == surge.region) & (src == surge.source)
                & (hour >= start) & (hour < start + surge.hours)
                & (gen.random(len(cat)) < 1 - 1 / surge.factor))
        text[mask] = np.array(pools["surge"], dtype=object)[pick[mask]]
    return pa.array(text, pa.string())


def write_history(plan: HistoryPlan, clean_complaints: Path) -> int:
    """Write the history under ``clean_complaints`` (hive partitions); return the row count."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    table = history_table(plan)
    partitioning = ds.partitioning(
        pa.schema([("event_date", pa.date32()), ("source", pa.string())]), flavor="hive")
    ds.write_dataset(table, clean_complaints, format="parquet", partitioning=partitioning,
                     basename_template="part-{i}.parquet",
                     existing_data_behavior="overwrite_or_ignore",
                     max_rows_per_group=1_000_000)
    return int(table.num_rows)
