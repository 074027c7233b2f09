"""The Kinesis consumer against a real moto server over HTTP (a fresh server per test).

Ground truth for every test is the stream itself, read end to end with ``get_records``: the raw
zone must hold exactly its (shard, sequence, bytes) triples, each in exactly one file, with file
names and partitions as ``schemas.streaming`` defines them.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from common.aws import DynamoDB, Kinesis
from common.settings import REPO_ROOT, Settings
from complaints.emulator import moto_server
from schemas.streaming import RAW_STREAM_RECORD_FIELDS, raw_file_name
from streaming.consumer import ConsumerEvent, ConsumerOptions, consume
from streaming.leases import (
    SHARD_END,
    Lease,
    LeaseTable,
    LeaseTableOfAnotherStream,
    plan_takes,
)

STREAM = "test-sms"
LEASES = "test-leases"


# Stock moto reshards unlike Kinesis: a split re-puts the parent's records (renumbered) through
# put_record, and puts keep going to the first shard whose hash range holds the key -- the closed
# parent; a merge copies both parents' records into the child. On AWS a closed parent keeps its
# records and sequence numbers and only open shards take new records. The resharding test runs
# moto with that behaviour (records stay in closed parents; puts go to open shards only).
_MOTO_WITH_KINESIS_RESHARDING = """
import sys
from collections import OrderedDict
import moto.kinesis.models as kinesis_models
from moto.server import main

Stream = kinesis_models.Stream
_route, _split, _merge = Stream.get_shard_for_key, Stream.split_shard, Stream.merge_shards

def get_shard_for_key(self, partition_key, explicit_hash_key):
    shard = _route(self, partition_key, explicit_hash_key)  # validates the key
    if shard is None or shard.is_open:
        return shard
    key = int(explicit_hash_key) if explicit_hash_key else int(
        kinesis_models.md5_hash(partition_key.encode("utf-8")).hexdigest(), 16)
    for candidate in self.shards.values():
        if candidate.is_open and candidate.starting_hash <= key <= candidate.ending_hash:
            return candidate
    return shard

def keeping_records(reshard, *shard_ids):
    def wrapped(self, *args):
        shards = [self.shards[args[i]] for i in shard_ids if args[i] in self.shards]
        kept = [shard.records for shard in shards]
        for shard in shards:
            shard.records = OrderedDict()
        try:
            return reshard(self, *args)
        finally:
            for shard, records in zip(shards, kept):
                shard.records = records
    return wrapped

Stream.get_shard_for_key = get_shard_for_key
Stream.split_shard = keeping_records(_split, 0)
Stream.merge_shards = keeping_records(_merge, 0, 1)
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""


def moto_with_kinesis_resharding() -> AbstractContextManager[str]:
    return moto_server(command=[sys.executable, "-c", _MOTO_WITH_KINESIS_RESHARDING])


