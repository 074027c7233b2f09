"""Micro-batches of the stream sources (sms, social) and their ledger of processed raw files.

The stream consumer lands Kinesis records continuously into
``raw/<source>/ingest_date=…/hour=…/<stream>__<shard>__<first seq>-<last seq>.jsonl``. Every
micro-batch (the ``complaints_stream`` DAG, every 15 minutes by default) runs the ordinary
transform for ``STREAM_COMPLAINT_SOURCES``. That transform recomputes each source from *all* of
its raw files and replaces its partitions, so correctness never depends on the ledger: exactly-once
per event id comes from ``dedupe_complaints``, not from remembering what was read. The ledger only

a. lets a run skip cheaply when no raw file is new, changed or gone since the last successful
   run (no Spark session is started), and
b. records, per run, which raw files the run took in (and which of those were new).

Layout: ``<lake>/runs/stream_ledger/<UTC time>__<run id>.json``, one small JSON document per
successful run (written atomically, after the transform succeeded)::

    {"run_id": "...", "recorded_at": "2026-11-22T01:15:03.123456+00:00",
     "sources": ["sms", "social"],
     "files": [{"source": "sms", "path": "raw/sms/ingest_date=…/….jsonl", "size": 1234,
                "mtime_ns": 1763773200000000000, "sha256": "…"}, …],
     "new_files": ["raw/sms/…", …], "removed_files": [], "counts": [{...SourceCounts...}]}

``files`` is every raw file of the sources at planning time, so only the newest entry is needed to
decide what is new. A file is unchanged when its path, size and mtime match that entry; when the
size or mtime differ its sha256 is computed and compared (a replay re-writes a file under the same
name with the same bytes: a new mtime but the same digest, so not new). A file that lands between
planning and the transform's own listing is read by the transform but not in the entry: the next
run sees it as new and recomputes once more, which is harmless (the transform is idempotent). A
failed run writes no entry, so its files stay new for the next run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.lake import unique_safe_name, write_atomically
from common.settings import Settings
from jobs.raw_zone import raw_files_of
from jobs.runs import TransformResult
from schemas.sources import STREAM_COMPLAINT_SOURCES

LEDGER_DIR = "stream_ledger"


@dataclass(frozen=True)
class RawFile:
    source: str
    path: str  # relative to the lake
    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class StreamPlan:
    sources: tuple[str, ...]
    files: tuple[RawFile, ...]  # every raw file of the sources now
    new_files: tuple[str, ...]  # paths new or changed since the last recorded run
    removed_files: tuple[str, ...]  # paths in the last recorded run that are gone now

    @property
    def has_work(self) -> bool:
        return bool(self.new_files or self.removed_files)

    def summary(self) -> dict[str, Any]:
        return {"sources": list(self.sources), "raw_files": len(self.files),
                "new_files": len(self.new_files), "removed_files": len(self.removed_files)}


def ledger_dir(settings: Settings) -> Path:
    return settings.zones.runs / LEDGER_DIR


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def latest_entry(settings: Settings) -> dict[str, Any] | None:
    """The newest ledger entry (names sort by time), or None before the first recorded run."""
    entries = sorted(p for p in ledger_dir(settings).glob("*.json") if not p.name.startswith("."))
    return json.loads(entries[-1].read_text(encoding="utf-8")) if entries else None


def plan_stream_run(settings: Settings,
                    sources: Sequence[str] = STREAM_COMPLAINT_SOURCES) -> StreamPlan:
    """Which raw files of ``sources`` are new, changed or gone since the last recorded run."""
    last = latest_entry(settings)
    known: dict[str, dict[str, Any]] = {}
    if last is not None:
        known = {f["path"]: f for f in last["files"] if f["source"] in sources}
    lake = settings.zones
    files: list[RawFile] = []
    new: list[str] = []
    for source in sources:
        for path in raw_files_of(settings, source):
            stat = path.stat()
            relative = lake.relative(path)
            before = known.get(relative)
            if before and before["size"] == stat.st_size and before["mtime_ns"] == stat.st_mtime_ns:
                digest = str(before["sha256"])
            else:
                digest = sha256_of(path)
                if not before or before["sha256"] != digest or before["size"] != stat.st_size:
                    new.append(relative)
            files.append(RawFile(source, relative, stat.st_size, stat.st_mtime_ns, digest))
    present = {f.path for f in files}
    removed = sorted(p for p in known if p not in present)
    return StreamPlan(tuple(sources), tuple(files), tuple(new), tuple(removed))


def record_stream_run(settings: Settings, plan: StreamPlan, run_id: str,
                      result: TransformResult | None = None,
                      now: datetime | None = None) -> Path:
    """Write the ledger entry of a successful run (atomically: temp file, then rename)."""
    now = now or datetime.now(UTC)
    entry = {
        "run_id": run_id,
        "recorded_at": now.isoformat(),
        "sources": list(plan.sources),
        "files": [asdict(f) for f in plan.files],
        "new_files": list(plan.new_files),
        "removed_files": list(plan.removed_files),
        "counts": [asdict(c) for c in result.counts] if result else [],
    }
    name = f"{now:%Y%m%dT%H%M%S%fZ}__{unique_safe_name(run_id, 'run')}.json"
    target = ledger_dir(settings) / name
    return write_atomically(target, json.dumps(entry, indent=1))


def run_stream_transform(settings: Settings, run_id: str | None = None,
                         sources: Sequence[str] = STREAM_COMPLAINT_SOURCES,
                         spark: Any = None) -> dict[str, Any]:
    """One micro-batch: skip when nothing is new, else transform ``sources`` and record it."""
    plan = plan_stream_run(settings, sources)
    if not plan.has_work:
        return {"skipped": True, **plan.summary()}
    from jobs.runs import new_run_id
    from jobs.transform import run_transform

    run_id = run_id or new_run_id(datetime.now(UTC))
    result = run_transform(settings, sources=tuple(sources), run_id=run_id, spark=spark)
    entry = record_stream_run(settings, plan, run_id, result)
    return {"skipped": False, **plan.summary(), "ledger": str(entry), **result.to_dict()}
