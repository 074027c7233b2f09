"""A KCL-style Kinesis consumer written directly on boto3: shards -> raw zone, at least once.

For one source (``sms`` or ``social``; stream ``settings.stream_of(source)``) a worker

1. discovers the shards (``list_shards``) and adds one lease item per shard to the lease table
   (:mod:`streaming.leases`), then takes free or expired leases up to its fair share. A child
   shard (split or merge) is taken only once every parent has checkpoint ``SHARD_END``;
2. reads each shard it holds with ``get_records``, one batch per shard per loop, and lands each
   batch as one file
   ``raw/<source>/ingest_date=YYYY-MM-DD/hour=HH/<stream>__<shard>__<first>-<last>.jsonl``
   (hour of the batch's first record's arrival, UTC; lines in the raw format of
   :mod:`schemas.streaming`), written atomically (temporary file, fsync, ``os.replace``);
3. only then checkpoints the batch's last sequence number in the lease (conditional on still
   holding it). A closed shard read to its end is checkpointed ``SHARD_END``.

A crash between 2 and 3 leaves a landed but unrecorded file. Whoever reads the shard next finds
it (files after the checkpoint) and reads exactly the same records again (``Limit`` = the file's
line count, batch cut at file boundaries), so it *rewrites the same file* instead of adding an
overlapping copy. The same holds for a replay from scratch (checkpoints deleted).

Errors: an expired iterator is replaced by a new one after the checkpoint; throttling is retried
with full-jitter exponential backoff (base 0.1 s, cap 5 s); a checkpoint the stream no longer
accepts (``InvalidArgumentException`` on ``AFTER_SEQUENCE_NUMBER``, e.g. older than retention)
falls back to ``TRIM_HORIZON`` with a warning, skipping records at or before the checkpoint.
Record bytes are never interpreted here: whatever a producer sent is landed (validation is the
transform's job).

``stop`` (set by the CLI's SIGTERM handler) ends the loop after the current batch is landed and
checkpointed; leases are released unless ``release_on_stop`` is False (used to simulate a dead
worker). Memory stays flat: one batch at a time, per held shard only its iterator, lease and the
names of files landed after its checkpoint.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError

from common.aws import (
    DynamoDB,
    Kinesis,
    RecordBatch,
    Shard,
    StreamRecord,
    error_code,
    is_throttling,
)
from common.lake import Lake, write_atomically
from common.settings import Settings
from schemas.streaming import raw_file_name
from streaming.leases import SHARD_END, Lease, LeaseTable, now_ms

log = logging.getLogger(__name__)

Source = Literal["sms", "social"]
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0
BACKOFF_ATTEMPTS = 8
IDLE_POLL_S = 0.2
SHARD_SYNC_S = 1.0


def default_lease_table(source: str) -> str:
    return f"complaints-consumer-leases-{source}"


@dataclass
class ConsumeStats:
    worker_id: str
    source: str
    stream: str
    lease_table: str
    records_landed: int = 0
    files_written: int = 0
    shards_finished: int = 0
    leases_taken: int = 0
    leases_lost: int = 0
    leases_released: int = 0
    expired_iterators: int = 0
    throttled: int = 0
    retention_fallbacks: int = 0
    seconds: float = 0.0
    exit_reason: str = ""  # stop | max_seconds | idle

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConsumerEvent:
    """What a worker did, for observers (tests, metrics): lease_taken, lease_renewed, lease_lost,
    lease_released, batch_landed, shard_end. ``detail`` holds e.g. expires_ms, first, last, path."""

    kind: str
    worker_id: str
    shard_id: str
    at_ms: int
    detail: dict[str, Any] = field(default_factory=dict)


EventSink = Callable[[ConsumerEvent], None]


@dataclass(frozen=True)
class LandedFile:
    first: int
    last: int
    path: Path

    def line_count(self) -> int:
        with self.path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


@dataclass
class ShardReader:
    """A shard this worker holds: its lease, iterator and landed-but-unpassed files."""

    shard: Shard
    lease: Lease
    checkpoint: str  # last landed sequence number, "" before the first
    landed_ahead: list[LandedFile]  # files after the checkpoint (a crash's or a replay's)
    iterator: str | None = None


class _LeaseLost(Exception):
    pass


class _Throttled(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# Raw landing
# ------------------------------------------------------------------------------------------------


def raw_line(stream: str, shard_id: str, record: StreamRecord) -> str:
    arrival = record.approximate_arrival.astimezone(UTC)
    return json.dumps({
        "stream": stream,
        "shard_id": shard_id,
        "sequence_number": record.sequence_number,
        "approximate_arrival": arrival.isoformat(timespec="microseconds"),
        "partition_key": record.partition_key,
        "data_b64": base64.b64encode(record.data).decode("ascii"),
    }) + "\n"


def batch_path(lake: Lake, source: str, stream: str, shard_id: str,
               records: Sequence[StreamRecord]) -> Path:
    """Where a batch lands: the ingest partition of its first record's arrival."""
    folder = lake.raw_partition(source, records[0].approximate_arrival)
    return folder / raw_file_name(stream, shard_id, records[0].sequence_number,
                                  records[-1].sequence_number)


