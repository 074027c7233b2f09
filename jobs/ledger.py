"""The file-level checkpoint of the transform: which raw files of each source it has processed.

Every transform run takes only the raw files its source's ledger does not hold yet (the
*increment*), so a run costs what its new data costs. Per source the ledger is one small Parquet
file, ``runs/ledger/<source>.parquet``, rewritten atomically when a run commits::

    path        raw file relative to the lake (raw files are immutable; names are unique)
    size        its size in bytes when processed
    status      "processed" | "quarantined" (a poison file: not retried until --full or a retry)
    reason      why a quarantined file could not be read (null when processed)
    run_id      the run that took it in
    records     records read from it (0 for a quarantined file)
    first_event_date, last_event_date   event dates of its usable records (null when none)

A run first writes an *intent* (``runs/ledger/<source>.pending.json``: the run id and files) and
removes it after the ledger is committed. An intent left behind means a run died between writing
outputs and committing: the next run recomputes that source in full, so nothing is counted twice.
A file that shrank or grew since it was processed, or that is gone, also makes the source recompute
in full: an increment can add records but cannot take back what an old file contributed.

Why a ledger and not Spark Structured Streaming's file source (``trigger(availableNow=True)``),
which keeps a similar checkpoint: the transform needs file-level decisions the file source cannot
make (a poison file becomes one quarantine entry and is skipped, CSV files are read by their own
header, a rewrite or a removal forces a recompute), and its merge into existing partitions needs
the increment as a batch anyway (``foreachBatch``). Planning here is one directory listing and one
small Parquet read (see bench/report.md for the figures).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from common.lake import Lake, write_atomically
from common.settings import Settings
from jobs.raw_zone import raw_files_of

PROCESSED = "processed"
QUARANTINED = "quarantined"

LEDGER_COLUMNS = ("path", "size", "status", "reason", "run_id", "records", "first_event_date",
                  "last_event_date")


class BackfillBlocked(RuntimeError):
    """A backfill cannot start: a run of the source died before committing its ledger (its
    intent is the only record of what it wrote, and the next run must redo it in full)."""


@dataclass(frozen=True)
class LedgerEntry:
    path: str
    size: int
    status: str
    reason: str | None
    run_id: str
    records: int
    first_event_date: date | None = None
    last_event_date: date | None = None


@dataclass(frozen=True)
class SourcePlan:
    """What a run does for one source: which raw files it reads, and whether in full."""

    source: str
    files: tuple[Path, ...]  # the raw files to read (all of them when full)
    full: bool
    why_full: str | None = None  # set when an incremental run had to become a full one
    known: int = 0  # files already in the ledger (processed or quarantined)
    backfill: bool = False  # recomputes some event dates from the files processed so far
    retried: tuple[Path, ...] = ()  # of ``files``: those the ledger holds as quarantined

    @property
    def has_work(self) -> bool:
        """Files to read; or, for a full run that is not a backfill, none left: the source is
        emptied (its raw files are gone). A backfill with no files changes nothing."""
        return bool(self.files) or (self.full and not self.backfill)


@dataclass(frozen=True)
class IncrementPlan:
    sources: tuple[SourcePlan, ...] = field(default_factory=tuple)

    @property
    def has_work(self) -> bool:
        return any(p.has_work for p in self.sources)

    def summary(self) -> dict[str, Any]:
        return {p.source: {"files": len(p.files), "known": p.known, "full": p.full,
                           "why_full": p.why_full} for p in self.sources}


def _ledger_path(lake: Lake, source: str) -> Path:
    return lake.ledger / f"{source}.parquet"


def _intent_path(lake: Lake, source: str) -> Path:
    return lake.ledger / f"{source}.pending.json"


def read_ledger(lake: Lake, source: str) -> dict[str, LedgerEntry]:
    """The source's ledger by path (empty before its first run)."""
    import pyarrow.parquet as pq

    path = _ledger_path(lake, source)
    if not path.exists():
        return {}
    rows = pq.read_table(path).to_pylist()
    return {r["path"]: LedgerEntry(**{k: r[k] for k in LEDGER_COLUMNS}) for r in rows}


