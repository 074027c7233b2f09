"""Landing into the raw zone: inbox files and DynamoDB exports (real moto server over HTTP)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from common.aws import DynamoDB, ExportStatus, aws_client, from_dynamodb_json
from common.lake import safe_name
from common.settings import REPO_ROOT, Settings
from jobs.landing import (
    ExportFailedError,
    ExportVerificationError,
    client_token,
    export_prefix,
    land_dynamodb_export,
    land_files,
    land_s3_export,
    safe_label,
    verify_sidecars,
    wait_for_export,
)
from samples.generate import generate

LANDED_AT = datetime(2026, 11, 6, 14, 35, 12, tzinfo=UTC)
SAMPLE_DIR = REPO_ROOT.parent / "shared" / "data" / "dynamodb-export-manifest-sample"
LOGICAL = "complaint_management"
PHYSICAL = "cm-landing-test"


def tree(root: Path) -> list[tuple[str, str]]:
    """Every file under ``root``: (relative path, sha256), sorted."""
    if not root.exists():
        return []
    return sorted(
        (str(p.relative_to(root)), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in root.rglob("*")
        if p.is_file()
    )


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def inbox_settings(tmp_path: Path) -> Settings:
    settings = Settings(lake=tmp_path / "lake")
    generate(settings, days=2, load_dynamodb=False)
    return settings


def test_land_files_partition_names_and_bytes(inbox_settings: Settings) -> None:
    settings = inbox_settings
    for source, pattern in (("call_center", "calls_*.jsonl"), ("web_form", "forms_*.csv")):
        originals = sorted((settings.zones.inbox / source).glob(pattern))
        assert len(originals) == 2
        result = land_files(settings, source, LANDED_AT)
        assert result.source == source
        assert result.skipped == ()
        assert [f.original for f in result.landed] == [p.name for p in originals]
        folder = settings.zones.raw / source / "ingest_date=2026-11-06" / "hour=14"
        for place, (landed, original) in enumerate(zip(result.landed, originals, strict=True),
                                                   start=1):
            content = original.read_bytes()
            sha = hashlib.sha256(content).hexdigest()
            assert landed.raw_path == folder / (
                f"20261106T143512.000000Z-{place:04d}__{sha[:16]}__{original.name}")
            assert landed.raw_path.read_bytes() == content
            assert landed.sha256 == sha
            assert landed.bytes == len(content)
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            f.raw_path.name for f in result.landed
        )


def test_land_files_twice_lands_nothing_new(inbox_settings: Settings) -> None:
    settings = inbox_settings
    first = land_files(settings, "call_center", LANDED_AT)
    assert len(first.landed) == 2
    before = tree(settings.zones.raw)
    later = LANDED_AT + timedelta(days=1, hours=3)
    again = land_files(settings, "call_center", later)
    assert again.landed == ()
    assert again.skipped == tuple(f.original for f in first.landed)
    assert tree(settings.zones.raw) == before
    assert not (settings.zones.raw / "call_center" / "ingest_date=2026-11-07").exists()

    # A new file (and a renamed copy of an old one) at the later hour: only the new content lands.
    inbox = settings.zones.inbox / "call_center"
    (inbox / "calls_extra.jsonl").write_bytes(b'{"call_id": "x-1"}\n')
    (inbox / "calls_copy.jsonl").write_bytes((inbox / first.landed[0].original).read_bytes())
    third = land_files(settings, "call_center", later)
    assert [f.original for f in third.landed] == ["calls_extra.jsonl"]
    assert third.landed[0].raw_path.parent == (
        settings.zones.raw / "call_center" / "ingest_date=2026-11-07" / "hour=17"
    )
    assert "calls_copy.jsonl" in third.skipped


def test_land_files_same_content_twice_in_one_inbox(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    inbox = settings.zones.inbox / "web_form"
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_bytes(b"same\n")
    (inbox / "b.csv").write_bytes(b"same\n")
    result = land_files(settings, "web_form", LANDED_AT)
    assert [f.original for f in result.landed] == ["a.csv"]
    assert result.skipped == ("b.csv",)


def test_land_files_hostile_names_stay_inside(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    inbox = settings.zones.inbox / "web_form"
    inbox.mkdir(parents=True)
    hostile = "a\\..\\..\\etc\\passwd ; rm -rf ~ é.csv"
    shell = "\n$(reboot)\t.csv"
    (inbox / hostile).write_bytes(b"evil\n")
    (inbox / shell).write_bytes(b"shell\n")
    (inbox / ".hidden.csv").write_bytes(b"ignored\n")
    (inbox / "..double-dot.csv").write_bytes(b"ignored too\n")
    (inbox / "sub").mkdir()
    (inbox / "sub" / "nested.csv").write_bytes(b"not recursive\n")
    (inbox / "link.csv").symlink_to(tmp_path / "outside.csv")
    (tmp_path / "outside.csv").write_bytes(b"outside\n")

    result = land_files(settings, "web_form", LANDED_AT)
    assert [f.original for f in result.landed] == sorted([hostile, shell])
    folder = (settings.zones.raw / "web_form" / "ingest_date=2026-11-06" / "hour=14").resolve()
    names = {f.original: f.raw_path.name for f in result.landed}
    prefix = len("20261106T143512.000000Z-0001__") + 18
    assert {original: name[prefix:] for original, name in names.items()} == {
        hostile: "a_.._.._etc_passwd___rm_-rf____.csv", shell: "___reboot__.csv",
    }
    assert all(names[f.original][prefix - 18:prefix] == f"{f.sha256[:16]}__"
               for f in result.landed)
    for landed in result.landed:
        assert landed.raw_path.resolve().parent == folder
    assert tree_paths(tmp_path / "lake" / "raw") == sorted(
        folder / f.raw_path.name for f in result.landed
    )

    # The name reduction itself, for names no Linux file can carry.
    for name in ("../../etc/passwd", "a\x00b", "/abs/x", "..", "....", "a/../../b", "é" * 300):
        reduced = safe_name(name)
        assert reduced and len(reduced) <= 100
        assert re.fullmatch(r"[A-Za-z0-9._-]+", reduced)
        assert not reduced.startswith(".")
        assert (folder / reduced).resolve().parent == folder
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name("a\x00b") == "a_b"


def tree_paths(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_land_files_unknown_source_and_missing_inbox(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    with pytest.raises(ValueError, match="unknown file source"):
        land_files(settings, "fax", LANDED_AT)
    with pytest.raises(ValueError):
        land_files(settings, "../call_center", LANDED_AT)
    empty = land_files(settings, "call_center", LANDED_AT)
    assert empty.landed == () and empty.skipped == ()
    assert not settings.zones.raw.exists()


def test_land_files_names_sort_in_landing_order_within_an_hour(tmp_path: Path) -> None:
    # The transform keeps the most recently landed copy of a complaint, by (hour, raw file name,
    # line): within an hour's folder the names must sort as the files landed, whatever their
    # content hashes (a correction landed after the original must win).
    settings = Settings(lake=tmp_path / "lake")
    inbox = settings.zones.inbox / "call_center"
    inbox.mkdir(parents=True)
    landed = []
    for minute, (name, content) in enumerate([("b.jsonl", b'{"n": 1}\n'),
                                              ("a.jsonl", b'{"n": 2}\n'),
                                              ("c.jsonl", b'{"n": 3}\n')]):
        (inbox / name).write_bytes(content)
        result = land_files(settings, "call_center", LANDED_AT + timedelta(minutes=minute))
        landed.append(result.landed[0].raw_path)
    (inbox / "z.jsonl").write_bytes(b'{"n": 4}\n')
    (inbox / "y.jsonl").write_bytes(b'{"n": 5}\n')
    together = land_files(settings, "call_center", LANDED_AT + timedelta(minutes=9))
    landed += [f.raw_path for f in together.landed]  # one landing: inbox names sorted
    assert [p.parent for p in landed] == [landed[0].parent] * 5
    assert sorted(landed) == landed
    assert [p.name.rsplit("__", 1)[1] for p in landed] == [
        "b.jsonl", "a.jsonl", "c.jsonl", "y.jsonl", "z.jsonl"]
    assert sorted(p.name.split("__")[1] for p in landed) != [
        p.name.split("__")[1] for p in landed]  # the hashes alone would not sort them so


def test_land_files_normalises_landed_at_to_utc(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    inbox = settings.zones.inbox / "call_center"
    inbox.mkdir(parents=True)
    (inbox / "calls.jsonl").write_bytes(b"{}\n")
    eastern = datetime(2026, 11, 6, 21, 30, tzinfo=timezone(timedelta(hours=-5)))
    result = land_files(settings, "call_center", eastern)
    assert result.landed[0].raw_path.parent == (
        settings.zones.raw / "call_center" / "ingest_date=2026-11-07" / "hour=02"
    )


# ------------------------------------------------------------------------------------------------
# DynamoDB: the emulator (no manifest)
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def aws(aws: Settings) -> Settings:
    """The reset emulator, with this module's bucket and table names."""
    return replace(aws, export_bucket="complaints-exports-test",
                   tables={LOGICAL: PHYSICAL, "chat_reviews": "reviews-test"})


