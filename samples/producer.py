"""Kinesis producer: SMS and social complaint events, synthetic or replayed from real samples.

Events follow ``schemas.streaming`` exactly; every event carries a producer-side ``event_id`` that
is fixed before the first send, so a retried entry is the same bytes with the same id.

* Synthetic mode (``replay=False``): realistic telecom complaints, fully determined by ``seed``
  and ``start`` (the event time of the first event; ``produce`` uses the current second unless
  told): mixed case, phone numbers and e-mail addresses in the text, a state (so a region) on most
  SMS and a city or state in some social posts. An optional :class:`StreamSurge` makes one
  category in one region jump for a window of event time.
* Replay mode (``replay=True``): the real samples in ``../shared/data``: every line of the UCI SMS
  Spam Collection (ham and spam, label kept; ``event_id`` ``sms-uci-<line no>``) or every tweet of
  the TWCS sample (``event_id`` ``social-twcs-<tweet_id>``). The SMS corpus has no sender or time:
  ``from`` is a made-up 555 number derived from the line number and ``sent_at`` is the nominal
  send time (``start`` + line index / rate).
* Bad events (``bad_fraction`` or an explicit ``bad_events`` list of :data:`BAD_KINDS`): raw bytes
  that downstream validation must quarantine; each still has a producer-side ``event_id`` (used
  as its partition key; inside the bytes too, where the bytes can carry one).

``produce`` sends with ``PutRecords`` in batches (at most 500 entries and 5 MiB per call), resends
only the entries Kinesis reports as failed, with bounded exponential backoff and jitter, and paces
to ``rate_per_s`` (event *k* is not sent before ``k / rate_per_s`` seconds into the run).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import random
import re
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError

from common.aws import Kinesis, error_code, is_throttling
from common.settings import REPO_ROOT, Settings
from samples.generate import (
    PLACES,
    TRUE_CUSTOMER,
    Place,
    complaint_text,
    customer_ref,
    email_address,
    hashed_customer,
    known_customer,
    person_name,
    pick_category,
    places_in,
    scruff,
    stream,
    surge_text,
    with_contact,
)
from schemas.streaming import KNOWN_PLATFORMS, MAX_EVENT_BYTES, STREAM_SOURCES

SOURCES = tuple(STREAM_SOURCES)  # ("sms", "social")
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SMS_REPLAY_FILE = Path("uci-sms-spam-collection") / "SMSSpamCollection"
SOCIAL_REPLAY_FILE = Path("twcs-customer-support-twitter-sample") / "twcs_small.csv"

MAX_BATCH_ENTRIES = 500  # PutRecords limits
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024

BAD_KINDS: tuple[str, ...] = (
    "not_json",          # truncated JSON
    "invalid_utf8",      # JSON encoded as Latin-1 (a lone 0xE9 byte)
    "missing_text",      # valid JSON without "text"
    "sent_at_list",      # "sent_at" (social: "posted_at") is a list
    "oversized",         # valid event larger than MAX_EVENT_BYTES
    "unknown_platform",  # social only: "platform" not in KNOWN_PLATFORMS
)
BAD_KINDS_BY_SOURCE: dict[str, tuple[str, ...]] = {
    "sms": tuple(k for k in BAD_KINDS if k != "unknown_platform"),
    "social": BAD_KINDS,
}

BRANDS = ("AcmeCares", "AcmeTelecom", "AcmeHelp")
PLATFORM_WEIGHTS = (55, 20, 10, 8, 7)  # in KNOWN_PLATFORMS order
BRAND_REPLIES = (
    "Sorry to hear that! Please DM us your account number and we'll take a look. ^{sig}",
    "We're sorry for the trouble. Can you DM us the address so we can check for outages? -{sig}",
    "Thanks for reaching out, we've sent you a DM to help sort this out. *{sig}",
    "Hi there, that's not the experience we want for you. Follow and DM us please. ^{sig}",
)
HASHTAGS = ("#fail", "#outage", "#customerservice", "#frustrated", "#AcmeFail", "")
_HANDLE = re.compile(r"@([A-Za-z0-9_]{1,15})")


# ------------------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One Kinesis entry as the producer sends it (the same bytes on every retry)."""

    event_id: str
    partition_key: str
    data: bytes
    bad: str | None = None  # the kind of bad event (BAD_KINDS), None for a valid event


