"""Operational tables from a full DynamoDB export plus incremental exports, landed from the
emulated S3 bucket (moto 5.2.5 accepts ExportType=INCREMENTAL_EXPORT but writes a full dump
without a manifest, so the tests write each export's files exactly as AWS lays them out)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest

from common.aws import aws_client
from common.settings import Settings
from jobs.landing import ExportVerificationError, export_kind, land_s3_export
from jobs.operational import CASE_STATE_CHANGES, run_operational_tables
from warehouse.duckdb_warehouse import refresh_warehouse, run_query

TABLE = "complaint_management"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Complaint_management_system"
DAY = datetime(2026, 11, 2, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def s(value: str) -> dict[str, str]:
    return {"S": value}


def case(pk: str, state: str, created: str = "2026-11-02T08:00:00Z") -> dict[str, Any]:
    """A complaint's metadata item (DynamoDB JSON)."""
    return {"PK": s(pk), "SK": s("metadata"), "complaint_id": s(pk), "customer_id": s("cust-1"),
            "creation_time": s(created), "current_state": s(state)}


def keys(pk: str, sk: str = "metadata") -> dict[str, Any]:
    return {"PK": s(pk), "SK": s(sk)}


def change(written: datetime, pk: str, new: dict[str, Any] | None,
           old: dict[str, Any] | None) -> str:
    """One incremental export line (NEW_AND_OLD_IMAGES): a delete has no NewImage, an insert
    no OldImage."""
    micros = int(written.timestamp()) * 1_000_000
    line: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": {"N": str(micros)}},
                            "Keys": keys(pk)}
    if new is not None:
        line["NewImage"] = new
    if old is not None:
        line["OldImage"] = old
    return json.dumps(line)


@dataclass
class AwsExport:
    """An export as AWS writes it under ``<prefix>/AWSDynamoDB/<export id>/``."""

    export_id: str
    lines: list[str]
    summary: dict[str, Any] = field(default_factory=dict)

    def put(self, settings: Settings) -> str:
        """Write it into the emulated bucket; returns the export's S3 key."""
        export_key = f"exports/{TABLE}/AWSDynamoDB/{self.export_id}"
        data = gzip.compress(("\n".join(self.lines) + "\n").encode())
        data_key = f"{export_key}/data/{self.export_id[-8:]}.json.gz"
        manifest_files = json.dumps({"itemCount": len(self.lines), "md5Checksum": md5_b64(data),
                                     "etag": hashlib.md5(data).hexdigest(),
                                     "dataFileS3Key": data_key}).encode() + b"\n"
        summary = json.dumps({
            "version": "2023-08-01", "exportArn": f"{TABLE_ARN}/export/{self.export_id}",
            "startTime": "2026-11-02T12:00:00.000Z", "endTime": "2026-11-02T12:05:00.000Z",
            "tableArn": TABLE_ARN, "tableId": "00000000-0000-0000-0000-000000000000",
            "s3Bucket": settings.export_bucket, "s3Prefix": f"exports/{TABLE}",
            "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None,
            "manifestFilesS3Key": f"{export_key}/manifest-files.json", "billedSizeBytes": 0,
            "itemCount": len(self.lines), "outputFormat": "DYNAMODB_JSON", **self.summary,
        }).encode()
        client = aws_client("s3", settings)
        client.create_bucket(Bucket=settings.export_bucket)
        for rel, body in {"_started": b"", "manifest-summary.json": summary,
                          "manifest-summary.md5": md5_b64(summary).encode(),
                          "manifest-files.json": manifest_files,
                          "manifest-files.md5": md5_b64(manifest_files).encode()}.items():
            client.put_object(Bucket=settings.export_bucket, Key=f"{export_key}/{rel}", Body=body)
        client.put_object(Bucket=settings.export_bucket, Key=data_key, Body=data)
        return export_key


