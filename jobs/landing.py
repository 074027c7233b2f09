"""Landing: copy what arrives, unchanged, into the raw zone of the lake (``settings.zones.raw``).

Two kinds of arrivals:

* **Files** dropped into ``inbox/<source>/`` (``schemas.sources.FILE_SOURCES``). Each regular file
  is copied byte for byte to::

      raw/<source>/ingest_date=YYYY-MM-DD/hour=HH/<landed>-<n>__<sha256[:16]>__<safe name>

  written atomically (temporary file in the same folder, then ``os.replace``). ``<landed>`` is the
  landing moment (``YYYYMMDDTHHMMSS.ffffffZ``) and ``<n>`` the file's place in that landing (inbox
  names sorted), so within an hour's folder the names sort in landing order: the transform keeps
  the most recently landed copy of a complaint by this order (its ``raw_file``). Files landed
  before the moment was in the name (``<sha256[:16]>__<safe name>``) keep their names. A file
  whose content is already anywhere under ``raw/<source>/`` is skipped, so landing is
  idempotent.

* **DynamoDB tables**, exported with "Export to S3" (point-in-time export) and copied to::

      raw/<logical table>/ingest_date=YYYY-MM-DD/hour=HH/AWSDynamoDB/<export id>/

  holding exactly what the export wrote (``manifest-summary.json``, ``manifest-files.json``, the
  ``.md5`` sidecars, ``_started``, ``data/<name>``) plus ``_landed.json``, the lander's own record.
  The export is verified before anything lands: with a manifest (real AWS) every data file's MD5
  must equal its ``md5Checksum`` and the item counts must match; without one (the local emulator
  writes only the data files) the lines of the gzip data files must add up to ``describe_export``'s
  ``ItemCount``. A mismatch raises :class:`ExportVerificationError` and lands nothing. The export
  is assembled in a hidden temporary folder under ``raw/<table>/`` and renamed into place at the
  end. A snapshot label (e.g. the DAG run's logical date) already landed for a table is not
  exported again.

* **Incremental DynamoDB exports** (``ExportType=INCREMENTAL_EXPORT``: the changes written between
  ``ExportFromTime`` and ``ExportToTime``, one ``{"Metadata", "Keys", "NewImage", "OldImage"}``
  per line) are recognised by their manifest's ``exportType`` and land the same way, through
  :func:`land_s3_export`. ``_landed.json`` records the export's type and times (``export_type``,
  ``export_time``, ``export_from_time``, ``export_to_time``, ``export_view_type``), which
  ``jobs/operational.py`` orders them by. An incremental export needs its manifest (the only
  place its time range is written); the emulator (moto 5.2.5) accepts ``ExportType`` but always
  writes a full dump without a manifest, so incremental exports are only landed from S3.

``ingest_date`` and ``hour`` come from ``landed_at`` (UTC; default: now).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from common.aws import S3, DynamoDB, ExportStatus
from common.lake import (
    EXPORT_DIR,
    FULL_EXPORT,
    INCREMENTAL_EXPORT,
    LANDED_RECORD,
    Lake,
    atomic_folder,
    atomic_target,
    safe_name,
    utc,
)
from common.settings import Settings
from schemas.sources import FILE_SOURCES

HASH_PREFIX_LEN = 16
MANIFEST_SUMMARY = "manifest-summary.json"
_CHUNK = 1 << 20
# ``<landed>-<n>__<hash>__<name>``; before the landing moment was in the name: ``<hash>__<name>``
_LANDED_NAME = re.compile(r"^(?:\d{8}T\d{6}\.\d{6}Z-\d{4,}__)?"
                          rf"([0-9a-f]{{{HASH_PREFIX_LEN}}})__")


def landed_file_name(landed_at: datetime, place: int, sha256: str, name: str) -> str:
    """The raw name of an inbox file: landing moment and place first, so names sort in landing
    order within an hour's folder; then the content hash (landing is idempotent by it)."""
    return (f"{landed_at:%Y%m%dT%H%M%S.%fZ}-{place:04d}__{sha256[:HASH_PREFIX_LEN]}__"
            f"{safe_name(name)}")


class ExportVerificationError(RuntimeError):
    """A DynamoDB export does not match its manifest or its described item count."""


class ExportFailedError(RuntimeError):
    """DynamoDB reported the export as FAILED."""


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LandedInboxFile:
    source: str
    original: str
    raw_path: Path
    sha256: str
    bytes: int