# The moto server handles requests in threads without a lock, so two conditional writes to one
# item can both pass their condition (seen with two workers taking the same free lease at the
# same moment). DynamoDB applies a conditional write atomically; tests of concurrent workers run
# moto with one request at a time, which gives them that guarantee.
_MOTO_ONE_REQUEST_AT_A_TIME = """
import sys
import threading
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main

_call, _lock = DomainDispatcherApplication.__call__, threading.Lock()

def one_at_a_time(self, environ, start_response):
    with _lock:
        return list(_call(self, environ, start_response))

DomainDispatcherApplication.__call__ = one_at_a_time
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""


@pytest.fixture
def aws(settings: Settings) -> Iterator[Settings]:
    with moto_server() as url:
        yield replace(settings, aws_endpoint_url=url)


@pytest.fixture
def aws_atomic(settings: Settings) -> Iterator[Settings]:
    with moto_server(command=[sys.executable, "-c", _MOTO_ONE_REQUEST_AT_A_TIME]) as url:
        yield replace(settings, aws_endpoint_url=url)


@pytest.fixture
def aws_resharding(settings: Settings) -> Iterator[Settings]:
    with moto_with_kinesis_resharding() as url:
        yield replace(settings, aws_endpoint_url=url)


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def event_bytes(i: int) -> bytes:
    return json.dumps({"event_id": f"sms-{i:07d}", "channel": "sms",
                       "sent_at": "2026-11-04T13:05:00Z", "from": "+15125550147",
                       "customer_id": None, "state": "TX", "text": f"no signal {i}",
                       "label": None}).encode()


def produce(kinesis: Kinesis, start: int, count: int, chunk: int = 100) -> list[str]:
    ids: list[str] = []
    for lo in range(start, start + count, chunk):
        entries = [(f"pk-{i}", event_bytes(i)) for i in range(lo, min(lo + chunk, start + count))]
        while entries:
            result = kinesis.put_records(STREAM, entries)
            entries = [entries[i] for i in result.failed]
        ids.extend(f"sms-{i:07d}" for i in range(lo, min(lo + chunk, start + count)))
    return ids


def stream_contents(kinesis: Kinesis) -> set[tuple[str, int, bytes]]:
    """Every record of every shard, read directly (the ground truth)."""
    found: set[tuple[str, int, bytes]] = set()
    for shard in kinesis.list_shards(STREAM):
        iterator: str | None = kinesis.shard_iterator(STREAM, shard.shard_id, None)
        while iterator:
            batch = kinesis.get_records(iterator, 1000)
            found.update((shard.shard_id, int(r.sequence_number), r.data) for r in batch.records)
            if not batch.records:
                break
            iterator = batch.next_iterator
    return found


def raw_files(settings: Settings) -> list[Path]:
    return sorted(p for p in (settings.zones.raw / "sms").rglob("*.jsonl")
                  if not p.name.startswith("."))


def raw_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def landed_records(settings: Settings) -> list[tuple[str, int, bytes]]:
    """All landed (shard, sequence, bytes), checking each file's name and partition."""
    found: list[tuple[str, int, bytes]] = []
    for path in raw_files(settings):
        lines = raw_lines(path)
        assert lines, path
        assert all(tuple(line) == RAW_STREAM_RECORD_FIELDS for line in lines)
        first, last = lines[0], lines[-1]
        assert path.name == raw_file_name(STREAM, first["shard_id"], first["sequence_number"],
                                          last["sequence_number"])
        arrival = datetime.fromisoformat(first["approximate_arrival"])
        assert path.parent.name == f"hour={arrival:%H}"
        assert path.parent.parent.name == f"ingest_date={arrival:%Y-%m-%d}"
        found.extend((line["shard_id"], int(line["sequence_number"]),
                      base64.b64decode(line["data_b64"])) for line in lines)
    return found


def assert_exactly_the_stream(settings: Settings, kinesis: Kinesis) -> None:
    """Raw holds each record of the stream in exactly one file: nothing lost, nothing doubled."""
    landed = landed_records(settings)
    truth = stream_contents(kinesis)
    assert len(landed) == len(set(landed)), "a record landed in two files"
    assert set(landed) == truth
    for shard_id in {s for s, _, _ in truth}:  # moto numbers each shard 1..n: no gaps
        seqs = sorted(q for s, q, _ in landed if s == shard_id)
        assert seqs == list(range(1, len(seqs) + 1)), shard_id


def event_ids(settings: Settings) -> list[str]:
    return [json.loads(data)["event_id"] for _, _, data in landed_records(settings)]


def snapshot(settings: Settings) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_ino) for p in raw_files(settings)}


class EventLog:
    def __init__(self) -> None:
        self.events: list[ConsumerEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: ConsumerEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: str, worker: str | None = None) -> list[ConsumerEvent]:
        with self._lock:
            return [e for e in self.events
                    if e.kind == kind and (worker is None or e.worker_id == worker)]


