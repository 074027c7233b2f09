"""Bulk sample data for the scale benchmark: millions of raw records over months, in parallel.

``samples.generate`` writes a few days of about 300 complaints a day and holds each file in
memory: right for the demo and the tests, too small and too slow for a 1M or 10M benchmark.
``generate_bulk`` writes ``plan.records`` raw records spread evenly over ``plan.days`` event days,
with the same wording and record builders (``samples.generate``: ``call_record``,
``web_form_row``, ``malformed_call_lines``, the DynamoDB item builders), one task per
(day, source) across ``plan.workers`` processes. Under ``root``:

* ``day=YYYY-MM-DD/call_center/calls_<day>.jsonl`` and ``day=YYYY-MM-DD/web_form/forms_<day>.csv``:
  the day's file exports, laid out like an inbox, so ``Settings(inbox=<day folder>)`` and
  ``jobs.landing.land_files`` land them;
* ``day=YYYY-MM-DD/<table>/*.json.gz`` for ``complaint_management``, ``mbpp_reports`` and
  ``chat_messages``: the data files of that day's DynamoDB export, one ``{"Item": …}`` per line
  (the "Export to S3" line format). Each day's export holds the items created that day, like an
  incremental export written in the full-export line format. ``write_export`` puts them into the
  raw zone's export layout **directly, without the emulator or S3** (a benchmark of gigabytes
  through moto would measure moto); the files, names and ``_landed.json`` are what the lander
  would have written, minus the manifest checks.

Messiness, as shares of each source's raw records: ``duplicate_share`` verbatim copies (of which
``late_share`` arrive 1 to ``max_late_days`` days later, in a later day's file or export; copies of
DynamoDB items are always late: an export never holds an item twice) and ``malformed_share``
broken records (truncated JSON, invalid UTF-8, wrong types, missing fields, unparseable dates).
Everything is determined by ``seed``; the same plan writes the same bytes.
"""

from __future__ import annotations

import gzip
import json
import math
import multiprocessing
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from common.aws import to_dynamodb_json
from common.lake import LANDED_RECORD, atomic_folder
from common.settings import Settings
from samples.generate import (
    PLACES,
    UNPARSEABLE_DATES,
    Call,
    Item,
    call_record,
    chat_items,
    complaint_management_items,
    complaint_text,
    csv_bytes,
    insert_at_random,
    json_line,
    malformed_call_lines,
    mbpp_items,
    narrative,
    pick_category,
    stream,
    utc_moment,
    web_form_row,
)
from schemas.sources import WEB_FORM_COLUMNS

# Shares of the raw records by source (file sources) or DynamoDB table. complaint_management
# exports hold their comm# items too, and chat_messages all messages (about a third carry negative
# feedback, the chat_feedback complaints), as the real tables do.
DEFAULT_MIX: dict[str, float] = {
    "call_center": 0.60,
    "web_form": 0.25,
    "complaint_management": 0.06,
    "mbpp_reports": 0.04,
    "chat_messages": 0.05,
}
FILE_PARTS = ("call_center", "web_form")
TABLE_PARTS = ("complaint_management", "mbpp_reports", "chat_messages")
# The attributes holding each table's event time: an item without them is a broken record.
TABLE_TIME_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "complaint_management": ("creation_time",),
    "mbpp_reports": ("created_at",),
    "chat_messages": ("feedback_created_at", "sent_at"),
}
# Items the samples.generate builders give per day of their window (to size the window).
TABLE_ITEMS_PER_WINDOW_DAY = {"complaint_management": 40, "mbpp_reports": 9, "chat_messages": 18}
MAIN_EXPORT_FILE = "data-00000.json.gz"
LATE_EXPORT_FILE = "data-late.json.gz"


@dataclass(frozen=True)
class BulkPlan:
    """How many raw records, over which days, how messy, on how many processes."""

    records: int
    days: int = 180
    start: date = date(2026, 1, 1)
    seed: int = 7
    duplicate_share: float = 0.05
    late_share: float = 0.35
    max_late_days: int = 10
    malformed_share: float = 0.01
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    workers: int = 2

    def problems(self) -> list[str]:
        found = []
        if self.records < 0 or self.days < 1:
            found.append("records must be >= 0 and days >= 1")
        unknown = set(self.mix) - set(FILE_PARTS) - set(TABLE_PARTS)
        if unknown:
            found.append(f"unknown sources in the mix: {sorted(unknown)}")
        if not 0 <= self.duplicate_share + self.malformed_share < 1:
            found.append("duplicate_share + malformed_share must be in [0, 1)")
        return found

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def records_of(self, part: str, index: int) -> int:
        """Raw records of ``part`` written for event day ``index`` (copies included)."""
        base, extra = divmod(round(self.records * self.mix.get(part, 0.0)), self.days)
        return base + (1 if index < extra else 0)


