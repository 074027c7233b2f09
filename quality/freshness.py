"""Freshness and volume: is every source still arriving, and in the amounts it used to?

Freshness. Each complaint source has a target (``Settings.freshness_hours``, default 30 h for the
daily exports, 1 h for the SMS and social streams; ``COMPLAINTS_FRESHNESS_<SOURCE>_HOURS``). Its
newest landing is the newest ``ingest_date=…/hour=…`` partition of its raw folder (the DynamoDB
table it comes from, for the table-borne sources): the landing time the lake itself records, not
a file's modification time, which a copy would change. A source silent for longer than its target
is a ``freshness`` alert (open while it stays silent, resolved once it lands again); a source
that has never landed is not in use and raises nothing.

Volume. A day's export file (``call_center``, ``web_form``) or a DynamoDB export that is smaller
than ``Settings.volume_drop`` (default 0.5) times the one before is a ``volume`` alert: bytes for
files, items (``_landed.json``) for exports. The last ``VOLUME_LOOKBACK`` landings are compared,
so a rerun finds the same alerts (same ids), and each landing is judged once against the one
before it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from common.lake import INGEST_PARTITION_REGEX, LANDED_RECORD, Lake, utc
from common.settings import Settings
from quality.alerts import Alert, alert_id, read_alerts
from schemas.sources import COMPLAINT_SOURCE_TABLE, DYNAMODB_TABLES, FILE_SOURCES

VOLUME_LOOKBACK = 7
_PARTITION = re.compile(INGEST_PARTITION_REGEX)


@dataclass(frozen=True)
class Landing:
    """One landed unit of a source: a file, or a DynamoDB export (its folder)."""

    path: Path
    landed_at: datetime  # the start of its ingest hour
    size: int  # bytes (files) or items (exports)


def landed_at(path: Path) -> datetime | None:
    found = _PARTITION.search(path.as_posix())
    if found is None:
        return None
    return utc(datetime.fromisoformat(f"{found[1]}T{found[2]}:00:00"))


def raw_folder_of(source: str) -> str:
    """The raw folder a complaint source lands in (its DynamoDB table, for table-borne ones)."""
    return COMPLAINT_SOURCE_TABLE.get(source, source)


def newest_landing(lake: Lake, source: str) -> datetime | None:
    """The newest ingest hour of the source's raw folder (None: never landed)."""
    root = lake.raw_source(raw_folder_of(source))
    hours = [landed_at(p) for p in root.glob("ingest_date=*/hour=*") if p.is_dir()]
    found = [h for h in hours if h is not None]
    return max(found) if found else None


@dataclass(frozen=True)
class Freshness:
    source: str
    newest: datetime | None
    target_hours: float
    now: datetime

    @property
    def age_hours(self) -> float | None:
        return None if self.newest is None else (self.now - self.newest) / timedelta(hours=1)

    @property
    def late(self) -> bool:
        return self.age_hours is not None and self.age_hours > self.target_hours

    def alert(self) -> Alert | None:
        if not self.late or self.newest is None or self.age_hours is None:
            return None
        since = self.newest + timedelta(hours=self.target_hours)
        return Alert(
            alert_id=alert_id("freshness", None, None, self.source, self.newest),
            kind="freshness", category=None, region=None, source=self.source,
            window_start=since, window_end=since, observed=None, expected=None,
            score=round(self.age_hours - self.target_hours, 2), first_seen=self.now,
            last_seen=self.now, status="open",
            detail=(f"nothing landed since {self.newest:%Y-%m-%d %H}:00 UTC "
                    f"({self.age_hours:.1f} h, target {self.target_hours:g} h)"))


def check_freshness(lake: Lake, targets: Mapping[str, float], now: datetime | None = None
                    ) -> list[Freshness]:
    at = utc(now)
    return [Freshness(source, newest_landing(lake, source), hours, at)
            for source, hours in targets.items()]


def resolved_freshness(existing: Sequence[Alert], checks: Sequence[Freshness]) -> list[Alert]:
    """Open freshness alerts of sources that are no longer late: resolved."""
    from dataclasses import replace

    fine = {c.source: (c.now, c.newest) for c in checks if not c.late and c.newest is not None}
    return [replace(a, status="resolved", last_seen=fine[a.source][0],
                    window_end=fine[a.source][1])
            for a in existing
            if a.kind == "freshness" and a.status == "open" and a.source in fine]


