"""AWS access for every stage: one client factory, one retry configuration, one typed wrapper
per service (one method per AWS call the pipeline makes).

The same code talks to AWS or to the local emulator; only the endpoint differs
(``Settings.aws_endpoint_url``; with an endpoint, dummy credentials are used, so no AWS account is
needed locally). Items cross the DynamoDB wrapper as plain Python values (str, int, Decimal, bool,
None, dict, list, set): boto3's ``TypeSerializer`` / ``TypeDeserializer`` do the DynamoDB JSON,
and bulk writes go through ``batch_writer``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from common.settings import Settings

# botocore retries throttling, 5xx and connection errors itself (standard mode, with jitter); the
# stream consumer adds its own backoff on top for reads that stay throttled.
RETRY_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=5,
    read_timeout=60,
)
# Error codes that mean "slow down and try again", of every service the pipeline calls.
THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException",
    "Throttling", "KMSThrottlingException", "RequestLimitExceeded", "InternalFailure",
    "ServiceUnavailable",
})
_FACTORY_LOCK = threading.Lock()  # boto3 sessions are not safe to create from several threads


class AwsUnreachable(RuntimeError):
    """The configured AWS endpoint does not answer (the local emulator is not running)."""


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_throttling(error: ClientError) -> bool:
    return error_code(error) in THROTTLING_CODES


def _connection_args(settings: Settings) -> dict[str, Any]:
    args: dict[str, Any] = {"region_name": settings.aws_region, "config": RETRY_CONFIG}
    if settings.aws_endpoint_url:
        args.update(endpoint_url=settings.aws_endpoint_url, aws_access_key_id="local",
                    aws_secret_access_key="local")
    return args


def aws_client(service: str, settings: Settings) -> Any:
    """A boto3 client of ``service`` for these settings (own session: safe across threads)."""
    with _FACTORY_LOCK:
        return boto3.session.Session().client(service, **_connection_args(settings))  # type: ignore[call-overload]


def aws_resource(service: str, settings: Settings) -> Any:
    with _FACTORY_LOCK:
        return boto3.session.Session().resource(service, **_connection_args(settings))  # type: ignore[call-overload]


def check_reachable(settings: Settings, timeout_s: float = 2.0) -> None:
    """Raise ``AwsUnreachable`` when an endpoint is configured and nothing listens there."""
    if not settings.aws_endpoint_url:
        return
    url = urlparse(settings.aws_endpoint_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", port), timeout=timeout_s):
            return
    except OSError as exc:
        raise AwsUnreachable(
            f"nothing answers at COMPLAINTS_AWS_ENDPOINT_URL={settings.aws_endpoint_url} "
            f"({exc.strerror or exc}); start the local emulator with `complaints emulator start`"
            " or point COMPLAINTS_AWS_ENDPOINT_URL at a running one"
        ) from exc


# ------------------------------------------------------------------------------------------------
# DynamoDB
# ------------------------------------------------------------------------------------------------

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_dynamodb_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain item as DynamoDB JSON (``{"attr": {"S": "..."}}``)."""
    return {k: _SERIALIZER.serialize(v) for k, v in item.items()}