@dataclass(frozen=True)
class StreamSurge:
    """One category in one region jumps: within the window (seconds of event time after the
    run's start), ``share`` of the events are that category from that region."""

    start_s: float
    duration_s: float
    region: str = "South"
    category: str = "network"
    share: float = 0.6

    @classmethod
    def for_run(cls, run_length_s: float, **kwargs: Any) -> StreamSurge:
        """The middle third of a run of ``run_length_s`` seconds."""
        return cls(start_s=run_length_s / 3, duration_s=max(run_length_s / 3, 1.0), **kwargs)

    def covers(self, offset_s: float) -> bool:
        return self.start_s <= offset_s < self.start_s + self.duration_s

    def to_dict(self) -> dict[str, Any]:
        return {"start_s": self.start_s, "duration_s": self.duration_s, "region": self.region,
                "category": self.category, "share": self.share}


def iso_z(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def twitter_time(moment: datetime) -> str:
    """``Sun Oct 22 03:15:18 +0000 2017``, the shape of TWCS ``created_at`` (locale-free)."""
    m = moment.astimezone(UTC)
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[m.weekday()]
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
             "Dec")[m.month - 1]
    return f"{day} {month} {m.day:02d} {m:%H:%M:%S} +0000 {m.year}"


def e164(area_code: str, line: int) -> str:
    return f"+1{area_code}55501{line % 100:02d}"


def stable_id(source: str, *parts: object) -> str:
    digest = hashlib.sha256("/".join(map(str, (source, *parts))).encode()).hexdigest()
    return f"{source}-{digest[:24]}"


def encode(record: dict[str, Any]) -> bytes:
    """The event's bytes, without the generator's own keys (``_…``: the truth)."""
    return json.dumps({k: v for k, v in record.items() if not k.startswith("_")},
                      ensure_ascii=False).encode("utf-8")


def to_event(source: str, record: dict[str, Any]) -> Event:
    """A valid event record as a Kinesis entry, partitioned by sender (order per sender)."""
    key = record["from"] if source == "sms" else record["author"]
    return Event(record["event_id"], str(key or record["event_id"]), encode(record))


def _check_source(source: str) -> None:
    if source not in STREAM_SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {SOURCES}")


# ------------------------------------------------------------------------------------------------
# Synthetic events
# ------------------------------------------------------------------------------------------------


def _complaint(rng: random.Random, place: Place, surging: StreamSurge | None) -> str:
    if surging is not None:
        if surging.category == "network" and rng.random() < 0.6:
            return surge_text(rng, place.city)
        return complaint_text(rng, surging.category, place.city)
    return complaint_text(rng, pick_category(rng), place.city)


def _sms_record(rng: random.Random, event_id: str, moment: datetime,
                surging: StreamSurge | None) -> dict[str, Any]:
    place = rng.choice(places_in(surging.region) if surging else PLACES)
    first, last = person_name(rng)
    # The sender: a customer of the master (or not), chosen from the event id, so that the
    # random draws (hence every other value) stay what they were before customers existed.
    who = hashed_customer("sms", event_id)
    text = scruff(rng, with_contact(rng, _complaint(rng, place, surging), first, last,
                                    place.area_code))
    roll = rng.random()
    customer_id = customer_ref(rng.randint(0, 99999)) if roll < 0.7 else None
    stranger = e164(place.area_code, rng.randrange(100))
    if customer_id is not None:  # the app fills the id of the account it is logged in to
        who = known_customer(customer_id)
    return {
        "event_id": event_id,
        "channel": "sms",
        "sent_at": iso_z(moment),
        "from": who.phone_e164 if who else stranger,
        "customer_id": customer_id,
        "state": place.state if surging or rng.random() < 0.9 else None,
        "text": text,
        "label": None,
        TRUE_CUSTOMER: who.customer_id if who else None,
    }


