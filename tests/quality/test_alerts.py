"""Alerts reach people: a real HTTP server on 127.0.0.1 receives each new or updated alert as
JSON; a webhook that fails is retried with backoff, a dead one leaves the outbox for the next
run, and nothing raises."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.lake import Lake
from quality.alerts import (
    Alert,
    DeliveryOptions,
    alert_id,
    deliver_outbox,
    incident_alert,
    publish_alerts,
    raise_alerts,
    read_alerts,
)
from tests.webhook import Webhook

T0 = datetime(2026, 11, 4, 13, tzinfo=UTC)
FAST = DeliveryOptions(timeout_s=2.0, attempts=3, pause_s=0.05, retry_after_s=60.0, budget_s=5.0)


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A port on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}/hook"


def surge(observed: int = 40, status: str = "open", seen: datetime = T0) -> Alert:
    return Alert(alert_id=alert_id("surge", "network", "South", "sms", T0), kind="surge",
                 category="network", region="South", source="sms", window_start=T0,
                 window_end=T0 + timedelta(hours=1), observed=observed, expected=8.5, score=7.2,
                 first_seen=seen, last_seen=seen, status=status, top_terms=("outage", "tower"),
                 example_complaint_ids=("c1", "c2"))


def test_new_and_updated_alerts_are_posted_once_each(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    with Webhook() as hook:
        publish_alerts(lake, [surge()], hook.url, FAST)
        # Seen again with nothing new: recorded (last_seen), not sent again.
        publish_alerts(lake, [surge(seen=T0 + timedelta(minutes=15))], hook.url, FAST)
        publish_alerts(lake, [surge(observed=90, seen=T0 + timedelta(minutes=30))], hook.url,
                       FAST)
        publish_alerts(lake, [surge(observed=90, status="resolved",
                                    seen=T0 + timedelta(hours=3))], hook.url, FAST)
    assert [(m["observed"], m["status"]) for m in hook.received] == [
        (40, "open"), (90, "open"), (90, "resolved")]
    first = hook.received[0]
    assert first["alert_id"] == surge().alert_id
    assert first["top_terms"] == ["outage", "tower"]
    assert first["window_start"] == "2026-11-04T13:00:00+00:00"
    [stored] = read_alerts(lake)
    assert (stored.status, stored.first_seen, stored.last_seen) == (
        "resolved", T0, T0 + timedelta(hours=3))
    assert not list(lake.alert_outbox.glob("*.json"))
    assert len(list(lake.alert_deliveries.glob("*.json"))) == 3


def test_a_webhook_that_fails_twice_gets_the_alert_on_the_third_try(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    with Webhook(failures=2) as hook:
        _, report = publish_alerts(lake, [surge()], hook.url, FAST)
    assert hook.posts == 3
    assert [m["alert_id"] for m in hook.received] == [surge().alert_id]
    assert len(report.delivered) == 1 and not report.waiting


def test_a_dead_webhook_leaves_the_outbox_and_the_next_run_delivers(tmp_path: Path,
                                                                    dead_url: str) -> None:
    lake = Lake(tmp_path)
    began = time.monotonic()
    changed, report = publish_alerts(lake, [surge()], dead_url, FAST)
    assert time.monotonic() - began < 3, "a dead webhook must not hold the pipeline"
    assert [a.alert_id for a in changed] == [surge().alert_id]  # recorded all the same
    assert report.delivered == [] and len(report.waiting) == 1
    assert "Connection refused" in report.errors[0] or "URLError" in report.errors[0]
    [waiting] = lake.alert_outbox.glob("*.json")
    message = json.loads(waiting.read_text())
    assert message["attempts"] == 1
    assert datetime.fromisoformat(message["next_try_at"]) > datetime.now(UTC)
    # Not due yet: the next run leaves it alone; once due, a live webhook gets it.
    with Webhook() as hook:
        assert deliver_outbox(lake, hook.url, FAST).delivered == []
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert len(deliver_outbox(lake, hook.url, FAST, now=later).delivered) == 1
    assert [m["alert_id"] for m in hook.received] == [surge().alert_id]
    assert not list(lake.alert_outbox.glob("*.json"))


def test_without_a_webhook_alerts_are_recorded_only(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    changed, report = publish_alerts(lake, [surge()], None)
    assert len(changed) == 1 and report.delivered == []
    assert not lake.alert_outbox.exists()
    assert read_alerts(lake) == [surge()]


def test_incidents_go_the_same_way_and_never_raise(tmp_path: Path, dead_url: str) -> None:
    lake = Lake(tmp_path)
    failed = incident_alert("task_failure", "complaints_batch.transform_complaints", T0,
                            "RuntimeError: the JVM died", key="run-1#3")
    with Webhook() as hook:
        assert "1 delivered" in raise_alerts(lake, [failed], hook.url)
    assert hook.received[0]["kind"] == "task_failure"
    assert hook.received[0]["detail"] == "RuntimeError: the JVM died"
    assert "waiting" in raise_alerts(lake, [replace(failed, alert_id="other")], dead_url)
    assert {a.kind for a in read_alerts(lake)} == {"task_failure"}
    # An unwritable lake is reported, not raised.
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert raise_alerts(Lake(blocked), [failed], None).startswith("could not record")