def land_batch(lake: Lake, source: str, stream: str, shard_id: str,
               records: Sequence[StreamRecord]) -> Path:
    """Write a batch durably (it is checkpointed, so acknowledged, right after)."""
    target = batch_path(lake, source, stream, shard_id, records)
    write_atomically(target, "".join(raw_line(stream, shard_id, r) for r in records),
                     durable=True)
    return target


def landed_files_after(lake: Lake, source: str, stream: str, shard_id: str,
                       checkpoint: str) -> list[LandedFile]:
    """Files of this shard starting after ``checkpoint`` (all of them when there is none)."""
    after = int(checkpoint) if checkpoint else -1
    pattern = re.compile(rf"^{re.escape(stream)}__{re.escape(shard_id)}__(\d+)-(\d+)\.jsonl$")
    found: list[LandedFile] = []
    for path in lake.raw_files(source, f"{stream}__{shard_id}__*.jsonl"):
        match = pattern.match(path.name)
        if match and int(match.group(1)) > after:
            found.append(LandedFile(int(match.group(1)), int(match.group(2)), path))
    return sorted(found, key=lambda f: f.first)


def cut_at_landed_files(records: Sequence[StreamRecord],
                        ahead: list[LandedFile]) -> tuple[StreamRecord, ...]:
    """The leading part of ``records`` that lands as one file without overlapping a landed one:
    exactly a landed file's range when the batch starts where that file starts, else up to just
    before the next landed file. Files the batch has gone past are dropped from ``ahead``."""
    first = int(records[0].sequence_number)
    while ahead and ahead[0].first < first:
        ahead.pop(0)  # starts before this batch: cannot be rewritten identically any more
    if not ahead:
        return tuple(records)
    nxt = ahead[0]
    end = nxt.last if nxt.first == first else nxt.first - 1
    return tuple(r for r in records if int(r.sequence_number) <= end)


# ------------------------------------------------------------------------------------------------
# Errors and backoff
# ------------------------------------------------------------------------------------------------


def full_jitter_delay(attempt: int, base_s: float = BACKOFF_BASE_S,
                      cap_s: float = BACKOFF_CAP_S) -> float:
    return random.uniform(0.0, min(cap_s, base_s * (2 ** attempt)))


# ------------------------------------------------------------------------------------------------
# The worker
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumerOptions:
    """How a worker reads: batch size, lease length and cap, and when ``consume`` returns.

    ``stream`` and ``lease_table`` override the defaults of the source (tests use their own).
    ``max_seconds`` / ``idle_exit_s`` end the run after that long / that long without landing
    anything (None: until stopped). ``release_on_stop=False`` leaves the leases to expire, as a
    crashed worker would. ``max_leases`` caps the shards held at once (by default a worker takes
    its fair share: readable shards / live workers, rounded up)."""

    batch_limit: int = 500
    lease_duration_s: float = 10
    max_leases: int | None = None
    stream: str | None = None
    lease_table: str | None = None
    max_seconds: float | None = None
    idle_exit_s: float | None = None
    release_on_stop: bool = True


