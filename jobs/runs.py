"""Run records: what each transform run read and wrote, per source, in ``runs/``.

Every run writes one Parquet file of ``schemas.complaint.RUN`` rows; the warehouse's ``runs`` view
reads them all. A run whose counts do not add up raises ``CountsNotConserved`` after recording them.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from common.lake import atomic_target, unique_safe_name
from common.settings import Settings
from schemas.complaint import RUN


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

    @property
    def conserved(self) -> bool:
        return self.records_in == self.clean + self.quarantined + self.duplicates


@dataclass(frozen=True)
class TransformResult:
    run_id: str
    taxonomy_version: str
    started_at: datetime
    counts: tuple[SourceCounts, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "taxonomy_version": self.taxonomy_version,
            "started_at": self.started_at.isoformat(),
            "counts": [asdict(c) for c in self.counts],
        }


def new_run_id(now: datetime) -> str:
    return f"transform__{now:%Y%m%dT%H%M%SZ}__{uuid.uuid4().hex[:8]}"


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


def raise_unless_conserved(result: TransformResult) -> None:
    broken = [c for c in result.counts if not c.conserved]
    if broken:
        raise CountsNotConserved(
            f"run {result.run_id}: records_in != clean + quarantined + duplicates for "
            f"{[asdict(c) for c in broken]}"
        )