ITEMS: list[dict[str, Any]] = [
    {"PK": {"S": "CUST#1"}, "SK": {"S": "COMPLAINT#1"}, "severity": {"S": "high"},
     "count": {"N": "3"}, "ratio": {"N": "0.125"}, "escalated": {"BOOL": True},
     "escalated_to": {"NULL": True}},
    {"PK": {"S": "CUST#1"}, "SK": {"S": "COMM#2"}, "attachments": {"SS": ["a.pdf"]},
     "scores": {"NS": ["7"]}, "comm_text": {"S": "no internet, café déjà vu ✓"}},
    {"PK": {"S": "CUST#2"}, "SK": {"S": "COMPLAINT#9"},
     "meta": {"M": {"channel": {"S": "web"}, "tags": {"L": [{"S": "x"}, {"N": "1"}]}}},
     "history": {"L": [{"M": {"at": {"S": "2026-11-05T10:00:00Z"}}}, {"BOOL": False}]}},
]


def put_table(settings: Settings, items: list[dict[str, Any]]) -> None:
    dynamodb = DynamoDB(settings)
    dynamodb.create_table(PHYSICAL, "PK", "SK")
    dynamodb.put_items(PHYSICAL, [from_dynamodb_json(i) for i in items])
    dynamodb.enable_point_in_time_recovery(PHYSICAL)


