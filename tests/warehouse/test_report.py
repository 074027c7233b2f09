"""The static HTML report: built from a real warehouse, opened in headless Chromium.

Alerts come from the ``alerts`` view over ``<lake>/alerts/current.parquet`` (built by the surge
detection); here the test writes that file and the view itself."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb  # noqa: TID253 - not a DAG file
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.settings import Settings
from complaints.cli import main
from tests.builders import clean_complaint
from tests.warehouse.test_duckdb_warehouse import run_row, write_clean, write_runs
from warehouse.duckdb_warehouse import refresh_warehouse
from warehouse.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
DAY0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
SURGE_DAY = "2026-11-04"


def _rows() -> list[dict[str, Any]]:
    rows, n = [], 0
    for day in range(5):
        for i in range(4 + (12 if day == 2 else 0)):  # day 2 (Nov 4): a network surge
            n += 1
            surge = day == 2 and i >= 4
            rows.append(clean_complaint(
                n, source=("call_center", "sms", "web_form")[i % 3],
                event_time=DAY0 + timedelta(days=day, minutes=7 * i),
                category="network" if surge or i % 2 else "billing",
                region="South" if surge else ("West", "Midwest")[i % 2],
                text="fiber outage again, no internet [phone]" if surge else f"bill wrong {n}"))
    return rows


def _write_alerts(settings: Settings, statuses: tuple[str, ...]) -> None:
    """``alerts/current.parquet`` with the contract's columns, and the view over it."""
    start = datetime(2026, 11, 4, 6, 0, tzinfo=UTC)
    alerts = [{
        "alert_id": f"a{i}", "kind": "surge", "category": "network", "region": "South",
        "source": "sms", "window_start": start, "window_end": start + timedelta(hours=2),
        "observed": 12, "expected": 1.5, "score": 8.2 - i, "first_seen": start,
        "last_seen": start + timedelta(hours=2), "status": status,
        "top_terms": ["outage", "fiber"], "example_complaint_ids": ["c1"],
    } for i, status in enumerate(statuses)]
    path = settings.zones.alerts / "current.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(alerts), path)
    conn = duckdb.connect(str(settings.zones.warehouse))
    try:
        conn.execute(f"CREATE OR REPLACE VIEW alerts AS SELECT * FROM read_parquet('{path}')")
    finally:
        conn.close()


@pytest.fixture
def lake(tmp_path: Path) -> Settings:
    settings = Settings(lake=tmp_path / "lake")
    write_clean(settings, _rows())
    write_runs(settings, [run_row("call_center", 30, 28, 1, 1)])
    quality = settings.zones.alerts / "quality" / "run-1.json"
    quality.parent.mkdir(parents=True)
    quality.write_text(json.dumps({
        "run_id": "run-1", "suite": "clean_complaints", "success": False, "rows": 32,
        "evaluated": 10, "passed": 9, "written_at": "2026-11-06T10:00:00+00:00",
        "failed": [{"expectation": "expect_column_values_to_not_be_null", "column": "region"}]}))
    refresh_warehouse(settings)
    return settings


def test_report_without_alerts_view_says_no_open_alerts(lake: Settings) -> None:
    path, data = write_report(lake)
    assert path == lake.lake / "reports" / "complaints.html"
    page = path.read_text()
    # Without the surge detection's alerts view, or with an empty one: the same message.
    assert "no open alerts" in page
    assert not data.surges and 'data-surge="' not in page
    # Self-contained: no script, nothing loaded from anywhere.
    assert "<script" not in page and not re.search(r"(src|href)=\"?(https?:)?//", page)
    assert "expect_column_values_to_not_be_null(region)" in page and "clean_complaints" in page
    assert data.terms[0][0] == "bill" and "phone" not in dict(data.terms)


def test_report_shows_open_alerts_and_surge_markers(lake: Settings, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _write_alerts(lake, ("open", "closed"))
    monkeypatch.setenv("COMPLAINTS_LAKE", str(lake.lake))
    out = tmp_path / "out" / "report.html"
    assert main(["report", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = out.read_text()
    assert page.count(f'data-surge="{SURGE_DAY}"') == 2  # both alerts started that day
    table = page[page.index('<table class="alerts">'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 2 and "open" in table and "closed" not in table
    assert "outage, fiber" in table


def test_report_on_a_mistyped_lake_is_one_line_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mistyped = tmp_path / "lkae"
    monkeypatch.setenv("COMPLAINTS_LAKE", str(mistyped))
    assert main(["report"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"there is no lake at {mistyped}" in err[0]
    assert not mistyped.exists()


def _playwright() -> Any:
    """playwright's sync API; skipped when it is not installed, except in CI."""
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed: `make install` (requirements.lock)")
    return sync_api


@pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                    reason="Debian's chromium is not installed (/usr/bin/chromium): "
                           "`make install` installs it")
def test_charts_render_in_headless_chromium(lake: Settings) -> None:
    sync_api = _playwright()
    _write_alerts(lake, ("open",))
    path, _ = write_report(lake)
    shot = os.environ.get("COMPLAINTS_REPORT_SCREENSHOT")  # for a person to look at
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), chromium_sandbox=False,
                                     args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith("file:") else
                problems.append(f"network request {r.url}"))
        page.goto(path.as_uri())
        charts = page.eval_on_selector_all("svg.chart", """nodes => nodes.map(n => ({
            name: n.dataset.chart, width: n.getBoundingClientRect().width,
            height: n.getBoundingClientRect().height,
            bars: n.querySelectorAll('rect.bar').length,
            drawn: [...n.querySelectorAll('rect.bar')].filter(
                r => r.getBoundingClientRect().height > 0).length,
            surges: n.querySelectorAll('path.surge').length}))""")
        if shot:
            page.screenshot(path=shot, full_page=True)
        browser.close()
    assert problems == []
    by_name = {c["name"]: c for c in charts}
    assert set(by_name) == {"volume", "channels", "regions", "terms"}
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 40, chart
        assert chart["drawn"] > 0, chart
    assert by_name["volume"]["surges"] == 1
    assert by_name["channels"]["bars"] == 3 and by_name["regions"]["bars"] == 3
