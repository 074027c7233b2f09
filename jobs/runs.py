"""Run records: what each transform run read and wrote, per source, in ``runs/``.

Every run writes one Parquet file of ``schemas.complaint.RUN`` rows (the warehouse's ``runs``
view) and one of ``RUN_FILE`` rows, the raw files it read (``run_files``). A run whose counts do not
add up raises ``CountsNotConserved`` after recording them.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from common.lake import atomic_target, unique_safe_name
from common.settings import Settings
from schemas.complaint import RUN, RUN_FILE


class CountsNotConserved(RuntimeError):
    """Records went missing between raw and clean: a bug, never accepted silently."""


@dataclass(frozen=True)
class SourceCounts:
    source: str
    raw_files: int
    records_in: int
    clean: int
    quarantined: int
    duplicates: int
    mode: str = "full"
    files_quarantined: int = 0
    partitions_written: int = 0
    deletes: int = 0  # operational tables: items an incremental export deleted

    @property
    def conserved(self) -> bool:
        return self.records_in == self.clean + self.quarantined + self.duplicates + self.deletes


@dataclass(frozen=True)
class TransformResult:
    run_id: str
    taxonomy_version: str
    started_at: datetime
    counts: tuple[SourceCounts, ...]
    # (event_date, source) partitions of the clean complaints this run rewrote (ISO dates)
    partitions: tuple[tuple[str, str], ...] = ()
    # (raw file, note) of each readable file whose inspection noticed something: schema drift
    # (extra columns ignored, optional ones missing), columns in another order, ...
    file_notes: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "taxonomy_version": self.taxonomy_version,
            "started_at": self.started_at.isoformat(),
            "counts": [asdict(c) for c in self.counts],
            "partitions": [list(p) for p in self.partitions],
            "file_notes": [{"raw_file": f, "note": n} for f, n in self.file_notes],
        }


def new_run_id(now: datetime, kind: str = "transform") -> str:
    return f"{kind}__{now:%Y%m%dT%H%M%SZ}__{uuid.uuid4().hex[:8]}"


def write_run_record(settings: Settings, result: TransformResult, part: str) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {**asdict(c), "run_id": result.run_id, "started_at": result.started_at,
         "taxonomy_version": result.taxonomy_version}
        for c in result.counts
    ]
    table = pa.Table.from_pylist(rows, schema=RUN.arrow_schema())
    target = settings.zones.runs / f"{unique_safe_name(result.run_id, 'run')}__{part}.parquet"
    with atomic_target(target) as tmp:
        pq.write_table(table, tmp)
    return target


@dataclass(frozen=True)
class FileRead:
    """One raw file a run read: processed, or quarantined as a whole (with the reason)."""

    source: str
    raw_file: str  # relative to the lake
    status: str
    reason: str | None
    records: int
    notes: str | None = None  # what the inspection noticed (schema drift, ...), '; '-separated


def write_run_files(settings: Settings, run_id: str, files: list[FileRead]) -> Path | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not files:
        return None
    rows = [{**asdict(f), "run_id": run_id} for f in files]
    table = pa.Table.from_pylist(rows, schema=RUN_FILE.arrow_schema())
    target = settings.zones.run_files / f"{unique_safe_name(run_id, 'run')}.parquet"
    with atomic_target(target) as tmp:
        pq.write_table(table, tmp)
    return target


def raise_unless_conserved(result: TransformResult) -> None:
    broken = [c for c in result.counts if not c.conserved]
    if broken:
        raise CountsNotConserved(
            f"run {result.run_id}: records_in != clean + quarantined + duplicates + deletes for "
            f"{[asdict(c) for c in broken]}"
        )