def from_dynamodb_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB JSON item as plain values (N as Decimal, SS as set, NULL as None)."""
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


@dataclass(frozen=True)
class ExportStatus:
    arn: str
    status: str  # IN_PROGRESS | COMPLETED | FAILED
    item_count: int | None
    s3_bucket: str
    s3_prefix: str
    export_time: datetime | None
    failure: str | None


class DynamoDB:
    def __init__(self, settings: Settings) -> None:
        self._resource = aws_resource("dynamodb", settings)
        self._client = self._resource.meta.client
        self._conditional_failed = self._client.exceptions.ConditionalCheckFailedException

    def create_table(self, name: str, partition_key: str, sort_key: str | None) -> None:
        keys = [{"AttributeName": partition_key, "KeyType": "HASH"}]
        attrs = [{"AttributeName": partition_key, "AttributeType": "S"}]
        if sort_key:
            keys.append({"AttributeName": sort_key, "KeyType": "RANGE"})
            attrs.append({"AttributeName": sort_key, "AttributeType": "S"})
        self._client.create_table(
            TableName=name, KeySchema=keys, AttributeDefinitions=attrs,
            BillingMode="PAY_PER_REQUEST",
        )
        self._client.get_waiter("table_exists").wait(TableName=name)

    def table_names(self) -> list[str]:
        names: list[str] = []
        for page in self._client.get_paginator("list_tables").paginate():
            names.extend(page["TableNames"])
        return names

    def table_arn(self, name: str) -> str:
        return str(self._client.describe_table(TableName=name)["Table"]["TableArn"])

    def put_items(self, name: str, items: Iterable[Mapping[str, Any]]) -> int:
        """Write plain items in bulk (``batch_writer``: batches of 25, unprocessed ones resent)."""
        written = 0
        with self._resource.Table(name).batch_writer() as batch:
            for item in items:
                batch.put_item(Item=dict(item))
                written += 1
        return written

    def enable_point_in_time_recovery(self, name: str) -> None:
        self._client.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )

    def export_table_to_point_in_time(
        self, table_arn: str, bucket: str, prefix: str, client_token: str
    ) -> str:
        response = self._client.export_table_to_point_in_time(
            TableArn=table_arn, S3Bucket=bucket, S3Prefix=prefix,
            ExportFormat="DYNAMODB_JSON", ClientToken=client_token,
        )
        return str(response["ExportDescription"]["ExportArn"])

    def export_table_changes(
        self, table_arn: str, bucket: str, prefix: str, client_token: str,
        start: datetime, end: datetime,
    ) -> str:
        """An incremental export: the changes made from ``start`` (inclusive) to ``end``
        (exclusive), with their new and old images."""
        response = self._client.export_table_to_point_in_time(
            TableArn=table_arn, S3Bucket=bucket, S3Prefix=prefix,
            ExportFormat="DYNAMODB_JSON", ClientToken=client_token,
            ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={"ExportFromTime": start, "ExportToTime": end,
                                            "ExportViewType": "NEW_AND_OLD_IMAGES"},
        )
        return str(response["ExportDescription"]["ExportArn"])

    def describe_export(self, export_arn: str) -> ExportStatus:
        d = self._client.describe_export(ExportArn=export_arn)["ExportDescription"]
        return ExportStatus(
            arn=export_arn,
            status=d["ExportStatus"],
            item_count=d.get("ItemCount"),
            s3_bucket=d["S3Bucket"],
            s3_prefix=d.get("S3Prefix") or "",
            export_time=d.get("ExportTime"),
            failure=d.get("FailureMessage"),
        )

    def put_item(self, name: str, item: Mapping[str, Any], condition: str | None = None,
                 values: Mapping[str, Any] | None = None) -> bool:
        """Put a plain item; False (nothing written) when ``condition`` does not hold."""
        kwargs: dict[str, Any] = {"Item": dict(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = dict(values)
        try:
            self._resource.Table(name).put_item(**kwargs)
        except self._conditional_failed:
            return False
        return True

    def update_item(self, name: str, key: Mapping[str, Any], update: str, condition: str,
                    values: Mapping[str, Any], names: Mapping[str, str] | None = None
                    ) -> dict[str, Any] | None:
        """Conditional update; the item's new attributes, or None when ``condition`` fails."""
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": dict(names)} if names else {}
        try:
            response = self._resource.Table(name).update_item(
                Key=dict(key), UpdateExpression=update, ConditionExpression=condition,
                ExpressionAttributeValues=dict(values), ReturnValues="ALL_NEW", **kwargs,
            )
        except self._conditional_failed:
            return None
        return dict(response.get("Attributes") or {})

    def get_item(self, name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """Strongly consistent read of one item, None when absent."""
        response = self._resource.Table(name).get_item(Key=dict(key), ConsistentRead=True)
        item = response.get("Item")
        return dict(item) if item else None

    def scan(self, name: str) -> list[dict[str, Any]]:
        """Every item of a (small) table, strongly consistent."""
        items: list[dict[str, Any]] = []
        for page in self._client.get_paginator("scan").paginate(TableName=name,
                                                               ConsistentRead=True):
            # The resource's client deserializes (TypeDeserializer) on the way out.
            items.extend(dict(item) for item in page.get("Items", []))
        return items


# ------------------------------------------------------------------------------------------------
# S3
# ------------------------------------------------------------------------------------------------


class S3:
    def __init__(self, settings: Settings) -> None:
        self._client = aws_client("s3", settings)

    def create_bucket(self, bucket: str) -> None:
        existing = {b["Name"] for b in self._client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            self._client.create_bucket(Bucket=bucket)

    def list_keys(self, bucket: str, prefix: str) -> Iterator[str]:
        for page in self._client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                yield str(obj["Key"])

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return bytes(self._client.get_object(Bucket=bucket, Key=key)["Body"].read())


# ------------------------------------------------------------------------------------------------
# Kinesis
# ------------------------------------------------------------------------------------------------


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
    """``client`` replaces the boto3 client (tests wrap it to inject faults)."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self._client = client if client is not None else aws_client("kinesis", settings)

    def create_stream(self, name: str, shards: int) -> None:
        self._client.create_stream(StreamName=name, ShardCount=shards)
        self._client.get_waiter("stream_exists").wait(StreamName=name)

    def stream_names(self) -> list[str]:
        names: list[str] = []
        for page in self._client.get_paginator("list_streams").paginate():
            names.extend(page.get("StreamNames", []))
        return names

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
