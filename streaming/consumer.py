"""A KCL-style Kinesis consumer written directly on boto3: shards -> raw zone, at least once.

For one source (``sms`` or ``social``; stream ``settings.stream_of(source)``) a worker

1. discovers the shards (``list_shards``) and adds one lease item per shard to the lease table
   (:mod:`streaming.leases`), then takes its fair share as the KCL lease taker does
   (:func:`streaming.leases.plan_takes`): target = ceil(readable shards / live workers), free or
   expired leases first, else one lease per sync stolen from the most loaded worker. A child
   shard (split or merge) is taken only once every parent has checkpoint ``SHARD_END``;
2. reads each shard it holds with ``get_records`` (one call per shard per loop) into that shard's
   buffer, and lands the buffer as one file once it reaches ``buffer_bytes`` (default 5 MiB of
   landed lines) or ``buffer_seconds`` (default 60 s since its first record), at a closed shard's
   end, and on stop or idle exit -- Firehose's buffering hints, so files hold thousands of
   records, not one ``get_records`` batch. A file is
   ``raw/<source>/ingest_date=YYYY-MM-DD/hour=HH/<stream>__<shard>__<first>-<last>.jsonl``
   (hour of its first record's arrival, UTC; lines in the raw format of
   :mod:`schemas.streaming`), written atomically (temporary file, fsync, ``os.replace``), after
   renewing the lease (a worker whose lease was taken lands nothing);
3. only then checkpoints the file's last sequence number in the lease (conditional on still
   holding it). A closed shard read to its end is checkpointed ``SHARD_END``.

Leases are renewed while records wait in a buffer (every third of the lease), so a buffer older
than the lease is not lost to another worker. Memory: held shards x ``buffer_bytes``, plus one
``get_records`` batch.

A crash between 2 and 3 (or a crash with records still buffered) leaves the checkpoint behind
what was read. Whoever reads the shard next lists the files holding records after the checkpoint
and reproduces each one's range exactly: the buffer is cut where a landed file starts and landed
when the sequence number reaches the file's last, whatever the batch limit or buffer settings
are now, so the same file is *rewritten* (same name, same bytes) instead of an overlapping copy
being added, and no record is ever in two raw files. Records inside a landed file that cannot be
reproduced from its start (a checkpoint inside it, after a retention fallback) are skipped: they
are in raw already. The same holds for a replay from scratch (checkpoints deleted).

A stolen lease (fair sharing) is read by its new owner only once the previous owner's lease, as
last renewed, has run out; the previous owner notices at its next renew or landing, drops the
shard and its buffer unlanded; the new owner reads again from the checkpoint (and rewrites
anything the old owner landed without checkpointing).

Errors: an expired iterator is replaced by a new one after the last record read; throttling is
retried with full-jitter exponential backoff (base 0.1 s, cap 5 s); a checkpoint the stream no
longer accepts (``InvalidArgumentException`` on ``AFTER_SEQUENCE_NUMBER``, e.g. older than
retention) falls back to ``TRIM_HORIZON`` with a warning, skipping records at or before it.
Record bytes are never interpreted here: whatever a producer sent is landed (validation is the
transform's job).

``stop`` (set by the CLI's SIGTERM handler) ends the loop after the current read; buffers are
landed and checkpointed and leases released, unless ``release_on_stop`` is False (used to
simulate a dead worker: buffers dropped, leases left to expire). Freshness downstream is the
micro-batch interval plus the buffer age (at most ``buffer_seconds``).
"""

from __future__ import annotations

import base64
import json
import logging
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
from streaming.leases import NO_OWNER, SHARD_END, Lease, LeaseTable, now_ms, plan_takes

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
    leases_stolen: int = 0
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
    """A raw file of the shard found after the checkpoint: its range must be reproduced as is."""

    first: int
    last: int
    path: Path


@dataclass
class ShardBuffer:
    """Records read from a shard and not landed yet, as the lines they land as (Firehose-style
    buffering). ``rewriting`` is the landed file this buffer reproduces, when it does."""

    lines: list[str] = field(default_factory=list)
    size: int = 0  # bytes of ``lines`` (ASCII: JSON with base64 data)
    first: StreamRecord | None = None
    last_sequence: str = ""
    started: float = 0.0  # monotonic time the first record came in
    rewriting: LandedFile | None = None

    def add(self, line: str, record: StreamRecord) -> None:
        if not self.lines:
            self.first = record
            self.started = time.monotonic()
        self.lines.append(line)
        self.size += len(line)
        self.last_sequence = record.sequence_number