def _social_record(rng: random.Random, event_id: str, moment: datetime,
                   surging: StreamSurge | None, last_inbound: str | None) -> dict[str, Any]:
    platform = rng.choices(KNOWN_PLATFORMS, weights=PLATFORM_WEIGHTS)[0]
    posted_at = twitter_time(moment) if platform == "twitter" else iso_z(moment)
    brand = rng.choice(BRANDS)
    if surging is None and last_inbound is not None and rng.random() < 0.15:
        # The brand answers an earlier post.
        sig = "".join(rng.choice("ABCDEFGHJKLMNPRSTW") for _ in range(2))
        return {
            "event_id": event_id, "channel": "social", "platform": platform,
            "posted_at": posted_at, "author": brand, "brand": brand,
            "in_reply_to": last_inbound, "inbound": False,
            "text": rng.choice(BRAND_REPLIES).format(sig=sig),
        }
    place = rng.choice(places_in(surging.region) if surging else PLACES)
    first, last = person_name(rng)
    body = scruff(rng, with_contact(rng, _complaint(rng, place, surging), first, last,
                                    place.area_code))
    where = rng.random()
    if surging is not None or where < 0.25:
        body = body.rstrip() + rng.choice((f" ({place.city}, {place.state})",
                                           f" #{place.city.replace(' ', '')}",
                                           f" in {place.city} {place.state}"))
    tag = rng.choice(HASHTAGS)
    mention = rng.random() < 0.8
    text = (f"@{brand} " if mention else "") + body + (f" {tag}" if tag else "")
    author = (str(rng.randint(100000, 999999)) if rng.random() < 0.7
              else email_address(rng, first, last).split("@")[0].replace(".", "_")[:15])
    # A named (not numeric) author is, when the event id picks a customer with a handle, that
    # customer: written without the "@" and in any case, as platforms show handles.
    who = hashed_customer("social", event_id) if not author.isdigit() else None
    if who is not None and who.handle is not None:
        handle = who.handle.lstrip("@")
        author = (handle.lower(), handle, handle.upper())[zlib.crc32(event_id.encode()) % 3]
    else:
        who = None
    return {
        "event_id": event_id, "channel": "social", "platform": platform,
        "posted_at": posted_at, "author": author, "brand": brand if mention else None,
        "in_reply_to": None, "inbound": True, "text": text,
        TRUE_CUSTOMER: who.customer_id if who else None,
    }


def synthetic_records(
    source: str,
    *,
    seed: int,
    start: datetime,
    spacing_s: float = 0.005,
    surge: StreamSurge | None = None,
) -> Iterator[dict[str, Any]]:
    """An endless, seed-determined sequence of event records; event *i* happens about
    ``start + i * spacing_s``."""
    _check_source(source)
    rng = stream(seed, "streaming", source)
    last_inbound: str | None = None
    for i in itertools.count():
        offset = (i + rng.random()) * spacing_s
        moment = start + timedelta(seconds=offset)
        surging = surge if surge is not None and surge.covers(offset) and \
            rng.random() < surge.share else None
        event_id = stable_id(source, seed, i)
        if source == "sms":
            yield _sms_record(rng, event_id, moment, surging)
        else:
            record = _social_record(rng, event_id, moment, surging, last_inbound)
            if record["inbound"]:
                last_inbound = event_id
            yield record


# ------------------------------------------------------------------------------------------------
# Replay of the real samples
# ------------------------------------------------------------------------------------------------


def replay_file(source: str, shared_data: Path | None = None) -> Path:
    _check_source(source)
    base = SHARED_DATA if shared_data is None else shared_data
    return base / (SMS_REPLAY_FILE if source == "sms" else SOCIAL_REPLAY_FILE)


