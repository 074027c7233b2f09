"""Alerts: one record for every kind (surge, freshness, volume, quality gate, task failure), their
current state in the lake, and delivery to people through a webhook.

State. ``<lake>/alerts/current.parquet`` (``schemas.alerts.ALERT``) holds one row per alert.
``record_alerts`` merges a run's alerts into it by ``alert_id`` under a lock file (the failure
callback and a detection run may write at the same moment) and rewrites it atomically. An alert
whose content changed (anything but ``last_seen``) is *changed*: it is new, or it was updated.

Delivery. Each changed alert becomes one JSON message in ``<lake>/alerts/outbox/`` (named after
the alert and a hash of its content, so recording the same state twice queues one message).
``deliver_outbox`` POSTs the messages to ``COMPLAINTS_ALERT_WEBHOOK_URL`` oldest first, a few
tries per run with a growing pause; a message the webhook did not accept stays in the outbox with
its next try time (exponential backoff across runs), so a dead webhook never blocks the pipeline:
the next run tries again. Accepted messages move to ``alerts/delivered/``. Without a webhook URL
no message is queued (the alerts are still in ``current.parquet`` and the warehouse).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from common.lake import Lake, atomic_target, safe_name, utc, write_atomically
from schemas.alerts import ALERT

USER_AGENT = "complaints-alerts/1"


def alert_id(kind: str, category: str | None, region: str | None, source: str | None,
             start: datetime) -> str:
    """A stable id: the same anomaly (kind, where, since when) always gets the same id."""
    key = "|".join([kind, category or "", region or "", source or "", utc(start).isoformat()])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """One alert: what (kind, category), where (region, source), since when (window), how far
    above normal (observed against expected, score), and what it is about (terms, examples)."""

    alert_id: str
    kind: str
    category: str | None
    region: str | None
    source: str | None
    window_start: datetime
    window_end: datetime
    observed: int | None
    expected: float | None
    score: float | None
    first_seen: datetime
    last_seen: datetime
    status: str
    top_terms: tuple[str, ...] = ()
    example_complaint_ids: tuple[str, ...] = ()
    # What a person should read first (an error, a freshness target); sent to the webhook, not
    # kept in current.parquet (its columns are fixed).
    detail: str | None = None

    def content_key(self) -> str:
        """A hash of all but ``last_seen``: two states with the same key are the same news."""
        data = self.payload()
        data.pop("last_seen")
        data.pop("detail")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def payload(self) -> dict[str, Any]:
        """The alert as JSON-ready values (what the webhook receives)."""
        data = asdict(self)
        for name in ("window_start", "window_end", "first_seen", "last_seen"):
            data[name] = utc(data[name]).isoformat()
        for name in ("expected", "score"):
            data[name] = None if data[name] is None else round(float(data[name]), 3)
        data["top_terms"] = list(self.top_terms)
        data["example_complaint_ids"] = list(self.example_complaint_ids)
        return data

    def summary(self) -> str:
        """One line a person reads: what, where, how far above normal, since when, why."""
        where = " / ".join(v for v in (self.category, self.region, self.source) if v)
        size = ""
        if self.observed is not None and self.expected is not None:
            times = self.observed / self.expected if self.expected > 0 else float("inf")
            size = f" {self.observed} vs {self.expected:.1f} expected ({times:.1f}x)"
        terms = f" terms: {', '.join(self.top_terms)}" if self.top_terms else ""
        examples = (f" e.g. {', '.join(self.example_complaint_ids[:3])}"
                    if self.example_complaint_ids else "")
        detail = f" ({self.detail})" if self.detail else ""
        return (f"[{self.status}] {self.kind} {where}:{size} "
                f"{utc(self.window_start):%Y-%m-%d %H:%M}-{utc(self.window_end):%H:%M} UTC"
                f"{terms}{examples}{detail}")


# ------------------------------------------------------------------------------------------------
# State: alerts/current.parquet
# ------------------------------------------------------------------------------------------------


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(f"{float(value):.4f}")


def _row(alert: Alert) -> dict[str, Any]:
    row = asdict(alert)
    row.pop("detail")
    row["expected"] = _decimal(alert.expected)
    row["score"] = _decimal(alert.score)
    row["top_terms"] = list(alert.top_terms)
    row["example_complaint_ids"] = list(alert.example_complaint_ids)
    return row


def _alert(row: Mapping[str, Any]) -> Alert:
    values = dict(row)
    for name in ("expected", "score"):
        values[name] = None if values[name] is None else float(values[name])
    values["top_terms"] = tuple(values["top_terms"] or ())
    values["example_complaint_ids"] = tuple(values["example_complaint_ids"] or ())
    return Alert(**values)


def read_alerts(lake: Lake) -> list[Alert]:
    """Every alert of ``alerts/current.parquet`` (none when there is no file yet)."""
    import pyarrow.parquet as pq

    if not lake.current_alerts.exists():
        return []
    return [_alert(row) for row in pq.read_table(lake.current_alerts).to_pylist()]


def write_alerts(lake: Lake, alerts: Sequence[Alert]) -> Path:
    """Rewrite ``alerts/current.parquet`` atomically with ``alerts`` (ordered, so reruns give the
    same file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ordered = sorted(alerts, key=lambda a: (utc(a.window_start), a.kind, a.alert_id))
    table = pa.Table.from_pylist([_row(a) for a in ordered], schema=ALERT.arrow_schema())
    with atomic_target(lake.current_alerts) as tmp:
        pq.write_table(table, tmp)
    return lake.current_alerts


@contextmanager
def _locked(lake: Lake) -> Iterator[None]:
    lake.alerts.mkdir(parents=True, exist_ok=True)
    with (lake.alerts / "current.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def merge_alerts(existing: Iterable[Alert], incoming: Iterable[Alert]
                 ) -> tuple[list[Alert], list[Alert]]:
    """``existing`` updated with ``incoming`` by ``alert_id``; returns (all, changed). An update
    keeps when the alert was first seen."""
    merged = {a.alert_id: a for a in existing}
    changed: list[Alert] = []
    for alert in incoming:
        before = merged.get(alert.alert_id)
        if before is not None:
            alert = replace(alert, first_seen=min(utc(before.first_seen), utc(alert.first_seen)))
        if before is None or before.content_key() != alert.content_key():
            changed.append(alert)
        merged[alert.alert_id] = alert
    return list(merged.values()), changed


def record_alerts(lake: Lake, alerts: Iterable[Alert]) -> list[Alert]:
    """Merge ``alerts`` into ``alerts/current.parquet``; return the new and updated ones."""
    incoming = list(alerts)
    with _locked(lake):
        merged, changed = merge_alerts(read_alerts(lake), incoming)
        if changed or not lake.current_alerts.exists() or incoming:
            write_alerts(lake, merged)
    return changed


# ------------------------------------------------------------------------------------------------
# Delivery: alerts/outbox -> webhook
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOptions:
    """How hard one run tries. ``attempts`` tries per message with ``pause_s`` doubling between
    them; a message still refused waits ``retry_after_s`` (doubling per run, capped) for the next
    run. ``budget_s`` bounds the whole delivery so that a slow webhook never holds a task."""

    timeout_s: float = 5.0
    attempts: int = 3
    pause_s: float = 0.5
    retry_after_s: float = 60.0
    max_retry_after_s: float = 3600.0
    budget_s: float = 30.0


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        last = f" (last error: {self.errors[-1]})" if self.errors else ""
        return f"alerts: {len(self.delivered)} delivered, {len(self.waiting)} waiting{last}"


def queue_alerts(lake: Lake, alerts: Iterable[Alert], now: datetime | None = None) -> list[Path]:
    """One outbox message per alert state (the same state queued twice is one message)."""
    queued = []
    for alert in alerts:
        name = f"{safe_name(alert.alert_id)}__{alert.content_key()}.json"
        target = lake.alert_outbox / name
        if target.exists() or (lake.alert_deliveries / name).exists():
            continue
        message = {"alert": alert.payload(), "attempts": 0,
                   "queued_at": utc(now).isoformat(), "next_try_at": utc(now).isoformat()}
        queued.append(write_atomically(target, json.dumps(message, indent=2) + "\n"))
    return queued


def post_json(url: str, body: Mapping[str, Any], timeout_s: float) -> None:
    """POST ``body`` as JSON; raises ``OSError`` (``URLError``, ``HTTPError``) unless 2xx."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - http(s) URL
        response.read()


def _try_message(url: str, body: Mapping[str, Any], options: DeliveryOptions,
                 deadline: float) -> str | None:
    """Up to ``options.attempts`` POSTs; None when one was accepted, else the last error."""
    error = "no attempt"
    for attempt in range(options.attempts):
        if attempt:
            pause = options.pause_s * 2 ** (attempt - 1)
            if time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
        try:
            post_json(url, body, options.timeout_s)
            return None
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
    return error


def _postpone(path: Path, message: dict[str, Any], options: DeliveryOptions, now: datetime,
              error: str) -> None:
    attempts = int(message.get("attempts", 0)) + 1
    wait = min(options.retry_after_s * 2 ** (attempts - 1), options.max_retry_after_s)
    message.update(attempts=attempts, last_error=error,
                   next_try_at=(now + timedelta(seconds=wait)).isoformat())
    write_atomically(path, json.dumps(message, indent=2) + "\n")


def deliver_outbox(lake: Lake, url: str | None, options: DeliveryOptions | None = None,
                   now: datetime | None = None) -> DeliveryReport:
    """POST the outbox's due messages to ``url``, oldest first; never raises for a webhook's
    failure. After a message fails all its tries the rest wait too (the webhook is down)."""
    opts = options or DeliveryOptions()
    report = DeliveryReport()
    messages = sorted(lake.alert_outbox.glob("[!.]*.json")) if lake.alert_outbox.is_dir() else []
    if not url:
        report.waiting = [p.name for p in messages]
        return report
    at = utc(now)
    deadline = time.monotonic() + opts.budget_s
    down = False
    for path in sorted(messages, key=lambda p: (p.stat().st_mtime, p.name)):
        message = json.loads(path.read_text())
        if down or datetime.fromisoformat(message["next_try_at"]) > at \
                or time.monotonic() > deadline:
            report.waiting.append(path.name)
            continue
        error = _try_message(url, message["alert"], opts, deadline)
        if error is None:
            lake.alert_deliveries.mkdir(parents=True, exist_ok=True)
            os.replace(path, lake.alert_deliveries / path.name)
            report.delivered.append(path.name)
            continue
        _postpone(path, message, opts, at, error)
        report.waiting.append(path.name)
        report.errors.append(error)
        down = True
    return report


def publish_alerts(lake: Lake, alerts: Iterable[Alert], webhook_url: str | None,
                   options: DeliveryOptions | None = None,
                   now: datetime | None = None) -> tuple[list[Alert], DeliveryReport]:
    """Record ``alerts`` in the lake, queue the new and updated ones for the webhook and deliver
    what is due. Returns the changed alerts and what delivery did."""
    changed = record_alerts(lake, alerts)
    if webhook_url:
        queue_alerts(lake, changed, now)
    return changed, deliver_outbox(lake, webhook_url, options, now)


def incident_alert(kind: str, subject: str, at: datetime, detail: str,
                   key: str = "") -> Alert:
    """An alert about one event (a task or a quality gate that failed): open, seen once.
    ``subject`` goes in ``source``; ``key`` (a run id) keeps two runs' incidents apart."""
    moment = utc(at)
    return Alert(alert_id=alert_id(kind, key or None, None, subject, moment), kind=kind,
                 category=None, region=None, source=subject, window_start=moment,
                 window_end=moment, observed=None, expected=None, score=None,
                 first_seen=moment, last_seen=moment, status="open", detail=detail[:2000])


def raise_alerts(lake: Lake, alerts: Iterable[Alert], webhook_url: str | None) -> str:
    """``publish_alerts`` for callers that must never fail because of alerting (a failure
    callback, a failing quality gate): any error is returned as text, not raised."""
    try:
        _, report = publish_alerts(lake, alerts, webhook_url,
                                   DeliveryOptions(budget_s=10.0, timeout_s=3.0))
    except Exception as exc:  # noqa: BLE001 - alerting must not hide the original failure
        return f"could not record the alert: {exc!r}"
    return report.summary()