@dataclass(frozen=True)
class PartCounts:
    """What was written for one source: raw records (copies and broken ones included)."""

    records: int = 0
    duplicates: int = 0
    malformed: int = 0
    files: int = 0
    bytes: int = 0

    def plus(self, other: PartCounts) -> PartCounts:
        return PartCounts(self.records + other.records, self.duplicates + other.duplicates,
                          self.malformed + other.malformed, self.files + other.files,
                          self.bytes + other.bytes)


@dataclass(frozen=True)
class BulkSummary:
    plan: BulkPlan
    root: Path
    counts: dict[str, PartCounts]
    seconds: float

    @property
    def records(self) -> int:
        return sum(c.records for c in self.counts.values())

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.counts.values())

    def day_folder(self, index: int) -> Path:
        return day_folder(self.root, self.plan.day(index))


@dataclass(frozen=True)
class _DayPart:
    """One task's result: the day's file and the copies it sends to later days."""

    part: str
    day_index: int
    path: Path
    records: int  # records in this day's file
    duplicates: int  # copies written here plus the late ones sent away
    malformed: int
    late: dict[int, list[bytes]]  # later day index -> records to add to that day's file


def day_folder(root: Path, day: date) -> Path:
    return root / f"day={day:%Y-%m-%d}"


# ------------------------------------------------------------------------------------------------
# Messiness shared by every source: copies (some late) and broken records among good ones
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """How many records of a day's share are good, copies and broken."""

    good: int
    copies: int
    broken: int

    @classmethod
    def of(cls, rng: random.Random, plan: BulkPlan, records: int) -> _Shape:
        broken = _about(rng, records * plan.malformed_share)
        copies = _about(rng, records * plan.duplicate_share)
        return cls(max(records - broken - copies, 0), copies, broken)