def _inbound_brand(text: str) -> str | None:
    """The first @handle that is not an anonymised (numeric) customer id."""
    for handle in _HANDLE.findall(text):
        if not handle.isdigit():
            return str(handle)
    return None


def _reply_id(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    return value[:-2] if value.endswith(".0") else value


def replay_records(
    source: str,
    *,
    start: datetime,
    spacing_s: float = 0.005,
    seed: int = 7,
    shared_data: Path | None = None,
) -> Iterator[dict[str, Any]]:
    """Every row of the real sample of ``source`` as an event record, in file order."""
    path = replay_file(source, shared_data)
    if source == "sms":
        areas = [p.area_code for p in PLACES]
        with path.open(encoding="utf-8", newline="\n") as f:
            # Lines end with LF only; other Unicode line breaks inside a text are text.
            for index, line in enumerate(f):
                line = line.rstrip("\n")
                if not line:
                    continue
                label, _, text = line.partition("\t")
                line_no = index + 1
                rng = random.Random(f"{seed}/sms-uci/{line_no}")
                yield {
                    "event_id": f"sms-uci-{line_no}",
                    "channel": "sms",
                    "sent_at": iso_z(start + timedelta(seconds=index * spacing_s)),
                    "from": e164(rng.choice(areas), rng.randrange(100)),
                    "customer_id": None,
                    "state": None,
                    "text": text,
                    "label": label,
                }
    else:
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                inbound = row["inbound"].strip() == "True"
                yield {
                    "event_id": f"social-twcs-{row['tweet_id']}",
                    "channel": "social",
                    "platform": "twitter",
                    "posted_at": row["created_at"],
                    "author": row["author_id"],
                    "brand": _inbound_brand(row["text"]) if inbound else row["author_id"],
                    "in_reply_to": _reply_id(row["in_response_to_tweet_id"]),
                    "inbound": inbound,
                    "text": row["text"],
                }


# ------------------------------------------------------------------------------------------------
# Bad events
# ------------------------------------------------------------------------------------------------


def bad_event(source: str, kind: str, n: int, *, seed: int = 7,
              start: datetime = datetime(2026, 11, 4, 13, 5, tzinfo=UTC)) -> Event:
    """The ``n``-th bad event of a run, of ``kind`` (one of ``BAD_KINDS_BY_SOURCE[source]``)."""
    _check_source(source)
    if kind not in BAD_KINDS_BY_SOURCE[source]:
        raise ValueError(f"bad event kind {kind!r} does not apply to {source}; "
                         f"expected one of {BAD_KINDS_BY_SOURCE[source]}")
    event_id = f"{source}-bad-{seed}-{n:04d}-{kind}"
    rng = stream(seed, "streaming-bad", source, n)
    if source == "sms":
        record = _sms_record(rng, event_id, start, None)
        time_field = "sent_at"
    else:
        record = _social_record(rng, event_id, start, None, None)
        time_field = "posted_at"
    record["text"] = "café: " + record["text"]
    if kind == "not_json":
        line = encode(record)
        return Event(event_id, event_id, line[: len(line) // 2], kind)
    if kind == "invalid_utf8":
        data = encode(record).decode("utf-8").encode("latin-1", errors="replace")
        return Event(event_id, event_id, data, kind)
    if kind == "missing_text":
        del record["text"]
    elif kind == "sent_at_list":
        record[time_field] = [record[time_field][:10], "13:05:00"]
    elif kind == "oversized":
        filler = " no signal again, still waiting for a fix."
        record["text"] += filler * (MAX_EVENT_BYTES // len(filler) + 10)
    elif kind == "unknown_platform":
        record["platform"] = "myspace"
    return Event(event_id, event_id, encode(record), kind)


def with_bad_events(
    source: str,
    good: Iterable[Event],
    *,
    seed: int,
    bad_fraction: float = 0.0,
    bad_events: Sequence[str] = (),
    start: datetime = datetime(2026, 11, 4, 13, 5, tzinfo=UTC),
) -> Iterator[Event]:
    """``good`` with bad events mixed in: the explicit ``bad_events`` one after each of the first
    good events (any left over at the end), then, after each good event, one more with
    probability ``bad_fraction`` (kinds in turn)."""
    _check_source(source)
    if not 0.0 <= bad_fraction <= 1.0:
        raise ValueError("bad_fraction must be between 0 and 1")
    kinds = BAD_KINDS_BY_SOURCE[source]
    for kind in bad_events:
        if kind not in kinds:
            raise ValueError(f"bad event kind {kind!r} does not apply to {source}; "
                             f"expected one of {kinds}")
    explicit = list(bad_events)
    rng = stream(seed, "streaming-bad-positions", source)
    n = 0
    for event in good:
        yield event
        if explicit:
            yield bad_event(source, explicit.pop(0), n, seed=seed, start=start)
            n += 1
        elif bad_fraction and rng.random() < bad_fraction:
            yield bad_event(source, kinds[n % len(kinds)], n, seed=seed, start=start)
            n += 1
    for kind in explicit:
        yield bad_event(source, kind, n, seed=seed, start=start)
        n += 1


# ------------------------------------------------------------------------------------------------
# Sending
# ------------------------------------------------------------------------------------------------


@dataclass
class ProduceStats:
    source: str
    stream: str
    sent: int = 0  # entries Kinesis accepted (bad events included)
    bad: int = 0  # of which bad events
    put_calls: int = 0
    retried_entries: int = 0  # entries sent again after Kinesis reported them failed
    failed_permanently: int = 0  # entries still failing after max_attempts (0 normally)
    failed_event_ids: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    ids_path: Path | None = None  # every accepted event id, one per line, in acceptance order
    event_ids: list[str] | None = None  # the same in memory (when kept)
    surge: StreamSurge | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "stream": self.stream, "sent": self.sent, "bad": self.bad,
            "put_calls": self.put_calls, "retried_entries": self.retried_entries,
            "failed_permanently": self.failed_permanently,
            "failed_event_ids": list(self.failed_event_ids),
            "elapsed_s": round(self.elapsed_s, 3),
            "rate_achieved_per_s": round(self.sent / self.elapsed_s, 1) if self.elapsed_s else None,
            "ids_path": str(self.ids_path) if self.ids_path else None,
            "surge": self.surge.to_dict() if self.surge else None,
        }


def _ensure_stream(kinesis: Kinesis, stream_name: str, shards: int) -> None:
    if stream_name in kinesis.stream_names():
        return
    try:
        kinesis.create_stream(stream_name, shards)
    except ClientError as exc:  # created meanwhile by another producer
        if error_code(exc) != "ResourceInUseException":
            raise


class _Sender:
    def __init__(self, kinesis: Kinesis, stream_name: str, stats: ProduceStats,
                 ids_file: IO[str] | None, options: SendOptions) -> None:
        self.kinesis = kinesis
        self.stream = stream_name
        self.stats = stats
        self.ids_file = ids_file
        self.max_attempts = options.max_attempts
        self.backoff_base_s = options.backoff_base_s
        self.backoff_cap_s = options.backoff_cap_s
        self.jitter = random.Random()

    def _accepted(self, events: Iterable[Event]) -> None:
        for event in events:
            self.stats.sent += 1
            self.stats.bad += event.bad is not None
            if self.stats.event_ids is not None:
                self.stats.event_ids.append(event.event_id)
            if self.ids_file is not None:
                self.ids_file.write(event.event_id + "\n")

    def backoff(self, attempt: int) -> float:
        """Equal jitter: half the capped exponential delay, plus up to as much again at random."""
        delay = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1))
        return float(delay / 2 + self.jitter.uniform(0, delay / 2))

    def send(self, batch: Sequence[Event]) -> None:
        entries = list(batch)
        attempt = 0
        while entries:
            attempt += 1
            self.stats.put_calls += 1
            try:
                result = self.kinesis.put_records(
                    self.stream, [(e.partition_key, e.data) for e in entries])
                failed = set(result.failed)
            except ClientError as exc:
                if not is_throttling(exc):
                    raise
                failed = set(range(len(entries)))
            self._accepted(e for i, e in enumerate(entries) if i not in failed)
            entries = [e for i, e in enumerate(entries) if i in failed]
            if not entries:
                return
            if attempt >= self.max_attempts:
                self.stats.failed_permanently += len(entries)
                self.stats.failed_event_ids.extend(e.event_id for e in entries)
                return
            self.stats.retried_entries += len(entries)
            time.sleep(self.backoff(attempt))


@dataclass(frozen=True)
class EventPlan:
    """What a producer run sends.

    ``count`` valid events, or those due within ``duration_s`` (event *k* is due at
    ``k / rate_per_s`` s; the run also stops once ``duration_s`` of wall time has passed), or with
    neither, a whole replay; bad events (``bad_fraction``, ``bad_events``) come on top.
    ``rate_per_s`` may be ``math.inf`` (no pacing). ``surge=True`` puts a :class:`StreamSurge`
    over the middle third of the run. ``start`` is the first event's time (default: now).
    """

    count: int | None = None
    duration_s: float | None = None
    rate_per_s: float = 200.0
    seed: int = 7
    replay: bool = False
    surge: StreamSurge | bool | None = None
    bad_fraction: float = 0.0
    bad_events: Sequence[str] = ()
    start: datetime | None = None
    shared_data: Path | None = None

    def problems(self) -> list[str]:
        found = []
        if not self.rate_per_s > 0:
            found.append("rate_per_s must be positive (math.inf for no pacing)")
        if self.count is not None and self.count < 0:
            found.append("count must not be negative")
        if self.count is None and self.duration_s is None and not self.replay:
            found.append("a synthetic run needs count or duration_s")
        return found

    @property
    def paced(self) -> bool:
        return math.isfinite(self.rate_per_s)

    @property
    def spacing_s(self) -> float:
        """Event time between two events (also the pacing when paced)."""
        return 1.0 / self.rate_per_s if self.paced else 0.005

    @property
    def limit(self) -> int | None:
        """How many valid events at most (None: a whole replay)."""
        if self.duration_s is not None and self.paced:
            due = math.ceil(self.duration_s * self.rate_per_s)
            return due if self.count is None else min(self.count, due)
        return self.count

    def resolved_surge(self) -> StreamSurge | None:
        if self.surge is True:
            length = (self.duration_s if self.duration_s is not None
                      else (self.limit or 0) * self.spacing_s)
            return StreamSurge.for_run(length)
        return self.surge or None


@dataclass(frozen=True)
class SendOptions:
    """How a producer run sends: stream creation, PutRecords batching, retries, pacing tick.

    Paced runs send every ``tick_s`` the events then due (up to ``batch_size``); entries Kinesis
    reports as failed are resent up to ``max_attempts`` times with equal-jitter backoff.
    ``ids_path`` receives every accepted event id, one a line; ``keep_ids`` keeps them in memory.
    """

    create_stream_if_missing: bool = True
    shards: int = 2
    batch_size: int = MAX_BATCH_ENTRIES
    ids_path: Path | None = None
    keep_ids: bool = True
    max_attempts: int = 8
    backoff_base_s: float = 0.05
    backoff_cap_s: float = 2.0
    tick_s: float = 0.05

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.batch_size <= MAX_BATCH_ENTRIES:
            found.append(f"batch_size must be between 1 and {MAX_BATCH_ENTRIES}")
        if self.max_attempts < 1:
            found.append("max_attempts must be at least 1")
        return found


def planned_events(source: str, plan: EventPlan, *, start: datetime,
                   surge: StreamSurge | None) -> Iterator[Event]:
    """The events a run sends, in order: ``plan.limit`` valid events (all of a replay if None)
    with the bad events mixed in."""
    records: Iterator[dict[str, Any]]
    if plan.replay:
        records = replay_records(source, start=start, spacing_s=plan.spacing_s, seed=plan.seed,
                                 shared_data=plan.shared_data)
    else:
        records = synthetic_records(source, seed=plan.seed, start=start,
                                    spacing_s=plan.spacing_s, surge=surge)
    if plan.limit is not None:
        records = itertools.islice(records, plan.limit)
    good = (to_event(source, r) for r in records)
    return with_bad_events(source, good, seed=plan.seed, bad_fraction=plan.bad_fraction,
                           bad_events=plan.bad_events, start=start)


def _next_batch(events: Iterator[Event], room: int, pending: Event | None
                ) -> tuple[list[Event], Event | None]:
    """Up to ``room`` events within PutRecords' size limit, and the one that did not fit."""
    batch: list[Event] = []
    size = 0
    while len(batch) < room:
        event = pending if pending is not None else next(events, None)
        pending = None
        if event is None:
            break
        entry_size = len(event.data) + len(event.partition_key.encode())
        if entry_size > MAX_RECORD_BYTES:
            raise ValueError(f"event {event.event_id} is larger than a Kinesis record")
        if batch and size + entry_size > MAX_BATCH_BYTES:
            return batch, event
        batch.append(event)
        size += entry_size
    return batch, None


def _send_paced(sender: _Sender, events: Iterator[Event], plan: EventPlan,
                options: SendOptions) -> None:
    """Send ``events`` in batches, no faster than ``plan.rate_per_s``."""
    want = (max(1, min(options.batch_size, math.floor(plan.rate_per_s * options.tick_s)))
            if plan.paced else 1)
    t0 = time.monotonic()
    admitted = 0
    pending: Event | None = None
    while True:
        elapsed = time.monotonic() - t0
        if plan.duration_s is not None and elapsed >= plan.duration_s:
            return
        room = options.batch_size
        if plan.paced:
            # Send when a tick's worth of events is due (not one PutRecords per event).
            room = min(options.batch_size, math.floor(elapsed * plan.rate_per_s) + 1 - admitted)
            if room < want:
                time.sleep(max(0.0, (admitted + want - 1) / plan.rate_per_s - elapsed))
                continue
        batch, pending = _next_batch(events, room, pending)
        if not batch:
            return
        sender.send(batch)
        admitted += len(batch)


def produce(settings: Settings, source: str, plan: EventPlan,
            options: SendOptions = SendOptions(), *,
            kinesis: Kinesis | None = None) -> ProduceStats:
    """Send the events of ``plan`` for ``source`` to its stream (``settings.stream_of``).

    ``kinesis`` replaces the client wrapper (tests inject faults there).
    """
    _check_source(source)
    problems = plan.problems() + options.problems()
    if problems:
        raise ValueError("; ".join(problems))
    surge = plan.resolved_surge()
    start = plan.start or datetime.now(UTC).replace(microsecond=0)
    stream_name = settings.stream_of(source)
    kinesis = kinesis or Kinesis(settings)
    if options.create_stream_if_missing:
        _ensure_stream(kinesis, stream_name, options.shards)

    stats = ProduceStats(source=source, stream=stream_name, ids_path=options.ids_path,
                         event_ids=[] if options.keep_ids else None, surge=surge)
    events = planned_events(source, plan, start=start, surge=surge)
    ids_file = None
    if options.ids_path is not None:
        options.ids_path.parent.mkdir(parents=True, exist_ok=True)
        ids_file = options.ids_path.open("w", encoding="utf-8")
    sender = _Sender(kinesis, stream_name, stats, ids_file, options)
    t0 = time.monotonic()
    try:
        _send_paced(sender, events, plan, options)
    finally:
        stats.elapsed_s = time.monotonic() - t0
        if ids_file is not None:
            ids_file.close()
    return stats
