"""Measured customer linking (``python -m bench --sections customer_links``).

Generated data of every channel (``samples.generate``: call logs, web forms and the DynamoDB
tables, written into the raw zone directly as exports; ``samples.producer``: synthetic SMS and
social events, landed as the consumer lands them) goes through the operational tables, the
transform and ``jobs.customer_links``. The generator knows who really wrote each complaint
(``GenerationSummary.customer_truth``, the events' ``_customer``), so:

* **link rate** per source: complaints with at least one link / complaints;
* **precision**: links naming the customer who really wrote the complaint / links;
* **recall**: complaints whose true customer (one the master holds) is among their links /
  complaints with a true customer.

Planted hard cases, landed beside the generated data, each checked by name: an SMS from a UK
mobile in E.164 whose customer's master record holds it in national format (``07911 …``, country
GB); a call with a customer's number in US national format and no customer id (the master holds
it in another shape); a social post whose author is a customer's handle in other case and
without "@"; a call from the phone two customers share (must link to nobody: ambiguous).
"""

from __future__ import annotations

import gzip
import itertools
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from common.settings import Settings

START = date(2026, 10, 5)
SEED = 7


@dataclass(frozen=True)
class HardCase:
    name: str
    source: str
    record_id: str
    expect: str | None  # the customer it must link to; None: it must link to nobody


def _hard_cases() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]],
                           list[HardCase]]:
    """(calls, sms events, social events, the cases) planted beside the generated data."""
    from samples.generate import SHARED_PHONE_CUSTOMERS, UK_CUSTOMER, UK_MOBILE_E164, customer

    uk, shared = customer(UK_CUSTOMER), customer(SHARED_PHONE_CUSTOMERS[0])
    national = customer(3)  # master: whatever shape; the call: "(aaa) 555-2003"
    handle = next(customer(n) for n in range(20, 300) if customer(n).handle)
    at = f"{START:%Y-%m-%d}T12:00:00Z"

    def call(call_id: str, phone: str) -> dict[str, Any]:
        return {"call_id": call_id, "started": at, "agent": "agent_001",
                "caller": {"customer_id": None, "name": "Hard Case", "phone": phone},
                "notes": "internet down again since this morning"}

    e = national.phone_e164
    calls = [call("CALL-HARD-NATIONAL", f"({e[2:5]}) {e[5:8]}-{e[8:]}"),
             call("CALL-HARD-SHARED", f"{shared.phone_e164[2:5]}.555.{shared.phone_e164[-4:]}")]
    sms = [{"event_id": "sms-hard-uk", "channel": "sms", "sent_at": at, "from": UK_MOBILE_E164,
            "customer_id": None, "state": None, "text": "no signal in my flat", "label": None}]
    assert handle.handle is not None
    social = [{"event_id": "social-hard-handle", "channel": "social", "platform": "twitter",
               "posted_at": at, "author": handle.handle.lstrip("@").upper(), "brand": "AcmeCares",
               "in_reply_to": None, "inbound": True, "text": "@AcmeCares my bill doubled"}]
    cases = [
        HardCase("UK mobile, E.164 vs national in the master", "sms", "sms-hard-uk",
                 uk.customer_id),
        HardCase("US national format, no customer id", "call_center", "CALL-HARD-NATIONAL",
                 national.customer_id),
        HardCase("handle in other case, no @", "social", "social-hard-handle",
                 handle.customer_id),
        HardCase("shared phone (two customers): ambiguous", "call_center", "CALL-HARD-SHARED",
                 None),
    ]
    return calls, sms, social, cases


def _land_exports(settings: Settings, items: dict[str, list[dict[str, Any]]], at: datetime,
                  scratch: Path) -> None:
    from samples.bulk import export_line, write_export

    for table, table_items in items.items():
        data = scratch / f"{table}.json.gz"
        with gzip.open(data, "wb") as f:
            f.writelines(export_line(item) for item in table_items)
        write_export(settings, table, [data], at, export_id=f"bench-{table}")


def _land_stream(settings: Settings, source: str, records: list[dict[str, Any]],
                 at: datetime) -> None:
    from common.aws import StreamRecord
    from samples.producer import to_event
    from streaming.consumer import land_batch

    batch = [StreamRecord(str(10**20 + i), at + timedelta(seconds=i), event.partition_key,
                          event.data)
             for i, event in enumerate(to_event(source, r) for r in records)]
    land_batch(settings.zones, source, settings.stream_of(source), "shardId-000000000000", batch)