@dataclass(frozen=True)
class FileLanding:
    source: str
    landed: tuple[LandedInboxFile, ...]
    skipped: tuple[str, ...]  # original names whose content was already landed


def _landed_hashes(lake: Lake, source: str) -> set[str]:
    """The sha256 prefixes of every file already landed under ``raw/<source>/``."""
    found = set()
    for path in lake.raw_files(source):
        match = _LANDED_NAME.match(path.name)
        if match:
            found.add(match.group(1))
    return found


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_atomically(src: Path, target: Path, expected_sha256: str) -> int:
    """Copy ``src`` to ``target`` atomically; refuses a file that changed while being copied."""
    digest = hashlib.sha256()
    size = 0
    with atomic_target(target, durable=True) as tmp, src.open("rb") as fin, tmp.open("xb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            fout.write(chunk)
        if digest.hexdigest() != expected_sha256:
            raise RuntimeError(f"{src} changed while it was being landed; try again")
    return size


def land_files(settings: Settings, source: str, landed_at: datetime | None = None) -> FileLanding:
    """Land every regular file of ``inbox/<source>/`` (sorted, not recursive, no dot files).

    Symbolic links are not followed (not landed). A missing inbox folder is an empty landing.
    """
    if source not in FILE_SOURCES:
        raise ValueError(f"unknown file source {source!r}; expected one of {FILE_SOURCES}")
    moment = utc(landed_at)
    lake = settings.zones
    inbox = lake.inbox / source
    if not inbox.is_dir():
        return FileLanding(source=source, landed=(), skipped=())
    folder = lake.raw_partition(source, moment)
    known = _landed_hashes(lake, source)
    landed: list[LandedInboxFile] = []
    skipped: list[str] = []
    with os.scandir(inbox) as entries:
        candidates = sorted(
            (e for e in entries if not e.name.startswith(".") and e.is_file(follow_symlinks=False)),
            key=lambda e: e.name,
        )
    for place, entry in enumerate(candidates, start=1):
        path = Path(entry.path)
        sha256 = _sha256_of(path)
        if sha256[:HASH_PREFIX_LEN] in known:
            skipped.append(entry.name)
            continue
        target = folder / landed_file_name(moment, place, sha256, entry.name)
        size = _copy_atomically(path, target, sha256)
        known.add(sha256[:HASH_PREFIX_LEN])
        landed.append(LandedInboxFile(source, entry.name, target, sha256, size))
    return FileLanding(source=source, landed=tuple(landed), skipped=tuple(skipped))


# ------------------------------------------------------------------------------------------------
# DynamoDB exports
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportLanding:
    table: str  # logical table name
    export_arn: str
    snapshot_label: str
    folder: Path  # raw/<table>/ingest_date=.../hour=.../AWSDynamoDB/<export id>
    manifest_present: bool
    items: int
    data_files: int
    skipped: bool  # True: this snapshot label had already landed; nothing was exported
    export_type: str = "FULL_EXPORT"  # or INCREMENTAL_EXPORT (from the manifest)


class _DescribesExports(Protocol):
    def describe_export(self, export_arn: str) -> ExportStatus: ...


def _physical_table(settings: Settings, logical_table: str) -> str:
    if logical_table not in settings.tables:
        raise ValueError(
            f"unknown DynamoDB table {logical_table!r}; expected one of {sorted(settings.tables)}"
        )
    return settings.tables[logical_table]


def safe_label(snapshot_label: str) -> str:
    """The snapshot label as one safe path component (``2026-11-06T00:00:00+00:00`` keeps its
    date and digits, the rest becomes ``_``)."""
    label = safe_name(snapshot_label, fallback="")
    if not re.search(r"[A-Za-z0-9]", label):
        raise ValueError(f"snapshot label {snapshot_label!r} has nothing usable in a path")
    return label


def export_prefix(logical_table: str, snapshot_label: str) -> str:
    """The S3 prefix an export is written under (no trailing slash; AWS appends
    ``/AWSDynamoDB/<export id>/``)."""
    return f"exports/{logical_table}/{safe_label(snapshot_label)}"


def client_token(physical_table: str, snapshot_label: str) -> str:
    """Idempotency token of the export of one table for one snapshot label (64 hex chars)."""
    return hashlib.sha256(f"{physical_table}\n{snapshot_label}".encode()).hexdigest()[:64]


def find_landed(
    settings: Settings, logical_table: str, snapshot_label: str
) -> ExportLanding | None:
    """The earlier landing of ``snapshot_label`` for ``logical_table``, if there is one."""
    for folder in settings.zones.export_folders(logical_table):
        record = json.loads((folder / LANDED_RECORD).read_text(encoding="utf-8"))
        if record.get("snapshot_label") == snapshot_label:
            return ExportLanding(
                table=logical_table,
                export_arn=str(record["export_arn"]),
                snapshot_label=snapshot_label,
                folder=folder,
                manifest_present=bool(record["manifest_present"]),
                items=int(record["items"]),
                data_files=len(record["data_files"]),
                skipped=True,
                export_type=str(record.get("export_type", FULL_EXPORT)),
            )
    return None


def wait_for_export(
    dynamodb: _DescribesExports, export_arn: str, timeout_s: float = 300, poll_s: float = 2.0
) -> ExportStatus:
    """Poll ``describe_export`` until COMPLETED; FAILED raises ExportFailedError, and running
    past ``timeout_s`` raises TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = dynamodb.describe_export(export_arn)
        if status.status == "COMPLETED":
            return status
        if status.status == "FAILED":
            raise ExportFailedError(
                f"DynamoDB export {export_arn} failed: {status.failure or 'no reason given'}"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"DynamoDB export {export_arn} still {status.status} after {timeout_s:g}s"
            )
        time.sleep(min(poll_s, remaining))


def _export_keys(s3: S3, bucket: str, prefix: str) -> dict[str, set[str]]:
    """Keys under ``<prefix>/AWSDynamoDB/``, grouped by export id (relative to the export)."""
    base = f"{prefix}/{EXPORT_DIR}/"
    exports: dict[str, set[str]] = {}
    for key in s3.list_keys(bucket, base):
        export_id, sep, rest = key[len(base):].partition("/")
        if sep:
            exports.setdefault(export_id, set()).add(rest)
    return exports


def _locate_export(
    s3: S3, bucket: str, prefix: str, export_arn: str, before: set[str]
) -> str | None:
    """The export id (folder under ``<prefix>/AWSDynamoDB/``) that ``export_arn`` wrote.

    AWS names the folder after the id at the end of the ARN. The emulator uses another id and
    writes no manifest, so fall back to the manifest's exportArn, then to the one new folder.
    """
    exports = _export_keys(s3, bucket, prefix)
    arn_id = export_arn.rsplit("/", 1)[-1]
    if arn_id in exports:
        return arn_id
    for export_id, keys in exports.items():
        if MANIFEST_SUMMARY in keys:
            key = f"{prefix}/{EXPORT_DIR}/{export_id}/{MANIFEST_SUMMARY}"
            summary = json.loads(s3.get_bytes(bucket, key))
            if summary.get("exportArn") == export_arn:
                return export_id
    new = set(exports) - before
    if len(new) == 1:
        return new.pop()
    if not exports:
        return None
    raise ExportVerificationError(
        f"cannot tell which export under s3://{bucket}/{prefix}/{EXPORT_DIR}/ was written by "
        f"{export_arn}: candidates {sorted(new or exports)}"
    )


def _require_incremental_manifest(s3: S3, bucket: str, export_key: str) -> None:
    """An incremental export is landed only with a manifest that says it is one."""
    summary_key = f"{export_key}/{MANIFEST_SUMMARY}"
    if summary_key not in set(s3.list_keys(bucket, export_key + "/")):
        raise ExportVerificationError(
            f"incremental export s3://{bucket}/{export_key} has no {MANIFEST_SUMMARY}: its time "
            "range and type are unknown (the emulator writes a full dump without one); not landed")
    kind = export_kind(s3.get_bytes(bucket, summary_key), export_key)
    if kind.export_type != INCREMENTAL_EXPORT:
        raise ExportVerificationError(
            f"s3://{bucket}/{export_key} is a {kind.export_type}, not the incremental export "
            "asked for; not landed")


def land_dynamodb_export(
    settings: Settings,
    logical_table: str,
    snapshot_label: str,
    landed_at: datetime | None = None,
    *,
    timeout_s: float = 300,
    poll_s: float = 2.0,
    changes: tuple[datetime, datetime] | None = None,
) -> ExportLanding:
    """Export ``logical_table`` to S3 (point in time), verify the export and land it in raw.

    With ``changes`` = (from, to), an incremental export of the changes made in [from, to)
    instead: it must come with its manifest (the only record of its time range), else
    :class:`ExportVerificationError` and nothing lands (the emulator writes none).

    Idempotent per (table, snapshot label): a label already landed returns the earlier record
    (``skipped=True``) without exporting again; a retried export reuses the same ClientToken.
    """
    physical = _physical_table(settings, logical_table)
    prefix = export_prefix(logical_table, snapshot_label)
    moment = utc(landed_at)
    earlier = find_landed(settings, logical_table, snapshot_label)
    if earlier is not None:
        return earlier
    s3 = S3(settings)
    dynamodb = DynamoDB(settings)
    bucket = settings.export_bucket
    s3.create_bucket(bucket)
    before = set(_export_keys(s3, bucket, prefix))
    token = client_token(physical, snapshot_label)
    if changes is None:
        export_arn = dynamodb.export_table_to_point_in_time(
            dynamodb.table_arn(physical), bucket, prefix, token)
    else:
        export_arn = dynamodb.export_table_changes(
            dynamodb.table_arn(physical), bucket, prefix, token, *changes)
    status = wait_for_export(dynamodb, export_arn, timeout_s=timeout_s, poll_s=poll_s)
    export_id = _locate_export(s3, bucket, prefix, export_arn, before)
    if export_id is None:
        if status.item_count:
            raise ExportVerificationError(
                f"export {export_arn} reports {status.item_count} items but wrote nothing under "
                f"s3://{bucket}/{prefix}/{EXPORT_DIR}/"
            )
        export_id = safe_name(export_arn.rsplit("/", 1)[-1], fallback="export")
    if changes is not None:
        _require_incremental_manifest(s3, bucket, f"{prefix}/{EXPORT_DIR}/{export_id}")
    return land_s3_export(
        settings, logical_table, snapshot_label, bucket, f"{prefix}/{EXPORT_DIR}/{export_id}",
        moment, export_arn=export_arn, described_item_count=status.item_count,
    )


@dataclass(frozen=True)
class _DataFile:
    path: str  # relative to the export folder, e.g. "data/abc.json.gz"
    bytes: int
    items: int
    md5: str  # base64, like the manifest's md5Checksum


def _relative(key: str, export_key: str) -> str:
    """``key`` relative to the export folder; refuses anything that would leave it."""
    base = export_key + "/"
    if not key.startswith(base):
        raise ExportVerificationError(f"S3 key {key!r} is outside the export {export_key!r}")
    rel = key[len(base):]
    parts = PurePosixPath(rel).parts
    if (
        not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel
        or any(p in ("", ".", "..") for p in parts) or rel.split("/")[-1] == LANDED_RECORD
    ):
        raise ExportVerificationError(f"refusing S3 key {key!r}: unsafe path inside the export")
    return rel


def _count_items(data: bytes, name: str) -> int:
    """Non-empty lines of a gzip JSON Lines data file (one item per line)."""
    count = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            for line in f:
                if line.strip():
                    count += 1
    except (OSError, EOFError, zlib.error) as e:
        raise ExportVerificationError(f"data file {name} is not valid gzip: {e}") from e
    return count


def verify_sidecars(files: dict[str, bytes]) -> None:
    """Each ``X.md5`` next to an ``X.json`` must hold the base64 MD5 of ``X.json``."""
    for rel, content in files.items():
        if not rel.endswith(".md5"):
            continue
        target = rel[: -len(".md5")] + ".json"
        if target not in files:
            continue
        expected = content.decode("ascii", errors="replace").strip()
        actual = _md5_b64(files[target])
        if expected != actual:
            raise ExportVerificationError(
                f"{target}: MD5 {actual} does not match its sidecar {rel} ({expected})"
            )


def _manifest_rel(key: str | None, export_key: str, default: str) -> str:
    if not key:
        return default
    return _relative(key, export_key)


def verify_manifest(
    files: dict[str, bytes],
    data_files: list[_DataFile],
    export_key: str,
    physical_table: str,
    export_arn: str | None,
) -> tuple[str, int]:
    """Check a real-AWS export against its manifest; returns (export ARN, expected items)."""
    verify_sidecars(files)
    try:
        summary = json.loads(files[MANIFEST_SUMMARY])
        files_rel = _manifest_rel(
            summary.get("manifestFilesS3Key"), export_key, "manifest-files.json"
        )
        if files_rel not in files:
            raise ExportVerificationError(f"manifest lists {files_rel} but the export lacks it")
        entries = [
            json.loads(line) for line in files[files_rel].decode("utf-8").splitlines()
            if line.strip()
        ]
        total = int(summary["itemCount"])
        manifest_arn = str(summary["exportArn"])
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise ExportVerificationError(f"unreadable manifest in {export_key}: {e!r}") from e
    if export_arn is not None and manifest_arn != export_arn:
        raise ExportVerificationError(
            f"manifest exportArn {manifest_arn} is not the export {export_arn}"
        )
    table_arn = summary.get("tableArn")
    if table_arn and str(table_arn).split(":table/", 1)[-1] != physical_table:
        raise ExportVerificationError(
            f"manifest tableArn {table_arn} is not table {physical_table!r}"
        )
    by_path = {d.path: d for d in data_files}
    listed: set[str] = set()
    listed_items = 0
    for entry in entries:
        try:
            rel = _relative(str(entry["dataFileS3Key"]), export_key)
            items = int(entry["itemCount"])
            checksum = str(entry["md5Checksum"])
        except (KeyError, ValueError, TypeError) as e:
            raise ExportVerificationError(f"bad manifest-files line {entry!r}: {e!r}") from e
        data = by_path.get(rel)
        if data is None:
            raise ExportVerificationError(f"manifest lists {rel} but the export lacks it")
        if data.md5 != checksum:
            raise ExportVerificationError(
                f"{rel}: MD5 {data.md5} does not match the manifest's md5Checksum {checksum}"
            )
        if data.items != items:
            raise ExportVerificationError(
                f"{rel}: {data.items} items found, the manifest says {items}"
            )
        listed.add(rel)
        listed_items += items
    unlisted = sorted(set(by_path) - listed)
    if unlisted:
        raise ExportVerificationError(f"data files missing from the manifest: {unlisted}")
    if listed_items != total:
        raise ExportVerificationError(
            f"manifest-files.json counts {listed_items} items, manifest-summary.json {total}"
        )
    return manifest_arn, total


@dataclass(frozen=True)
class ExportKind:
    """What an export holds and when: a full table at ``export_time``, or the changes made from
    ``export_from_time`` (inclusive) to ``export_to_time`` (exclusive). Times are ISO 8601 text,
    as the manifest writes them."""

    export_type: str
    export_time: str | None
    export_from_time: str | None = None
    export_to_time: str | None = None
    export_view_type: str | None = None

    def to_record(self) -> dict[str, str | None]:
        return {"export_type": self.export_type, "export_time": self.export_time,
                "export_from_time": self.export_from_time,
                "export_to_time": self.export_to_time,
                "export_view_type": self.export_view_type}


def _iso_time(value: Any, what: str, export_key: str) -> str:
    """A manifest time as ISO 8601 UTC text; refuses what is not a time."""
    try:
        moment = datetime.fromisoformat(str(value))  # 3.11 reads "Z" itself
    except ValueError as e:
        raise ExportVerificationError(f"{export_key}: {what} {value!r} is not a time") from e
    return utc(moment).isoformat()


def export_kind(summary_json: bytes, export_key: str) -> ExportKind:
    """The export type and times of a manifest-summary.json (an export made before incremental
    exports existed has no ``exportType``: a full export)."""
    try:
        summary = json.loads(summary_json)
    except ValueError as e:
        raise ExportVerificationError(f"unreadable manifest in {export_key}: {e!r}") from e
    kind = str(summary.get("exportType") or FULL_EXPORT)
    exported = summary.get("exportTime")
    export_time = _iso_time(exported, "exportTime", export_key) if exported else None
    if kind == FULL_EXPORT:
        return ExportKind(kind, export_time)
    if kind != INCREMENTAL_EXPORT:
        raise ExportVerificationError(f"{export_key}: unknown exportType {kind!r}")
    if not summary.get("exportFromTime") or not summary.get("exportToTime"):
        raise ExportVerificationError(
            f"{export_key}: an incremental export's manifest lacks exportFromTime/exportToTime")
    start = _iso_time(summary["exportFromTime"], "exportFromTime", export_key)
    end = _iso_time(summary["exportToTime"], "exportToTime", export_key)
    if datetime.fromisoformat(start) >= datetime.fromisoformat(end):
        raise ExportVerificationError(
            f"{export_key}: exportFromTime {start} is not before exportToTime {end}")
    return ExportKind(kind, export_time or end, start, end,
                      str(summary.get("outputView") or "NEW_AND_OLD_IMAGES"))


def land_s3_export(
    settings: Settings,
    logical_table: str,
    snapshot_label: str,
    bucket: str,
    export_key: str,
    landed_at: datetime | None = None,
    *,
    export_arn: str | None = None,
    described_item_count: int | None = None,
) -> ExportLanding:
    """Collect, verify and land one finished export: everything under ``s3://bucket/export_key/``
    (``export_key`` = ``<S3 prefix>/AWSDynamoDB/<export id>``).

    With ``manifest-summary.json`` the manifest is verified (MD5 and item counts; ``export_arn``,
    when given, must match the manifest's); without it the gzip lines must add up to
    ``described_item_count``. Nothing lands unless everything checks out. A full or incremental
    export is told by the manifest (:func:`export_kind`); without one it is a full export, taken
    (as far as the lake knows) at ``landed_at``.
    """
    physical = _physical_table(settings, logical_table)
    safe_label(snapshot_label)
    moment = utc(landed_at)
    earlier = find_landed(settings, logical_table, snapshot_label)
    if earlier is not None:
        return earlier
    export_key = export_key.rstrip("/")
    export_id = safe_name(export_key.rsplit("/", 1)[-1], fallback="export")
    s3 = S3(settings)

    files: dict[str, bytes] = {}
    for key in sorted(s3.list_keys(bucket, export_key + "/")):
        if key.endswith("/"):
            continue  # folder marker
        files[_relative(key, export_key)] = s3.get_bytes(bucket, key)
    data_files = [
        _DataFile(rel, len(content), _count_items(content, rel), _md5_b64(content))
        for rel, content in sorted(files.items())
        if rel.startswith("data/")
    ]
    found = sum(d.items for d in data_files)

    manifest_present = MANIFEST_SUMMARY in files
    if manifest_present:
        arn, expected = verify_manifest(files, data_files, export_key, physical, export_arn)
        kind = export_kind(files[MANIFEST_SUMMARY], export_key)
        expected_source = "manifest"
        if described_item_count is not None and described_item_count != expected:
            raise ExportVerificationError(
                f"describe_export says {described_item_count} items, the manifest {expected}"
            )
    else:
        if described_item_count is None:
            raise ExportVerificationError(
                f"s3://{bucket}/{export_key} has no manifest and no described ItemCount to "
                "verify against"
            )
        if export_arn is None:
            raise ExportVerificationError(f"s3://{bucket}/{export_key}: no manifest, no ARN")
        arn, expected, expected_source = export_arn, described_item_count, "describe_export"
        kind = ExportKind(FULL_EXPORT, moment.isoformat())
    if found != expected:
        raise ExportVerificationError(
            f"export {arn} of {physical}: {found} items in {len(data_files)} data files, "
            f"expected {expected} ({expected_source})"
        )

    record: dict[str, Any] = {
        "table": logical_table,
        "physical_table": physical,
        "export_arn": arn,
        "export_id": export_id,
        "snapshot_label": snapshot_label,
        "landed_at": moment.isoformat(),
        "s3_bucket": bucket,
        "s3_key": export_key,
        "manifest_present": manifest_present,
        **kind.to_record(),
        "expected_items": expected,
        "expected_items_source": expected_source,
        "items": found,
        "data_files": [
            {"name": PurePosixPath(d.path).name, "path": d.path, "bytes": d.bytes,
             "items": d.items, "md5": d.md5}
            for d in data_files
        ],
    }

    target = settings.zones.export_folder(logical_table, moment, export_id)
    with atomic_folder(target) as tmp:
        for rel, content in files.items():
            path = tmp.joinpath(*PurePosixPath(rel).parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        (tmp / LANDED_RECORD).write_text(
            json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    return ExportLanding(
        table=logical_table,
        export_arn=arn,
        snapshot_label=snapshot_label,
        folder=target,
        manifest_present=manifest_present,
        items=found,
        data_files=len(data_files),
        skipped=False,
        export_type=kind.export_type,
    )
