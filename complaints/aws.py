"""Thin typed wrappers over boto3: one method per AWS call the pipeline makes.

The same code talks to AWS or to the local emulator; only ``endpoint_url`` differs. With an
endpoint (the emulator) dummy credentials are used, so no AWS account is needed locally.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3

from complaints.settings import Settings


def _client(service: str, settings: Settings) -> Any:
    kwargs: dict[str, Any] = {"region_name": settings.aws_region}
    if settings.aws_endpoint_url:
        kwargs.update(
            endpoint_url=settings.aws_endpoint_url,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
    return boto3.client(service, **kwargs)


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
        self._client = _client("dynamodb", settings)

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

    def batch_write(self, name: str, items: Iterable[dict[str, Any]]) -> int:
        """Write DynamoDB-JSON items in batches of 25, retrying unprocessed ones."""
        written = 0
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append({"PutRequest": {"Item": item}})
            if len(batch) == 25:
                written += self._write_batch(name, batch)
                batch = []
        if batch:
            written += self._write_batch(name, batch)
        return written

    def _write_batch(self, name: str, batch: list[dict[str, Any]]) -> int:
        pending = {name: batch}
        for _ in range(10):
            response = self._client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return len(batch)
        raise RuntimeError(f"DynamoDB kept {len(pending[name])} items of {name} unprocessed")

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

    def put_item(self, name: str, item: dict[str, Any], condition: str | None = None,
                 values: dict[str, Any] | None = None) -> bool:
        """Put a DynamoDB-JSON item; False (nothing written) when ``condition`` does not hold."""
        kwargs: dict[str, Any] = {"TableName": name, "Item": item}
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**kwargs)
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def update_item(self, name: str, key: dict[str, Any], update: str, condition: str,
                    values: dict[str, Any], names: dict[str, str] | None = None
                    ) -> dict[str, Any] | None:
        """Conditional update; the item's new attributes, or None when ``condition`` fails."""
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        try:
            response = self._client.update_item(
                TableName=name, Key=key, UpdateExpression=update, ConditionExpression=condition,
                ExpressionAttributeValues=values, ReturnValues="ALL_NEW", **kwargs,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return dict(response.get("Attributes") or {})

    def get_item(self, name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        """Strongly consistent read of one item (DynamoDB JSON), None when absent."""
        response = self._client.get_item(TableName=name, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return dict(item) if item else None

    def scan(self, name: str) -> list[dict[str, Any]]:
        """Every item of a (small) table, strongly consistent, in DynamoDB JSON."""
        items: list[dict[str, Any]] = []
        for page in self._client.get_paginator("scan").paginate(TableName=name,
                                                               ConsistentRead=True):
            items.extend(page.get("Items", []))
        return items

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


class S3:
    def __init__(self, settings: Settings) -> None:
        self._client = _client("s3", settings)

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