class Worker:
    def __init__(self, settings: Settings, source: Source, worker_id: str, kinesis: Kinesis,
                 leases: LeaseTable, options: ConsumerOptions, *, stop: threading.Event,
                 on_event: EventSink | None) -> None:
        self.source = source
        self.stream = options.stream or settings.stream_of(source)
        self.worker_id = worker_id
        self.kinesis = kinesis
        self.leases = leases
        self.batch_limit = options.batch_limit
        self.lease_ms = int(options.lease_duration_s * 1000)
        self.stop = stop
        self.on_event = on_event
        self.max_leases = options.max_leases
        self.lake = settings.zones
        self.held: dict[str, ShardReader] = {}
        self.stats = ConsumeStats(worker_id, source, self.stream, leases.name)

    def emit(self, kind: str, shard_id: str, **detail: Any) -> None:
        if self.on_event is not None:
            self.on_event(ConsumerEvent(kind, self.worker_id, shard_id, now_ms(), detail))

    # -- calls to Kinesis, with backoff ------------------------------------------------------

    def with_backoff(self, call: Callable[[], Any]) -> Any:
        for attempt in range(BACKOFF_ATTEMPTS):
            try:
                return call()
            except ClientError as e:
                if not is_throttling(e):
                    raise
                self.stats.throttled += 1
                delay = full_jitter_delay(attempt)
                log.info("%s: throttled (%s), retrying in %.2fs", self.worker_id,
                         error_code(e), delay)
                if self.stop.wait(delay):
                    break
        raise _Throttled()

    def open_iterator(self, reader: ShardReader) -> str:
        shard_id = reader.shard.shard_id
        if not reader.checkpoint:
            return str(self.with_backoff(
                lambda: self.kinesis.shard_iterator(self.stream, shard_id, None)))
        try:
            return str(self.with_backoff(
                lambda: self.kinesis.shard_iterator(self.stream, shard_id, reader.checkpoint)))
        except ClientError as e:
            if error_code(e) not in ("InvalidArgumentException", "ResourceNotFoundException"):
                raise
            return self.fall_back_to_trim_horizon(reader, e)

    def fall_back_to_trim_horizon(self, reader: ShardReader, error: ClientError) -> str:
        """The checkpoint is no longer readable (older than retention): start at the oldest
        record still there; records at or before the checkpoint are skipped when read."""
        shard_id = reader.shard.shard_id
        log.warning("%s %s: checkpoint %s no longer readable (%s); falling back to TRIM_HORIZON",
                    self.stream, shard_id, reader.checkpoint, error_code(error))
        self.stats.retention_fallbacks += 1
        return str(self.with_backoff(
            lambda: self.kinesis.shard_iterator(self.stream, shard_id, None)))

    def read_batch(self, reader: ShardReader) -> RecordBatch | None:
        """One ``get_records``; None when the iterator expired (a new one is opened next time)."""
        if reader.iterator is None:
            reader.iterator = self.open_iterator(reader)
        limit = self.batch_limit
        if reader.landed_ahead:
            limit = max(1, min(limit, reader.landed_ahead[0].line_count()))
        iterator = reader.iterator
        try:
            return self.with_backoff(  # type: ignore[no-any-return]
                lambda: self.kinesis.get_records(iterator, limit))
        except ClientError as e:
            if error_code(e) != "ExpiredIteratorException":
                raise
            log.info("%s %s: iterator expired; reopening after checkpoint %r", self.stream,
                     reader.shard.shard_id, reader.checkpoint)
            self.stats.expired_iterators += 1
            reader.iterator = None
            return None

    # -- leases --------------------------------------------------------------------------------

    def sync_shards(self) -> None:
        """Discover shards, add their leases, refresh held shards and take our fair share."""
        shards = {s.shard_id: s for s in self.with_backoff(
            lambda: self.kinesis.list_shards(self.stream))}
        leases = self.leases.all()
        missing = [sid for sid in shards if sid not in leases]
        for sid in missing:
            self.leases.ensure_shard(sid)
        if missing:
            leases = self.leases.all()
        for sid, reader in self.held.items():
            if sid in shards:
                reader.shard = shards[sid]
        at = now_ms()
        readable = [s for s in shards.values()
                    if s.shard_id in leases and not leases[s.shard_id].finished
                    and self.parents_finished(s, shards, leases)]
        workers = {lease.owner for lease in leases.values()
                   if lease.owner and not lease.finished and not lease.expired(at)}
        fair_share = math.ceil(len(readable) / len(workers | {self.worker_id}))
        if self.max_leases is not None:
            fair_share = min(fair_share, self.max_leases)
        for shard in sorted(readable, key=lambda s: s.shard_id):
            if len(self.held) >= fair_share:
                break
            lease = leases[shard.shard_id]
            if shard.shard_id not in self.held and lease.free_for(self.worker_id, at):
                self.take(shard, lease)

    @staticmethod
    def parents_finished(shard: Shard, shards: dict[str, Shard],
                         leases: dict[str, Lease]) -> bool:
        """Every parent is read to its end (a parent no longer listed has left retention)."""
        return all(p not in shards or (p in leases and leases[p].finished)
                   for p in shard.parents)

    def take(self, shard: Shard, seen: Lease) -> None:
        taken = self.leases.take(seen, self.worker_id, self.lease_ms)
        if taken is None:
            return
        checkpoint = taken.checkpoint
        self.held[shard.shard_id] = ShardReader(
            shard, taken, checkpoint,
            landed_files_after(self.lake, self.source, self.stream, shard.shard_id, checkpoint))
        self.stats.leases_taken += 1
        self.emit("lease_taken", shard.shard_id, expires_ms=taken.lease_expires,
                  checkpoint=checkpoint, previous_owner=seen.owner)
        log.info("%s took %s (checkpoint %r)", self.worker_id, shard.shard_id, checkpoint)

    def keep_lease_fresh(self, reader: ShardReader) -> None:
        """Renew once a third of the lease has passed, so a batch starts with >= 2/3 left."""
        if reader.lease.lease_expires - now_ms() >= self.lease_ms * 2 // 3:
            return
        renewed = self.leases.renew(reader.lease, self.lease_ms)
        if renewed is None:
            raise _LeaseLost()
        reader.lease = renewed
        self.emit("lease_renewed", reader.shard.shard_id, expires_ms=renewed.lease_expires)

    def drop(self, shard_id: str, why: str) -> None:
        self.held.pop(shard_id, None)
        self.stats.leases_lost += 1
        self.emit("lease_lost", shard_id, why=why)
        log.warning("%s lost the lease of %s (%s)", self.worker_id, shard_id, why)

    def release_all(self) -> None:
        for shard_id, reader in list(self.held.items()):
            if self.leases.release(reader.lease):
                self.stats.leases_released += 1
                self.emit("lease_released", shard_id)
            self.held.pop(shard_id)

    def checkpoint(self, reader: ShardReader, sequence: str) -> None:
        updated = self.leases.checkpoint(reader.lease, sequence)
        if updated is None:
            raise _LeaseLost()
        reader.lease = updated

    # -- reading -------------------------------------------------------------------------------

    def process_shard(self, reader: ShardReader) -> int:
        """Read, land and checkpoint one batch; returns records landed (-1: shard finished)."""
        shard_id = reader.shard.shard_id
        try:
            self.keep_lease_fresh(reader)
            batch = self.read_batch(reader)
            if batch is None:
                return 0
            records = self.after_checkpoint(reader, batch.records)
            if records:
                return self.land_and_checkpoint(reader, batch, records)
            if batch.records:  # everything re-read was at or before the checkpoint
                reader.iterator = batch.next_iterator
                return 0
            if self.shard_read_to_end(reader, batch):
                self.finish_shard(reader)
                return -1
            reader.iterator = batch.next_iterator
            return 0
        except _LeaseLost:
            self.drop(shard_id, "lease taken over or expired")
            return 0
        except _Throttled:
            return 0

    @staticmethod
    def after_checkpoint(reader: ShardReader,
                         records: Sequence[StreamRecord]) -> tuple[StreamRecord, ...]:
        if not reader.checkpoint:
            return tuple(records)
        done = int(reader.checkpoint)
        return tuple(r for r in records if int(r.sequence_number) > done)

    def land_and_checkpoint(self, reader: ShardReader, batch: RecordBatch,
                            records: tuple[StreamRecord, ...]) -> int:
        shard_id = reader.shard.shard_id
        to_land = cut_at_landed_files(records, reader.landed_ahead)
        if reader.lease.lease_expires - now_ms() < self.lease_ms // 3:
            raise _LeaseLost()  # too close to expiry to land safely; renewed next loop or lost
        started = now_ms()
        path = land_batch(self.lake, self.source, self.stream, shard_id, to_land)
        last = to_land[-1].sequence_number
        self.checkpoint(reader, last)
        reader.checkpoint = last
        while reader.landed_ahead and reader.landed_ahead[0].first <= int(last):
            reader.landed_ahead.pop(0)
        reader.iterator = batch.next_iterator if len(to_land) == len(records) else None
        self.stats.records_landed += len(to_land)
        self.stats.files_written += 1
        self.emit("batch_landed", shard_id, first=to_land[0].sequence_number, last=last,
                  records=len(to_land), path=str(path), started_ms=started)
        if reader.shard.ending_sequence is not None and \
                int(last) >= int(reader.shard.ending_sequence):
            self.finish_shard(reader)
        return len(to_land)

    @staticmethod
    def shard_read_to_end(reader: ShardReader, batch: RecordBatch) -> bool:
        """No records came back and the shard is closed (or Kinesis says it ended)."""
        if batch.next_iterator is None or batch.child_shards:
            return True
        return reader.shard.closed

    def finish_shard(self, reader: ShardReader) -> None:
        shard_id = reader.shard.shard_id
        self.checkpoint(reader, SHARD_END)
        self.stats.shards_finished += 1
        self.emit("shard_end", shard_id)
        log.info("%s finished %s", self.worker_id, shard_id)
        if self.leases.release(reader.lease):
            self.stats.leases_released += 1
            self.emit("lease_released", shard_id)
        self.held.pop(shard_id, None)

    def read_round(self) -> int:
        """One batch from each held shard; returns how much happened (records + finished)."""
        progress = 0
        for reader in list(self.held.values()):
            if self.stop.is_set():
                break
            landed = self.process_shard(reader)
            progress += abs(landed)
        return progress