def read_items(export_dir: Path) -> list[dict[str, Any]]:
    lines = []
    for path in sorted((export_dir / "data").iterdir()):
        lines.extend(gzip.decompress(path.read_bytes()).decode("utf-8").splitlines())
    return [json.loads(line)["Item"] for line in lines if line.strip()]


def key_of(item: dict[str, Any]) -> tuple[str, str]:
    return item["PK"]["S"], item["SK"]["S"]


def s3_export_ids(settings: Settings, label: str) -> set[str]:
    client = aws_client("s3", settings)
    prefix = f"{export_prefix(LOGICAL, label)}/AWSDynamoDB/"
    response = client.list_objects_v2(Bucket=settings.export_bucket, Prefix=prefix)
    return {obj["Key"][len(prefix):].split("/")[0] for obj in response.get("Contents", [])}


def test_dynamodb_export_without_manifest(aws: Settings) -> None:
    put_table(aws, ITEMS)
    result = land_dynamodb_export(aws, LOGICAL, "2026-11-06", LANDED_AT, poll_s=0.1)
    assert not result.skipped
    assert not result.manifest_present
    assert result.table == LOGICAL and result.snapshot_label == "2026-11-06"
    assert result.items == len(ITEMS)
    assert result.data_files == 1

    partition_dir = aws.zones.raw / LOGICAL / "ingest_date=2026-11-06" / "hour=14" / "AWSDynamoDB"
    assert result.folder.parent == partition_dir
    assert result.folder.name in s3_export_ids(aws, "2026-11-06")
    names = sorted(str(p.relative_to(result.folder)) for p in tree_paths(result.folder))
    assert names[0] == "_landed.json"
    assert len(names) == 2 and names[1].startswith("data/") and names[1].endswith(".gz")
    # Nothing but the export folder under the table (no temp folders left behind).
    assert [p.name for p in (aws.zones.raw / LOGICAL).iterdir()] == ["ingest_date=2026-11-06"]

    record = json.loads((result.folder / "_landed.json").read_text())
    data_file = result.folder / names[1]
    assert record["table"] == LOGICAL and record["physical_table"] == PHYSICAL
    assert record["export_arn"] == result.export_arn
    assert record["snapshot_label"] == "2026-11-06"
    assert datetime.fromisoformat(record["landed_at"]) == LANDED_AT
    assert record["manifest_present"] is False
    assert record["expected_items"] == record["items"] == len(ITEMS)
    assert record["expected_items_source"] == "describe_export"
    assert record["data_files"] == [{
        "name": data_file.name, "path": names[1], "bytes": data_file.stat().st_size,
        "items": len(ITEMS), "md5": md5_b64(data_file.read_bytes()),
    }]
    assert sorted(read_items(result.folder), key=key_of) == sorted(ITEMS, key=key_of)


