"""Thin typed wrapper over boto3's Kinesis client: one method per Kinesis call the pipeline makes.

The same code talks to AWS or to the local emulator (``Settings.aws_endpoint_url``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3

from complaints.settings import Settings


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_shard_id: str | None
    adjacent_parent_shard_id: str | None
    starting_hash_key: int
    ending_hash_key: int
    starting_sequence: str
    ending_sequence: str | None  # set once the shard is closed (after a split or merge)

    @property
    def closed(self) -> bool:
        return self.ending_sequence is not None

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(p for p in (self.parent_shard_id, self.adjacent_parent_shard_id) if p)


@dataclass(frozen=True)
class StreamRecord:
    sequence_number: str
    approximate_arrival: datetime
    partition_key: str
    data: bytes


@dataclass(frozen=True)
class RecordBatch:
    records: tuple[StreamRecord, ...]
    next_iterator: str | None  # None once a closed shard is fully read
    millis_behind_latest: int | None
    child_shards: tuple[str, ...]


@dataclass(frozen=True)
class PutResult:
    failed: tuple[int, ...]  # indexes of entries Kinesis did not accept (retry those only)
    errors: tuple[str, ...]


def _shard(raw: dict[str, Any]) -> Shard:
    hashes = raw["HashKeyRange"]
    seqs = raw["SequenceNumberRange"]
    return Shard(
        shard_id=raw["ShardId"],
        parent_shard_id=raw.get("ParentShardId"),
        adjacent_parent_shard_id=raw.get("AdjacentParentShardId"),
        starting_hash_key=int(hashes["StartingHashKey"]),
        ending_hash_key=int(hashes["EndingHashKey"]),
        starting_sequence=seqs["StartingSequenceNumber"],
        ending_sequence=seqs.get("EndingSequenceNumber"),
    )


class Kinesis:
    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        if client is None:
            kwargs: dict[str, Any] = {"region_name": settings.aws_region}
            if settings.aws_endpoint_url:
                kwargs.update(endpoint_url=settings.aws_endpoint_url,
                              aws_access_key_id="local", aws_secret_access_key="local")
            client = boto3.client("kinesis", **kwargs)
        self._client = client

    def create_stream(self, name: str, shards: int) -> None:
        self._client.create_stream(StreamName=name, ShardCount=shards)
        self._client.get_waiter("stream_exists").wait(StreamName=name)

    def stream_names(self) -> list[str]:
        return list(self._client.list_streams().get("StreamNames", []))

    def retention_hours(self, stream: str) -> int:
        summary = self._client.describe_stream_summary(StreamName=stream)
        return int(summary["StreamDescriptionSummary"]["RetentionPeriodHours"])

    def list_shards(self, stream: str) -> list[Shard]:
        shards: list[Shard] = []
        response = self._client.list_shards(StreamName=stream)
        shards.extend(_shard(s) for s in response["Shards"])
        while response.get("NextToken"):
            response = self._client.list_shards(NextToken=response["NextToken"])
            shards.extend(_shard(s) for s in response["Shards"])
        return shards

    def put_records(self, stream: str, entries: Sequence[tuple[str, bytes]]) -> PutResult:
        """``entries`` are (partition key, data); returns which entries failed."""
        response = self._client.put_records(
            StreamName=stream,
            Records=[{"PartitionKey": key, "Data": data} for key, data in entries],
        )
        failed = tuple(i for i, r in enumerate(response["Records"]) if "ErrorCode" in r)
        errors = tuple(str(response["Records"][i].get("ErrorCode")) for i in failed)
        return PutResult(failed, errors)

    def shard_iterator(self, stream: str, shard_id: str, after_sequence: str | None) -> str:
        """Iterator just after ``after_sequence`` (a checkpoint), else at the oldest record."""
        kwargs: dict[str, Any] = {"StreamName": stream, "ShardId": shard_id}
        if after_sequence:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                          StartingSequenceNumber=after_sequence)
        else:
            kwargs.update(ShardIteratorType="TRIM_HORIZON")
        return str(self._client.get_shard_iterator(**kwargs)["ShardIterator"])

    def get_records(self, iterator: str, limit: int = 1000) -> RecordBatch:
        response = self._client.get_records(ShardIterator=iterator, Limit=limit)
        return RecordBatch(
            records=tuple(
                StreamRecord(r["SequenceNumber"], r["ApproximateArrivalTimestamp"],
                             r["PartitionKey"], bytes(r["Data"]))
                for r in response["Records"]
            ),
            next_iterator=response.get("NextShardIterator"),
            millis_behind_latest=response.get("MillisBehindLatest"),
            child_shards=tuple(c["ShardId"] for c in response.get("ChildShards", [])),
        )

    def split_shard(self, stream: str, shard_id: str, new_starting_hash_key: int) -> None:
        self._client.split_shard(StreamName=stream, ShardToSplit=shard_id,
                                 NewStartingHashKey=str(new_starting_hash_key))

    def merge_shards(self, stream: str, shard_id: str, adjacent_shard_id: str) -> None:
        self._client.merge_shards(StreamName=stream, ShardToMerge=shard_id,
                                  AdjacentShardToMerge=adjacent_shard_id)
