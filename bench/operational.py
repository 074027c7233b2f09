"""Measured operational tables from incremental exports (``--sections operational``).

A ``complaint_management`` full export of ``--ops-items`` items (a metadata item and a
communication per complaint) is landed, then ``--ops-exports`` incremental exports of
``--ops-changes`` changes each (70 % state updates, some several times per item in one export, 20 %
new complaints, 10 % deletes, one malformed line per export), written as AWS lays them out
(``_landed.json`` as the lander writes it; the S3 round trip is the tests' business). Timed:
the full export alone, then full + incrementals (cold and rerun). The resulting table is
compared with the state computed in plain Python by applying the same changes one by one.
"""

from __future__ import annotations

import gzip
import json
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common.lake import LANDED_RECORD
from common.settings import Settings

TABLE = "complaint_management"
FULL_AT = datetime(2026, 11, 2, 9, tzinfo=UTC)
STATES = ("assigned", "investigating", "waiting", "escalated", "resolved", "closed")
Key = tuple[str, str]


def _item(pk: str, sk: str, state: str) -> dict[str, Any]:
    if sk == "metadata":
        return {"PK": {"S": pk}, "SK": {"S": sk}, "complaint_id": {"S": pk},
                "customer_id": {"S": f"cust-{int(pk[1:]) % 5000}"}, "current_state": {"S": state},
                "creation_time": {"S": "2026-11-01T08:00:00Z"}, "severity": {"S": "P2"}}
    return {"PK": {"S": pk}, "SK": {"S": sk}, "complaint_state": {"S": state},
            "comm_date": {"S": "2026-11-01T09:00:00Z"}, "comm_text": {"S": "called back"}}


def _write_export(lake: Path, export_id: str, lines: list[str], record: dict[str, Any]) -> None:
    folder = lake / "raw" / TABLE / "ingest_date=2026-11-02" / "hour=12" / "AWSDynamoDB" / export_id
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "part.json.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    (folder / LANDED_RECORD).write_text(json.dumps(
        {"export_arn": f"arn:bench/{export_id}", "landed_at": "2026-11-02T12:00:00+00:00",
         "items": len(lines), **record}))


@dataclass
class _Plan:
    items: int
    exports: int
    changes: int
    seed: int = 7


def _full_export(lake: Path, plan: _Plan, state: dict[Key, str]) -> int:
    lines = []
    for n in range(plan.items // 2):
        for sk in ("metadata", f"comm#{n}"):
            key = (f"C{n:08d}", sk)
            state[key] = "assigned"
            lines.append(json.dumps({"Item": _item(*key, "assigned")}))
    _write_export(lake, "full", lines, {"export_type": "FULL_EXPORT",
                                        "export_time": FULL_AT.isoformat()})
    return len(lines)


def _incremental_exports(lake: Path, plan: _Plan, state: dict[Key, str]) -> int:
    """Write the incremental exports and apply them to ``state`` one change at a time."""
    rng = random.Random(plan.seed)
    live = sorted(state)
    next_case = plan.items // 2
    written = 0
    for number in range(plan.exports):
        start = FULL_AT + timedelta(hours=number)
        changes: list[tuple[int, Key, str | None]] = []  # (micros, key, new state or delete)
        # Distinct write times within the export's hour (a tie would have no defined winner).
        offsets = rng.sample(range(3_600_000_000), plan.changes)
        for offset in offsets:
            micros = int(start.timestamp()) * 1_000_000 + offset
            roll = rng.random()
            if roll < 0.2:
                changes.append((micros, (f"C{next_case:08d}", "metadata"), "assigned"))
                next_case += 1
            else:
                key = live[rng.randrange(len(live))]
                changes.append((micros, key, None if roll > 0.9 else rng.choice(STATES)))
        lines = []
        for micros, key, new in changes:
            line: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": {"N": str(micros)}},
                                    "Keys": {"PK": {"S": key[0]}, "SK": {"S": key[1]}}}
            if new is not None:
                line["NewImage"] = _item(*key, new)
            if key in state:
                line["OldImage"] = _item(*key, state[key])
            lines.append(json.dumps(line))
        lines.append('{"Keys": {"PK": ')  # one malformed line per export
        for _, key, new in sorted(changes):
            if new is None:
                state.pop(key, None)
            else:
                state[key] = new
        live = sorted(state)
        _write_export(lake, f"changes{number:03d}", lines, {
            "export_type": "INCREMENTAL_EXPORT", "export_from_time": start.isoformat(),
            "export_to_time": (start + timedelta(hours=1)).isoformat()})
        written += len(lines)
    return written


def _table_state(settings: Settings) -> dict[Key, str]:
    import pyarrow.parquet as pq

    rows = pq.read_table(settings.zones.clean / TABLE,
                         columns=["PK", "SK", "current_state", "complaint_state"]).to_pylist()
    return {(r["PK"], r["SK"]): r["current_state"] or r["complaint_state"] for r in rows}


def operational_section(items: int = 200_000, exports: int = 3,
                        changes: int = 20_000) -> list[str]:
    from jobs.operational import run_operational_tables
    from jobs.spark import spark_session

    plan = _Plan(items, exports, changes)
    lines = ["## Operational tables: full export + incremental exports (complaint_management)", ""]
    with tempfile.TemporaryDirectory(prefix="complaints-bench-ops-") as tmp:
        settings = Settings(lake=Path(tmp) / "lake")
        state: dict[Key, str] = {}
        full_lines = _full_export(settings.lake, plan, state)
        spark = spark_session(settings.spark_master, app_name="complaints-bench-ops")
        rows = []
        began = time.perf_counter()
        result = run_operational_tables(settings, spark=spark, tables=(TABLE,))
        rows.append(("full export alone (cold JVM)", time.perf_counter() - began, result))
        change_lines = _incremental_exports(settings.lake, plan, state)
        for label in ("full + incrementals", "full + incrementals (rerun)"):
            began = time.perf_counter()
            result = run_operational_tables(settings, spark=spark, tables=(TABLE,))
            rows.append((label, time.perf_counter() - began, result))
        matches = _table_state(settings) == state
        spark.stop()
    lines += [
        f"Input: a full export of {full_lines:,} items, {exports} incremental exports of "
        f"{changes:,} changes + 1 malformed line each ({change_lines:,} lines); Spark "
        f"`{settings.spark_master}`.",
        "",
        "| run | seconds | lines/s | records_in | clean | quarantined | duplicates | deletes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, seconds, res in rows:
        (c,) = res.counts
        lines.append(f"| {label} | {seconds:.1f} | {c.records_in / seconds:,.0f} | "
                     f"{c.records_in:,} | {c.clean:,} | {c.quarantined:,} | {c.duplicates:,} | "
                     f"{c.deletes:,} |")
    same = [c for _, _, r in rows[1:] for c in r.counts]
    lines += [
        "",
        f"Table equals the state applied change by change in Python: "
        f"{'yes' if matches else 'NO'} ({len(state):,} items).",
        f"Rerun gives the same counts: {'yes' if same[0] == same[1] else 'NO'}.",
        "",
    ]
    return lines