@dataclass
class ShardReader:
    """A shard this worker holds: its lease, iterator, buffer and landed-but-unpassed files.

    ``position`` is the last sequence number read (buffered or skipped), ``checkpoint`` the last
    landed one; the iterator reopens after ``position``. ``landed_ahead`` is listed when reading
    starts (None before), which for a stolen lease is once the previous owner's lease has run out
    (``read_after_ms``): by then it cannot land anything more."""

    shard: Shard
    lease: Lease
    checkpoint: str  # last landed sequence number, "" before the first
    position: str
    landed_ahead: list[LandedFile] | None = None  # files after the checkpoint
    iterator: str | None = None
    buffer: ShardBuffer = field(default_factory=ShardBuffer)
    read_after_ms: int = 0


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


def buffer_path(lake: Lake, source: str, stream: str, shard_id: str, buffer: ShardBuffer) -> Path:
    """Where a buffer lands: the ingest partition of its first record's arrival."""
    assert buffer.first is not None
    folder = lake.raw_partition(source, buffer.first.approximate_arrival)
    return folder / raw_file_name(stream, shard_id, buffer.first.sequence_number,
                                  buffer.last_sequence)


def land_buffer(lake: Lake, source: str, stream: str, shard_id: str,
                buffer: ShardBuffer) -> Path:
    """Write a buffer durably (it is checkpointed, so acknowledged, right after)."""
    target = buffer_path(lake, source, stream, shard_id, buffer)
    write_atomically(target, "".join(buffer.lines), durable=True)
    return target


def land_batch(lake: Lake, source: str, stream: str, shard_id: str,
               records: Sequence[StreamRecord]) -> Path:
    """Land ``records`` as one file, exactly as a buffer holding them lands (benchmarks)."""
    buffer = ShardBuffer()
    for record in records:
        buffer.add(raw_line(stream, shard_id, record), record)
    return land_buffer(lake, source, stream, shard_id, buffer)


def landed_files_after(lake: Lake, source: str, stream: str, shard_id: str,
                       checkpoint: str) -> list[LandedFile]:
    """Files of this shard holding records after ``checkpoint`` (all of them when there is
    none), including one the checkpoint falls inside of (after a retention fallback)."""
    after = int(checkpoint) if checkpoint else -1
    pattern = re.compile(rf"^{re.escape(stream)}__{re.escape(shard_id)}__(\d+)-(\d+)\.jsonl$")
    found: list[LandedFile] = []
    for path in lake.raw_files(source, f"{stream}__{shard_id}__*.jsonl"):
        match = pattern.match(path.name)
        if match and int(match.group(2)) > after:
            found.append(LandedFile(int(match.group(1)), int(match.group(2)), path))
    return sorted(found, key=lambda f: f.first)


