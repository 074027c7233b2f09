"""The data scientists' loader reads only the partitions and columns asked for.

The proof of pruning: the lake's other partitions hold files that are not Parquet at all, which
fail any reader that opens them (the control test shows they do)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from common.lake import event_partition
from common.settings import Settings
from tests.builders import clean_complaint
from tests.warehouse.test_duckdb_warehouse import write_clean
from warehouse.loader import complaint_files, load_complaints

DAY1 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SOURCES = ("call_center", "sms")


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """Days 1-3 of call_center and sms (2 complaints each, one P1); day 4 and every ``social``
    partition are corrupt."""
    settings = Settings(lake=tmp_path / "lake")
    rows = [clean_complaint(10 * d + 2 * i + k, source=source,
                            event_time=DAY1 + timedelta(days=d, minutes=k),
                            severity="P1" if k == 0 else "P3")
            for d in range(3) for i, source in enumerate(SOURCES) for k in range(2)]
    write_clean(settings, rows)
    root = settings.zones.clean_complaints
    poison = [event_partition(root, "2026-11-05", "call_center"),
              *(event_partition(root, f"2026-11-0{d}", "social") for d in (2, 3, 4))]
    for folder in poison:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "part-00000-corrupt.snappy.parquet").write_bytes(b"this is not parquet")
    return settings.lake


def test_unrequested_partitions_are_never_opened(lake: Path) -> None:
    frame = load_complaints("2026-11-02", "2026-11-03", filters=[("source", "in", SOURCES)],
                            lake=lake)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 8
    assert sorted(frame["event_date"].unique()) == [date(2026, 11, 2), date(2026, 11, 3)]
    files = complaint_files(lake / "clean" / "complaints", "2026-11-02", "2026-11-03",
                            [("source", "=", "sms")])
    assert [f.parent.name for f in files] == ["source=sms", "source=sms"]


def test_control_reading_everything_hits_the_corrupt_files(lake: Path) -> None:
    with pytest.raises(pa.ArrowInvalid):
        load_complaints("2026-11-02", "2026-11-05", lake=lake)


def test_columns_and_filters(lake: Path) -> None:
    table = load_complaints(date(2026, 11, 2), date(2026, 11, 4),
                            columns=["complaint_id", "event_time", "source"],
                            filters=[("source", "=", "call_center"), ("severity", "=", "P1")],
                            as_="arrow", lake=lake)
    assert isinstance(table, pa.Table)
    assert table.column_names == ["complaint_id", "event_time", "source"]
    assert table.num_rows == 3 and set(table.column("source").to_pylist()) == {"call_center"}
    assert table.schema.field("event_time").type == pa.timestamp("us", tz="UTC")


def test_empty_range_and_mistakes(lake: Path) -> None:
    empty = load_complaints("2027-01-01", "2027-01-02", columns=["category"], lake=lake)
    assert list(empty.columns) == ["category"] and empty.empty
    with pytest.raises(ValueError, match="unknown complaint columns"):
        load_complaints("2026-11-02", "2026-11-02", columns=["categroy"], lake=lake)
    with pytest.raises(ValueError, match="before start"):
        load_complaints("2026-11-03", "2026-11-02", lake=lake)
