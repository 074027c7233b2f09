"""Shard leases in DynamoDB: which worker reads which shard, and how far it has read.

One item per shard (partition key ``shard_id``)::

    {"shard_id": "shardId-000000000001", "owner": "worker-a" | "", "lease_expires": <epoch ms>,
     "checkpoint": "<sequence number>" | "SHARD_END" | "", "counter": <int>}

Every change is a conditional write, so two workers never hold the same shard at once:

* **take** -- only if ``counter`` is still the value the taker read *and* the lease is free
  (no owner), already the taker's, or expired (``lease_expires`` < now). A dead worker's
  leases are taken over this way once they expire.
* **steal** -- only if ``counter`` and ``owner`` are still what the thief read (fair sharing,
  below): the owner's next renew or checkpoint fails, and it drops the shard.
* **renew** / **release** -- only while ``owner`` is still this worker and ``counter`` unchanged.
* **checkpoint** -- only while ``owner`` is this worker and the lease has not expired, so a worker
  that lost its lease cannot move a checkpoint (the new owner re-reads from the old one).

``counter`` increases on every take, steal, renew and release. Times are epoch milliseconds.

**Fair sharing** (:func:`plan_takes`, the Kinesis Client Library's lease taker): live workers are
the owners of unexpired leases, plus oneself; each aims at ``target = ceil(leases / workers)``
(1 when there are as many workers as leases), capped by ``max_leases``. A worker below target
takes free or expired leases first; when there are none it steals one lease per sync from the
most loaded worker, if that one holds more than the target, or exactly the target while the thief
needs more than one (so 4 shards on 3 workers settle at 2/1/1).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from common.aws import DynamoDB

log = logging.getLogger(__name__)

SHARD_END = "SHARD_END"
NO_CHECKPOINT = ""
NO_OWNER = ""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Lease:
    shard_id: str
    owner: str
    lease_expires: int
    checkpoint: str
    counter: int

    @property
    def finished(self) -> bool:
        return self.checkpoint == SHARD_END

    def expired(self, at_ms: int) -> bool:
        return self.lease_expires < at_ms

    def free_for(self, worker_id: str, at_ms: int) -> bool:
        return self.owner in (NO_OWNER, worker_id) or self.expired(at_ms)


@dataclass(frozen=True)
class TakePlan:
    """What a worker does at a sync to reach its fair share."""

    target: int
    take: list[Lease] = field(default_factory=list)
    steal: Lease | None = None


def plan_takes(readable: Sequence[Lease], me: str, held: set[str], at_ms: int,
               max_leases: int | None = None, rng: random.Random | None = None) -> TakePlan:
    """The KCL lease taker's choice: leases to take (free, expired, or ours but not read), or
    else at most one to steal from the most loaded worker. Shuffled, so workers that sync at the
    same moment seldom race for the same lease (the loser's conditional write just fails)."""
    rng = rng or random.Random()
    if not readable:
        return TakePlan(target=0)
    counts = Counter(lease.owner for lease in readable
                     if lease.owner not in (NO_OWNER, me) and not lease.expired(at_ms))
    mine = sum(1 for lease in readable if lease.shard_id in held)
    workers = len(counts) + 1
    target = 1 if workers >= len(readable) else math.ceil(len(readable) / workers)
    if max_leases is not None:
        target = min(target, max_leases)
    needed = target - mine
    if needed <= 0:
        return TakePlan(target)
    available = [lease for lease in readable if lease.shard_id not in held and (
        lease.owner in (NO_OWNER, me) or lease.expired(at_ms))]
    if available:
        rng.shuffle(available)
        return TakePlan(target, take=available[:needed])
    return TakePlan(target, steal=_lease_to_steal(readable, counts, target, needed, rng))


def _lease_to_steal(readable: Sequence[Lease], counts: Counter[str], target: int, needed: int,
                    rng: random.Random) -> Lease | None:
    if not counts:
        return None
    loaded, most = max(sorted(counts.items()), key=lambda item: item[1])
    if most < target or (most == target and needed < 2):
        return None
    return rng.choice([lease for lease in readable if lease.owner == loaded])


def _lease(item: dict[str, Any]) -> Lease:
    return Lease(
        shard_id=str(item["shard_id"]),
        owner=str(item.get("owner", NO_OWNER)),
        lease_expires=int(item.get("lease_expires", 0)),
        checkpoint=str(item.get("checkpoint", NO_CHECKPOINT)),
        counter=int(item.get("counter", 0)),
    )


class LeaseTableOfAnotherStream(ValueError):
    """The lease table holds another stream's leases: its checkpoints are sequence numbers of
    that stream, and the shard ids would match (every stream's are shardId-000000000000, ...)."""


class LeaseTable:
    """The lease table of one stream's consumers (one method per lease operation). Each lease
    names its stream (``stream``), so a consumer of another stream pointed at the table refuses
    to start instead of skipping records below that stream's checkpoints."""

    def __init__(self, dynamodb: DynamoDB, name: str, stream: str | None = None) -> None:
        self._db = dynamodb
        self.name = name
        self.stream = stream

    def _stamp(self) -> dict[str, str]:
        return {"stream": self.stream} if self.stream is not None else {}

    def check_stream(self) -> None:
        """Raise ``LeaseTableOfAnotherStream`` when a lease names another stream than ours. A
        table with leases written before leases named their stream cannot be checked: it is
        left as it is (not checked, and no new lease of it names a stream, which would lock
        its own stream's consumers out if a consumer of another stream came first)."""
        if self.stream is None:
            return
        items = self._db.scan(self.name)
        if any("stream" not in item for item in items):
            log.warning("lease table %s predates stream names in leases: not checked against "
                        "stream %s", self.name, self.stream)
            self.stream = None
            return
        others = sorted({str(item["stream"]) for item in items if item["stream"] != self.stream})
        if others:
            raise LeaseTableOfAnotherStream(
                f"lease table {self.name} holds the leases of stream {others[0]}, not of "
                f"{self.stream}: give this stream's consumers their own table (--lease-table)")

    def ensure_exists(self) -> None:
        if self.name not in self._db.table_names():
            try:
                self._db.create_table(self.name, "shard_id", None)
            except Exception:  # another worker created it first
                if self.name not in self._db.table_names():
                    raise

    def ensure_shard(self, shard_id: str) -> None:
        """Add the shard's item (no owner, no checkpoint) unless it is already there."""
        self._db.put_item(
            self.name,
            {"shard_id": shard_id, "owner": NO_OWNER, "lease_expires": 0,
             "checkpoint": NO_CHECKPOINT, "counter": 0, **self._stamp()},
            condition="attribute_not_exists(shard_id)",
        )

    def all(self) -> dict[str, Lease]:
        return {lease.shard_id: lease for lease in map(_lease, self._db.scan(self.name))}

    def get(self, shard_id: str) -> Lease | None:
        item = self._db.get_item(self.name, {"shard_id": shard_id})
        return _lease(item) if item else None

    def take(self, seen: Lease, worker_id: str, duration_ms: int) -> Lease | None:
        """Take ``seen`` (as read) if it is free, ours or expired and unchanged since."""
        at = now_ms()
        item = self._db.update_item(
            self.name, {"shard_id": seen.shard_id},
            "SET #o = :me, lease_expires = :exp, #c = #c + :one",
            "#c = :seen AND (#o = :none OR #o = :me OR lease_expires < :now)",
            {":me": worker_id, ":exp": at + duration_ms, ":one": 1,
             ":seen": seen.counter, ":none": NO_OWNER,
             ":now": at},
            names={"#o": "owner", "#c": "counter"},
        )
        return _lease(item) if item else None

    def steal(self, seen: Lease, worker_id: str, duration_ms: int) -> Lease | None:
        """Take ``seen`` from its live owner if neither owner nor counter changed since read."""
        item = self._db.update_item(
            self.name, {"shard_id": seen.shard_id},
            "SET #o = :me, lease_expires = :exp, #c = #c + :one",
            "#c = :seen AND #o = :owner",
            {":me": worker_id, ":exp": now_ms() + duration_ms, ":one": 1,
             ":seen": seen.counter, ":owner": seen.owner},
            names={"#o": "owner", "#c": "counter"},
        )
        return _lease(item) if item else None

    def renew(self, held: Lease, duration_ms: int) -> Lease | None:
        """Extend our lease; None when it was taken over (we must stop reading the shard)."""
        at = now_ms()
        item = self._db.update_item(
            self.name, {"shard_id": held.shard_id},
            "SET lease_expires = :exp, #c = #c + :one",
            "#o = :me AND #c = :held AND lease_expires >= :now",
            {":me": held.owner, ":exp": at + duration_ms, ":one": 1,
             ":held": held.counter, ":now": at},
            names={"#o": "owner", "#c": "counter"},
        )
        return _lease(item) if item else None

    def checkpoint(self, held: Lease, sequence: str) -> Lease | None:
        """Record ``sequence`` (or SHARD_END) as read and landed; None if the lease was lost."""
        item = self._db.update_item(
            self.name, {"shard_id": held.shard_id},
            "SET checkpoint = :cp",
            "#o = :me AND #c = :held AND lease_expires >= :now",
            {":me": held.owner, ":cp": sequence, ":held": held.counter,
             ":now": now_ms()},
            names={"#o": "owner", "#c": "counter"},
        )
        return _lease(item) if item else None

    def release(self, held: Lease) -> bool:
        item = self._db.update_item(
            self.name, {"shard_id": held.shard_id},
            "SET #o = :none, lease_expires = :zero, #c = #c + :one",
            "#o = :me AND #c = :held",
            {":me": held.owner, ":none": NO_OWNER, ":zero": 0,
             ":one": 1, ":held": held.counter},
            names={"#o": "owner", "#c": "counter"},
        )
        return item is not None

    def reset_checkpoints(self) -> None:
        """Forget every checkpoint and owner (a replay from the oldest record); for operators."""
        for item in self._db.scan(self.name):
            lease = _lease(item)
            self._db.put_item(
                self.name,
                {"shard_id": lease.shard_id, "owner": NO_OWNER,
                 "lease_expires": 0, "checkpoint": NO_CHECKPOINT,
                 "counter": lease.counter + 1,
                 **({"stream": item["stream"]} if "stream" in item else {})},
            )