def incremental(start: datetime, end: datetime) -> dict[str, str]:
    return {"exportType": "INCREMENTAL_EXPORT", "exportFromTime": iso(start),
            "exportToTime": iso(end), "outputView": "NEW_AND_OLD_IMAGES"}


# A full export at 09:00 (a manifest from before incremental exports: no exportType), then the
# changes of 09:00-10:00 and of 10:00-11:00.
FULL = AwsExport("01762074000000-fullfull", [
    json.dumps({"Item": case("C1", "assigned")}),
    json.dumps({"Item": case("C2", "assigned")}),
    json.dumps({"Item": {**keys("C1", "comm#2026-11-02T08:30:00#comm1"), "comm_id": s("comm1"),
                         "comm_date": s("2026-11-02T08:30:00Z"),
                         "complaint_state": s("assigned")}}),
], {"exportTime": "2026-11-02T09:00:00.000Z"})
FIRST_CHANGES = AwsExport("01762077600000-changes1", [
    # Written later, listed first: the highest WriteTimestampMicros wins, not the line order.
    change(at(9, 40), "C1", case("C1", "resolved"), case("C1", "investigating")),
    change(at(9, 20), "C1", case("C1", "investigating"), case("C1", "assigned")),
    change(at(9, 30), "C3", case("C3", "open", "2026-11-02T09:30:00Z"), None),  # an insert
    '{"Metadata": {"WriteTimestampMicros": {"N": "1"}}, "Keys": {"PK": ',  # cut short
    json.dumps({"Keys": keys("C9"), "NewImage": case("C9", "open")}),  # no write time
], incremental(at(9), at(10)))
SECOND_CHANGES = AwsExport("01762081200000-changes2", [
    change(at(10, 10), "C2", None, case("C2", "assigned")),  # a delete
    change(at(10, 30), "C3", case("C3", "resolved", "2026-11-02T09:30:00Z"),
           case("C3", "open", "2026-11-02T09:30:00Z")),
], incremental(at(10), at(11)))


def _land(settings: Settings) -> None:
    """The later incremental export lands first: ExportToTime orders them, not landing."""
    for label, export, landed_hour in (("full", FULL, 12), ("second", SECOND_CHANGES, 13),
                                       ("first", FIRST_CHANGES, 14)):
        export_key = export.put(settings)
        land_s3_export(settings, TABLE, label, settings.export_bucket, export_key,
                       at(landed_hour))


def _table(settings: Settings) -> list[tuple[Any, ...]]:
    rows = pq.read_table(settings.zones.clean / TABLE).to_pylist()
    return sorted((r["PK"], r["SK"], r["current_state"], r["raw_line"]) for r in rows)


def _state_changes(settings: Settings) -> list[tuple[Any, ...]]:
    rows = pq.read_table(settings.zones.clean / CASE_STATE_CHANGES).to_pylist()
    return sorted(((r["source"], r["case_id"], r["from_state"], r["to_state"],
                    r["changed_at"].astimezone(UTC).strftime("%H:%M")) for r in rows),
                  key=lambda r: (r[1], r[4]))


