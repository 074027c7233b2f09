"""Freshness and volume over a real lake layout: a source that stops arriving raises one alert
(resolved when it lands again), a day's file that shrinks sharply raises one, reruns add none,
and the webhook gets them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.lake import LANDED_RECORD, Lake
from common.settings import Settings
from complaints.cli import main
from quality.alerts import read_alerts
from quality.freshness import run_source_health, source_health
from tests.webhook import Webhook

DAY = datetime(2026, 11, 2, 6, tzinfo=UTC)


def land_file(lake: Lake, source: str, at: datetime, size: int) -> Path:
    path = lake.raw_partition(source, at) / f"{source}_{at:%Y%m%d}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def land_export(lake: Lake, table: str, at: datetime, items: int) -> None:
    folder = lake.export_folder(table, at, f"export-{at:%Y%m%d}")
    folder.mkdir(parents=True)
    (folder / LANDED_RECORD).write_text(json.dumps({"items": items}))


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"COMPLAINTS_LAKE": str(tmp_path / "lake"), **env})


def test_a_source_that_stops_arriving_is_one_alert_until_it_lands_again(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, COMPLAINTS_FRESHNESS_SMS_HOURS="2")
    lake = settings.zones
    for day in range(3):
        land_file(lake, "call_center", DAY + timedelta(days=day), 1000)
    land_file(lake, "sms", DAY + timedelta(days=2, hours=3), 10)
    now = DAY + timedelta(days=2, hours=6)  # call_center 6 h old, sms 3 h old (target 2 h)
    with Webhook() as hook:
        health, changed = run_source_health(
            Settings.from_env({**settings.to_env(), "COMPLAINTS_ALERT_WEBHOOK_URL": hook.url}),
            now)
        later, again = run_source_health(settings, now + timedelta(hours=1))
    states = {c.source: (c.late, c.newest) for c in health.freshness}
    assert states["sms"] == (True, DAY + timedelta(days=2, hours=3))
    assert states["call_center"][0] is False
    assert states["web_form"] == (False, None)  # never landed: not in use
    assert [(a.kind, a.source, a.status) for a in changed] == [("freshness", "sms", "open")]
    assert changed[0].window_start == DAY + timedelta(days=2, hours=5)  # late since
    assert [(m["kind"], m["source"]) for m in hook.received] == [("freshness", "sms")]
    assert "nothing landed since" in hook.received[0]["detail"]
    assert again == []  # still late: the same alert, not news
    land_file(lake, "sms", now + timedelta(hours=1), 10)
    _, resolved = run_source_health(settings, now + timedelta(hours=2))
    assert [(a.kind, a.status) for a in resolved] == [("freshness", "resolved")]
    assert [a.alert_id for a in read_alerts(lake)] == [changed[0].alert_id]


def test_a_shrinking_day_file_and_export_are_volume_alerts(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    lake = settings.zones
    for day, size in enumerate((1000, 1100, 300, 900)):
        land_file(lake, "web_form", DAY + timedelta(days=day), size)
    for day, items in enumerate((50, 52, 51)):
        land_export(lake, "complaint_management", DAY + timedelta(days=day), items)
    land_export(lake, "mbpp_reports", DAY, 40)
    land_export(lake, "mbpp_reports", DAY + timedelta(days=1), 3)
    now = DAY + timedelta(days=3, hours=1)
    health = source_health(settings, now)
    volume = [(a.source, a.observed, a.expected, a.window_start) for a in health.alerts
              if a.kind == "volume"]
    assert sorted(volume) == [("mbpp_reports", 3, 40.0, DAY + timedelta(days=1)),
                              ("web_form", 300, 1100.0, DAY + timedelta(days=2))]
    run_source_health(settings, now)
    assert [a for a in source_health(settings, now).alerts if a.kind == "volume"] == []


def test_complaints_freshness_command(tmp_path: Path, capsys: object, monkeypatch: object
                                      ) -> None:
    settings = settings_for(tmp_path)
    land_file(settings.zones, "call_center", DAY, 100)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)  # type: ignore[attr-defined]
    assert main(["freshness", "--now", "2026-11-02T12:00"]) == 0
    assert main(["freshness", "--now", "2026-11-05"]) == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "call_center            2026-11-02 06:00" in out
    assert "LATE" in out and "not in use" in out
