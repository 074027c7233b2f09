"""Clean partitions a critical quality failure keeps out of the warehouse, and the last good
version of every partition, which the warehouse serves instead.

* ``<lake>/quality/held_partitions.json``: ``{"partitions": [{event_date, source, run_id,
  suites, held_at}, ...]}``. A partition is held when a run that wrote it failed a critical
  expectation; a later run that writes it and passes releases it (``update_partitions``).
* ``<lake>/quality/last_good/event_date=…/source=…/``: hard links to the files of the partition's
  last version that passed. The transform replaces a partition by renaming a new folder in and
  deleting the old one; a hard link keeps the old files' data alive at no cost in space until the
  next good version replaces the link. (On object storage this would be a copy.)

The warehouse (``warehouse.duckdb_warehouse``) reads the held list when it builds its views:
held partitions come from ``last_good`` (or are left out when there is none), every other one
from the clean zone. Writers hold a file lock, so the batch and stream DAGs' gates can run at
the same time.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from common.lake import Lake, event_partition, replace_folder, write_atomically

__all__ = [
    "HeldPartition",
    "Partition",
    "keep_last_good",
    "last_good_partitions",
    "read_held",
    "release_partitions",
    "update_partitions",
]

Partition = tuple[str, str]  # (ISO event date, source)


@dataclass(frozen=True)
class HeldPartition:
    """One clean partition kept out of the warehouse, and why."""

    event_date: str
    source: str
    run_id: str  # the run whose data failed
    suites: tuple[str, ...]  # the suites with a critical failure
    held_at: str  # ISO 8601, UTC

    @property
    def key(self) -> Partition:
        return (self.event_date, self.source)


def read_held(lake: Lake) -> dict[Partition, HeldPartition]:
    """The held partitions (none when the file does not exist)."""
    path = lake.held_partitions
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8")).get("partitions", [])
    held = [HeldPartition(e["event_date"], e["source"], e["run_id"], tuple(e["suites"]),
                          e["held_at"]) for e in entries]
    return {h.key: h for h in held}


def _write(lake: Lake, held: Mapping[Partition, HeldPartition]) -> None:
    entries = [asdict(held[k]) for k in sorted(held)]
    write_atomically(lake.held_partitions,
                     json.dumps({"partitions": entries}, indent=2) + "\n")


@contextmanager
def _locked(lake: Lake) -> Iterator[None]:
    lake.quality.mkdir(parents=True, exist_ok=True)
    with (lake.quality / "held_partitions.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link (free); a copy when the two folders are on different filesystems."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        shutil.copy2(source, target)


def keep_last_good(lake: Lake, partition: Partition) -> None:
    """Make ``last_good`` hold the live partition's current files (hard links), or nothing when
    the live partition is gone."""
    live = event_partition(lake.clean_complaints, *partition)
    target = event_partition(lake.last_good, *partition)
    files = sorted(p for p in live.glob("*.parquet") if not p.name.startswith(("_", ".")))
    if not files:
        if target.exists():
            replace_folder(target, None)
        return
    staged = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    staged.mkdir(parents=True)
    try:
        for path in files:
            _link_or_copy(path, staged / path.name)
        replace_folder(target, staged)
    finally:
        if staged.exists():
            shutil.rmtree(staged)


def update_partitions(lake: Lake, run_id: str, passed: Iterable[Partition],
                      failed: Mapping[Partition, Iterable[str]],
                      now: datetime | None = None) -> dict[Partition, HeldPartition]:
    """Record a gate's verdict on the partitions a run wrote: ``failed`` (partition -> suites
    with a critical failure) are held; ``passed`` are released and become the last good
    version. Returns every held partition after the update."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    with _locked(lake):
        held = read_held(lake)
        for partition in passed:
            held.pop(partition, None)
            keep_last_good(lake, partition)
        for partition, suites in failed.items():
            held[partition] = HeldPartition(partition[0], partition[1], str(run_id),
                                            tuple(sorted(set(suites))), moment)
        _write(lake, held)
        return held


def release_partitions(lake: Lake, partitions: Iterable[Partition]) -> list[Partition]:
    """Accept held partitions as they are now (an operator's decision): they are served again
    and become the last good version. Returns those released; ``KeyError`` names any that is
    not held."""
    wanted = sorted(set(partitions))
    with _locked(lake):
        held = read_held(lake)
        missing = [p for p in wanted if p not in held]
        if missing:
            raise KeyError(", ".join(f"{d}/{s}" for d, s in missing))
        for partition in wanted:
            held.pop(partition)
            keep_last_good(lake, partition)
        _write(lake, held)
    return wanted


def last_good_partitions(lake: Lake) -> set[Partition]:
    """Partitions with a last good version kept."""
    return {(folder.parent.name.split("=", 1)[1], folder.name.split("=", 1)[1])
            for folder in lake.last_good.glob("event_date=*/source=*") if folder.is_dir()}