def test_full_then_incremental_exports_give_the_tables_state(aws: Settings, spark: Any) -> None:
    settings = aws
    _land(settings)
    records = {p.parent.name: json.loads(p.read_text())
               for p in settings.zones.raw.rglob("_landed.json")}
    assert {k: (r["export_type"], r["export_from_time"], r["export_to_time"])
            for k, r in records.items()} == {
        FULL.export_id: ("FULL_EXPORT", None, None),
        FIRST_CHANGES.export_id: ("INCREMENTAL_EXPORT", "2026-11-02T09:00:00+00:00",
                                  "2026-11-02T10:00:00+00:00"),
        SECOND_CHANGES.export_id: ("INCREMENTAL_EXPORT", "2026-11-02T10:00:00+00:00",
                                   "2026-11-02T11:00:00+00:00"),
    }
    # The complaint transform reads whole items only: the full export's data file.
    assert [p.parent.parent.name for p in settings.zones.full_export_data_files(TABLE)] == [
        FULL.export_id]

    first = run_operational_tables(settings, run_id="r1", spark=spark, tables=(TABLE,))
    expected_table = [
        ("C1", "comm#2026-11-02T08:30:00#comm1", None, 3),  # untouched since the full export
        ("C1", "metadata", "resolved", 1),  # 09:40 beat 09:20
        ("C3", "metadata", "resolved", 2),  # inserted, then updated
    ]  # C2 deleted
    assert _table(settings) == expected_table
    (counts,) = first.counts
    assert (counts.records_in, counts.clean, counts.quarantined, counts.duplicates,
            counts.deletes, counts.raw_files) == (10, 3, 2, 4, 1, 3)
    quarantined = pq.read_table(settings.zones.quarantine_records).to_pylist()
    assert sorted((q["reason"], q["raw_line"]) for q in quarantined) == [
        ("malformed JSON", 4), ("missing Metadata.WriteTimestampMicros", 5)]
    expected_changes = [
        (TABLE, "C1", "assigned", "investigating", "09:20"),
        (TABLE, "C1", "investigating", "resolved", "09:40"),
        (TABLE, "C3", None, "open", "09:30"),
        (TABLE, "C3", "open", "resolved", "10:30"),
    ]
    assert _state_changes(settings) == expected_changes

    # The same exports landed again (skipped): the table is kept as it is (a run with nothing
    # new decodes nothing), and applying them again from scratch gives the same result.
    _land(settings)
    kept = run_operational_tables(settings, run_id="r2", spark=spark, tables=(TABLE,))
    assert [(c.mode, c.records_in) for c in kept.counts] == [("skipped", 0)]
    shutil.rmtree(settings.zones.runs / "built_from")
    again = run_operational_tables(settings, run_id="r3", spark=spark, tables=(TABLE,))
    assert _table(settings) == expected_table
    assert _state_changes(settings) == expected_changes
    assert [(c.records_in, c.clean, c.quarantined, c.duplicates, c.deletes)
            for c in again.counts] == [(10, 3, 2, 4, 1)]

    refresh_warehouse(settings)
    resolved = run_query(settings, "SELECT case_id, resolved_by, hours_to_resolution, "
                                   "counts_conserved FROM time_to_resolution, "
                                   "(SELECT bool_and(counts_conserved) AS counts_conserved "
                                   "FROM runs) ORDER BY case_id").rows
    assert resolved == [("C1", "state_change", 1.67, True), ("C3", "state_change", 1.0, True)]


@pytest.mark.parametrize(("summary", "message"), [
    ({"exportType": "DELTA"}, "unknown exportType"),
    ({"exportType": "INCREMENTAL_EXPORT", "exportFromTime": "2026-11-02T09:00:00Z"},
     "lacks exportFromTime/exportToTime"),
    (incremental(at(10), at(9)), "is not before"),
    ({"exportType": "INCREMENTAL_EXPORT", "exportFromTime": "yesterday",
      "exportToTime": "2026-11-02T09:00:00Z"}, "is not a time"),
])
def test_export_kind_refuses_an_unusable_manifest(summary: dict[str, str], message: str) -> None:
    with pytest.raises(ExportVerificationError, match=message):
        export_kind(json.dumps(summary).encode(), "exports/x")


def test_export_kind_reads_full_and_incremental_manifests() -> None:
    old = export_kind(b'{"exportTime": "2022-11-12T04:30:50.456Z"}', "x")
    assert (old.export_type, old.export_time) == ("FULL_EXPORT", "2022-11-12T04:30:50.456000+00:00")
    changes = export_kind(json.dumps(incremental(at(9), at(10))).encode(), "x")
    assert (changes.export_type, changes.export_from_time, changes.export_to_time,
            changes.export_view_type) == ("INCREMENTAL_EXPORT", "2026-11-02T09:00:00+00:00",
                                          "2026-11-02T10:00:00+00:00", "NEW_AND_OLD_IMAGES")
