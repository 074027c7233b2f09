"""The real CFPB complaint export (../shared/data) through landing and the Spark transform.

The sample is 6623 real rows in the 18-column layout the web-form source uses, with quoted
multi-line narratives. Expectations come from the file itself (read here with the ``csv``
module) and from its SOURCE.md, never from the pipeline's own output.
"""

from __future__ import annotations

import csv
import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from common.settings import Settings
from jobs.landing import land_files
from jobs.runs import TransformResult
from jobs.transform import run_transform
from schemas.complaint import COMPLAINT, QUARANTINE, RecordSchema
from tests.conftest import shared_data

pytestmark = pytest.mark.e2e

SAMPLE = ("cfpb-complaints-2019-2020-sample", "complaints_cfpb_2019_2020_sample.csv")
DATA_ROWS = 6623  # SOURCE.md: 6623 data rows + header
NARRATIVE_ROWS = 1532  # SOURCE.md: rows with a non-empty "Consumer complaint narrative"
MASKS = ("[email]", "[card]", "[phone]")


@dataclass(frozen=True)
class Landed:
    settings: Settings
    source_rows: list[dict[str, str]]
    result: TransformResult
    clean: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    runs: list[dict[str, Any]]


def read_zone(root: Path, schema: RecordSchema) -> list[dict[str, Any]]:
    """Every row of a zone, partition columns typed as the schema says."""
    if not root.exists():
        return []
    files = sorted(str(p) for p in root.rglob("*.parquet")
                   if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts))
    if not files:
        return []
    arrow = schema.arrow_schema()
    partitioning = ds.partitioning(
        pa.schema([arrow.field(name) for name in schema.partition_by]), flavor="hive")
    dataset = ds.dataset(files, format="parquet", partitioning=partitioning,
                         partition_base_dir=str(root))
    rows: list[dict[str, Any]] = dataset.to_table().to_pylist()
    return rows


def spark_text(raw: str) -> str:
    """What normalise_text does: Java ``\\s`` runs become one space, then trimmed."""
    return re.sub(r"[ \t\n\x0b\f\r]+", " ", raw).strip(" ")


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Landed:
    sample = shared_data(*SAMPLE)
    base = tmp_path_factory.mktemp("cfpb")
    settings = Settings(lake=base / "lake", inbox=base / "inbox")
    (settings.zones.inbox / "web_form").mkdir(parents=True)
    shutil.copy(sample, settings.zones.inbox / "web_form" / sample.name)

    landing = land_files(settings, "web_form")
    assert len(landing.landed) == 1 and not landing.skipped
    assert landing.landed[0].raw_path.read_bytes() == sample.read_bytes()

    result = run_transform(settings, sources=("web_form",), spark=spark)
    with open(sample, newline="", encoding="utf-8") as f:
        source_rows = list(csv.DictReader(f))
    return Landed(
        settings=settings,
        source_rows=source_rows,
        result=result,
        clean=read_zone(settings.zones.clean_complaints, COMPLAINT),
        quarantine=read_zone(settings.zones.quarantine_records, QUARANTINE),
        runs=[row for path in sorted(settings.zones.runs.glob("*.parquet"))
              for row in pq.read_table(path).to_pylist()],
    )


def test_sample_is_what_source_md_says(landed: Landed) -> None:
    assert len(landed.source_rows) == DATA_ROWS
    narratives = [r for r in landed.source_rows if r["Consumer complaint narrative"].strip()]
    assert len(narratives) == NARRATIVE_ROWS


def test_every_record_is_accounted_for(landed: Landed) -> None:
    assert len(landed.runs) == 1
    run = landed.runs[0]
    assert run["run_id"] == landed.result.run_id
    assert run["source"] == "web_form"
    assert run["raw_files"] == 1
    assert run["records_in"] == DATA_ROWS
    assert run["clean"] + run["quarantined"] + run["duplicates"] == DATA_ROWS
    # The run record agrees with what is actually on disk.
    assert len(landed.clean) == run["clean"]
    assert len(landed.quarantine) == run["quarantined"]
    assert sum(r["duplicate_count"] for r in landed.clean) == run["clean"] + run["duplicates"]
    # Complaint IDs are unique in the sample, so nothing is a duplicate.
    assert run["duplicates"] == 0
    assert {c.source for c in landed.result.counts} == {"web_form"}
    print(f"\nCFPB split: clean={run['clean']} quarantined={run['quarantined']} "
          f"duplicates={run['duplicates']}")