def run(aws: Settings, *, worker_id: str = "w1", stop: threading.Event | None = None,
        kinesis: Kinesis | None = None, on_event: Any = None, **options: Any) -> Any:
    """One consumer run on the test stream; ``options`` are ``ConsumerOptions`` fields."""
    options.setdefault("idle_exit_s", 1.5)
    options.setdefault("max_seconds", 60)
    options.setdefault("buffer_seconds", 0)  # a file per get_records batch, unless a test buffers
    return consume(aws, "sms", worker_id=worker_id, stop=stop, kinesis=kinesis,
                   on_event=on_event,
                   options=ConsumerOptions(stream=STREAM, lease_table=LEASES, **options))


def cli_consumer(aws: Settings, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **aws.to_env()}
    return subprocess.Popen(
        [sys.executable, "-m", "complaints.cli", "consume", "--source", "sms",
         "--stream", STREAM, "--lease-table", LEASES, *args],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


def test_lands_every_record_once_then_checkpoints_and_replays_identically(aws: Settings) -> None:
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 2)
    produced = produce(kinesis, 0, 200)

    stats = run(aws, batch_limit=37)
    assert sorted(event_ids(aws)) == sorted(produced)
    assert_exactly_the_stream(aws, kinesis)
    files = snapshot(aws)
    assert stats.records_landed == 200 and stats.files_written == len(files) > 2
    assert stats.exit_reason == "idle" and stats.leases_released == 2

    again = run(aws, batch_limit=37)
    assert again.records_landed == 0 and again.files_written == 0
    assert snapshot(aws) == files

    LeaseTable(DynamoDB(aws), LEASES).reset_checkpoints()
    replay = run(aws, batch_limit=50)  # another batch size: still the same files
    assert replay.records_landed == 200 and replay.files_written == len(files)
    rewritten = snapshot(aws)
    assert rewritten.keys() == files.keys()
    assert all(rewritten[p][0] == files[p][0] for p in files)  # identical bytes
    assert all(rewritten[p][1] != files[p][1] for p in files)  # really written again


def test_a_lease_table_of_another_stream_is_refused_not_read_past(aws: Settings) -> None:
    # Shard ids are the same in every stream: another stream's checkpoints (its sequence
    # numbers) would make this consumer skip records. The table says whose leases it holds.
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 1)
    kinesis.create_stream("other-sms", 1)
    produce(kinesis, 0, 50)
    assert run(aws).records_landed == 50
    with pytest.raises(LeaseTableOfAnotherStream, match=f"holds the leases of stream {STREAM}"):
        consume(aws, "sms", worker_id="w2", options=ConsumerOptions(
            stream="other-sms", lease_table=LEASES, idle_exit_s=1.5, max_seconds=60))
    assert {lease.get("stream") for lease in DynamoDB(aws).scan(LEASES)} == {STREAM}
    LeaseTable(DynamoDB(aws), LEASES).reset_checkpoints()  # an operator's replay keeps the name
    assert {lease.get("stream") for lease in DynamoDB(aws).scan(LEASES)} == {STREAM}
    # A table from before leases named their stream is not checked (nor stamped).
    legacy = LeaseTable(DynamoDB(aws), "legacy-leases")
    legacy.ensure_exists()
    legacy.ensure_shard("shardId-000000000000")
    assert consume(aws, "sms", worker_id="w3", options=ConsumerOptions(
        stream=STREAM, lease_table="legacy-leases", idle_exit_s=1.5, max_seconds=60,
        buffer_seconds=0)).records_landed == 50
    assert [lease.get("stream") for lease in DynamoDB(aws).scan("legacy-leases")] == [None]