def test_dynamodb_incremental_export_without_manifest_lands_nothing(aws: Settings) -> None:
    """moto 5.2.5 accepts ExportType=INCREMENTAL_EXPORT but writes a full dump without a
    manifest: with no time range and no type, the changes are not landed (nor taken as full)."""
    put_table(aws, ITEMS)
    since = LANDED_AT - timedelta(hours=1)
    with pytest.raises(ExportVerificationError, match="has no manifest-summary.json"):
        land_dynamodb_export(aws, LOGICAL, "changes-1", LANDED_AT, poll_s=0.1,
                             changes=(since, LANDED_AT))
    assert not aws.zones.raw.exists() or tree_paths(aws.zones.raw) == []


def test_dynamodb_export_same_label_skipped_new_label_lands(aws: Settings) -> None:
    put_table(aws, ITEMS)
    first = land_dynamodb_export(aws, LOGICAL, "2026-11-06", LANDED_AT, poll_s=0.1)
    before = tree(aws.zones.raw)

    again = land_dynamodb_export(aws, LOGICAL, "2026-11-06", LANDED_AT + timedelta(hours=5))
    assert again.skipped
    assert again.folder == first.folder
    assert again.export_arn == first.export_arn
    assert again.items == first.items and again.data_files == first.data_files
    assert tree(aws.zones.raw) == before
    assert len(s3_export_ids(aws, "2026-11-06")) == 1  # no second export was started

    DynamoDB(aws).put_items(PHYSICAL, [{"PK": "CUST#3", "SK": "COMPLAINT#1"}])
    later = LANDED_AT + timedelta(days=1)
    second = land_dynamodb_export(aws, LOGICAL, "2026-11-07", later, poll_s=0.1)
    assert not second.skipped
    assert second.export_arn != first.export_arn
    assert second.items == len(ITEMS) + 1
    assert second.folder.parent == (
        aws.zones.raw / LOGICAL / "ingest_date=2026-11-07" / "hour=14" / "AWSDynamoDB"
    )
    assert json.loads((second.folder / "_landed.json").read_text())["snapshot_label"] == (
        "2026-11-07"
    )
    assert [entry for entry in tree(aws.zones.raw) if entry in before] == before


def test_dynamodb_export_empty_table(aws: Settings) -> None:
    put_table(aws, [])
    result = land_dynamodb_export(aws, LOGICAL, "2026-11-06", LANDED_AT, poll_s=0.1)
    assert result.items == 0
    assert json.loads((result.folder / "_landed.json").read_text())["expected_items"] == 0


def test_dynamodb_bad_arguments(aws: Settings) -> None:
    with pytest.raises(ValueError, match="unknown DynamoDB table"):
        land_dynamodb_export(aws, "no_such_table", "2026-11-06", LANDED_AT)
    with pytest.raises(ValueError, match="snapshot label"):
        land_dynamodb_export(aws, LOGICAL, "../..", LANDED_AT)
    assert safe_label("2026-11-06T00:00:00+00:00") == "2026-11-06T00_00_00_00_00"
    assert export_prefix(LOGICAL, "../x/2026") == f"exports/{LOGICAL}/_x_2026"
    token = client_token(PHYSICAL, "2026-11-06")
    assert len(token) == 64 and int(token, 16) >= 0
    assert token == client_token(PHYSICAL, "2026-11-06")
    assert token != client_token(PHYSICAL, "2026-11-07")
    assert token != client_token("other-table", "2026-11-06")
    assert not aws.zones.raw.exists()


class FakeExports:
    def __init__(self, statuses: list[str], failure: str | None = None) -> None:
        self.statuses = statuses
        self.failure = failure
        self.calls = 0

    def describe_export(self, export_arn: str) -> ExportStatus:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        return ExportStatus(export_arn, status, 1, "b", "p", None, self.failure)


