"""The static HTML report: one self-contained file people open in a browser.

``complaints report [--out FILE]`` (default ``<lake>/reports/complaints.html``) reads the warehouse
(read-only) and the quality reports, and writes:

* complaints per day and category (stacked bars, the last 30 days of data) with a marker on each
  day a surge alert started (from the ``alerts`` view, when the warehouse has one);
* the channel mix and the top regions over those days;
* the top terms of the last day's complaint texts;
* the open alerts (``alerts`` view; "no open alerts" without one);
* the last transform run of each source (its counts) and the last quality results
  (``<lake>/alerts/quality/``).

Charts are inline SVG drawn here: no script, no stylesheet or font from the network, so the file
works offline, attached to an email or from an object store. Every value comes from a query; the
drawing functions are pure (data in, SVG text out) so tests can check them without a browser.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb  # noqa: TID253 - not a DAG file

from common.lake import write_atomically
from common.settings import Settings
from warehouse.duckdb_warehouse import open_readonly

__all__ = ["ReportData", "gather_report", "render_report", "write_report"]

DAYS_SHOWN = 30
TOP_N = 10
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
# Words too common to tell anything about a day's complaints.
STOPWORDS = frozenset("""
a about after again all also am an and any are as at be been before being but by can cannot could
did do does dont for from get got had has have having he her here him his how i if im in into is it
its ive just me more my no not now of on one or our out over please she so some still such than
that the their them then there these they this to too up us very was we were what when where which
while who why will with would you your yet been since day days time times hi hello thanks thank
every back keep keeps number get got today yesterday week cust
""".split())
CLOSED_STATUSES = ("closed", "resolved", "ended", "expired")


@dataclass
class ReportData:
    """Everything the report shows: gathered once (``gather_report``), then drawn."""

    generated_at: datetime
    lake: str
    daily: list[tuple[date, str, int]] = field(default_factory=list)
    channels: list[tuple[str, int]] = field(default_factory=list)
    regions: list[tuple[str, int]] = field(default_factory=list)
    last_day: date | None = None
    terms: list[tuple[str, int]] = field(default_factory=list)
    has_alerts_view: bool = False
    surges: list[tuple[date, str]] = field(default_factory=list)
    open_alerts: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)


# --- gathering ---------------------------------------------------------------------------------

_WINDOW = f"event_date > (SELECT max(event_date) FROM complaints) - INTERVAL {DAYS_SHOWN} DAY"

_TERMS = """\
WITH words AS (
  -- masked PII ([email], [phone], [card]), @handles and ids (CUST-01234) are not terms
  SELECT unnest(regexp_extract_all(
           regexp_replace(lower(text), '\\[[a-z]+\\]|@\\w+|\\b[a-z]+-?\\d+\\w*', ' ', 'g'),
           '[a-z]{3,}')) AS term
  FROM complaints WHERE event_date = ?
)
SELECT term, count(*) AS n FROM words
WHERE term NOT IN (SELECT unnest(?::VARCHAR[]))
GROUP BY term ORDER BY n DESC, term LIMIT ?"""


# The latest run of each source: what the pipeline last did, one line per source.
_LAST_RUNS = """\
SELECT source, started_at, mode, records_in, clean, quarantined, duplicates, counts_conserved,
       run_id