def land_every_channel(settings: Settings, days: int, stream_events: int,
                       planted: dict[str, list[Any]], name: str
                       ) -> tuple[Any, dict[str, list[dict[str, Any]]]]:
    """Generate ``days`` of every channel (``SEED``, from ``START``) and land it with the
    ``planted`` records of each source beside it (call-centre records and web-form CSV rows as
    inbox files ``*_<name>``, SMS and social events in the stream's batch); return the generation
    summary and the synthetic stream records of each stream source."""
    from jobs.landing import land_files
    from samples.generate import csv_bytes, dynamodb_items, generate, json_line
    from samples.producer import synthetic_records

    summary = generate(settings, seed=SEED, days=days, start=START, load_dynamodb=False)
    inbox = settings.zones.inbox
    if planted.get("call_center"):
        (inbox / "call_center" / f"calls_{name}.jsonl").write_bytes(
            b"".join(json_line(c) + b"\n" for c in planted["call_center"]))
    if planted.get("web_form"):
        (inbox / "web_form" / f"forms_{name}.csv").write_bytes(csv_bytes(planted["web_form"]))
    landed_at = datetime.combine(START + timedelta(days=days), datetime.min.time(), UTC)
    for source in ("call_center", "web_form"):
        land_files(settings, source, landed_at=landed_at)
    window = [START + timedelta(days=i) for i in range(days)]
    with tempfile.TemporaryDirectory(prefix=f"{name}-exports-") as scratch:
        _land_exports(settings, dynamodb_items(SEED, window, summary.surge), landed_at,
                      Path(scratch))
    first = datetime.combine(START, datetime.min.time(), UTC)
    spacing = days * 86400 / max(stream_events, 1)
    streamed: dict[str, list[dict[str, Any]]] = {}
    for source in ("sms", "social"):
        streamed[source] = list(itertools.islice(
            synthetic_records(source, seed=SEED, start=first, spacing_s=spacing), stream_events))
        _land_stream(settings, source, streamed[source] + planted.get(source, []), landed_at)
    return summary, streamed


def linked_lake(settings: Settings, app_name: str) -> Any:
    """Operational tables, the transform of every source and the customer links over a landed
    lake, in one Spark session, returned for what comes next (the caller stops it)."""
    from jobs.customer_links import run_customer_links
    from jobs.operational import run_operational_tables
    from jobs.spark import spark_session
    from jobs.transform import run_transform
    from schemas.sources import COMPLAINT_SOURCES

    spark = spark_session(settings.spark_master, app_name=app_name)
    run_operational_tables(settings, spark=spark)
    run_transform(settings, sources=COMPLAINT_SOURCES, spark=spark)
    run_customer_links(settings, spark=spark)
    return spark


def build_lake(settings: Settings, days: int, stream_events: int
               ) -> tuple[dict[str, dict[str, str | None]], list[HardCase]]:
    """Generate, land and link; return the truth (source -> record id -> customer) and the
    planted hard cases."""
    from samples.generate import TRUE_CUSTOMER

    calls, sms, social, cases = _hard_cases()
    summary, streamed = land_every_channel(
        settings, days, stream_events,
        {"call_center": calls, "sms": sms, "social": social}, "hard_cases")
    truth = {source: dict(ids) for source, ids in summary.customer_truth.items()}
    for source, records in streamed.items():
        truth[source] = {r["event_id"]: r.get(TRUE_CUSTOMER) for r in records}
    for case in cases:
        truth.setdefault(case.source, {})[case.record_id] = case.expect
    linked_lake(settings, "complaints-bench-links").stop()
    return truth, cases


@dataclass
class SourceScore:
    complaints: int = 0
    linked: int = 0
    links: int = 0
    correct_links: int = 0
    with_truth: int = 0
    found: int = 0