def test_wait_for_export_polls_fails_and_times_out() -> None:
    fake = FakeExports(["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"])
    assert wait_for_export(fake, "arn:x", timeout_s=5, poll_s=0.01).status == "COMPLETED"
    assert fake.calls == 3
    with pytest.raises(ExportFailedError, match="disk on fire"):
        wait_for_export(FakeExports(["IN_PROGRESS", "FAILED"], "disk on fire"), "arn:x",
                        timeout_s=5, poll_s=0.01)
    with pytest.raises(TimeoutError, match="still IN_PROGRESS"):
        wait_for_export(FakeExports(["IN_PROGRESS"]), "arn:x", timeout_s=0.05, poll_s=0.01)


# ------------------------------------------------------------------------------------------------
# DynamoDB: AWS layout with a manifest
# ------------------------------------------------------------------------------------------------

# Equivalent of the sample's manifest-summary.json, used when ../shared/data is not there.
FALLBACK_SUMMARY: dict[str, Any] = {
    "version": "2020-06-30",
    "exportArn": "arn:aws:dynamodb:sa-east-1:326717626617:table/livros_por_ler/export/"
                 "01668227450456-b6733290",
    "startTime": "2022-11-12T04:30:50.456Z", "endTime": "2022-11-12T04:34:56.208Z",
    "tableArn": "arn:aws:dynamodb:sa-east-1:326717626617:table/livros_por_ler",
    "tableId": "659732b0-5ce6-4e60-a804-f224014bdef3", "exportTime": "2022-11-12T04:30:50.456Z",
    "s3Bucket": "outroslivros", "s3Prefix": None, "s3SseAlgorithm": "AES256",
    "s3SseKmsKeyId": None,
    "manifestFilesS3Key": "AWSDynamoDB/01668227450456-b6733290/manifest-files.json",
    "billedSizeBytes": 0, "itemCount": 6, "outputFormat": "DYNAMODB_JSON",
}
FALLBACK_FILES_LINE: dict[str, Any] = {
    "itemCount": 6, "md5Checksum": "EV+2HwdmZ3AyD9j+Yxd+Mg==",
    "etag": "a88f6b426e940985d4ef97076c8f40f6-1",
    "dataFileS3Key": "AWSDynamoDB/01668227450456-b6733290/data/enpvklgbwq7gta42yshirxd6ea.json.gz",
}
EXPORT_ID = "01762437600000-5e1ac0de"


def require_sample() -> Path:
    if not SAMPLE_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SAMPLE_DIR} is missing (required when CI is set)")
        pytest.skip(f"{SAMPLE_DIR} (../shared/data) is not available here")
    return SAMPLE_DIR


def templates() -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest-summary, one manifest-files line) of the real sample, or their equivalent."""
    if SAMPLE_DIR.is_dir():
        summary = json.loads((SAMPLE_DIR / "manifest-summary.json").read_text())
        line = json.loads((SAMPLE_DIR / "manifest-files.json").read_text().splitlines()[0])
        return summary, line
    return dict(FALLBACK_SUMMARY), dict(FALLBACK_FILES_LINE)


def test_sample_manifest_matches_what_the_lander_reads() -> None:
    sample = require_sample()
    files = {p.name: p.read_bytes() for p in sample.iterdir() if p.name != "SOURCE.md"}
    verify_sidecars(files)  # the real .md5 sidecars check out
    summary = json.loads(files["manifest-summary.json"])
    assert summary == FALLBACK_SUMMARY
    assert json.loads(files["manifest-files.json"]) == FALLBACK_FILES_LINE
    assert files["_started"] == b""
    tampered = dict(files, **{"manifest-files.json": files["manifest-files.json"] + b" "})
    with pytest.raises(ExportVerificationError, match="sidecar"):
        verify_sidecars(tampered)


def gz_lines(items: list[dict[str, Any]]) -> bytes:
    return gzip.compress(
        b"".join(json.dumps({"Item": i}).encode() + b"\n" for i in items), mtime=0
    )


def put_aws_export(
    settings: Settings,
    label: str,
    data_files: dict[str, bytes],
    counts: dict[str, int],
    *,
    summary_count: int | None = None,
    checksums: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Upload an AWS-layout export of PHYSICAL; returns (export key, export ARN)."""
    summary_t, line_t = templates()
    prefix = export_prefix(LOGICAL, label)
    export_key = f"{prefix}/AWSDynamoDB/{EXPORT_ID}"
    table_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{PHYSICAL}"
    export_arn = f"{table_arn}/export/{EXPORT_ID}"
    lines = []
    for name, content in data_files.items():
        line = dict(line_t)  # keep the sample's field order
        line.update(itemCount=counts[name],
                    md5Checksum=(checksums or {}).get(name, md5_b64(content)),
                    etag=hashlib.md5(content).hexdigest(),
                    dataFileS3Key=f"{export_key}/data/{name}")
        lines.append(json.dumps(line, separators=(",", ":")))
    manifest_files = ("\n".join(lines) + "\n").encode()
    summary = dict(summary_t)
    summary.update(
        exportArn=export_arn, tableArn=table_arn, s3Bucket=settings.export_bucket,
        s3Prefix=prefix, manifestFilesS3Key=f"{export_key}/manifest-files.json",
        itemCount=sum(counts.values()) if summary_count is None else summary_count,
        tableId="00000000-0000-0000-0000-000000000000",
    )
    summary_bytes = json.dumps(summary, separators=(",", ":")).encode()
    objects = {
        "_started": b"",
        "manifest-summary.json": summary_bytes,
        "manifest-summary.md5": md5_b64(summary_bytes).encode(),
        "manifest-files.json": manifest_files,
        "manifest-files.md5": md5_b64(manifest_files).encode(),
        **{f"data/{name}": content for name, content in data_files.items()},
    }
    client = aws_client("s3", settings)
    client.create_bucket(Bucket=settings.export_bucket)
    for rel, content in objects.items():
        client.put_object(Bucket=settings.export_bucket, Key=f"{export_key}/{rel}", Body=content)
    return export_key, export_arn


