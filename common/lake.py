"""The lake's layout, owned here and nowhere else: zone folders, partition names, file names that
stay in their folder, and atomic writes.

::

    <lake>/inbox/<source>/                       call-log and web-form exports are dropped here
    <lake>/raw/<source>/ingest_date=YYYY-MM-DD/hour=HH/...   landed as it came (landing time, UTC)
    <lake>/clean/complaints/event_date=YYYY-MM-DD/source=<source>/part-*.parquet
    <lake>/clean/<operational table>/part-*.parquet
    <lake>/clean/customer_links/source=<source>/part-*.parquet   complaint -> customer links
    <lake>/quarantine/records/source=<source>/part-*.parquet
    <lake>/state/stream_by_id/event_date=…/source=…/   stream events once per event id
    <lake>/runs/...        run records, the files each run read, the transform's ledger
    <lake>/alerts/quality/...            quality reports
    <lake>/alerts/task_failures/<dag id>/<run>__<task>[__<map index>]__try<n>.json   failed tasks
    <lake>/alerts/current.parquet        every alert's current state (surges, freshness, ...)
    <lake>/alerts/outbox/<alert>__<version>.json   alert messages waiting for the webhook
    <lake>/warehouse.duckdb
    <lake>/warehouse.salt                salt of hashed keys (analyst customer keys, link keys)
    <lake>/reports/complaints.html       the static report (``complaints report``)
    <lake>/quality/gx/                    the Great Expectations project (suites, checkpoints,
                                         results; data docs in uncommitted/data_docs/local_site/)
    <lake>/quality/validations/<suite>/<run>.json   each run's outcome per suite (with severity)
    <lake>/quality/held_partitions.json  clean partitions kept out of the warehouse
    <lake>/quality/last_good/event_date=…/source=…/   the last version of a partition that passed

Every writer here writes a hidden temporary file (or folder) beside its target and renames it into
place, so a reader never sees half a file and a crash leaves at most a hidden temporary behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

INGEST_PARTITION_GLOB = "ingest_date=*/hour=*"
# The same, as a regex over a path (Java and Python alike): groups are the date and the hour.
INGEST_PARTITION_REGEX = r"ingest_date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})"
# DynamoDB "Export to S3" output keeps AWS's own layout under the ingest partition.
EXPORT_DIR = "AWSDynamoDB"
LANDED_RECORD = "_landed.json"
# A landing record's export_type: AWS's ExportType (a record without one is a FULL_EXPORT).
FULL_EXPORT = "FULL_EXPORT"
INCREMENTAL_EXPORT = "INCREMENTAL_EXPORT"

SAFE_NAME_MAX = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


# ------------------------------------------------------------------------------------------------
# Names
# ------------------------------------------------------------------------------------------------


def utc(moment: datetime | None = None) -> datetime:
    """``moment`` in UTC (now when None; a naive datetime is taken to be UTC already)."""
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def is_incremental_export(folder: Path) -> bool:
    """Whether a landed DynamoDB export folder holds an incremental export (its landing record
    says ``"export_type": "INCREMENTAL_EXPORT"``; older records, without the field, are full)."""
    record = json.loads((folder / LANDED_RECORD).read_text(encoding="utf-8"))
    return bool(record.get("export_type") == INCREMENTAL_EXPORT)


def ingest_partition(moment: datetime) -> str:
    """``ingest_date=YYYY-MM-DD/hour=HH`` of a landing moment (UTC)."""
    at = utc(moment)
    return f"ingest_date={at:%Y-%m-%d}/hour={at:%H}"


def safe_name(name: str, fallback: str = "file", max_chars: int = SAFE_NAME_MAX) -> str:
    """``name`` reduced to ``[A-Za-z0-9._-]``: one path component that stays in its folder.

    Other characters (``/``, ``\\``, NUL, spaces, non-ASCII...) become ``_``, leading dots are
    stripped (no ``..``, no hidden files) and the result is cut to ``max_chars``.
    """
    cleaned = _UNSAFE.sub("_", name).lstrip(".")[:max_chars]
    return cleaned or fallback


def unique_safe_name(name: str, fallback: str = "file", max_chars: int = 120) -> str:
    """``safe_name``, plus a short hash of the original whenever anything had to change, so two
    different names (Airflow run ids hold ``:`` and ``+``) never map to the same file."""
    cleaned = safe_name(name, fallback, max_chars)
    if cleaned == name:
        return cleaned
    return f"{cleaned}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


# ------------------------------------------------------------------------------------------------
# Atomic writes
# ------------------------------------------------------------------------------------------------


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_target(target: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``target``; when the block ends without an error the
    temporary file replaces ``target`` (``os.replace``), else it is removed. ``durable`` fsyncs
    the file and its folder (for data acknowledged upstream, such as a Kinesis checkpoint)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        if durable:
            with tmp.open("rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
        if durable:
            _fsync_folder(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomically(target: Path, data: bytes | str, *, durable: bool = False) -> Path:
    """Write ``data`` (text as UTF-8) to ``target`` atomically; returns ``target``."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_target(target, durable=durable) as tmp, tmp.open("xb") as handle:
        handle.write(payload)
    return target


