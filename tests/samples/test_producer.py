"""The Kinesis producer against a real moto server over HTTP, and its events against the format."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.aws import Kinesis, aws_client
from common.settings import Settings
from complaints.cli import main
from samples.producer import (
    BAD_KINDS,
    BAD_KINDS_BY_SOURCE,
    EventPlan,
    SendOptions,
    StreamSurge,
    bad_event,
    planned_events,
    produce,
    replay_records,
    synthetic_records,
    to_event,
)
from schemas.regions import STATE_REGION
from schemas.streaming import (
    KNOWN_PLATFORMS,
    MAX_EVENT_BYTES,
    SMS_FIELDS,
    SOCIAL_FIELDS,
    STREAM_SOURCES,
)
from tests.conftest import shared_data

START = datetime(2026, 11, 4, 13, 0, tzinfo=UTC)
INF = float("inf")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TWITTER_TIME = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \+0000 \d{4}$")


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def format_problems(source: str, record: dict[str, Any]) -> list[str]:
    """Where ``record`` breaks the event format of ``schemas.streaming`` (empty when it fits)."""
    problems = []
    fields = SMS_FIELDS if source == "sms" else SOCIAL_FIELDS
    if tuple(record) != fields:
        problems.append(f"fields {tuple(record)}")
    if record.get("channel") != source:
        problems.append("channel")
    if not isinstance(record.get("event_id"), str) or \
            not record["event_id"].startswith(f"{source}-"):
        problems.append("event_id")
    if not isinstance(record.get("text"), str) or not record["text"].strip():
        problems.append("text")
    return problems + (sms_problems(record) if source == "sms" else social_problems(record))


def sms_problems(record: dict[str, Any]) -> list[str]:
    checks = {
        "sent_at": isinstance(record["sent_at"], str) and bool(ISO_Z.match(record["sent_at"]))
        and datetime.fromisoformat(record["sent_at"]) is not None,
        "from": bool(re.fullmatch(r"\+1\d{10}", record["from"])),
        "customer_id": record["customer_id"] is None
        or bool(re.fullmatch(r"CUST-\d{5}", record["customer_id"])),
        "state": record["state"] is None or record["state"] in STATE_REGION,
        "label": record["label"] in (None, "ham", "spam"),
    }
    return [name for name, fits in checks.items() if not fits]


def posted_at_fits(posted: Any) -> bool:
    if not isinstance(posted, str):
        return False
    if ISO_Z.match(posted):
        return datetime.fromisoformat(posted) is not None
    if TWITTER_TIME.match(posted):
        return datetime.strptime(posted, "%a %b %d %H:%M:%S %z %Y") is not None
    return False


def social_problems(record: dict[str, Any]) -> list[str]:
    checks = {
        "platform": record["platform"] in KNOWN_PLATFORMS,
        "posted_at": posted_at_fits(record["posted_at"]),
        "author": isinstance(record["author"], str) and bool(record["author"]),
        "brand": record["brand"] is None or isinstance(record["brand"], str),
        "in_reply_to": record["in_reply_to"] is None or isinstance(record["in_reply_to"], str),
        "inbound": isinstance(record["inbound"], bool),
    }
    return [name for name, fits in checks.items() if not fits]


def read_stream(kinesis: Kinesis, stream: str,
                only_shard: str | None = None) -> list[tuple[str, bytes]]:
    """Every record of every shard (or of one), as (partition key, data)."""
    records: list[tuple[str, bytes]] = []
    for shard in kinesis.list_shards(stream):
        if only_shard is not None and shard.shard_id != only_shard:
            continue
        iterator: str | None = kinesis.shard_iterator(stream, shard.shard_id, None)
        while iterator:
            batch = kinesis.get_records(iterator)
            if not batch.records:
                break
            records.extend((r.partition_key, r.data) for r in batch.records)
            iterator = batch.next_iterator
    return records


def ids_in(records: list[tuple[str, bytes]]) -> list[str]:
    return [json.loads(data)["event_id"] for _, data in records]


class FlakyPutRecords:
    """A boto3 Kinesis client whose first ``put_records`` call reports some entries as failed
    (the way Kinesis does under throttling) and only stores the others."""

    def __init__(self, client: Any, fail_every: int = 3) -> None:
        self._client = client
        self.fail_every = fail_every
        self.calls: list[list[bytes]] = []
        self.failed: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        records = kwargs["Records"]
        self.calls.append([r["Data"] for r in records])
        if len(self.calls) > 1:
            return dict(self._client.put_records(**kwargs))
        failing = {i for i in range(len(records)) if i % self.fail_every == 1}
        self.failed = [records[i]["Data"] for i in sorted(failing)]
        kept = [r for i, r in enumerate(records) if i not in failing]
        real = iter(self._client.put_records(**{**kwargs, "Records": kept})["Records"])
        results = [
            {"ErrorCode": "ProvisionedThroughputExceededException",
             "ErrorMessage": "Rate exceeded for shard shardId-000000000000"}
            if i in failing else next(real)
            for i in range(len(records))
        ]
        return {"FailedRecordCount": len(failing), "Records": results}


# ------------------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["sms", "social"])
def test_synthetic_events_fit_the_format_and_are_deterministic_by_seed(source: str) -> None:
    def take(seed: int) -> list[dict[str, Any]]:
        return list(itertools.islice(
            synthetic_records(source, seed=seed, start=START, spacing_s=0.5), 400))

    records = take(7)
    # What is sent: the record without the generator's truth (``_customer``, who wrote it).
    events = [json.loads(to_event(source, r).data) for r in records]
    assert any("_customer" in r for r in records)
    assert not any("_customer" in e for e in events)
    assert [format_problems(source, e) for e in events if format_problems(source, e)] == []
    assert records == take(7)
    other = take(8)
    assert {e["event_id"] for e in events}.isdisjoint(e["event_id"] for e in other)
    assert len({e["event_id"] for e in events}) == len(events)
    texts = [e["text"] for e in events]
    assert any(re.search(r"\d{3}\D{0,2}555\D?01\d\d", t) for t in texts)  # phone in text
    assert any(re.search(r"@example\.(com|net)|@mail\.example\.org", t) for t in texts)
    assert any(t != t.lower() for t in texts) and any(t == t.lower() for t in texts)
    times = [e["sent_at" if source == "sms" else "posted_at"] for e in events]
    if source == "sms":
        assert times[0] == "2026-11-04T13:00:00Z" and times == sorted(times)
        assert len({e["state"] for e in events}) > 20
    else:
        assert {e["platform"] for e in events} == set(KNOWN_PLATFORMS)
        replies = [e for e in events if not e["inbound"]]
        assert replies and all(e["in_reply_to"] in {x["event_id"] for x in events}
                               for e in replies)


def test_surge_lifts_one_category_in_one_region_within_its_window() -> None:
    surge = StreamSurge(start_s=100, duration_s=100, region="West", category="billing", share=0.7)
    events = list(itertools.islice(
        synthetic_records("sms", seed=3, start=START, spacing_s=1.0, surge=surge), 300))
    quiet = [e for i, e in enumerate(events) if not 100 <= i < 200]
    loud = events[100:200]

    def west(batch: list[dict[str, Any]]) -> int:
        return sum(1 for e in batch if e["state"] and STATE_REGION[e["state"]] == "West")

    assert west(loud) >= 60  # ~70% surge + the West's ordinary share
    assert west(quiet) / len(quiet) < 0.35
    # The unsurged part of the run is the same as without a surge.
    plain = list(itertools.islice(synthetic_records("sms", seed=3, start=START, spacing_s=1.0),
                                  100))
    assert events[:100] == plain


def test_replay_of_the_real_sms_collection() -> None:
    path = shared_data("uci-sms-spam-collection", "SMSSpamCollection")
    events = list(replay_records("sms", start=START, shared_data=path.parent.parent))
    assert len(events) == 5574
    assert Counter(e["label"] for e in events) == {"ham": 4827, "spam": 747}
    assert [e["event_id"] for e in events] == [f"sms-uci-{n}" for n in range(1, 5575)]
    assert events[0]["text"].startswith("Go until jurong point, crazy..")
    assert [format_problems("sms", e) for e in events if format_problems("sms", e)] == []
    assert list(replay_records("sms", start=START, shared_data=path.parent.parent)) == events


def test_replay_of_the_real_twitter_sample() -> None:
    path = shared_data("twcs-customer-support-twitter-sample", "twcs_small.csv")
    events = list(replay_records("social", start=START, shared_data=path.parent.parent))
    assert len(events) == 5000
    assert len({e["event_id"] for e in events}) == 5000
    assert Counter(e["inbound"] for e in events) == {True: 2718, False: 2282}
    assert [format_problems("social", e) for e in events if format_problems("social", e)] == []
    assert not any((e["in_reply_to"] or "").endswith(".0") for e in events)
    by_id = {e["event_id"]: e for e in events}
    assert by_id["social-twcs-961317"] == {
        "event_id": "social-twcs-961317", "channel": "social", "platform": "twitter",
        "posted_at": "Sun Oct 22 03:15:18 +0000 2017", "author": "comcastcares",
        "brand": "comcastcares", "in_reply_to": "961316", "inbound": False,
        "text": "@330671 I would like to follow up with you tomorrow to see how the service is "
                "running if you don’t mind. -AG",
    }
    inbound = by_id["social-twcs-2088018"]
    assert (inbound["brand"], inbound["inbound"], inbound["in_reply_to"]) == (
        "VirginAmerica", True, None)
    assert by_id["social-twcs-192624"]["brand"] is None  # mentions only a customer id
    assert Counter(e["brand"] for e in events if not e["inbound"])["TMobileHelp"] == 73
    assert list(replay_records("social", start=START, shared_data=path.parent.parent)) == events


@pytest.mark.parametrize("source", ["sms", "social"])
def test_bad_events_are_the_promised_bytes(source: str) -> None:
    for n, kind in enumerate(BAD_KINDS_BY_SOURCE[source]):
        event = bad_event(source, kind, n)
        assert event.bad == kind and event.partition_key == event.event_id
        if kind == "invalid_utf8":
            with pytest.raises(UnicodeDecodeError):
                event.data.decode("utf-8")
            assert event.event_id.encode() in event.data
            continue
        if kind == "not_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(event.data)
            continue
        record = json.loads(event.data)
        assert record["event_id"] == event.event_id
        problems = format_problems(source, record)
        time_field = "sent_at" if source == "sms" else "posted_at"
        if kind == "missing_text":
            assert "text" not in record
        elif kind == "sent_at_list":
            assert isinstance(record[time_field], list) and problems == [time_field]
        elif kind == "oversized":
            assert len(event.data) > MAX_EVENT_BYTES and problems == []
        elif kind == "unknown_platform":
            assert record["platform"] not in KNOWN_PLATFORMS and problems == ["platform"]
    if source == "sms":
        with pytest.raises(ValueError, match="does not apply"):
            bad_event("sms", "unknown_platform", 0)


def test_bad_events_are_mixed_in_deterministically() -> None:
    def plan(**kwargs: Any) -> list[tuple[str, str | None]]:
        events = planned_events("social", EventPlan(seed=5, rate_per_s=10, count=200, **kwargs),
                                start=START, surge=None)
        return [(e.event_id, e.bad) for e in events]

    explicit = plan(bad_events=["oversized", "not_json"])
    assert [bad for _, bad in explicit] == [None, "oversized", None, "not_json"] + [None] * 198
    mixed = plan(bad_fraction=0.1)
    kinds = [bad for _, bad in mixed if bad]
    assert 8 <= len(kinds) <= 35 and set(kinds) == set(BAD_KINDS)
    assert sum(1 for _, bad in mixed if bad is None) == 200
    assert mixed == plan(bad_fraction=0.1)


# ------------------------------------------------------------------------------------------------
# Sending to Kinesis (moto over HTTP)
# ------------------------------------------------------------------------------------------------


def test_produce_sends_every_event_exactly_once(aws: Settings, tmp_path: Path) -> None:
    ids_path = tmp_path / "ids.txt"
    stats = produce(aws, "sms", EventPlan(rate_per_s=INF, count=1200, seed=11, surge=True,
                                          start=START),
                    SendOptions(batch_size=500, ids_path=ids_path))
    assert (stats.sent, stats.failed_permanently, stats.retried_entries) == (1200, 0, 0)
    assert stats.put_calls == 3  # 500 + 500 + 200
    kinesis = Kinesis(aws)
    assert "complaints-sms" in kinesis.stream_names()
    assert len(kinesis.list_shards("complaints-sms")) == 2
    records = read_stream(kinesis, STREAM_SOURCES["sms"])
    ids = ids_in(records)
    assert len(ids) == 1200 and Counter(ids) == Counter(stats.event_ids)
    assert len(set(ids)) == 1200
    assert ids_path.read_text().splitlines() == stats.event_ids
    expected = [e.event_id for e in planned_events(
        "sms", EventPlan(rate_per_s=INF, count=1200, seed=11), start=START, surge=stats.surge)]
    assert sorted(ids) == sorted(expected)
    assert all(key == json.loads(data)["from"] for key, data in records)
    per_shard = [len(read_stream(kinesis, "complaints-sms", shard.shard_id))
                 for shard in kinesis.list_shards("complaints-sms")]
    assert len(per_shard) == 2 and min(per_shard) > 200  # spread by partition key


def test_replayed_tweets_arrive_with_their_ids(aws: Settings) -> None:
    shared = shared_data("twcs-customer-support-twitter-sample").parent
    stats = produce(aws, "social", EventPlan(rate_per_s=INF, count=300, seed=7, replay=True,
                                             shared_data=shared, start=START))
    first = [e["event_id"] for e in itertools.islice(
        replay_records("social", start=START, shared_data=shared), 300)]
    assert stats.sent == 300 and stats.event_ids == first
    records = read_stream(Kinesis(aws), "complaints-social")
    assert sorted(ids_in(records)) == sorted(first)
    tweet = next(json.loads(d) for _, d in records if b"social-twcs-738238" in d)
    assert tweet["brand"] == "AppleSupport" and tweet["posted_at"].endswith("2017")


def test_only_failed_entries_are_retried(aws: Settings) -> None:
    client = aws_client("kinesis", aws)
    flaky = FlakyPutRecords(client, fail_every=3)
    stats = produce(aws, "social", EventPlan(rate_per_s=INF, count=90, seed=2, start=START),
                    SendOptions(batch_size=30), kinesis=Kinesis(aws, client=flaky))
    assert len(flaky.failed) == 10  # indexes 1, 4, ..., 28 of the first batch
    assert flaky.calls[1] == flaky.failed  # the resend: exactly the failed entries, same bytes
    assert [len(c) for c in flaky.calls] == [30, 10, 30, 30]
    assert (stats.sent, stats.retried_entries, stats.failed_permanently) == (90, 10, 0)
    assert stats.put_calls == 4
    ids = ids_in(read_stream(Kinesis(aws), "complaints-social"))
    assert len(ids) == 90 and set(ids) == set(stats.event_ids or [])


def test_entries_failing_every_attempt_are_reported_not_lost_silently(aws: Settings) -> None:
    class AlwaysFailing(FlakyPutRecords):
        """Entry 1 of the first call fails on every attempt."""

        def put_records(self, **kwargs: Any) -> dict[str, Any]:
            records = kwargs["Records"]
            if self.calls:
                self.calls.append([r["Data"] for r in records])
                doomed = {i for i, r in enumerate(records) if r["Data"] in self.failed}
                kept = [r for i, r in enumerate(records) if i not in doomed]
                real = iter(self._client.put_records(**{**kwargs, "Records": kept})["Records"]
                            if kept else [])
                return {"Records": [
                    {"ErrorCode": "ProvisionedThroughputExceededException",
                     "ErrorMessage": "Rate exceeded"} if i in doomed else next(real)
                    for i in range(len(records))]}
            return super().put_records(**kwargs)

    client = aws_client("kinesis", aws)
    flaky = AlwaysFailing(client, fail_every=1000)
    stats = produce(aws, "sms", EventPlan(rate_per_s=INF, count=5, seed=2, start=START),
                    SendOptions(max_attempts=3, backoff_base_s=0.01),
                    kinesis=Kinesis(aws, client=flaky))
    assert (stats.sent, stats.failed_permanently, stats.retried_entries) == (4, 1, 2)
    assert [len(c) for c in flaky.calls] == [5, 1, 1]
    assert len(stats.failed_event_ids) == 1
    assert stats.failed_event_ids[0] not in (stats.event_ids or [])
    ids = ids_in(read_stream(Kinesis(aws), "complaints-sms"))
    assert sorted(ids) == sorted(stats.event_ids or [])


def test_stream_name_comes_from_settings(aws: Settings) -> None:
    custom = replace(aws, streams={"sms": "sms-test-stream", "social": "social-test-stream"})
    stats = produce(custom, "sms", EventPlan(rate_per_s=INF, count=7, seed=1, start=START),
                    SendOptions(shards=1))
    assert stats.stream == "sms-test-stream" and stats.sent == 7
    kinesis = Kinesis(aws)
    assert "complaints-sms" not in kinesis.stream_names()
    assert sorted(ids_in(read_stream(kinesis, "sms-test-stream"))) == sorted(stats.event_ids or [])


def test_rate_is_respected(aws: Settings) -> None:
    began = time.monotonic()
    stats = produce(aws, "sms", EventPlan(rate_per_s=200, count=100, seed=1, start=START))
    took = time.monotonic() - began
    assert stats.sent == 100 and stats.put_calls > 5  # paced in small batches, not one burst
    assert took >= 0.45 and stats.elapsed_s >= 0.45
    assert took < 5


def test_duration_bounds_a_run(aws: Settings) -> None:
    stats = produce(aws, "social", EventPlan(rate_per_s=100, duration_s=0.5, seed=1,
                                             start=START))
    assert 40 <= stats.sent <= 50 and stats.elapsed_s < 3


def test_bad_events_reach_the_stream_as_raw_bytes(aws: Settings) -> None:
    stats = produce(aws, "social", EventPlan(rate_per_s=INF, count=10, seed=4, start=START,
                                             bad_events=list(BAD_KINDS)))
    assert stats.sent == 16 and stats.bad == 6
    received = {key: data for key, data in read_stream(Kinesis(aws), "complaints-social")}
    for n, kind in enumerate(BAD_KINDS):
        promised = bad_event("social", kind, n, seed=4, start=START)
        assert received[promised.event_id] == promised.data, kind
    assert len(received[bad_event("social", "oversized", 4, seed=4).event_id]) > MAX_EVENT_BYTES


def test_cli_produce_prints_stats(aws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in aws.to_env().items():
        monkeypatch.setenv(key, value)
    ids_file = tmp_path / "ids.txt"
    code = main(["produce", "--source", "sms", "--rate", "500", "--count", "40", "--seed", "3",
                 "--surge", "--bad-fraction", "0.1", "--ids-file", str(ids_file)])
    assert code == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["stream"] == "complaints-sms" and stats["failed_permanently"] == 0
    assert stats["sent"] == 40 + stats["bad"] and stats["surge"]["region"] == "South"
    ids = ids_file.read_text().splitlines()
    assert len(ids) == stats["sent"]
    received = read_stream(Kinesis(aws), "complaints-sms")
    assert {key for key, _ in received} >= {i for i in ids if "-bad-" in i}
    assert main(["produce", "--source", "sms"]) == 2  # synthetic needs --count or --duration