def write_ledger(lake: Lake, source: str, entries: Iterable[LedgerEntry]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("path", pa.string()), ("size", pa.int64()), ("status", pa.string()),
        ("reason", pa.string()), ("run_id", pa.string()), ("records", pa.int64()),
        ("first_event_date", pa.date32()), ("last_event_date", pa.date32()),
    ])
    rows = [{k: getattr(e, k) for k in LEDGER_COLUMNS} for e in sorted(entries,
                                                                      key=lambda e: e.path)]
    table = pa.Table.from_pylist(rows, schema=schema)
    target = _ledger_path(lake, source)
    from common.lake import atomic_target

    with atomic_target(target, durable=True) as tmp:
        pq.write_table(table, tmp)
    return target


def write_intent(lake: Lake, source: str, run_id: str, files: Sequence[Path]) -> None:
    payload = {"run_id": run_id, "files": [lake.relative(f) for f in files]}
    write_atomically(_intent_path(lake, source), json.dumps(payload, indent=1), durable=True)


def clear_intent(lake: Lake, source: str) -> None:
    _intent_path(lake, source).unlink(missing_ok=True)


def pending_intent(lake: Lake, source: str) -> str | None:
    """The run id of an intent left by a run that did not commit, if any."""
    path = _intent_path(lake, source)
    if not path.exists():
        return None
    return str(json.loads(path.read_text(encoding="utf-8")).get("run_id", "?"))


def plan_source(settings: Settings, source: str, *, full: bool = False,
                retry_quarantined: bool = False, backfill: bool = False) -> SourcePlan:
    """The raw files a run of ``source`` must read: the new ones, or all when it must be full.
    A ``backfill`` (some event dates recomputed) reads the files earlier runs processed, and only
    those: a file landed since is the next run's increment (read now, it would be read again
    then, since a backfill does not add to the ledger)."""
    lake = settings.zones
    files = raw_files_of(settings, source)
    if backfill:
        if (stale := pending_intent(lake, source)) is not None:
            raise BackfillBlocked(
                f"{source}: run {stale} did not commit; run `complaints transform` first (it "
                "recomputes the source), then the backfill")
        ledger = read_ledger(lake, source)
        processed = [f for f in files if (e := ledger.get(lake.relative(f))) is not None
                     and e.status == PROCESSED]
        return SourcePlan(source, tuple(processed), full=True, backfill=True,
                          why_full="backfill of event dates (the files processed so far)",
                          known=len(ledger))
    if full:
        return SourcePlan(source, tuple(files), full=True, why_full="asked for (--full)")
    ledger = read_ledger(lake, source)
    why = None
    if (stale := pending_intent(lake, source)) is not None:
        why = f"run {stale} did not commit"
    present = {lake.relative(f): f for f in files}
    if why is None:
        gone = sorted(set(ledger) - set(present))
        changed = [p for p, f in present.items() if p in ledger and ledger[p].size !=
                   f.stat().st_size and ledger[p].status == PROCESSED]
        if gone:
            why = f"{len(gone)} processed raw file(s) are gone, e.g. {gone[0]}"
        elif changed:
            why = f"{len(changed)} raw file(s) changed since processed, e.g. {changed[0]}"
    if why is not None:
        return SourcePlan(source, tuple(files), full=True, why_full=why, known=len(ledger))
    retried = sorted(f for p, f in present.items() if retry_quarantined and p in ledger
                     and ledger[p].status == QUARANTINED)
    new = sorted([f for p, f in present.items() if p not in ledger] + retried)
    return SourcePlan(source, tuple(new), full=False, known=len(ledger), retried=tuple(retried))


def plan_increment(settings: Settings, sources: Sequence[str], *, full: bool = False,
                   retry_quarantined: bool = False, backfill: bool = False) -> IncrementPlan:
    return IncrementPlan(tuple(plan_source(settings, s, full=full,
                                           retry_quarantined=retry_quarantined,
                                           backfill=backfill)
                               for s in sources))