def lake_salt(path: Path) -> str:
    """The lake's salt for hashed keys (``<lake>/warehouse.salt``), created once (random) and
    kept: the same customer keeps the same key on every refresh and in every job that hashes
    (the warehouse's customer keys, the customer links' identifier keys), and a key cannot be
    reversed by hashing every possible id."""
    if not path.is_file():
        try:
            write_atomically(path, secrets.token_hex(16) + "\n")
        except FileExistsError:  # pragma: no cover - another writer made it first
            pass
    return path.read_text().strip()


def replace_folder(target: Path, replacement: Path | None) -> None:
    """Put ``replacement`` (a finished folder on the same filesystem) where ``target`` is, or
    remove ``target`` when ``replacement`` is None. Two renames: readers see the old folder or the
    new one, never a half-written one (at worst, for an instant, none)."""
    trash = target.parent / f".{target.name}.{uuid.uuid4().hex}.old"
    if target.exists():
        os.rename(target, trash)
    if replacement is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(replacement, target)
    if trash.exists():
        shutil.rmtree(trash)
    if replacement is None and target.parent.exists() and not any(target.parent.iterdir()):
        target.parent.rmdir()  # an event_date= folder left with no source= folder


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``target`` to fill; it is renamed to ``target`` when
    the block ends without an error, else removed. ``target`` must not exist yet."""
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    try:
        yield tmp
        os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


# ------------------------------------------------------------------------------------------------
# Zones
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lake:
    """The folders of one lake. ``inbox`` overrides where file exports are dropped."""

    root: Path
    inbox_override: Path | None = None

    @property
    def inbox(self) -> Path:
        return self.inbox_override if self.inbox_override is not None else self.root / "inbox"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def clean(self) -> Path:
        return self.root / "clean"

    @property
    def clean_complaints(self) -> Path:
        return self.clean / "complaints"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def quarantine_records(self) -> Path:
        """Quarantined records of every source and table, partitioned by ``source=``."""
        return self.quarantine / "records"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def alerts(self) -> Path:
        return self.root / "alerts"

    @property
    def task_failure_alerts(self) -> Path:
        """``alerts/task_failures``: one JSON file per task that failed for good (retries spent)."""
        return self.alerts / "task_failures"

    def task_failure_alert(self, dag_id: str, run_id: str, task_id: str, *, try_number: int,
                           map_index: int = -1) -> Path:
        """The alert file of one failed try: ``alerts/task_failures/<dag id>/<run>__<task>
        [__<map index>]__try<n>.json``, every part made safe (run ids hold ``:`` and ``+``)."""
        parts = [unique_safe_name(run_id, "run"), safe_name(task_id, "task")]
        if map_index >= 0:
            parts.append(str(map_index))
        name = "__".join(parts) + f"__try{try_number}.json"
        return self.task_failure_alerts / safe_name(dag_id, "dag") / name

    @property
    def report(self) -> Path:
        """The static HTML report ``complaints report`` writes by default."""
        return self.root / "reports" / "complaints.html"

    @property
    def current_alerts(self) -> Path:
        """``alerts/current.parquet``: the current state of every alert (``schemas.alerts``),
        rewritten atomically by each detection run."""
        return self.alerts / "current.parquet"

    @property
    def alert_outbox(self) -> Path:
        """``alerts/outbox``: alert messages not yet delivered to the webhook."""
        return self.alerts / "outbox"

    @property
    def alert_deliveries(self) -> Path:
        """``alerts/delivered``: messages the webhook accepted (kept for the record)."""
        return self.alerts / "delivered"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    # -- quality -----------------------------------------------------------------------------

    @property
    def quality(self) -> Path:
        return self.root / "quality"

    @property
    def gx_project(self) -> Path:
        """``quality/gx``: the file-backed Great Expectations project (``quality.gx_project``)."""
        return self.quality / "gx"

    @property
    def data_docs(self) -> Path:
        """The index of the GX data docs (GX's default local site inside the project)."""
        return self.gx_project / "uncommitted" / "data_docs" / "local_site" / "index.html"

    @property
    def validations(self) -> Path:
        """``quality/validations/<suite>/<run>.json``: each run's outcome per suite."""
        return self.quality / "validations"

    @property
    def held_partitions(self) -> Path:
        """``quality/held_partitions.json``: clean partitions a critical failure keeps out of
        the warehouse (``quality.held_partitions``)."""
        return self.quality / "held_partitions.json"

    @property
    def last_good(self) -> Path:
        """``quality/last_good``: hard links to the last version of each clean partition
        that passed its critical checks; the warehouse reads it for held partitions."""
        return self.quality / "last_good"

    @property
    def warehouse_salt(self) -> Path:
        """The random salt of the warehouse's hashed customer keys (kept, so keys are stable)."""
        return self.root / "warehouse.salt"

    @property
    def ledger(self) -> Path:
        """The transform's file-level checkpoint per source (``jobs.ledger``)."""
        return self.runs / "ledger"

    @property
    def run_files(self) -> Path:
        """Which raw files each run read (one Parquet file per run)."""
        return self.runs / "files"

    @property
    def stream_by_id(self) -> Path:
        """Stream events once per event id, before same-content copies are collapsed."""
        return self.root / "state" / "stream_by_id"

    def staging(self, run_id: str) -> Path:
        """A run's scratch folder: outputs are written here, then swapped into their zones."""
        return self.root / ".staging" / safe_name(run_id, "run", 150)

    # -- raw zone --------------------------------------------------------------------------------

    def raw_source(self, source: str) -> Path:
        """``raw/<source>``: every landing of one source (or DynamoDB table)."""
        return self.raw / source

    def raw_partition(self, source: str, moment: datetime) -> Path:
        """``raw/<source>/ingest_date=…/hour=…`` of a landing moment."""
        return self.raw_source(source) / ingest_partition(moment)

    def raw_files(self, source: str, tail: str = "*") -> list[Path]:
        """Files of ``raw/<source>/ingest_date=*/hour=*/<tail>`` in a stable order (hidden files,
        such as a writer's temporaries, are not files of the zone)."""
        found = self.raw_source(source).glob(f"{INGEST_PARTITION_GLOB}/{tail}")
        return sorted(p for p in found if p.is_file() and not p.name.startswith("."))

    def export_folders(self, table: str) -> list[Path]:
        """Landed DynamoDB exports of ``table`` (folders holding ``_landed.json``)."""
        return [p.parent for p in self.raw_files(table, f"{EXPORT_DIR}/*/{LANDED_RECORD}")]

    def full_export_data_files(self, table: str) -> list[Path]:
        """Data files of ``table``'s landed full exports (whole items, ``{"Item": ...}``), without
        those of incremental exports (changes: ``Keys`` / ``NewImage`` / ``OldImage``)."""
        changes = {f for f in self.export_folders(table) if is_incremental_export(f)}
        return [p for p in self.raw_files(table, f"{EXPORT_DIR}/*/data/*")
                if p.parent.parent not in changes]

    def export_folder(self, table: str, moment: datetime, export_id: str) -> Path:
        return self.raw_partition(table, moment) / EXPORT_DIR / safe_name(export_id, "export")

    # -- clean zone ------------------------------------------------------------------------------

    def clean_table(self, table: str) -> Path:
        return self.clean / table

    def complaint_partitions(self, source: str, root: Path | None = None) -> list[Path]:
        """``event_date=*/source=<source>`` folders of the clean complaints (or of ``root``)."""
        return sorted((root or self.clean_complaints).glob(f"event_date=*/source={source}"))

    def relative(self, path: Path) -> str:
        """``path`` relative to the lake root, with forward slashes (lineage columns)."""
        return path.resolve().relative_to(self.root.resolve()).as_posix()


def event_partition(root: Path, event_date: str, source: str) -> Path:
    """``<root>/event_date=YYYY-MM-DD/source=<source>``: one partition of a complaint table."""
    return root / f"event_date={event_date}" / f"source={source}"