def test_buffers_each_shard_up_to_a_size_then_lands_one_file(aws: Settings) -> None:
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 2)
    produced = produce(kinesis, 0, 400)
    limit = 20_000  # bytes of landed lines: about 45 records

    stats = run(aws, batch_limit=37, buffer_bytes=limit, buffer_seconds=60)
    assert stats.exit_reason == "idle"  # the idle exit landed what was still buffered
    assert sorted(event_ids(aws)) == sorted(produced)
    assert_exactly_the_stream(aws, kinesis)
    sizes: dict[str, list[int]] = {}
    for path in sorted(raw_files(aws), key=lambda p: int(p.name.split("__")[2].split("-")[0])):
        sizes.setdefault(path.name.split("__")[1], []).append(path.stat().st_size)
    line = 2 * max(len(p.read_text().splitlines()[0]) for p in raw_files(aws))  # > one line
    for per_shard in sizes.values():
        assert all(size <= limit for size in per_shard)  # a file never passes the size hint
        assert all(size > limit - line for size in per_shard[:-1])  # and is cut only there
    assert stats.files_written == sum(map(len, sizes.values()))


def test_buffer_older_than_the_lease_lands_by_age_and_on_stop(aws: Settings) -> None:
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 1)
    produced = produce(kinesis, 0, 30)
    log, stop = EventLog(), threading.Event()
    worker = threading.Thread(target=lambda: run(
        aws, stop=stop, on_event=log, buffer_seconds=2.5, lease_duration_s=1.0,
        idle_exit_s=None))
    worker.start()
    deadline = time.monotonic() + 15
    while not log.of("batch_landed") and time.monotonic() < deadline:
        time.sleep(0.05)
    (by_age,) = log.of("batch_landed")
    (taken,) = log.of("lease_taken")  # read from then on: the buffer started after it
    assert 2.5 <= (by_age.at_ms - taken.at_ms) / 1000 < 5.0  # waited its age, beyond the lease
    assert len(log.of("lease_renewed")) >= 2 and not log.of("lease_lost")
    produced += produce(kinesis, 30, 20)
    time.sleep(1.0)  # read and buffered, not yet due
    assert len(log.of("batch_landed")) == 1
    stop.set()  # stop lands the buffer before it returns
    worker.join(timeout=15)
    assert [e.detail["records"] for e in log.of("batch_landed")] == [30, 20]
    assert sorted(event_ids(aws)) == sorted(produced)
    assert_exactly_the_stream(aws, kinesis)


def test_crash_between_landing_and_checkpoint_rewrites_the_same_file(aws: Settings) -> None:
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 1)
    produced = produce(kinesis, 0, 100)
    run(aws, batch_limit=30)
    files = snapshot(aws)
    assert len(files) == 4  # 1-30, 31-60, 61-90, 91-100
    last_file = max(files, key=lambda p: int(p.name.rsplit("-", 1)[1].split(".")[0]))
    # the state a crash leaves after landing 91-100 and before checkpointing it
    shard_id = kinesis.list_shards(STREAM)[0].shard_id
    DynamoDB(aws).put_item(LEASES, {
        "shard_id": shard_id, "owner": "w1", "lease_expires": 0, "checkpoint": "90",
        "counter": 99})
    produced += produce(kinesis, 100, 50)

    stats = run(aws, batch_limit=30)
    assert stats.records_landed == 60  # 91-100 again (same file), then 101-150
    after = snapshot(aws)
    assert after[last_file][0] == files[last_file][0] and after[last_file][1] != files[last_file][1]
    assert len(after) == 4 + 2  # + 101-130, 131-150
    assert sorted(event_ids(aws)) == sorted(produced)
    assert_exactly_the_stream(aws, kinesis)


def _first_sequence(path: Path) -> int:
    return int(path.name.split("__")[2].split("-")[0])


def _crash_after(aws: Settings, kinesis: Kinesis, checkpoint: str) -> None:
    """The lease as a crash leaves it: files after ``checkpoint`` landed, never recorded."""
    shard_id = kinesis.list_shards(STREAM)[0].shard_id
    DynamoDB(aws).put_item(LEASES, {"shard_id": shard_id, "owner": "w1", "lease_expires": 0,
                                    "checkpoint": checkpoint, "counter": 99})


