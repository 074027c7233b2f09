"""The DAGs' quality task: a critical failure is an alert that reaches the webhook, the bad
partitions are held and the warehouse is refreshed at once, and the task fails for good (no
retry: the data would be the same); a warning is an alert and the task succeeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from common.settings import Settings
from quality.alerts import read_alerts
from quality.held_partitions import read_held
from tests.quality.test_complaint_checks import complaint, write_lake
from tests.webhook import Webhook
from warehouse.duckdb_warehouse import run_query


def run_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, Any]],
             hook: Webhook) -> tuple[Settings, Any]:
    import dags.complaint_tasks as tasks

    settings = Settings(lake=tmp_path / "lake", alert_webhook_url=hook.url)
    write_lake(settings.zones.clean_complaints, rows)
    written = sorted({(r["event_date"].isoformat(), r["source"]) for r in rows})
    monkeypatch.setattr(tasks, "get_current_context", lambda: {"run_id": "manual__1"})
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    check: Any = tasks.check_complaints_quality
    return settings, lambda: check.function({"partitions": written})


def test_a_critical_failure_holds_alerts_and_fails_for_good(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [complaint(1, text=None), complaint(2)]
    with Webhook() as hook:
        settings, task = run_task(tmp_path, monkeypatch, rows, hook)
        with pytest.raises(AirflowFailException, match="HELD out of the warehouse"):
            task()
    assert [(m["kind"], m["source"], m["status"]) for m in hook.received] == [
        ("quality", "clean/complaints", "open")]
    assert "expect_column_values_to_not_be_null(text)" in hook.received[0]["detail"]
    assert [a.kind for a in read_alerts(settings.zones)] == ["quality"]
    assert len(read_held(settings.zones)) == 2  # both partitions the run wrote
    # refreshed by the task: the held partitions (no good version yet) are not served
    assert run_query(settings, "SELECT count(*) FROM complaints").rows == [(0,)]
    assert settings.zones.data_docs.is_file()


def test_a_warning_alerts_and_publishes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [complaint(1, severity="P9"), complaint(2)]
    with Webhook() as hook:
        settings, task = run_task(tmp_path, monkeypatch, rows, hook)
        outcome = task()
    assert outcome["critical"] is False and outcome["warnings"] is True
    assert outcome["held"] == []
    assert [(m["kind"], m["source"]) for m in hook.received] == [("quality", "clean/complaints")]
    assert "WARNING" in hook.received[0]["detail"] and "'P9'" in hook.received[0]["detail"]
    assert read_held(settings.zones) == {}


def test_alerts_name_what_each_suite_guards() -> None:
    from quality.quality_gate import quality_subject

    assert [quality_subject(s) for s in ("complaints", "complaint_runs", "raw_web_form",
                                         "raw_chat_messages", "clean_mbpp_reports")] == [
        "clean/complaints", "runs/complaints", "raw/web_form", "raw/chat_messages",
        "clean/mbpp_reports"]
