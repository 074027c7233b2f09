"""The demo's last lines: each open alert said in the words of its kind."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from complaints.demo import alert_line, newest_validations

SINCE = datetime(2026, 11, 4, 13, 0, tzinfo=UTC)


def _validation(folder: Path, suite: str, run: str, summary: str, mtime: float) -> Path:
    path = folder / suite / f"{run}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"suite": suite, "summary": summary}), encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def test_a_failed_check_names_its_outcome_and_where_the_details_are(tmp_path: Path) -> None:
    _validation(tmp_path, "raw_web_form", "run-1", "raw_web_form quality: 16/16 passed", 1.0)
    newest = _validation(tmp_path, "raw_web_form", "run-2",
                         "raw_web_form quality: 13/16 expectations passed on 508 rows\n"
                         "  WARNING expect_column_values_to_not_be_null(Complaint ID)", 2.0)
    (tmp_path / "complaints").mkdir()  # a suite with no validation yet is skipped
    checks = newest_validations(tmp_path)
    assert set(checks) == {"raw/web_form"}
    line = alert_line({"kind": "quality", "source": "raw/web_form", "window_start": SINCE,
                       "category": None, "observed": None, "expected": None}, checks)
    assert line == ("open alert: quality checks on raw/web_form (2026-11-04 13:00 UTC): "
                    f"raw_web_form quality: 13/16 expectations passed on 508 rows; "
                    f"details: {newest}")


def test_surges_and_failed_tasks_have_their_own_words() -> None:
    surge = {"kind": "surge", "category": "network", "region": "South", "source": "call_center",
             "window_start": SINCE, "observed": 132, "expected": 6.93}
    assert alert_line(surge, {}) == ("open alert: surge of network complaints in South "
                                     "(call_center) from 2026-11-04 13:00 UTC: 132 complaints, "
                                     "6.9 expected")
    failed = {"kind": "task_failure", "source": "complaints_batch.transform_complaints",
              "window_start": SINCE}
    assert alert_line(failed, {}) == ("open alert: task_failure on "
                                      "complaints_batch.transform_complaints since "
                                      "2026-11-04 13:00 UTC")