FROM runs
QUALIFY row_number() OVER (PARTITION BY source ORDER BY started_at DESC) = 1
ORDER BY started_at DESC, source"""


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
          ) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, list(params)).fetchall()]


def _dicts(conn: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = conn.execute(sql)
    names = [str(d[0]) for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _has_view(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = conn.execute("SELECT count(*) FROM information_schema.tables "
                       "WHERE table_schema = 'main' AND table_name = ?", [name]).fetchone()
    return bool(row and row[0])


def _gather_volume(conn: duckdb.DuckDBPyConnection, data: ReportData) -> None:
    data.daily = [(d, c, int(n)) for d, c, n in _rows(
        conn, f"SELECT event_date, category, count(*) FROM complaints WHERE {_WINDOW} "
              "GROUP BY ALL ORDER BY 1, 2")]
    data.channels = [(s, int(n)) for s, n in _rows(
        conn, f"SELECT source, count(*) FROM complaints WHERE {_WINDOW} "
              "GROUP BY 1 ORDER BY 2 DESC, 1")]
    data.regions = [(r, int(n)) for r, n in _rows(
        conn, f"SELECT coalesce(region, '(unknown)'), count(*) FROM complaints WHERE {_WINDOW} "
              f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {TOP_N}")]
    row = conn.execute("SELECT max(event_date) FROM complaints").fetchone()
    data.last_day = row[0] if row else None
    if data.last_day is not None:
        data.terms = [(t, int(n)) for t, n in _rows(
            conn, _TERMS, (data.last_day, sorted(STOPWORDS), TOP_N + 5))]


def _gather_alerts(conn: duckdb.DuckDBPyConnection, data: ReportData) -> None:
    data.has_alerts_view = _has_view(conn, "alerts")
    if not data.has_alerts_view:
        return
    closed = ", ".join(f"'{s}'" for s in CLOSED_STATUSES)
    data.surges = [(d, str(label)) for d, label in _rows(
        conn, "SELECT CAST(window_start AS DATE), concat_ws(' / ', category, region, source) "
              "FROM alerts WHERE kind = 'surge' AND window_start IS NOT NULL "
              "ORDER BY window_start")]
    data.open_alerts = _dicts(
        conn, "SELECT kind, category, region, source, window_start, window_end, observed, "
              "expected, score, first_seen, last_seen, status, top_terms FROM alerts "
              f"WHERE lower(coalesce(status, 'open')) NOT IN ({closed}) "
              "ORDER BY score DESC NULLS LAST, window_start DESC")


def _quality_results(folder: Path, limit: int) -> list[dict[str, Any]]:
    """The newest quality reports (``quality.complaint_checks.write_report``'s JSON); a file
    that is not such JSON is shown as unreadable rather than dropped."""
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("[!._]*.json"), key=lambda p: p.stat().st_mtime,
                       reverse=True)[:limit]:
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            found.append(payload if isinstance(payload, dict) else {"run_id": path.stem})
        except (OSError, ValueError):
            found.append({"run_id": path.stem, "summary": "unreadable report file"})
    return found


def gather_report(settings: Settings) -> ReportData:
    """Query the warehouse (read-only) and the lake for everything the report shows."""
    data = ReportData(generated_at=datetime.now(UTC), lake=str(settings.lake))
    conn = open_readonly(settings)
    try:
        _gather_volume(conn, data)
        _gather_alerts(conn, data)
        data.runs = _dicts(conn, _LAST_RUNS)
    finally:
        conn.close()
    data.quality = _quality_results(settings.zones.alerts / "quality", 8)
    return data


# --- drawing -----------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _empty_chart(name: str, message: str) -> str:
    return (f'<svg class="chart" data-chart="{name}" role="img" aria-label="{_e(message)}" '
            'width="600" height="60" viewBox="0 0 600 60" xmlns="http://www.w3.org/2000/svg">'
            f'<text x="10" y="35" class="muted">{_e(message)}</text></svg>')


def _color(categories: Sequence[str], category: str) -> str:
    return PALETTE[list(categories).index(category) % len(PALETTE)]


def _legend(categories: Sequence[str], y: int) -> list[str]:
    parts = []
    for i, category in enumerate(categories):
        x = 60 + (i % 5) * 170
        row = y + (i // 5) * 18
        parts.append(f'<rect x="{x}" y="{row - 10}" width="12" height="12" '
                     f'fill="{_color(categories, category)}"/>'
                     f'<text x="{x + 17}" y="{row}">{_e(category)}</text>')
    return parts


def volume_chart(daily: Sequence[tuple[date, str, int]],
                 surges: Sequence[tuple[date, str]]) -> str:
    """Stacked bars of complaints per day and category; a red marker above each day on which a
    surge alert started (its title names the alert)."""
    if not daily:
        return _empty_chart("volume", "no complaints in the warehouse yet")
    days = sorted({d for d, _, _ in daily})
    categories = sorted({c for _, c, _ in daily})
    totals = {d: sum(n for day, _, n in daily if day == d) for d in days}
    top = max(totals.values())
    width, plot_h, left, base = 900, 220, 60, 250
    step = (width - left - 10) / len(days)
    bar = max(step * 0.75, 1.0)
    parts = [f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" class="axis"/>',
             f'<text x="{left - 6}" y="{base - plot_h + 4}" text-anchor="end">{top}</text>',
             f'<text x="{left - 6}" y="{base + 4}" text-anchor="end">0</text>']
    heights = {(d, c): n for d, c, n in daily}
    for i, day in enumerate(days):
        x, y = left + i * step, float(base)
        for category in categories:
            n = heights.get((day, category), 0)
            h = plot_h * n / top
            y -= h
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{_color(categories, category)}">'
                         f'<title>{day} {_e(category)}: {n}</title></rect>')
        if i % max(1, len(days) // 10) == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base + 16}" text-anchor="middle">'
                         f'{day:%m-%d}</text>')
    for day, label in surges:
        if day in totals:
            x = left + days.index(day) * step + bar / 2
            y = base - plot_h * totals[day] / top - 6
            parts.append(f'<path class="surge" data-surge="{day}" d="M{x - 6:.1f},{y - 10:.1f} '
                         f'L{x + 6:.1f},{y - 10:.1f} L{x:.1f},{y:.1f} Z" fill="#d62728">'
                         f'<title>surge alert from {day}: {_e(label)}</title></path>')
    legend_rows = (len(categories) + 4) // 5
    height = base + 30 + legend_rows * 18
    parts += _legend(categories, base + 40)
    return (f'<svg class="chart" data-chart="volume" role="img" aria-label="complaints per day '
            f'and category" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')


def bar_chart(name: str, items: Sequence[tuple[str, int]], empty: str) -> str:
    """Horizontal bars, one per (label, value), with the value and its share written out."""
    if not items:
        return _empty_chart(name, empty)
    width, left, row_h = 460, 172, 24
    top = max(v for _, v in items) or 1
    total = sum(v for _, v in items) or 1
    parts = []
    for i, (label, value) in enumerate(items):
        y = 8 + i * row_h
        w = (width - left - 110) * value / top
        short = label if len(label) <= 22 else label[:21] + "\u2026"
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{_e(short)}</text>'
                     f'<rect class="bar" x="{left}" y="{y}" width="{max(w, 1):.1f}" height="18" '
                     f'fill="{PALETTE[0]}"><title>{_e(label)}: {value}</title></rect>'
                     f'<text x="{left + w + 6:.1f}" y="{y + 14}">{value:,} '
                     f'({100 * value / total:.0f}%)</text>')
    height = 16 + len(items) * row_h
    return (f'<svg class="chart" data-chart="{name}" role="img" aria-label="{_e(name)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')


def _table(rows: Sequence[dict[str, Any]], empty: str, css: str) -> str:
    if not rows:
        return f'<p class="muted {css}">{_e(empty)}</p>'
    columns = list(rows[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return _e(value.strftime("%Y-%m-%d %H:%M"))
    if isinstance(value, (list, tuple)):
        return _e(", ".join(str(v) for v in value))
    if isinstance(value, bool):
        return "yes" if value else '<b class="bad">NO</b>'
    return _e(value)


def _quality_rows(quality: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"run": q.get("run_id"), "suite": q.get("suite"), "passed": q.get("success"),
             "expectations": f"{q.get('passed', '?')}/{q.get('evaluated', '?')}",
             "rows": q.get("rows"), "written": q.get("written_at"),
             "failures": "; ".join(f.get("expectation", "?") + (f"({f['column']})"
                                   if f.get("column") else "") for f in q.get("failed") or [])}
            for q in quality]


_STYLE = """\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:960px;
color:#222}h1{margin-bottom:0}h2{margin-top:2em;border-bottom:1px solid #ddd}
svg text{font-size:12px;fill:#333}.axis{stroke:#999}.muted{color:#777;fill:#777}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left}th{background:#f4f4f4}.bad{color:#c00}.grid{display:flex;gap:2em;flex-wrap:wrap}"""


def render_report(data: ReportData) -> str:
    """The report as one HTML document (inline CSS and SVG, nothing fetched)."""
    alerts_note = ("no open alerts" if data.has_alerts_view
                   else "no open alerts (the warehouse has no alerts view yet)")
    last_day = f" ({data.last_day})" if data.last_day else ""
    sections = [
        f"<h1>Complaints</h1><p class=\"muted\">Generated {data.generated_at:%Y-%m-%d %H:%M} "
        f"UTC from {_e(data.lake)}</p>",
        f"<h2>Open alerts</h2>{_table(data.open_alerts, alerts_note, 'alerts')}",
        f"<h2>Complaints per day and category (last {DAYS_SHOWN} days of data)</h2>"
        f"{volume_chart(data.daily, data.surges)}"
        "<p class=\"muted\">Red markers: days on which a surge alert started.</p>",
        "<div class=\"grid\"><div><h2>Channel mix</h2>"
        f"{bar_chart('channels', data.channels, 'no complaints')}</div>"
        f"<div><h2>Top regions</h2>{bar_chart('regions', data.regions, 'no complaints')}"
        "</div></div>",
        f"<h2>Top terms of the last day{_e(last_day)}</h2>"
        f"{bar_chart('terms', data.terms, 'no complaint text on the last day')}",
        "<h2>Last transform run of each source</h2>"
        f"{_table(data.runs, 'no runs recorded', 'runs')}",
        "<h2>Quality results</h2>"
        f"{_table(_quality_rows(data.quality), 'no quality reports', 'quality')}",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Complaints report</title><style>{_STYLE}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")


def write_report(settings: Settings, out: Path | None = None) -> tuple[Path, ReportData]:
    """Gather, render and write the report (atomically) to ``out`` (default
    ``<lake>/reports/complaints.html``); return its path and what it shows."""
    data = gather_report(settings)
    target = out if out is not None else settings.zones.report
    write_atomically(target, render_report(data))
    return target, data