def landed_file_at(ahead: list[LandedFile], sequence: int) -> LandedFile | None:
    """The landed file whose range holds ``sequence``; files already passed leave ``ahead``."""
    while ahead and ahead[0].last < sequence:
        ahead.pop(0)
    return ahead[0] if ahead and ahead[0].first <= sequence else None


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
    """How a worker reads: batch size, buffering hints, lease length and cap, and when
    ``consume`` returns.

    Like Firehose's buffering hints, each held shard lands one file once its buffer reaches
    ``buffer_bytes`` (of landed lines) or ``buffer_seconds`` since its first record, at a closed
    shard's end, and on stop (0 seconds: a file per ``get_records`` batch). Memory stays within
    held shards x ``buffer_bytes`` (plus one batch in flight).
    ``stream`` and ``lease_table`` override the defaults of the source (tests use their own).
    ``max_seconds`` / ``idle_exit_s`` end the run after that long / that long without reading
    anything (None: until stopped); buffers are landed first. ``release_on_stop=False`` behaves
    like a crashed worker: buffers are dropped unlanded and leases left to expire.
    ``max_leases`` caps the shards held at once (by default a worker aims at its fair share:
    readable shards / live workers, rounded up)."""

    batch_limit: int = 500
    buffer_bytes: int = 5 * 2**20
    buffer_seconds: float = 60.0
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
        self.buffer_bytes = options.buffer_bytes
        self.buffer_seconds = options.buffer_seconds
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
        if not reader.position:
            return str(self.with_backoff(
                lambda: self.kinesis.shard_iterator(self.stream, shard_id, None)))
        try:
            return str(self.with_backoff(
                lambda: self.kinesis.shard_iterator(self.stream, shard_id, reader.position)))
        except ClientError as e:
            if error_code(e) not in ("InvalidArgumentException", "ResourceNotFoundException"):
                raise
            return self.fall_back_to_trim_horizon(reader, e)

    def fall_back_to_trim_horizon(self, reader: ShardReader, error: ClientError) -> str:
        """The position is no longer readable (older than retention): start at the oldest
        record still there; records at or before the position are skipped when read."""
        shard_id = reader.shard.shard_id
        log.warning("%s %s: checkpoint %s no longer readable (%s); falling back to TRIM_HORIZON",
                    self.stream, shard_id, reader.position, error_code(error))
        self.stats.retention_fallbacks += 1
        return str(self.with_backoff(
            lambda: self.kinesis.shard_iterator(self.stream, shard_id, None)))

    def read_batch(self, reader: ShardReader) -> RecordBatch | None:
        """One ``get_records``; None when the iterator expired (a new one is opened next time)."""
        if reader.iterator is None:
            reader.iterator = self.open_iterator(reader)
        iterator = reader.iterator
        try:
            return self.with_backoff(  # type: ignore[no-any-return]
                lambda: self.kinesis.get_records(iterator, self.batch_limit))
        except ClientError as e:
            if error_code(e) != "ExpiredIteratorException":
                raise
            log.info("%s %s: iterator expired; reopening after %r", self.stream,
                     reader.shard.shard_id, reader.position)
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
        readable = [leases[s.shard_id] for s in shards.values()
                    if s.shard_id in leases and not leases[s.shard_id].finished
                    and self.parents_finished(s, shards, leases)]
        plan = plan_takes(readable, self.worker_id, set(self.held), now_ms(), self.max_leases)
        for lease in plan.take:
            self.take(shards[lease.shard_id], lease)
        if plan.steal is not None:
            log.info("%s below its share (%d): stealing %s from %s", self.worker_id,
                     plan.target, plan.steal.shard_id, plan.steal.owner)
            self.take(shards[plan.steal.shard_id], plan.steal, steal=True)

    @staticmethod
    def parents_finished(shard: Shard, shards: dict[str, Shard],
                         leases: dict[str, Lease]) -> bool:
        """Every parent is read to its end (a parent no longer listed has left retention)."""
        return all(p not in shards or (p in leases and leases[p].finished)
                   for p in shard.parents)

    def take(self, shard: Shard, seen: Lease, *, steal: bool = False) -> None:
        """Take a lease (conditional on it being as read). A stolen lease is read only once the
        previous owner's lease has run out: until then it may still land its buffer (it renews
        right before landing), and whatever it landed is then found and rewritten, not added."""
        taker = self.leases.steal if steal else self.leases.take
        taken = taker(seen, self.worker_id, self.lease_ms)
        if taken is None:
            return
        checkpoint = taken.checkpoint
        reader = ShardReader(shard, taken, checkpoint, checkpoint)
        if seen.owner not in (NO_OWNER, self.worker_id) and not seen.expired(now_ms()):
            reader.read_after_ms = seen.lease_expires + 1
        self.held[shard.shard_id] = reader
        self.stats.leases_taken += 1
        self.stats.leases_stolen += steal
        self.emit("lease_taken", shard.shard_id, expires_ms=taken.lease_expires,
                  checkpoint=checkpoint, previous_owner=seen.owner, stolen=steal,
                  reads_from_ms=max(reader.read_after_ms, now_ms()))
        log.info("%s took %s (checkpoint %r)", self.worker_id, shard.shard_id, checkpoint)

    def keep_lease_fresh(self, reader: ShardReader, *, now: bool = False) -> None:
        """Renew once a third of the lease has passed (or ``now``, before landing), so a buffer
        waiting longer than the lease keeps it, and a lost lease is noticed before landing."""
        if not now and reader.lease.lease_expires - now_ms() >= self.lease_ms * 2 // 3:
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
        """Read one batch into the shard's buffer, landing what is due; returns records read
        (-1: shard finished)."""
        shard_id = reader.shard.shard_id
        try:
            self.keep_lease_fresh(reader)
            if not self.ready_to_read(reader):
                return 0
            batch = self.read_batch(reader)
            if batch is None:
                return 0
            fresh = self.after_position(reader, batch.records)
            for record in fresh:
                self.buffer_record(reader, record)
            if self.buffer_due(reader):
                self.flush(reader)
            if self.reached_shard_end(reader, batch):
                self.flush(reader)
                self.finish_shard(reader)
                return -1
            reader.iterator = batch.next_iterator
            return len(fresh)
        except _LeaseLost:
            self.drop(shard_id, "lease taken over or expired")
            return 0
        except _Throttled:
            return 0

    def ready_to_read(self, reader: ShardReader) -> bool:
        """False while a stolen lease's previous owner may still land; then lists the files
        landed after the checkpoint (whoever landed them, they are rewritten, not added to)."""
        if now_ms() < reader.read_after_ms:
            return False
        if reader.landed_ahead is None:
            reader.landed_ahead = landed_files_after(
                self.lake, self.source, self.stream, reader.shard.shard_id, reader.checkpoint)
        return True

    @staticmethod
    def after_position(reader: ShardReader,
                       records: Sequence[StreamRecord]) -> tuple[StreamRecord, ...]:
        if not reader.position:
            return tuple(records)
        done = int(reader.position)
        return tuple(r for r in records if int(r.sequence_number) > done)

    def buffer_record(self, reader: ShardReader, record: StreamRecord) -> None:
        """Add one record, landing the buffer before or after it when a limit or a landed file's
        range says so: a landed file's range is reproduced exactly (same records, same name),
        whatever the batch limit or buffer settings, so no record is ever in two raw files."""
        reader.position = record.sequence_number
        sequence = int(record.sequence_number)
        rewriting = reader.buffer.rewriting
        if rewriting is not None and sequence > rewriting.last:
            self.flush(reader)  # the file's last record is gone (never on Kinesis): end it here
            rewriting = None
        if rewriting is None:
            landed = landed_file_at(reader.landed_ahead or [], sequence)
            if landed is not None:
                self.flush(reader)  # cut before a landed file's range
                if sequence != landed.first:
                    return  # inside a file that cannot be reproduced from its start: in raw
                reader.buffer.rewriting = rewriting = landed
        line = raw_line(self.stream, reader.shard.shard_id, record)
        if rewriting is None and reader.buffer.size + len(line) > self.buffer_bytes:
            self.flush(reader)
        reader.buffer.add(line, record)
        if rewriting is not None and sequence >= rewriting.last:
            self.flush(reader)
        elif rewriting is None and reader.buffer.size >= self.buffer_bytes:
            self.flush(reader)

    def buffer_due(self, reader: ShardReader) -> bool:
        buffer = reader.buffer
        return bool(buffer.lines) and buffer.rewriting is None and \
            time.monotonic() - buffer.started >= self.buffer_seconds

    def flush(self, reader: ShardReader) -> None:
        """Land the buffer as one file, then checkpoint its last record. The lease is renewed
        first: a worker whose lease was taken lands nothing (its buffer is dropped and the new
        owner reads again from the checkpoint)."""
        buffer = reader.buffer
        if not buffer.lines:
            return
        shard_id = reader.shard.shard_id
        self.keep_lease_fresh(reader, now=True)
        started = now_ms()
        path = land_buffer(self.lake, self.source, self.stream, shard_id, buffer)
        last = buffer.last_sequence
        self.checkpoint(reader, last)
        reader.checkpoint = last
        reader.buffer = ShardBuffer()
        ahead = reader.landed_ahead or []
        while ahead and ahead[0].first <= int(last):
            ahead.pop(0)
        self.stats.records_landed += len(buffer.lines)
        self.stats.files_written += 1
        assert buffer.first is not None
        self.emit("batch_landed", shard_id, first=buffer.first.sequence_number, last=last,
                  records=len(buffer.lines), path=str(path), started_ms=started)

    def flush_all(self) -> None:
        """Land every buffer (on stop, idle exit, max seconds). A buffer part-way through
        reproducing a landed file is dropped instead: that file is already in raw."""
        for shard_id, reader in list(self.held.items()):
            if reader.buffer.rewriting is not None:
                reader.buffer = ShardBuffer()
                continue
            try:
                self.flush(reader)
            except _LeaseLost:
                self.drop(shard_id, "lease taken over or expired")

    @staticmethod
    def reached_shard_end(reader: ShardReader, batch: RecordBatch) -> bool:
        """Every record of a closed shard is read: its last one, or an empty read at its end."""
        ending = reader.shard.ending_sequence
        if ending is not None and reader.position and int(reader.position) >= int(ending):
            return True
        return not batch.records and Worker.shard_read_to_end(reader, batch)

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
        """One batch from each held shard; returns how much happened (records read + shards
        finished)."""
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
    leases = LeaseTable(DynamoDB(settings), options.lease_table or default_lease_table(source),
                        options.stream or settings.stream_of(source))
    leases.ensure_exists()
    leases.check_stream()
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
    if options.release_on_stop:  # else: as a crash would, buffers unlanded, leases left
        worker.flush_all()
        worker.release_all()
    worker.stats.seconds = round(time.monotonic() - started, 3)
    return worker.stats