def score(settings: Settings, truth: dict[str, dict[str, str | None]]
          ) -> tuple[dict[str, SourceScore], Counter[str], dict[tuple[str, str], set[str]]]:
    """Per-source scores, links by evidence, and each complaint's linked customers."""
    import duckdb

    lake = settings.zones.clean
    conn = duckdb.connect()
    complaints = conn.sql(
        f"SELECT complaint_id, source, source_record_id FROM read_parquet("
        f"'{lake}/complaints/*/*/*.parquet', hive_partitioning = true)").fetchall()
    links = conn.sql(
        f"SELECT complaint_id, customer_id, evidence, evidences FROM read_parquet("
        f"'{lake}/customer_links/*/*.parquet', hive_partitioning = true)").fetchall()
    by_complaint: dict[str, set[str]] = {}
    evidence: Counter[str] = Counter()
    for complaint_id, customer_id, kind, kinds in links:
        by_complaint.setdefault(complaint_id, set()).add(customer_id)
        evidence[kind] += 1
        evidence.update(f"{k} (any)" for k in kinds)
    scores: dict[str, SourceScore] = {}
    linked_of: dict[tuple[str, str], set[str]] = {}
    for complaint_id, source, record_id in complaints:
        s = scores.setdefault(source, SourceScore())
        true = truth.get(source, {}).get(record_id)
        got = by_complaint.get(complaint_id, set())
        linked_of[(source, record_id)] = got
        s.complaints += 1
        s.linked += bool(got)
        s.links += len(got)
        s.correct_links += true in got
        s.with_truth += true is not None
        s.found += true is not None and true in got
    return scores, evidence, linked_of


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def customer_links_section(days: int = 3, stream_events: int = 1500) -> list[str]:
    from jobs.customer_links import COUNTS_FOLDER

    with tempfile.TemporaryDirectory(prefix="complaints-bench-links-") as tmp:
        settings = Settings(lake=Path(tmp) / "lake")
        began = time.perf_counter()
        truth, cases = build_lake(settings, days, stream_events)
        seconds = time.perf_counter() - began
        scores, evidence, linked_of = score(settings, truth)
        import pyarrow.parquet as pq

        outcomes = {r["source"]: r for r in pq.read_table(
            settings.zones.clean / COUNTS_FOLDER).to_pylist()}
    total = SourceScore()
    lines = [
        "## Customer links",
        "",
        f"Generated: {days} days of every batch channel (seed {SEED}) and {stream_events:,} SMS "
        f"and social events each; generate, land, transform and link took {seconds:.0f} s. "
        "Truth: who the generator made write each complaint.",
        "",
        "| source | complaints | linked (rate) | ambiguous | unmatched | no identifier | "
        "precision | recall |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for source in sorted(scores):
        s, o = scores[source], outcomes.get(source, {})
        for name in ("complaints", "linked", "links", "correct_links", "with_truth", "found"):
            setattr(total, name, getattr(total, name) + getattr(s, name))
        lines.append(
            f"| {source} | {s.complaints:,} | {s.linked:,} ({_pct(s.linked, s.complaints)}) | "
            f"{o.get('ambiguous', 0):,} | {o.get('unmatched', 0):,} | "
            f"{o.get('no_identifier', 0):,} | {_pct(s.correct_links, s.links)} | "
            f"{_pct(s.found, s.with_truth)} |")
    lines.append(
        f"| **all** | {total.complaints:,} | {total.linked:,} "
        f"({_pct(total.linked, total.complaints)}) | | | | "
        f"{_pct(total.correct_links, total.links)} ({total.correct_links:,} of {total.links:,}) | "
        f"{_pct(total.found, total.with_truth)} |")
    strongest = [(k, n) for k, n in evidence.most_common() if "(any)" not in k]
    anywhere = [(k[:-6], n) for k, n in evidence.most_common() if "(any)" in k]
    lines += ["", "Links by strongest evidence: " + ", ".join(
        f"{kind} {n:,}" for kind, n in strongest) + "; links each kind of evidence supports "
        "(a link may have several): " + ", ".join(f"{kind} {n:,}" for kind, n in anywhere)
        + ".", "",
        "| planted hard case | expected | linked to | ok |", "| --- | --- | --- | --- |"]
    for case in cases:
        got = linked_of.get((case.source, case.record_id), set())
        ok = got == ({case.expect} if case.expect else set())
        lines.append(f"| {case.name} | {case.expect or 'nobody'} | "
                     f"{', '.join(sorted(got)) or 'nobody'} | {'yes' if ok else 'NO'} |")
    lines.append("")
    return lines