def test_restart_with_other_batch_and_buffer_settings_rewrites_the_same_files(
    aws: Settings,
) -> None:
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 1)
    produced = produce(kinesis, 0, 120)
    run(aws, batch_limit=30, buffer_bytes=6_000, idle_exit_s=0.8)  # ~14 records a file
    files = snapshot(aws)
    ordered = sorted(files, key=_first_sequence)
    assert len(ordered) >= 6
    unrecorded = ordered[2:]
    _crash_after(aws, kinesis, str(_first_sequence(unrecorded[0]) - 1))
    produced += produce(kinesis, 120, 60)

    stats = run(aws, batch_limit=7, buffer_bytes=10**6, buffer_seconds=60, idle_exit_s=0.8)
    after = snapshot(aws)
    assert all(after[p][0] == files[p][0] for p in files)  # same names, same bytes
    assert [p for p in ordered if after[p][1] != files[p][1]] == unrecorded  # rewritten
    (new,) = after.keys() - files.keys()  # the 60 new records: one buffer
    assert len(raw_lines(new)) == 60
    assert stats.records_landed == sum(len(raw_lines(p)) for p in unrecorded) + 60
    assert sorted(event_ids(aws)) == sorted(produced)
    assert_exactly_the_stream(aws, kinesis)

    # a checkpoint inside a landed file (e.g. the retention fallback): that file's records are
    # in raw already and are skipped; the files after it are rewritten as they are
    inside = ordered[3]
    _crash_after(aws, kinesis, str(_first_sequence(inside) + 2))
    stats = run(aws, batch_limit=50, buffer_seconds=0, idle_exit_s=0.8)
    assert snapshot(aws).keys() == after.keys()
    assert stats.records_landed == 180 - int(inside.name.split("-")[-1].split(".")[0])
    assert_exactly_the_stream(aws, kinesis)


def test_sigkilled_consumer_restarts_without_loss_or_overlapping_files(
    aws: Settings, events: int = 3000, kills: int = 6, seed: int = 11
) -> None:
    events = int(os.environ.get("COMPLAINTS_CONSUMER_CRASH_EVENTS", events))
    kills = int(os.environ.get("COMPLAINTS_CONSUMER_CRASH_KILLS", kills))
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 3)
    rng = random.Random(seed)
    produced: list[str] = []

    def producer_loop() -> None:
        for lo in range(0, events, 50):
            produced.extend(produce(kinesis, lo, min(50, events - lo)))
            time.sleep(0.02)

    producer = threading.Thread(target=producer_loop)
    producer.start()
    for _ in range(kills):
        process = cli_consumer(aws, "--worker-id", "crashy", "--batch-limit", "40",
                               "--lease-seconds", "5", "--buffer-mb", "0.01",
                               "--buffer-seconds", "0.3")
        time.sleep(rng.uniform(1.5, 3.0))  # start-up takes a second or two
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
    producer.join(timeout=60)
    assert not producer.is_alive()
    landed_by_killed_consumers = len(raw_files(aws))
    assert landed_by_killed_consumers > 0

    final = run(aws, worker_id="crashy", batch_limit=40, lease_duration_s=5)
    ids = event_ids(aws)
    assert len(produced) == events
    assert sorted(ids) == sorted(produced)  # every event, once
    assert_exactly_the_stream(aws, kinesis)
    assert final.exit_reason == "idle"