def test_quarantined_rows_say_why(landed: Landed) -> None:
    for row in landed.quarantine:
        assert row["reason"] and row["reason"].strip(), row
        assert row["source"] == "web_form"
        assert row["raw_line"] >= 1
        assert (landed.settings.lake / row["raw_file"]).is_file()


def test_every_source_row_is_clean_or_quarantined_once(landed: Landed) -> None:
    ids = [r["Complaint ID"] for r in landed.source_rows]
    clean_ids = [r["source_record_id"] for r in landed.clean]
    quarantined_lines = {r["raw_line"] for r in landed.quarantine}
    assert len(clean_ids) == len(set(clean_ids))
    assert set(clean_ids) <= set(ids)
    # Lineage: raw_line is the 1-based record number in the raw file.
    by_line = {i + 1: r for i, r in enumerate(landed.source_rows)}
    for row in landed.clean:
        assert by_line[row["raw_line"]]["Complaint ID"] == row["source_record_id"]
    assert {r["raw_line"] for r in landed.clean} | quarantined_lines == set(by_line)
    assert not {r["raw_line"] for r in landed.clean} & quarantined_lines


def test_complaint_ids_are_unique(landed: Landed) -> None:
    ids = [r["complaint_id"] for r in landed.clean]
    assert len(ids) == len(set(ids)) == len(landed.clean)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_event_time_is_the_date_received(landed: Landed) -> None:
    received = {r["Complaint ID"]: r["Date received"] for r in landed.source_rows}
    for row in landed.clean:
        assert 2015 <= row["event_time"].year <= 2020, row["event_time"]
        assert row["event_time"].utcoffset().total_seconds() == 0
        assert row["event_time"].date().isoformat() == received[row["source_record_id"]]
        assert row["event_date"] == row["event_time"].date()
    days = [r["event_time"].date() for r in landed.clean]
    assert min(days) >= date(2015, 4, 6) and max(days) <= date(2020, 3, 19)


def test_narratives_keep_their_masked_text(landed: Landed) -> None:
    narrative = {r["Complaint ID"]: r["Consumer complaint narrative"]
                 for r in landed.source_rows if r["Consumer complaint narrative"].strip()}
    clean = {r["source_record_id"]: r for r in landed.clean}
    kept = [clean[i] for i in narrative if i in clean]
    assert len(kept) == NARRATIVE_ROWS
    masked = 0
    for row in kept:
        expected = spark_text(narrative[row["source_record_id"]])
        text = row["text"]
        assert text, row["source_record_id"]
        if text != expected:
            # Only PII placeholders may differ: each stands for some of the original text.
            assert any(m in text for m in MASKS), (text[:200], expected[:200])
            parts = re.split(r"\[(?:email|card|phone)\]", text)
            pattern = ".+?".join(re.escape(part) for part in parts)
            assert re.fullmatch(pattern, expected, flags=re.S), (text[:200], expected[:200])
            masked += 1
    assert masked < NARRATIVE_ROWS  # most narratives are already scrubbed by the CFPB


def test_rows_without_a_narrative_use_the_issue(landed: Landed) -> None:
    source = {r["Complaint ID"]: r for r in landed.source_rows}
    for row in landed.clean:
        original = source[row["source_record_id"]]
        if not original["Consumer complaint narrative"].strip():
            assert row["text"].startswith(spark_text(original["Issue"])), row["text"]


def test_clean_rows_are_classified_and_traceable(landed: Landed) -> None:
    lake = landed.settings.lake
    for row in landed.clean:
        assert row["source"] == "web_form"
        assert row["run_id"] == landed.result.run_id
        assert row["taxonomy_version"] == landed.result.taxonomy_version
        assert row["category"] and row["subcategory"]
        assert row["severity"] in ("P1", "P2", "P3")
        assert row["sentiment"] in ("negative", "neutral", "positive")
        assert "date_only" in row["quality_flags"]
    raw_files = {r["raw_file"] for r in landed.clean}
    assert len(raw_files) == 1
    assert (lake / raw_files.pop()).is_file()