def consume(settings: Settings, source: Source, *, worker_id: str,
            options: ConsumerOptions | None = None, stop: threading.Event | None = None,
            kinesis: Kinesis | None = None, on_event: EventSink | None = None) -> ConsumeStats:
    """Consume ``source``'s stream into ``raw/<source>/`` until ``stop`` is set, or the run
    limits of ``options`` are reached. ``kinesis`` is the client wrapper (tests inject faults
    there); ``on_event`` receives lease and landing events (tests and benchmarks follow them)."""
    options = options or ConsumerOptions()
    stop = stop or threading.Event()
    kinesis = kinesis or Kinesis(settings)
    leases = LeaseTable(DynamoDB(settings), options.lease_table or default_lease_table(source))
    leases.ensure_exists()
    worker = Worker(settings, source, worker_id, kinesis, leases, options, stop=stop,
                    on_event=on_event)
    max_seconds, idle_exit_s = options.max_seconds, options.idle_exit_s
    lease_duration_s = options.lease_duration_s
    started = time.monotonic()
    last_progress = started
    next_sync = started
    while True:
        now = time.monotonic()
        if stop.is_set():
            worker.stats.exit_reason = "stop"
            break
        if max_seconds is not None and now - started >= max_seconds:
            worker.stats.exit_reason = "max_seconds"
            break
        if idle_exit_s is not None and now - last_progress >= idle_exit_s:
            worker.stats.exit_reason = "idle"
            break
        if now >= next_sync:
            worker.sync_shards()
            next_sync = time.monotonic() + min(SHARD_SYNC_S, lease_duration_s / 4)
        if worker.read_round() > 0:
            last_progress = time.monotonic()
        else:
            stop.wait(IDLE_POLL_S)
    if options.release_on_stop:
        worker.release_all()
    worker.stats.seconds = round(time.monotonic() - started, 3)
    return worker.stats