def test_split_and_merge_read_parents_before_children(aws_resharding: Settings) -> None:
    aws = aws_resharding
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 2)
    produce(kinesis, 0, 300)
    log = EventLog()
    worker = threading.Thread(target=lambda: run(aws, batch_limit=15, idle_exit_s=3,
                                                 on_event=log))
    worker.start()
    deadline = time.monotonic() + 20
    while not log.of("batch_landed") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.of("batch_landed")

    parent = next(s for s in kinesis.list_shards(STREAM) if s.shard_id.endswith("0"))
    kinesis.split_shard(STREAM, parent.shard_id,
                        (parent.starting_hash_key + parent.ending_hash_key) // 2)
    produce(kinesis, 300, 200)
    children = [s for s in kinesis.list_shards(STREAM) if s.parents == (parent.shard_id,)]
    assert len(children) == 2
    kinesis.merge_shards(STREAM, children[0].shard_id, children[1].shard_id)
    produce(kinesis, 500, 200)
    worker.join(timeout=60)
    assert not worker.is_alive()

    assert_exactly_the_stream(aws, kinesis)
    shards = kinesis.list_shards(STREAM)
    merged = [s for s in shards if len(s.parents) == 2]
    assert len(merged) == 1 and set(merged[0].parents) == {c.shard_id for c in children}
    leases = LeaseTable(DynamoDB(aws), LEASES).all()
    order = {id(e): i for i, e in enumerate(log.events)}
    for shard in shards:
        if not shard.parents:
            continue
        first_landed = min(order[id(e)] for e in log.of("batch_landed") if e.shard_id ==
                           shard.shard_id)
        for parent_id in shard.parents:
            assert leases[parent_id].checkpoint == SHARD_END
            ended = [order[id(e)] for e in log.of("shard_end") if e.shard_id == parent_id]
            assert len(ended) == 1 and ended[0] < first_landed, (parent_id, shard.shard_id)


def held_intervals(log: EventLog) -> dict[str, list[tuple[str, int, int]]]:
    """Per shard, (worker, from, to) epoch-ms intervals a worker read it: from taking it (a
    stolen lease: from when it may read) to its release/loss, or to the last expiry it renewed
    to when it just stopped (died)."""
    intervals: dict[str, list[tuple[str, int, int]]] = {}
    open_: dict[tuple[str, str], tuple[int, int]] = {}
    for e in sorted(log.events, key=lambda e: e.at_ms):
        key = (e.worker_id, e.shard_id)
        if e.kind == "lease_taken":
            open_[key] = (e.detail["reads_from_ms"], e.detail["expires_ms"])
        elif e.kind == "lease_renewed" and key in open_:
            open_[key] = (open_[key][0], e.detail["expires_ms"])
        elif e.kind in ("lease_released", "lease_lost") and key in open_:
            start, expires = open_.pop(key)
            intervals.setdefault(e.shard_id, []).append((e.worker_id, start, min(e.at_ms,
                                                                                 expires)))
    for (worker, shard_id), (start, expires) in open_.items():
        intervals.setdefault(shard_id, []).append((worker, start, expires))
    return intervals


def assert_no_shard_read_by_two(log: EventLog) -> None:
    for shard_id, spans in held_intervals(log).items():
        spans.sort(key=lambda s: s[1])
        for (w1, _, end1), (w2, start2, _) in zip(spans, spans[1:], strict=False):
            assert w1 == w2 or start2 > end1, (shard_id, spans)


def lease_counts(aws: Settings) -> list[int]:
    """Shards per live worker, as the lease table says (sorted)."""
    at = int(time.time() * 1000)
    if LEASES not in DynamoDB(aws).table_names():
        return []
    owners = [lease.owner for lease in LeaseTable(DynamoDB(aws), LEASES).all().values()
              if lease.owner and lease.lease_expires >= at]
    return sorted(owners.count(o) for o in set(owners))


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_lease_taker_plan_follows_the_kcl_rules() -> None:
    def leases(*owners: str, expires: int = 10_000, start: int = 0) -> list[Lease]:
        return [Lease(f"s{i}", o, expires if o else 0, "", 1)
                for i, o in enumerate(owners, start)]

    def plan(readable: list[Lease], me: str, **kw: Any) -> Any:
        held = {lease.shard_id for lease in readable if lease.owner == me}
        return plan_takes(readable, me, held, 5_000, rng=random.Random(1), **kw)

    alone = plan(leases("", "", "", ""), "a")
    assert alone.target == 4 and len(alone.take) == 4
    assert len(plan(leases("", "", "", ""), "a", max_leases=3).take) == 3
    joined = plan(leases("a", "a", "a", "a"), "b")  # no free lease: steal one, not two
    assert joined.target == 2 and not joined.take and joined.steal is not None
    assert joined.steal.owner == "a"
    third = plan(leases("a", "a", "b", "b"), "c")  # needs 2, most loaded at target: steal 1
    assert third.target == 2 and third.steal is not None
    assert plan(leases("a", "a", "b", "c"), "c").steal is None  # 2/1/1 is fair
    assert plan(leases("a", "a", "b", "b"), "a").take == []  # at target: nothing to do
    dead = plan(leases("a", "a", "c", "c") + leases("b", "b", expires=1, start=4), "a")  # b expired
    assert dead.target == 3 and len(dead.take) == 1 and dead.steal is None
    mine = plan(leases("a", "", "", ""), "a")  # a restarted: its own lease, not read yet
    assert {lease.shard_id for lease in plan_takes(
        leases("a", "", "", ""), "a", set(), 5_000).take} == {"s0", "s1", "s2", "s3"}
    assert len(mine.take) == 3


def share_join_and_die(aws: Settings, log: EventLog, worker: Any,
                       stops: dict[str, threading.Event]) -> None:
    """a and b start together (2/2 of 4 shards), c joins (2/1/1), c dies (2/2 again)."""
    worker("a"), worker("b")
    assert wait_for(lambda: lease_counts(aws) == [2, 2], 15), lease_counts(aws)
    c = worker("c", release_on_stop=False)  # needs 2, steals 1 (2/1/1)
    assert wait_for(lambda: lease_counts(aws) == [1, 1, 2], 15), lease_counts(aws)
    assert wait_for(lambda: log.of("batch_landed", "c"), 10)
    stolen = [e for e in log.of("lease_taken") if e.detail["stolen"]]
    assert stolen and all(e.detail["reads_from_ms"] > e.at_ms for e in stolen)
    assert wait_for(lambda: {e.shard_id for e in log.of("lease_lost")} >=
                    {e.shard_id for e in stolen}, 5)  # the old owners noticed
    stops["c"].set()  # dies holding its shard; its buffer is lost, its lease left to expire
    c.join(timeout=10)
    c_expires = max(e.detail["expires_ms"] for e in log.events
                    if e.worker_id == "c" and "expires_ms" in e.detail)
    assert wait_for(lambda: lease_counts(aws) == [2, 2], 15), lease_counts(aws)
    taken_over = [e for e in log.of("lease_taken") if e.detail["previous_owner"] == "c"]
    assert taken_over and all(e.at_ms > c_expires for e in taken_over)


def test_workers_share_shards_fairly_as_they_join_and_die(aws_atomic: Settings) -> None:
    aws = aws_atomic
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 4)
    log = EventLog()
    produced: list[str] = []
    producing = threading.Event()
    producing.set()

    def producer_loop() -> None:
        while producing.is_set():
            produced.extend(produce(kinesis, len(produced), 20))
            time.sleep(0.1)

    stops = {w: threading.Event() for w in "abc"}
    stats: dict[str, Any] = {}
    threads: list[threading.Thread] = []

    def worker(name: str, **options: Any) -> threading.Thread:
        thread = threading.Thread(target=lambda: stats.update({name: run(
            aws, worker_id=name, stop=stops[name], on_event=log, idle_exit_s=None,
            lease_duration_s=2, buffer_seconds=0.5, batch_limit=25, **options)}))
        thread.start()
        threads.append(thread)
        return thread

    feeder = threading.Thread(target=producer_loop)
    feeder.start()
    try:
        share_join_and_die(aws, log, worker, stops)
        producing.clear()
        feeder.join(timeout=10)
        assert wait_for(lambda: len(landed_records(aws)) >= len(produced), 20)
    finally:
        producing.clear()
        for stop in stops.values():
            stop.set()
    for thread in (feeder, *threads):
        thread.join(timeout=15)
    assert sorted(event_ids(aws)) == sorted(produced)  # every event once, throughout
    assert_exactly_the_stream(aws, kinesis)
    assert_no_shard_read_by_two(log)
    assert stats["a"].leases_stolen + stats["b"].leases_stolen + stats["c"].leases_stolen >= 1