# ------------------------------------------------------------------------------------------------
# Volume
# ------------------------------------------------------------------------------------------------


def file_landings(lake: Lake, source: str) -> list[Landing]:
    found = []
    for path in lake.raw_files(source):
        moment = landed_at(path)
        if moment is not None:
            found.append(Landing(path, moment, path.stat().st_size))
    return sorted(found, key=lambda landing: (landing.landed_at, landing.path.name))


def export_landings(lake: Lake, table: str) -> list[Landing]:
    found = []
    for folder in lake.export_folders(table):
        moment = landed_at(folder)
        try:
            items = int(json.loads((folder / LANDED_RECORD).read_text())["items"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # an unreadable record is the transform's business (quarantine)
        if moment is not None:
            found.append(Landing(folder, moment, items))
    return sorted(found, key=lambda landing: (landing.landed_at, landing.path.name))


def shrinkage_alerts(lake: Lake, source: str, landings: Sequence[Landing], drop: float,
                     now: datetime, unit: str) -> list[Alert]:
    """A landing smaller than ``drop`` times the one before it, among the last few."""
    alerts = []
    recent = landings[-(VOLUME_LOOKBACK + 1):]
    for before, after in zip(recent, recent[1:], strict=False):
        if before.size <= 0 or after.size >= drop * before.size:
            continue
        alerts.append(Alert(
            alert_id=alert_id("volume", None, None, source, after.landed_at),
            kind="volume", category=None, region=None, source=source,
            window_start=after.landed_at, window_end=after.landed_at + timedelta(hours=1),
            observed=after.size, expected=float(before.size),
            score=round(after.size / before.size, 3), first_seen=now, last_seen=now,
            status="open",
            detail=(f"{lake.relative(after.path)}: {after.size:,} {unit} against "
                    f"{before.size:,} in {lake.relative(before.path)}")))
    return alerts


def volume_alerts(lake: Lake, drop: float, now: datetime) -> list[Alert]:
    alerts = []
    for source in FILE_SOURCES:
        alerts += shrinkage_alerts(lake, source, file_landings(lake, source), drop, now,
                                   "bytes")
    for table in DYNAMODB_TABLES:
        alerts += shrinkage_alerts(lake, table, export_landings(lake, table), drop, now,
                                   "items")
    return alerts


@dataclass(frozen=True)
class SourceHealth:
    """What one freshness and volume run found."""

    freshness: list[Freshness]
    alerts: list[Alert]


def source_health(settings: Settings, now: datetime | None = None) -> SourceHealth:
    """Freshness of every source and shrinking landings, as alerts (recorded by the caller)."""
    at = utc(now)
    lake = settings.zones
    checks = check_freshness(lake, settings.freshness_hours, at)
    late = [a for a in (c.alert() for c in checks) if a is not None]
    existing = read_alerts(lake)
    known = {a.alert_id: a for a in existing}
    # A source late since the same landing is the same alert: keep when it was first seen.
    late = [a if a.alert_id not in known else _keep_first_seen(a, known[a.alert_id])
            for a in late]
    alerts = late + resolved_freshness(existing, checks)
    alerts += [a for a in volume_alerts(lake, settings.volume_drop, at)
               if a.alert_id not in known]
    return SourceHealth(checks, alerts)


def _keep_first_seen(alert: Alert, before: Alert) -> Alert:
    """The alert as first raised (how late it was then): a source that stays silent is not news
    at every run, only ``last_seen`` moves."""
    from dataclasses import replace

    return replace(before, last_seen=alert.last_seen, detail=alert.detail)


def run_source_health(settings: Settings, now: datetime | None = None
                      ) -> tuple[SourceHealth, list[Alert]]:
    """Check, record and send the new and updated alerts (never failing for the webhook)."""
    from quality.alerts import publish_alerts

    health = source_health(settings, now)
    changed, delivery = publish_alerts(settings.zones, health.alerts, settings.alert_webhook_url)
    if settings.alert_webhook_url:
        print(delivery.summary())
    return health, changed