def _about(rng: random.Random, expected: float) -> int:
    """``expected`` rounded up or down at random, so small days still get their share on average
    (rounding 0.3 broken records a day to 0 would give none at all)."""
    whole = math.floor(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def _late_day(rng: random.Random, plan: BulkPlan, index: int) -> int:
    return min(index + rng.randint(1, plan.max_late_days), plan.days - 1)


def _mess(rng: random.Random, plan: BulkPlan, index: int, good: list[bytes], copies: int,
          broken: list[bytes], *, all_late: bool = False
          ) -> tuple[list[bytes], dict[int, list[bytes]]]:
    """Good records with copies and broken ones mixed in; late copies go to later days."""
    chosen = [good[rng.randrange(len(good))] for _ in range(copies)] if good else []
    late: dict[int, list[bytes]] = {}
    here: list[bytes] = []
    for record in chosen:
        target = _late_day(rng, plan, index) if all_late or rng.random() < plan.late_share \
            else index
        if target == index and not all_late:
            here.append(record)
        else:
            late.setdefault(target, []).append(record)
    records = list(good)
    insert_at_random(rng, records, here + broken)
    return records, late


# ------------------------------------------------------------------------------------------------
# Call-centre logs
# ------------------------------------------------------------------------------------------------


def _call_lines(rng: random.Random, day: date, count: int, next_id: Callable[[], str]
                ) -> list[bytes]:
    calls = []
    for _ in range(count):
        moment = utc_moment(rng, day)
        place = rng.choice(PLACES)
        text = complaint_text(rng, pick_category(rng), place.city)
        calls.append(Call(moment, call_record(rng, "", moment, place, text)))
    calls.sort(key=lambda c: c.moment)
    for call in calls:
        call.record["call_id"] = next_id()
    return [json_line(c.record) + b"\n" for c in calls]


def _broken_call_lines(rng: random.Random, day: date, count: int, next_id: Callable[[], str]
                       ) -> list[bytes]:
    broken: list[bytes] = []
    while len(broken) < count:
        kinds = malformed_call_lines(rng, day, next_id)
        broken += [line + b"\n" for lines in kinds.values() for line in lines]
    return broken[:count]


def _call_center_day(plan: BulkPlan, index: int, folder: Path) -> _DayPart:
    rng = stream(plan.seed, "bulk", "call_center", index)
    day = plan.day(index)
    shape = _Shape.of(rng, plan, plan.records_of("call_center", index))
    numbers = iter(range(10**7))

    def next_id() -> str:
        return f"CALL-{day:%Y%m%d}-{next(numbers):07d}"

    good = _call_lines(rng, day, shape.good, next_id)
    broken = _broken_call_lines(rng, day, shape.broken, next_id)
    records, late = _mess(rng, plan, index, good, shape.copies, broken)
    path = folder / "call_center" / f"calls_{day:%Y-%m-%d}.jsonl"
    _write(path, b"".join(records))
    return _DayPart("call_center", index, path, len(records), shape.copies, shape.broken, late)


# ------------------------------------------------------------------------------------------------
# Web forms (CFPB CSV)
# ------------------------------------------------------------------------------------------------


def _csv_record(row: Sequence[str]) -> bytes:
    """One CSV record (no header), quoted as samples.generate.csv_bytes writes it."""
    return csv_bytes([row]).split(b"\n", 1)[1]


def _web_form_day(plan: BulkPlan, index: int, folder: Path) -> _DayPart:
    rng = stream(plan.seed, "bulk", "web_form", index)
    day = plan.day(index)
    shape = _Shape.of(rng, plan, plan.records_of("web_form", index))
    prefix = f"{(day - date(2000, 1, 1)).days:05d}"
    good = []
    for k in range(shape.good):
        category, place = pick_category(rng), rng.choice(PLACES)
        text = narrative(rng, category, place.city) if rng.random() < 0.75 else None
        good.append(_csv_record(web_form_row(rng, day, f"{prefix}{k:07d}", category, place,
                                             text)))
    broken = []
    for k in range(shape.broken):
        category, place = pick_category(rng), rng.choice(PLACES)
        if k % 2:
            row = web_form_row(rng, day, "", category, place, narrative(rng, category, place.city))
        else:
            row = web_form_row(rng, day, f"{prefix}{shape.good + k:07d}", category, place, None)
            row[WEB_FORM_COLUMNS.index("Date received")] = rng.choice(UNPARSEABLE_DATES)
        broken.append(_csv_record(row))
    records, late = _mess(rng, plan, index, good, shape.copies, broken)
    path = folder / "web_form" / f"forms_{day:%Y-%m-%d}.csv"
    _write(path, csv_bytes([]) + b"".join(records))
    return _DayPart("web_form", index, path, len(records), shape.copies, shape.broken, late)


# ------------------------------------------------------------------------------------------------
# DynamoDB exports
# ------------------------------------------------------------------------------------------------


def _rekey(table: str, day: date, item: Item) -> Item:
    """Make the builders' keys unique across days (each call of a builder starts counting anew)."""
    if table == "complaint_management":
        number = str(item["PK"]).removeprefix("Complaint")
        key = f"Complaint{day:%Y%m%d}{int(number):07d}"
        item["PK"] = key
        if "complaint_id" in item:
            item["complaint_id"] = key
    elif table == "chat_messages":
        item["pk_message_id"] = f"msg-{day:%Y%m%d}-{item['pk_message_id']}"
    return item


def _table_items(table: str, rng: random.Random, day: date, count: int) -> list[Item]:
    last = datetime.combine(day, clock(23, 59, 59), tzinfo=UTC)
    items: list[Item] = []
    windows = math.ceil(count / TABLE_ITEMS_PER_WINDOW_DAY[table]) + 1
    while len(items) < count:
        window = [day] * windows
        if table == "complaint_management":
            items = complaint_management_items(rng, window, last)
        elif table == "mbpp_reports":
            items = mbpp_items(rng, window, last, None)[0]
        else:
            items = chat_items(rng, window, last)[1]
        windows *= 2
    return [_rekey(table, day, item) for item in items[:count]]


def export_line(item: Item) -> bytes:
    return json.dumps({"Item": to_dynamodb_json(item)}, ensure_ascii=False).encode() + b"\n"


def _broken_items(table: str, rng: random.Random, items: Sequence[Item], count: int
                  ) -> list[bytes]:
    broken = []
    for k in range(count):
        item = dict(items[rng.randrange(len(items))])
        if k % 2:
            line = export_line(item)
            broken.append(line[: rng.randint(12, len(line) - 5)] + b"\n")  # truncated JSON
        else:
            for attribute in TABLE_TIME_ATTRIBUTES[table]:
                item.pop(attribute, None)
            broken.append(export_line(item))
    return broken


def _table_day(plan: BulkPlan, table: str, index: int, folder: Path) -> _DayPart:
    rng = stream(plan.seed, "bulk", table, index)
    day = plan.day(index)
    shape = _Shape.of(rng, plan, plan.records_of(table, index))
    items = _table_items(table, rng, day, shape.good)
    good = [export_line(item) for item in items]
    broken = _broken_items(table, rng, items, shape.broken) if items else []
    records, late = _mess(rng, plan, index, good, shape.copies, broken, all_late=True)
    path = folder / table / MAIN_EXPORT_FILE
    _write(path, gzip.compress(b"".join(records), compresslevel=6, mtime=0))
    return _DayPart(table, index, path, len(records), shape.copies, shape.broken, late)


# ------------------------------------------------------------------------------------------------
# Running it
# ------------------------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _build(task: tuple[BulkPlan, str, int, Path]) -> _DayPart:
    plan, part, index, root = task
    folder = day_folder(root, plan.day(index))
    if part == "call_center":
        return _call_center_day(plan, index, folder)
    if part == "web_form":
        return _web_form_day(plan, index, folder)
    return _table_day(plan, part, index, folder)


def _add_late(root: Path, plan: BulkPlan, results: Iterable[_DayPart]) -> dict[str, int]:
    """Append every late copy to its target day's file (a separate data file for exports)."""
    by_target: dict[tuple[str, int], list[bytes]] = {}
    for result in sorted(results, key=lambda r: (r.part, r.day_index)):
        for target, records in sorted(result.late.items()):
            by_target.setdefault((result.part, target), []).extend(records)
    added: dict[str, int] = {}
    for (part, target), records in sorted(by_target.items()):
        folder = day_folder(root, plan.day(target))
        if part == "call_center":
            with (folder / part / f"calls_{plan.day(target):%Y-%m-%d}.jsonl").open("ab") as f:
                f.write(b"".join(records))
        elif part == "web_form":
            with (folder / part / f"forms_{plan.day(target):%Y-%m-%d}.csv").open("ab") as f:
                f.write(b"".join(records))
        else:
            _write(folder / part / LATE_EXPORT_FILE,
                   gzip.compress(b"".join(records), compresslevel=6, mtime=0))
        added[part] = added.get(part, 0) + len(records)
    return added


def generate_bulk(plan: BulkPlan, root: Path) -> BulkSummary:
    """Write the plan's raw records under ``root`` (see the module docstring for the layout)."""
    problems = plan.problems()
    if problems:
        raise ValueError("; ".join(problems))
    began = time.perf_counter()
    parts = [p for p in (*FILE_PARTS, *TABLE_PARTS) if plan.mix.get(p, 0.0) > 0]
    # Biggest tasks first, so the last ones to finish are small.
    tasks = sorted(((plan, p, i, root) for p in parts for i in range(plan.days)),
                   key=lambda t: -plan.records_of(t[1], t[2]))
    if plan.workers > 1:
        # spawn: a forked child of a process running a JVM gateway can inherit its locks.
        with multiprocessing.get_context("spawn").Pool(plan.workers) as pool:
            results = list(pool.imap_unordered(_build, tasks, chunksize=4))
    else:
        results = [_build(t) for t in tasks]
    added = _add_late(root, plan, results)
    counts: dict[str, PartCounts] = {}
    for r in results:
        counts[r.part] = counts.get(r.part, PartCounts()).plus(
            PartCounts(r.records, r.duplicates, r.malformed, 0, 0))
    for part in counts:
        files = [f for f in root.glob(f"day=*/{part}/*") if f.is_file()]
        counts[part] = counts[part].plus(PartCounts(added.get(part, 0), 0, 0, len(files),
                                                    sum(f.stat().st_size for f in files)))
    return BulkSummary(plan, root, counts, time.perf_counter() - began)


def write_export(settings: Settings, table: str, data_files: Sequence[Path], landed_at: datetime,
                 export_id: str) -> Path:
    """Move ``data_files`` into ``raw/<table>/ingest_date=…/hour=…/AWSDynamoDB/<export id>/data/``
    with a ``_landed.json`` saying they were written directly (no emulator, no manifest)."""
    target = settings.zones.export_folder(table, landed_at, export_id)
    items = 0
    record_files: list[dict[str, Any]] = []
    with atomic_folder(target) as tmp:
        (tmp / "data").mkdir()
        for source in data_files:
            moved = source.rename(tmp / "data" / source.name)
            with gzip.open(moved, "rb") as f:
                count = sum(1 for _ in f)
            items += count
            record_files.append({"name": moved.name, "path": f"data/{moved.name}",
                                 "bytes": moved.stat().st_size, "items": count})
        (tmp / LANDED_RECORD).write_text(json.dumps({
            "table": table, "physical_table": settings.tables[table],
            "export_arn": f"samples.bulk:{table}:{export_id}", "export_id": export_id,
            "snapshot_label": export_id, "landed_at": landed_at.isoformat(),
            "manifest_present": False,
            "expected_items_source": "samples.bulk (written directly, no emulator)",
            "expected_items": items, "items": items, "data_files": record_files,
        }, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target
