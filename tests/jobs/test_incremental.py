"""Incremental runs equal one full run: the same raw files landed in several steps, each step
transformed incrementally, give row for row what one full run over all of them gives (run ids
aside). Copies that land days later, a complaint whose event date moves, stream events repeated by
id and by content, and quarantined records are all in the steps."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from common.settings import Settings
from jobs.landing import land_files
from jobs.ledger import BackfillBlocked, clear_intent, read_ledger, write_intent
from jobs.transform import run_transform
from samples.generate import generate
from schemas.complaint import COMPLAINT, QUARANTINE
from schemas.streaming import STREAM_SOURCES, raw_file_name

SOURCES = ("call_center", "web_form", "sms", "social")
LANDED = datetime(2026, 11, 3, 6, tzinfo=UTC)


def table(root: Path, schema_names: list[str], drop: tuple[str, ...] = ("run_id",)
          ) -> list[dict[str, Any]]:
    if not root.exists():
        return []
    rows = ds.dataset(str(root), format="parquet", partitioning="hive").to_table().to_pylist()
    kept = [{k: (str(v) if k in ("event_date", "source") else v) for k, v in r.items()
             if k in schema_names and k not in drop} for r in rows]
    return sorted(kept, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def stream_file(settings: Settings, source: str, hour: datetime, first_seq: int,
                events: list[dict[str, Any] | bytes]) -> Path:
    """Raw stream records in the consumer's landing format (one Kinesis record a line)."""
    stream = STREAM_SOURCES[source]
    lines = []
    for i, event in enumerate(events):
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        lines.append(json.dumps({
            "stream": stream, "shard_id": "shardId-000000000000",
            "sequence_number": str(first_seq + i), "approximate_arrival": hour.isoformat(),
            "partition_key": "k", "data_b64": base64.b64encode(data).decode()}))
    path = settings.zones.raw_partition(source, hour) / raw_file_name(
        stream, "shardId-000000000000", str(first_seq), str(first_seq + len(events) - 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sms(event_id: str, text: str, sent_at: str, sender: str = "+15125550147") -> dict[str, Any]:
    return {"event_id": event_id, "channel": "sms", "sent_at": sent_at, "from": sender,
            "customer_id": None, "state": "TX", "text": text, "label": None}


def social(event_id: str, text: str, posted_at: str) -> dict[str, Any]:
    return {"event_id": event_id, "channel": "social", "platform": "reddit",
            "posted_at": posted_at, "author": "u1", "brand": None, "in_reply_to": None,
            "inbound": True, "text": text}


def stream_steps(settings: Settings, step: int) -> None:
    """Stream landings of one step: new events, replays, same content under another id, an
    event whose later copy moves it to another day, and a bad record. Step n lands n days
    after the first (events are never more than the future tolerance ahead of their landing)."""
    at = LANDED + timedelta(days=step)
    if step == 0:
        stream_file(settings, "sms", at, 100, [
            sms("s-1", "no signal since this morning", "2026-11-02T10:00:00Z"),
            sms("s-2", "charged twice for november", "2026-11-02T11:00:00Z"),
            sms("s-3", "internet down again", "2026-11-03T09:00:00Z"), b"\xff not json"])
        stream_file(settings, "social", at, 100, [
            social("p-1", "app keeps crashing", "2026-11-02T08:00:00Z")])
    elif step == 1:
        stream_file(settings, "sms", at, 200, [
            sms("s-1", "no signal since this morning", "2026-11-02T10:00:00Z"),  # replayed
            sms("s-9", "charged twice for november", "2026-11-02T11:00:00Z"),  # same content
            sms("s-3", "internet down again!", "2026-11-04T09:00:00Z")])  # later copy moves it
    elif step == 2:
        stream_file(settings, "sms", at, 300, [
            sms("s-0", "charged twice for november", "2026-11-02T11:00:00Z"),  # smaller id
            sms("s-4", "router keeps rebooting", "2026-11-05T12:00:00Z")])
        stream_file(settings, "social", at, 200, [
            social("p-1", "app keeps crashing", "2026-11-02T08:00:00Z"),
            social("p-2", "", "2026-11-02T08:00:00Z")])  # missing text: quarantined


def batch_steps(settings: Settings, generated: Path, step: int) -> None:
    """Move one day's call-centre and web-form exports into the inbox and land them."""
    for source in ("call_center", "web_form"):
        inbox = settings.zones.inbox / source
        inbox.mkdir(parents=True, exist_ok=True)
        for path in sorted((generated / source).iterdir())[step:step + 1]:
            shutil.copy(path, inbox / path.name)
        land_files(settings, source, landed_at=LANDED + timedelta(hours=step))
    if step == 2:  # a call re-exported with a corrected start: the complaint moves to another day
        first = next((settings.zones.raw / "call_center").rglob("*.jsonl"))
        line = next(x for x in first.read_bytes().splitlines() if x.startswith(b'{"call_id"')
                    and x.endswith(b"}"))
        record = json.loads(line)
        record["started"], record["tz"] = "2026-11-01T12:00:00Z", None
        moved = settings.zones.inbox / "call_center" / "corrected.jsonl"
        moved.write_text(json.dumps(record) + "\n", encoding="utf-8")
        land_files(settings, "call_center", landed_at=LANDED + timedelta(hours=step + 1))


def test_incremental_runs_equal_one_full_run(spark: Any, tmp_path: Path) -> None:
    scratch = Settings(lake=tmp_path / "scratch")
    generate(scratch, days=3, start=date(2026, 11, 2), load_dynamodb=False)
    settings = Settings(lake=tmp_path / "lake")
    results = []
    for step in range(3):
        batch_steps(settings, scratch.zones.inbox, step)
        stream_steps(settings, step)
        results.append(run_transform(settings, SOURCES, run_id=f"step-{step}", spark=spark))
    assert all(c.mode == "incremental" for r in results for c in r.counts if c.records_in)
    assert all(c.conserved for r in results for c in r.counts)
    # each step read only its own new files
    assert [sum(c.raw_files for c in r.counts) for r in results] == [4, 3, 5]

    full = Settings(lake=tmp_path / "full")
    shutil.copytree(settings.zones.raw, full.zones.raw)
    once = run_transform(full, SOURCES, run_id="all-at-once", spark=spark)
    assert all(c.mode == "full" or c.records_in for c in once.counts)

    names = COMPLAINT.names
    incremental_rows = table(settings.zones.clean_complaints, names)
    assert incremental_rows == table(full.zones.clean_complaints, names)
    assert table(settings.zones.quarantine_records, QUARANTINE.names) == table(
        full.zones.quarantine_records, QUARANTINE.names)
    # the per-source totals of the steps add up to the one full run
    for source in SOURCES:
        steps = [c for r in results for c in r.counts if c.source == source]
        (whole,) = [c for c in once.counts if c.source == source]
        assert sum(c.records_in for c in steps) == whole.records_in, source
        assert sum(c.clean for c in steps) == whole.clean, source
        assert sum(c.quarantined for c in steps) == whole.quarantined, source

    by_id = {(r["source"], r["source_record_id"]): r for r in incremental_rows}
    # same content under three ids: the earliest landed (s-2) stands for all three
    assert by_id[("sms", "s-2")]["duplicate_count"] == 3
    assert ("sms", "s-9") not in by_id and ("sms", "s-0") not in by_id
    assert by_id[("sms", "s-1")]["duplicate_count"] == 2
    assert by_id[("sms", "s-3")]["event_date"] == "2026-11-04"  # moved with its later copy
    # ... which says something else: kept and flagged, the first copy quarantined, findable
    assert by_id[("sms", "s-3")]["quality_flags"][-1] == "conflicting_duplicate"
    assert by_id[("sms", "s-3")]["duplicate_count"] == 1
    conflicts = [r for r in table(settings.zones.quarantine_records, QUARANTINE.names)
                 if r["reason"] == "conflicting_duplicate"]
    assert sorted(r["source"] for r in conflicts) == ["call_center", "sms"]  # + corrected call
    (first_s3,) = [json.loads(r["raw_record"]) for r in conflicts if r["source"] == "sms"]
    assert (first_s3["source_record_id"], first_s3["text"], first_s3["kept_complaint_id"]) == (
        "s-3", "internet down again", by_id[("sms", "s-3")]["complaint_id"])
    assert by_id[("social", "p-1")]["duplicate_count"] == 2
    carried = [r for r in incremental_rows if r["source"] == "call_center"
               and r["duplicate_count"] > 1 and r["first_ingest_time"] < r["ingest_time"]]
    assert carried, "the generator carries some calls into the next day's export"
    moved = [r for r in incremental_rows if r["event_date"] == "2026-11-01"]
    assert [r["source"] for r in moved] == ["call_center"]


def test_rerun_reads_nothing_and_full_rerun_is_identical(spark: Any, tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    stream_steps(settings, 0)
    first = run_transform(settings, ("sms", "social"), run_id="one", spark=spark)
    rows = table(settings.zones.clean_complaints, COMPLAINT.names)
    again = run_transform(settings, ("sms", "social"), run_id="two", spark=spark)
    assert [c.mode for c in again.counts] == ["skipped", "skipped"]
    full = run_transform(settings, ("sms", "social"), run_id="three", spark=spark, full=True)
    assert [(c.records_in, c.clean, c.quarantined) for c in full.counts] == [
        (c.records_in, c.clean, c.quarantined) for c in first.counts]
    assert table(settings.zones.clean_complaints, COMPLAINT.names) == rows
    assert {e.run_id for e in read_ledger(settings.zones, "sms").values()} == {"three"}


def test_a_run_that_did_not_commit_is_redone_in_full(spark: Any, tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    stream_steps(settings, 0)
    run_transform(settings, ("sms",), run_id="one", spark=spark)
    rows = table(settings.zones.clean_complaints, COMPLAINT.names)
    stream_steps(settings, 1)
    # as if a run died after swapping its partitions in but before committing its ledger
    run_transform(settings, ("sms",), run_id="two", spark=spark)
    ledger = settings.zones.ledger / "sms.parquet"
    shutil.copy(ledger, tmp_path / "ledger-after-two")

    write_intent(settings.zones, "sms", "two", [])
    shutil.copy(tmp_path / "ledger-after-two", ledger)
    redo = run_transform(settings, ("sms",), run_id="three", spark=spark)
    assert [c.mode for c in redo.counts] == ["full"]
    full = Settings(lake=tmp_path / "full")
    shutil.copytree(settings.zones.raw, full.zones.raw)
    run_transform(full, ("sms",), run_id="all", spark=spark)
    assert table(settings.zones.clean_complaints, COMPLAINT.names) == table(
        full.zones.clean_complaints, COMPLAINT.names) != rows


def test_event_date_backfill_rewrites_only_its_partitions(spark: Any, tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake")
    for step in range(3):
        stream_steps(settings, step)
    run_transform(settings, ("sms",), run_id="base", spark=spark)
    # Landed after the last run: the next run's increment, not the backfill's (read by both, it
    # would count twice: a backfill does not add to the ledger).
    stream_file(settings, "sms", LANDED + timedelta(days=3), 400, [
        sms("s-3", "internet down again!", "2026-11-04T09:00:00Z"),  # a copy of the kept one
        sms("s-7", "bill doubled this month", "2026-11-04T10:00:00Z")])
    before = {p: p.stat().st_mtime_ns for p in settings.zones.clean_complaints.rglob("*.parquet")}
    result = run_transform(settings, ("sms",), run_id="backfill", spark=spark,
                           event_dates=(date(2026, 11, 4), date(2026, 11, 4)))
    assert result.partitions == (("2026-11-04", "sms"),)
    # Its counts are the copies of the complaints of 2026-11-04 (s-3: the kept copy and the one
    # that lost the conflict, an entry since the base run), not every record of the files read.
    (sms_counts,) = result.counts
    assert (sms_counts.mode, sms_counts.raw_files, sms_counts.records_in, sms_counts.clean,
            sms_counts.quarantined, sms_counts.duplicates) == ("backfill", 3, 2, 1, 1, 0)
    after = {p: p.stat().st_mtime_ns for p in settings.zones.clean_complaints.rglob("*.parquet")}
    unchanged = [p for p in before if p in after and before[p] == after[p]]
    assert all("event_date=2026-11-04" not in str(p) for p in unchanged)
    assert all("event_date=2026-11-04" in str(p) for p in set(after) - set(before))
    rows = table(settings.zones.clean_complaints, COMPLAINT.names, drop=())
    assert {r["run_id"] for r in rows if r["event_date"] == "2026-11-04"} == {"backfill"}
    assert {r["run_id"] for r in rows if r["event_date"] != "2026-11-04"} == {"base"}
    assert "s-7" not in {r["source_record_id"] for r in rows}
    write_intent(settings.zones, "sms", "died", [])  # a run that did not commit: redo it first
    with pytest.raises(BackfillBlocked, match="run died did not commit"):
        run_transform(settings, ("sms",), spark=spark, event_dates=(date(2026, 11, 4),) * 2)
    clear_intent(settings.zones, "sms")
    latest = run_transform(settings, ("sms",), run_id="latest", spark=spark)
    assert [(c.raw_files, c.records_in) for c in latest.counts] == [(1, 2)]
    full = Settings(lake=tmp_path / "full")
    shutil.copytree(settings.zones.raw, full.zones.raw)
    run_transform(full, ("sms",), run_id="all", spark=spark)
    assert table(settings.zones.clean_complaints, COMPLAINT.names) == table(
        full.zones.clean_complaints, COMPLAINT.names)


def test_a_poison_file_is_one_quarantine_entry_and_not_retried(spark: Any, tmp_path: Path
                                                               ) -> None:
    settings = Settings(lake=tmp_path / "lake")
    stream_steps(settings, 0)
    folder = settings.zones.raw_partition("web_form", LANDED)
    folder.mkdir(parents=True)
    (folder / "bad-header.csv").write_text("Date received,Product\n2026-11-02,Phone\n")
    good = "Complaint ID,Date received,Issue\n7000001,2026-11-02,Billing dispute\n"
    (folder / "reordered.csv").write_text(good)
    (folder / "truncated.csv.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6)
    sources = ("web_form", "sms")
    first = run_transform(settings, sources, run_id="one", spark=spark)
    web = next(c for c in first.counts if c.source == "web_form")
    assert (web.raw_files, web.files_quarantined, web.records_in, web.clean) == (1, 2, 1, 1)
    # The readable file's drift is reported: in the result, and in run_files with its record.
    notes = {n for f, n in first.file_notes if f.endswith("/reordered.csv")}
    assert any(n.startswith("schema drift: 15 optional columns missing (read as null)")
               for n in notes), notes
    listed = {r["raw_file"].rsplit("/", 1)[1]: r for r in pq.read_table(
        settings.zones.run_files / "one.parquet").to_pylist()}
    assert set(listed["reordered.csv"]["notes"].split("; ")) == notes
    assert listed["bad-header.csv"]["status"] == "quarantined"
    entries = {r["raw_file"].rsplit("/", 1)[1]: r for r in table(
        settings.zones.quarantine_records, QUARANTINE.names) if r["raw_line"] == 0}
    assert set(entries) == {"bad-header.csv", "truncated.csv.gz"}
    assert "Complaint ID" in entries["bad-header.csv"]["reason"]
    assert all(r["reason"].startswith("unreadable file: ") for r in entries.values())
    ledger = read_ledger(settings.zones, "web_form")
    assert sorted(e.status for e in ledger.values()) == ["processed", "quarantined",
                                                         "quarantined"]

    again = run_transform(settings, sources, run_id="two", spark=spark)
    assert all(c.mode == "skipped" for c in again.counts)  # poison files are not retried
    retried = run_transform(settings, ("web_form",), run_id="three", spark=spark,
                            retry_quarantined=True)
    assert [(c.raw_files, c.files_quarantined) for c in retried.counts] == [(0, 2)]
    # Still one entry per poison file (the retry's), as a full run leaves them.
    file_entries = [r for r in table(settings.zones.quarantine_records, QUARANTINE.names,
                                     drop=()) if r["raw_line"] == 0]
    assert sorted((r["raw_file"].rsplit("/", 1)[1], r["run_id"]) for r in file_entries) == [
        ("bad-header.csv", "three"), ("truncated.csv.gz", "three")]
    full = run_transform(settings, ("web_form",), run_id="four", spark=spark, full=True)
    assert [(c.raw_files, c.files_quarantined) for c in full.counts] == [(1, 2)]
    assert len([r for r in table(settings.zones.quarantine_records, QUARANTINE.names)
                if r["raw_line"] == 0]) == 2


def test_a_correction_landed_later_in_the_same_hour_is_kept(spark: Any, tmp_path: Path) -> None:
    # Copies rank by (landing hour, raw file name, line): the landing moment leads the file name,
    # so a correction landed minutes after the original wins even when its content hash sorts
    # before the original's.
    settings = Settings(lake=tmp_path / "lake")
    inbox = settings.zones.inbox / "call_center"
    inbox.mkdir(parents=True)

    def call(notes: str) -> bytes:
        return json.dumps({
            "call_id": "CALL-1", "started": "2026-11-03T14:22:05-05:00", "tz": None,
            "agent": "a1", "queue": "billing", "duration_s": 120,
            "caller": {"customer_id": "cust-1", "name": "N", "phone": "555"},
            "location": {"city": "Austin", "state": "TX", "zip": "73301"},
            "notes": notes}).encode() + b"\n"

    original = call("my bill is wrong")
    correction = next(c for c in (call(f"my bill is wrong by {n} dollars") for n in range(100))
                      if hashlib.sha256(c).hexdigest() < hashlib.sha256(original).hexdigest())
    for minute, content in ((10, original), (20, correction)):
        (inbox / f"calls-{minute}.jsonl").write_bytes(content)
        land_files(settings, "call_center", landed_at=LANDED + timedelta(minutes=minute))
        run_transform(settings, ("call_center",), spark=spark)
    (row,) = table(settings.zones.clean_complaints, COMPLAINT.names)
    assert row["text"] == json.loads(correction)["notes"]
    assert "conflicting_duplicate" in row["quality_flags"]
    (entry,) = table(settings.zones.quarantine_records, QUARANTINE.names)
    assert json.loads(entry["raw_record"])["text"] == "my bill is wrong"
