"""A failing quality gate in the DAG task is an alert that reaches the webhook, and the task still
fails (the alert never hides the failure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from quality.alerts import read_alerts
from quality.complaint_checks import QualityGateFailed
from tests.quality.test_complaint_checks import complaint, write_lake
from tests.webhook import Webhook


def test_a_failing_quality_gate_raises_a_quality_alert(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import dags.complaint_tasks as tasks

    lake = tmp_path / "lake"
    rows = [complaint(1, severity="P9"), complaint(2)]
    write_lake(lake / "clean" / "complaints", rows)
    written = sorted({(r["event_date"].isoformat(), r["source"]) for r in rows})
    monkeypatch.setattr(tasks, "get_current_context", lambda: {"run_id": "manual__1"})
    with Webhook() as hook:
        for name, value in Settings(lake=lake, alert_webhook_url=hook.url).to_env().items():
            monkeypatch.setenv(name, value)
        check: Any = tasks.check_complaints_quality
        with pytest.raises(QualityGateFailed):
            check.function({"partitions": written})
    assert [(m["kind"], m["source"], m["status"]) for m in hook.received] == [
        ("quality", "clean/complaints", "open")]
    assert "severity" in hook.received[0]["detail"]
    assert [a.kind for a in read_alerts(Settings(lake=lake).zones)] == ["quality"]