class FaultyClient:
    """The Kinesis boto3 client with errors injected on chosen calls."""

    def __init__(self, client: Any, get_records_faults: dict[int, str],
                 invalid_after_sequence: int = 0) -> None:
        self._client = client
        self._faults = get_records_faults
        self._invalid_after_sequence = invalid_after_sequence
        self.get_records_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_records(self, **kwargs: Any) -> Any:
        self.get_records_calls += 1
        code = self._faults.get(self.get_records_calls)
        if code:
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "GetRecords")
        return self._client.get_records(**kwargs)

    def get_shard_iterator(self, **kwargs: Any) -> Any:
        if kwargs["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER" and \
                self._invalid_after_sequence > 0:
            self._invalid_after_sequence -= 1
            raise ClientError({"Error": {"Code": "InvalidArgumentException",
                                         "Message": "injected: sequence trimmed"}},
                              "GetShardIterator")
        return self._client.get_shard_iterator(**kwargs)


def test_recovers_from_expired_iterator_throttling_and_trimmed_checkpoint(
    aws: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 2)
    produced = produce(kinesis, 0, 150)
    boto = kinesis._client  # noqa: SLF001  (the wrapper's client, wrapped by the fault proxy)

    faulty = FaultyClient(boto, {3: "ExpiredIteratorException",
                                 5: "ProvisionedThroughputExceededException",
                                 6: "ProvisionedThroughputExceededException"})
    stats = run(aws, batch_limit=20, kinesis=Kinesis(aws, client=faulty))
    assert (stats.expired_iterators, stats.throttled) == (1, 2)
    assert stats.records_landed == 150
    assert sorted(event_ids(aws)) == sorted(produced)

    produced += produce(kinesis, 150, 100)
    trimmed = FaultyClient(boto, {}, invalid_after_sequence=1)
    with caplog.at_level("WARNING", logger="streaming.consumer"):
        stats = run(aws, batch_limit=20, kinesis=Kinesis(aws, client=trimmed))
    assert stats.retention_fallbacks == 1 and stats.records_landed == 100
    assert "falling back to TRIM_HORIZON" in caplog.text
    assert sorted(event_ids(aws)) == sorted(produced)
    assert_exactly_the_stream(aws, kinesis)


def test_sigterm_finishes_the_batch_checkpoints_and_exits_zero(aws: Settings) -> None:
    kinesis = Kinesis(aws)
    kinesis.create_stream(STREAM, 2)
    produce(kinesis, 0, 3000)
    process = cli_consumer(aws, "--worker-id", "term", "--batch-limit", "5",
                           "--buffer-seconds", "0")
    deadline = time.monotonic() + 30
    while not raw_files(aws) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert raw_files(aws), "the consumer landed nothing"
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    stats = json.loads(out)
    assert stats["exit_reason"] == "stop" and 0 < stats["records_landed"] < 3000

    landed = landed_records(aws)
    assert len(landed) == stats["records_landed"] == len(set(landed))
    leases = LeaseTable(DynamoDB(aws), LEASES).all()
    for shard_id, lease in leases.items():
        assert lease.owner == ""  # released
        last = max((q for s, q, _ in landed if s == shard_id), default=None)
        assert lease.checkpoint == ("" if last is None else str(last))