DATA_A = "enpvklgbwq7gta42yshirxd6ea.json.gz"
DATA_B = "q3zxw5tqyu5brohtywqpcb2xyi.json.gz"


def test_manifest_export_verifies_and_lands(aws: Settings) -> None:
    files = {DATA_A: gz_lines(ITEMS[:2]), DATA_B: gz_lines(ITEMS[2:])}
    export_key, export_arn = put_aws_export(aws, "2026-11-06", files, {DATA_A: 2, DATA_B: 1})
    result = land_s3_export(aws, LOGICAL, "2026-11-06", aws.export_bucket, export_key, LANDED_AT,
                            export_arn=export_arn, described_item_count=3)
    assert result.manifest_present and not result.skipped
    assert result.export_arn == export_arn
    assert result.items == 3 and result.data_files == 2
    assert result.folder == (aws.zones.raw / LOGICAL / "ingest_date=2026-11-06" / "hour=14"
                              / "AWSDynamoDB" / EXPORT_ID)
    assert sorted(str(p.relative_to(result.folder)) for p in tree_paths(result.folder)) == [
        "_landed.json", "_started", f"data/{DATA_A}", f"data/{DATA_B}",
        "manifest-files.json", "manifest-files.md5", "manifest-summary.json",
        "manifest-summary.md5",
    ]
    for name, content in files.items():
        assert (result.folder / "data" / name).read_bytes() == content
    record = json.loads((result.folder / "_landed.json").read_text())
    assert record["manifest_present"] is True
    assert record["expected_items_source"] == "manifest"
    assert record["expected_items"] == record["items"] == 3
    assert [(d["name"], d["items"], d["md5"]) for d in record["data_files"]] == [
        (DATA_A, 2, md5_b64(files[DATA_A])), (DATA_B, 1, md5_b64(files[DATA_B])),
    ]
    assert sorted(read_items(result.folder), key=key_of) == sorted(ITEMS, key=key_of)

    # Same label again: skipped, nothing rewritten.
    before = tree(aws.zones.raw)
    again = land_s3_export(aws, LOGICAL, "2026-11-06", aws.export_bucket, export_key)
    assert again.skipped and again.folder == result.folder
    assert tree(aws.zones.raw) == before


def test_manifest_export_arn_taken_from_manifest(aws: Settings) -> None:
    export_key, export_arn = put_aws_export(aws, "l1", {DATA_A: gz_lines(ITEMS)}, {DATA_A: 3})
    result = land_s3_export(aws, LOGICAL, "l1", aws.export_bucket, export_key, LANDED_AT)
    assert result.export_arn == export_arn and result.items == 3


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("corrupt_data", "md5Checksum"),
        ("wrong_file_count", "the manifest says"),
        ("wrong_summary_count", "manifest-summary.json"),
        ("wrong_arn", "is not the export"),
        ("wrong_described_count", "describe_export"),
        ("tampered_manifest", "sidecar"),
        ("not_gzip", "not valid gzip"),
    ],
)
def test_manifest_export_mismatch_lands_nothing(aws: Settings, case: str, message: str) -> None:
    good = gz_lines(ITEMS)
    data = {DATA_A: good}
    kwargs: dict[str, Any] = {}
    if case == "corrupt_data":
        data = {DATA_A: gz_lines(ITEMS[:2] + [{"PK": {"S": "CUST#666"}, "SK": {"S": "X"}}])}
        kwargs["checksums"] = {DATA_A: md5_b64(good)}
    if case == "not_gzip":
        data = {DATA_A: b"not gzip at all"}
    counts = {DATA_A: 2 if case == "wrong_file_count" else 3}
    if case == "wrong_file_count":
        kwargs["summary_count"] = 3
    if case == "wrong_summary_count":
        kwargs["summary_count"] = 4
    export_key, export_arn = put_aws_export(aws, "2026-11-06", data, counts, **kwargs)
    if case == "tampered_manifest":
        client = aws_client("s3", aws)
        key = f"{export_key}/manifest-files.json"
        body = client.get_object(Bucket=aws.export_bucket, Key=key)["Body"].read()
        client.put_object(Bucket=aws.export_bucket, Key=key, Body=body + b"\n")
    arn = export_arn + "-other" if case == "wrong_arn" else export_arn
    described = 5 if case == "wrong_described_count" else None
    with pytest.raises(ExportVerificationError, match=message):
        land_s3_export(aws, LOGICAL, "2026-11-06", aws.export_bucket, export_key, LANDED_AT,
                       export_arn=arn, described_item_count=described)
    assert not aws.zones.raw.exists()


def test_manifest_key_outside_export_is_refused(aws: Settings) -> None:
    export_key, _ = put_aws_export(aws, "l1", {DATA_A: gz_lines(ITEMS)}, {DATA_A: 3})
    client = aws_client("s3", aws)
    key = f"{export_key}/manifest-files.json"
    line = json.loads(client.get_object(Bucket=aws.export_bucket, Key=key)["Body"].read())
    line["dataFileS3Key"] = f"{export_key}/../../elsewhere/{DATA_A}"
    body = (json.dumps(line) + "\n").encode()
    client.put_object(Bucket=aws.export_bucket, Key=key, Body=body)
    client.delete_object(Bucket=aws.export_bucket, Key=f"{export_key}/manifest-files.md5")
    with pytest.raises(ExportVerificationError, match="unsafe path"):
        land_s3_export(aws, LOGICAL, "l1", aws.export_bucket, export_key, LANDED_AT)
    assert not aws.zones.raw.exists() or not any(aws.zones.raw.rglob("*"))


def test_export_without_manifest_count_mismatch_lands_nothing(aws: Settings) -> None:
    client = aws_client("s3", aws)
    client.create_bucket(Bucket=aws.export_bucket)
    export_key = f"{export_prefix(LOGICAL, 'l1')}/AWSDynamoDB/emulated-id"
    client.put_object(Bucket=aws.export_bucket, Key=f"{export_key}/data/x.gz",
                      Body=gz_lines(ITEMS))
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/cm-landing-test/export/abc"
    with pytest.raises(ExportVerificationError, match=r"3 items in 1 data files, expected 4"):
        land_s3_export(aws, LOGICAL, "l1", aws.export_bucket, export_key, LANDED_AT,
                       export_arn=arn, described_item_count=4)
    with pytest.raises(ExportVerificationError, match="no manifest and no described ItemCount"):
        land_s3_export(aws, LOGICAL, "l1", aws.export_bucket, export_key, LANDED_AT,
                       export_arn=arn)
    assert not aws.zones.raw.exists()
    landed = land_s3_export(aws, LOGICAL, "l1", aws.export_bucket, export_key, LANDED_AT,
                            export_arn=arn, described_item_count=3)
    assert landed.items == 3 and landed.folder.name == "emulated-id"
    assert (landed.folder / "data" / "x.gz").read_bytes() == gz_lines(ITEMS)
