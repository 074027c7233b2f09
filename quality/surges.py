"""Surge detection: hourly complaint counts per category x region x source against a baseline that
knows the hour of day and the day of week, run by DuckDB over the clean Parquet (no Spark).

The baseline of one series (a category, region and source) for one hour is

    expected = level x weekday x share

* ``level``: the **median** of the series' daily totals over the previous ``history_days`` days,
  each divided by its day's weekday factor first (a weekday-free level: the median of a history
  that mixes quiet weekends with weekdays would otherwise sit below a weekday, and every expected
  count about 3% low). A median ignores an earlier surge day (it is one day among many), where a
  mean would not.
* ``weekday``: the source's median total on the same weekday (previous four weeks) over its
  median total on any day; 1 until two same weekdays have been seen.
* ``share``: the source's share of a day's complaints that falls in this hour, the median over the
  same hour of the same weekday in the previous four weeks (hour of week) once three of them are
  known, else over the same hour of the previous days (hour of day). It is pooled over every
  category and region of the source, so one series' surge barely moves it, and it is estimated
  from thousands of complaints rather than from one sparse series.

The hour in progress (the one holding ``as_of``) is compared with the expected count of its
elapsed part, so the streaming path sees a surge within its first micro-batch.

The score of ``observed`` complaints against ``expected`` is the signed root of the Poisson
likelihood-ratio statistic, ``sign(o - e) sqrt(2 (o ln(o / e) - (o - e)))``. It reads as a
z-score: within about 0.15 of the normal quantile of the exact Poisson tail P(X >= o), from a
handful of complaints against one or two expected up to hundreds (a score of 4: a count that
quiet data reaches once in 31,500 hours). The Anscombe z-score
used before, ``2 (sqrt(o + 3/8) - sqrt(e + 3/8))``, fell 0.2-0.4 short of it at the 5 to 30
complaints of a small surge, so a small surge needed a larger rise than a big one to be seen.

An hour is a surge hour when the score of its own count, or of a window of ``windows`` hours ending
with it (2, 3, 4 or 6), reaches ``min_score`` with at least ``min_ratio`` times and ``min_excess``
complaints more than expected in that window. Two-hour windows find the short surges of the morning
ramp (3x for two hours: 7 and 14 complaints against 2.4 and 4.6) that a three-hour window dilutes
with a quiet hour; four and six hours find the long, modest ones (2x for six hours, no hour of
which stands out alone). An hour flagged through a longer window must itself stand above its
baseline (score 1 and ``min_ratio`` times), and so must the recent half of that window (its last
hour of a 2-hour window, its last 3 of a 6-hour one: score ``recent_score`` and ``min_ratio``
times), so that the quiet hours after a big surge, whose windows the surge still carries, are not
surge hours. The windows are several looks at the same data, so ``min_score`` is 4.25 rather than 4
(about Bonferroni's correction for three looks; the windows overlap, so five look little more than
three). Measured over eight seeds (``bench/surges.py``, batch path): 4 and 6 hours found 214 of 240
planted surges where 2 and 3 found 211, and raised the same 4 alerts on eight quiet two-week
histories of 56 series. An alert's ``score`` is the highest of its hours' scores.

Surge hours of a series with at most ``max_gap_hours`` quiet hours between them are one surge: one
alert, whose ``alert_id`` is fixed by its first run and which later runs update (``window_end``,
``observed``, ``last_seen``; ``status`` becomes ``resolved`` once a complete quiet hour follows).
Each alert carries the words most over-represented in its window against the series' previous
week, and the first complaint ids of its window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from common.lake import Lake, utc
from quality.alerts import Alert, alert_id

if TYPE_CHECKING:
    import duckdb

HOUR = timedelta(hours=1)
UNKNOWN_REGION = "unknown"

# Words that say nothing about what a surge is about.
STOPWORDS = frozenset("""
the and for you your are was were has have had this that with from not but all any can our out
been they them their there what when where which who will would could should just than then too
very into over also about after again still since because being some more most other only own
same such off its get got give gave did does doing done one two three now here how why let
please thank thanks hello dear sir madam call called calling customer customers phone number
since today yesterday week weeks day days hour hours time times month months year years
""".split())


@dataclass(frozen=True)
class SurgeOptions:
    """What one detection run looks at and how sure it must be. ``as_of``: the moment the run
    stands for (events at or after it are not seen; default now). ``since``: the first hour
    evaluated (default: ``lookback_hours`` before the newest complaint)."""

    as_of: datetime | None = None
    since: datetime | None = None
    lookback_hours: int = 72
    history_days: int = 28
    min_history_days: int = 2
    min_score: float = 4.25  # z 4, for several windows an hour (see the module docstring)
    windows: tuple[int, ...] = (1, 2, 3, 4, 6)  # the hours each hour is looked at through
    recent_score: float = 2.0  # what the recent half of a longer window must score on its own
    min_ratio: float = 1.5
    min_excess: float = 6.0
    max_gap_hours: int = 1
    terms: int = 5
    examples: int = 3
    explain: bool = True  # top terms and example ids (one more query)


@dataclass(frozen=True)
class SurgeHour:
    """One hour of one series found above its baseline."""

    category: str
    region: str
    source: str
    hour: datetime
    observed: int
    expected: float
    score: float
    began: datetime | None = None  # flagged through a longer window: where that began
    # the hours from ``began`` up to this one (hour, observed, expected), so that an alert's
    # counts are those of every hour of its window
    earlier: tuple[tuple[datetime, int, float], ...] = ()

    @property
    def start(self) -> datetime:
        return self.hour if self.began is None else min(self.hour, self.began)


@dataclass(frozen=True)
class Window:
    """The hours a detection run evaluates, and the moment it stands for."""

    history_start: datetime
    since: datetime
    end: datetime  # exclusive: as_of, or the end of the newest complaint's hour
    as_of: datetime


def _ts(moment: datetime) -> str:
    return f"TIMESTAMPTZ '{utc(moment).isoformat()}'"


def _clean_glob(lake: Lake) -> str:
    pattern = (lake.clean_complaints.resolve() / "event_date=*" / "source=*" / "[!._]*.parquet")
    return str(pattern).replace("'", "''")


def complaints_relation(lake: Lake) -> str:
    """The clean complaints as a DuckDB table expression (hive partitions typed)."""
    return (f"read_parquet('{_clean_glob(lake)}', hive_partitioning = true, union_by_name = true, "
            "hive_types = {'event_date': DATE, 'source': VARCHAR})")


def connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def _has_complaints(lake: Lake) -> bool:
    return any(lake.clean_complaints.glob("event_date=*/source=*/[!._]*.parquet"))


def newest_complaint(conn: duckdb.DuckDBPyConnection, lake: Lake,
                     before: datetime) -> datetime | None:
    """The newest complaint before ``before``: the last two days' partitions first (a 15-minute
    run should not read the whole history for it), then all of them."""
    recent = f"event_date >= CAST({_ts(before - timedelta(days=2))} AS DATE) AND "
    for where in (recent, ""):
        row = conn.execute(f"SELECT max(event_time) FROM {complaints_relation(lake)} "
                           f"WHERE {where}event_time < {_ts(before)}").fetchone()
        if row and row[0] is not None:
            return utc(row[0])
    return None


def _floor_hour(moment: datetime) -> datetime:
    return utc(moment).replace(minute=0, second=0, microsecond=0)


def plan_window(newest: datetime, options: SurgeOptions) -> Window:
    """The evaluated hours: from ``since`` (or ``lookback_hours`` before the newest complaint) to
    ``as_of`` (or the end of the newest complaint's hour, when the data stops earlier)."""
    as_of = utc(options.as_of)
    end = min(as_of, _floor_hour(newest) + HOUR)
    since = _floor_hour(options.since) if options.since else _floor_hour(end) - timedelta(
        hours=options.lookback_hours)
    day_start = since.replace(hour=0)
    return Window(history_start=day_start - timedelta(days=options.history_days), since=since,
                  end=end, as_of=as_of)


# An expected count is never taken below this in a score: an hour of a series that is always empty
# is not infinitely surprising (min_excess still asks for 6 complaints more than expected).
MIN_EXPECTED = 0.01


def poisson_z_sql(observed: str, expected: str) -> str:
    """SQL: the score of ``observed`` complaints against a Poisson ``expected``: the signed square
    root of the likelihood-ratio (deviance) statistic, ``sign(o - e) sqrt(2 (o ln(o / e) - (o -
    e)))``. It reads as a z-score: within about 0.1 of the standard normal quantile of the exact
    Poisson tail P(X >= o) for counts from a few up, where the Anscombe z-score (``2 (sqrt(o + 3/8)
    - sqrt(e + 3/8))``) fell 0.2-0.4 short at the 5-30 complaints of a small surge."""
    e = f"greatest({expected}, {MIN_EXPECTED})"
    return (f"sign({observed} - {e}) * sqrt(greatest(2 * (CASE WHEN {observed} > 0 THEN "
            f"{observed} * ln({observed} / {e}) ELSE 0 END - ({observed} - {e})), 0))")


def hourly_scores_sql(lake: Lake, window: Window, options: SurgeOptions) -> str:
    """SQL: every evaluated hour of every series with its count, baseline and scores; for each
    longer window of ``options.windows`` (k hours ending with this one) ``n_k``, ``expected_k``
    and ``score_k``."""
    history = options.history_days
    longest = max(options.windows)
    sums = "".join(f"sum(n) OVER {_last_hours(k)} AS n_{k}, "
                   f"sum(expected) OVER {_last_hours(k)} AS expected_{k},\n           "
                   for k in _summed(options))
    scores = "".join(f",\n       {poisson_z_sql(f'n_{k}', f'expected_{k}')} AS score_{k}"
                     for k in _summed(options))
    return f"""
WITH events AS (
    SELECT category, coalesce(region, '{UNKNOWN_REGION}') AS region, source,
           date_trunc('hour', event_time) AS hour
    FROM {complaints_relation(lake)}
    WHERE event_date >= CAST({_ts(window.history_start)} AS DATE)
      AND event_time >= {_ts(window.history_start)} AND event_time < {_ts(window.end)}
), hourly AS (
    SELECT category, region, source, hour, count(*) AS n FROM events GROUP BY ALL
), series AS (
    -- a series is counted from its source's first day: days before the source existed are not
    -- quiet days
    SELECT DISTINCT category, region, source,
           CAST(min(hour) OVER (PARTITION BY source) AS DATE) AS first_day
    FROM hourly
), hours AS (
    SELECT unnest(generate_series({_ts(window.history_start)},
                                  {_ts(window.end)} - INTERVAL 1 SECOND, INTERVAL 1 HOUR)) AS hour
), grid AS (
    SELECT s.category, s.region, s.source, h.hour, CAST(h.hour AS DATE) AS day,
           coalesce(c.n, 0) AS n
    FROM series s JOIN hours h ON h.hour >= s.first_day
    LEFT JOIN hourly c ON c.category = s.category AND c.region = s.region
                      AND c.source = s.source AND c.hour = h.hour
), daily AS (
    SELECT category, region, source, day, sum(n) AS total FROM grid GROUP BY ALL
), source_daily AS (
    SELECT source, day, sum(total) AS total FROM daily GROUP BY ALL
), weekday AS (
    SELECT source, day,
           CASE WHEN count(*) OVER same >= 2 AND median(total) OVER any_day > 0
                THEN median(total) OVER same / median(total) OVER any_day ELSE 1 END AS factor
    FROM source_daily
    WINDOW same AS (PARTITION BY source, dayofweek(day) ORDER BY day
                    ROWS BETWEEN 4 PRECEDING AND 1 PRECEDING),
           any_day AS (PARTITION BY source ORDER BY day
                       ROWS BETWEEN {history} PRECEDING AND 1 PRECEDING)
), level AS (
    -- each past day's total over its weekday factor: a weekday-free level, so that the median
    -- of a history that mixes quiet weekends with weekdays is not pulled below a weekday
    SELECT d.category, d.region, d.source, d.day,
           median(d.total / nullif(w.factor, 0)) OVER past AS level_day,
           count(*) OVER past AS days_before
    FROM daily d JOIN weekday w USING (source, day)
    WINDOW past AS (PARTITION BY d.category, d.region, d.source ORDER BY d.day
                    ROWS BETWEEN {history} PRECEDING AND 1 PRECEDING)
), source_hourly AS (
    SELECT source, hour, day, sum(n) AS n FROM grid GROUP BY ALL
), shares AS (
    SELECT source, hour, day,
           n / nullif(sum(n) OVER (PARTITION BY source, day), 0) AS share
    FROM source_hourly
), profile AS (
    SELECT source, hour,
           CASE WHEN count(share) OVER same_hour_of_week >= 3
                THEN median(share) OVER same_hour_of_week
                ELSE median(share) OVER same_hour_of_day END AS share
    FROM shares
    WINDOW same_hour_of_week AS (PARTITION BY source, dayofweek(day), hour(hour) ORDER BY day
                                 ROWS BETWEEN 4 PRECEDING AND 1 PRECEDING),
           same_hour_of_day AS (PARTITION BY source, hour(hour) ORDER BY day
                                ROWS BETWEEN {history} PRECEDING AND 1 PRECEDING)
), baseline AS (
    SELECT g.category, g.region, g.source, g.hour, g.n,
           l.level_day * w.factor * p.share
             * least(1.0, epoch({_ts(window.end)} - g.hour) / 3600.0) AS expected,
           l.days_before
    FROM grid g
    JOIN level l USING (category, region, source, day)
    JOIN weekday w USING (source, day)
    JOIN profile p USING (source, hour)
), hour_scored AS (
    SELECT *, {poisson_z_sql("n", "expected")} AS score FROM baseline
), windowed AS (
    SELECT *, {sums}-- the hours before this one that its longest window reaches, oldest first
           list(struct_pack(hour := hour, n := n, expected := expected, score := score))
               OVER (PARTITION BY category, region, source ORDER BY hour
                     ROWS BETWEEN {longest - 1} PRECEDING AND 1 PRECEDING) AS before
    FROM hour_scored
)
SELECT *{scores} FROM windowed
"""


def _longer(options: SurgeOptions) -> list[int]:
    return sorted({k for k in options.windows if k > 1})


def _recent(k: int) -> int:
    """The hours at the end of a k-hour window that must stand above their baseline too."""
    return (k + 1) // 2


def _summed(options: SurgeOptions) -> list[int]:
    """The window lengths summed: the windows and their recent parts."""
    return sorted({j for k in _longer(options) for j in (k, _recent(k)) if j > 1})


def _last_hours(k: int) -> str:
    return (f"(PARTITION BY category, region, source ORDER BY hour "
            f"ROWS BETWEEN {k - 1} PRECEDING AND CURRENT ROW)")


def surge_hours_sql(lake: Lake, window: Window, options: SurgeOptions) -> str:
    """SQL: the hours that stand above their baseline (see the module's docstring), with the
    longest window that flagged each and the hours before it."""
    ratio, excess, score = options.min_ratio, options.min_excess, options.min_score

    def stands_out(n: str, expected: str, z: str) -> str:
        return f"({z} >= {score} AND {n} >= {ratio} * {expected} AND {n} - {expected} >= {excess})"

    # an hour flagged through a longer window must itself stand above its baseline, and so must
    # the window's recent half: the hours after a big surge, whose windows the surge still
    # carries, are not surge hours
    itself = f"score >= 1 AND n >= {ratio} * expected"

    def recent(k: int) -> str:
        j = _recent(k)
        n, expected, z = ("n", "expected", "score") if j == 1 else (f"n_{j}", f"expected_{j}",
                                                                    f"score_{j}")
        return f"{z} >= {options.recent_score} AND {n} >= {ratio} * {expected}"

    flagged = [(1, stands_out("n", "expected", "score"))] + [
        (k, f"{stands_out(f'n_{k}', f'expected_{k}', f'score_{k}')} AND {itself} AND {recent(k)}")
        for k in _longer(options)]
    return f"""
WITH scores AS (
    SELECT *, {", ".join(f"{test} AS flagged_{k}" for k, test in flagged)}
    FROM ({hourly_scores_sql(lake, window, options)})
    WHERE hour >= {_ts(window.since)} AND days_before >= {options.min_history_days}
      AND expected IS NOT NULL
)
SELECT category, region, source, hour, n, expected,
       greatest({", ".join(["score", *(f"score_{k}" for k in _longer(options))])}) AS score,
       greatest({", ".join(f"CASE WHEN flagged_{k} THEN {k} ELSE 0 END" for k, _ in flagged)})
           AS window_hours,
       before
FROM scores
WHERE {" OR ".join(f"flagged_{k}" for k, _ in flagged)}
ORDER BY category, region, source, hour
"""


def find_surge_hours(conn: duckdb.DuckDBPyConnection, lake: Lake, window: Window,
                     options: SurgeOptions) -> list[SurgeHour]:
    rows = conn.execute(surge_hours_sql(lake, window, options)).fetchall()
    return [surge_hour(r) for r in rows]


def surge_hour(row: Sequence[Any]) -> SurgeHour:
    """One row of ``surge_hours_sql``. Flagged through a window of k hours, the surge began at
    the earliest of the k - 1 hours before that, in a row up to this one, stand above their
    baseline (score 1 or more); its counts include those hours."""
    hour, window_hours, before = utc(row[3]), int(row[7]), list(row[8] or [])
    earlier: list[tuple[datetime, int, float]] = []
    for past in reversed(before[max(0, len(before) - window_hours + 1):]):
        if past["score"] is None or past["score"] < 1:
            break
        earlier.insert(0, (utc(past["hour"]), int(past["n"]), float(past["expected"])))
    began = earlier[0][0] if earlier else hour
    return SurgeHour(row[0], row[1], row[2], hour, int(row[4]), float(row[5]), float(row[6]),
                     began, tuple(earlier))


# ------------------------------------------------------------------------------------------------
# Surge hours -> alerts
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    """Consecutive surge hours of one series (at most ``max_gap_hours`` quiet hours between)."""

    category: str
    region: str
    source: str
    hours: tuple[SurgeHour, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return self.category, self.region, self.source

    @property
    def start(self) -> datetime:
        return min(h.start for h in self.hours)

    def end(self, window: Window) -> datetime:
        return min(self.hours[-1].hour + HOUR, window.end)

    def counts(self) -> tuple[int, float]:
        """Observed and expected complaints over every hour of the surge: its surge hours and the
        hours before them that the windows which flagged them began with."""
        hours = {h.hour: (h.observed, h.expected) for h in self.hours}
        for h in self.hours:
            for moment, observed, expected in h.earlier:
                hours.setdefault(moment, (observed, expected))
        return sum(o for o, _ in hours.values()), sum(e for _, e in hours.values())


def group_episodes(hours: Iterable[SurgeHour], max_gap_hours: int) -> list[Episode]:
    """Surge hours grouped into surges, per series, in time order."""
    episodes: list[Episode] = []
    current: list[SurgeHour] = []
    for hour in sorted(hours, key=lambda h: (h.category, h.region, h.source, h.hour)):
        if current and (
            (hour.category, hour.region, hour.source)
            != (current[-1].category, current[-1].region, current[-1].source)
            or hour.start - current[-1].hour > HOUR * (max_gap_hours + 1)
        ):
            episodes.append(Episode(current[0].category, current[0].region, current[0].source,
                                    tuple(current)))
            current = []
        current.append(hour)
    if current:
        episodes.append(Episode(current[0].category, current[0].region, current[0].source,
                                tuple(current)))
    return episodes


def _status(episode: Episode, window: Window, options: SurgeOptions) -> str:
    """Open while the last surge hour is the hour in progress or one of the last gap hours."""
    quiet_since = episode.hours[-1].hour + HOUR
    complete_quiet = (window.end - quiet_since) // HOUR
    return "resolved" if complete_quiet > options.max_gap_hours else "open"


def _continues(existing: Alert, episode: Episode, options: SurgeOptions) -> bool:
    """Whether ``episode`` is the same surge as the recorded alert: same series, and the two
    overlap or are at most ``max_gap_hours`` quiet hours apart."""
    same = (existing.kind == "surge"
            and (existing.category, existing.region, existing.source) == episode.key)
    gap = HOUR * (options.max_gap_hours + 1)
    last = episode.hours[-1].hour + HOUR
    return same and utc(existing.window_start) < last + gap \
        and utc(existing.window_end) + gap > episode.start


def episode_alert(episode: Episode, window: Window, options: SurgeOptions,
                  existing: Sequence[Alert]) -> Alert:
    """The alert of one surge: a new one, or the existing alert it continues (same id, same
    start, same first sighting)."""
    before = next((a for a in existing if _continues(a, episode, options)), None)
    start = utc(before.window_start) if before else episode.start
    observed, expected = episode.counts()
    return Alert(
        alert_id=before.alert_id if before else alert_id(
            "surge", episode.category, episode.region, episode.source, episode.start),
        kind="surge", category=episode.category, region=episode.region, source=episode.source,
        window_start=min(start, episode.start), window_end=episode.end(window),
        observed=observed, expected=expected,
        score=max(h.score for h in episode.hours),
        first_seen=utc(before.first_seen) if before else window.as_of,
        last_seen=window.as_of, status=_status(episode, window, options),
        top_terms=before.top_terms if before else (),
        example_complaint_ids=before.example_complaint_ids if before else (),
    )


def ended_alerts(existing: Iterable[Alert], seen: Iterable[str], window: Window) -> list[Alert]:
    """Open surge alerts of the evaluated hours that no surge hour continues: resolved."""
    kept = set(seen)
    return [replace(a, status="resolved", last_seen=window.as_of) for a in existing
            if a.kind == "surge" and a.status == "open" and a.alert_id not in kept
            and utc(a.window_end) >= window.since]


# ------------------------------------------------------------------------------------------------
# Explanations: top terms and example complaints
# ------------------------------------------------------------------------------------------------


def explain_sql(lake: Lake, options: SurgeOptions) -> str:
    """SQL over the registered ``surge_windows`` table: per alert, the words most over-represented
    in its window against the series' previous week, and its first complaint ids."""
    stop = ", ".join(f"'{w}'" for w in sorted(STOPWORDS))
    return f"""
WITH rows AS (
    SELECT w.alert_id, c.complaint_id, c.event_time, c.text,
           c.event_time >= w.window_start AS in_window
    FROM surge_windows w
    JOIN {complaints_relation(lake)} c
      ON c.category = w.category AND coalesce(c.region, '{UNKNOWN_REGION}') = w.region
     AND c.source = w.source
     AND c.event_date >= CAST(w.baseline_start AS DATE)
     AND c.event_time >= w.baseline_start AND c.event_time < w.window_end
), words AS (
    SELECT alert_id, in_window, unnest(string_split_regex(lower(text), '[^a-z]+')) AS term
    FROM rows
), counted AS (
    SELECT alert_id, term, count(*) FILTER (WHERE in_window) AS inside,
           count(*) FILTER (WHERE NOT in_window) AS outside
    FROM words WHERE length(term) >= 3 AND term NOT IN ({stop})
    GROUP BY ALL
), totals AS (
    SELECT alert_id, sum(inside) AS inside_total, sum(outside) AS outside_total
    FROM counted GROUP BY ALL
), ranked AS (
    SELECT c.alert_id, c.term,
           row_number() OVER (PARTITION BY c.alert_id ORDER BY
               ln((c.inside + 0.5) / (t.inside_total + 1)) - ln((c.outside + 0.5)
               / (t.outside_total + 1)) DESC, c.inside DESC, c.term) AS rank
    FROM counted c JOIN totals t USING (alert_id)
    WHERE c.inside >= 2
), examples AS (
    SELECT alert_id, complaint_id,
           row_number() OVER (PARTITION BY alert_id ORDER BY event_time, complaint_id) AS rank
    FROM rows WHERE in_window
)
SELECT w.alert_id,
       (SELECT list(term ORDER BY rank) FROM ranked r
        WHERE r.alert_id = w.alert_id AND rank <= {options.terms}) AS terms,
       (SELECT list(complaint_id ORDER BY rank) FROM examples e
        WHERE e.alert_id = w.alert_id AND rank <= {options.examples}) AS examples
FROM surge_windows w
"""


def explain_alerts(conn: duckdb.DuckDBPyConnection, lake: Lake, alerts: Sequence[Alert],
                   options: SurgeOptions) -> list[Alert]:
    """``alerts`` with their top terms and example complaint ids."""
    import pyarrow as pa

    if not alerts:
        return []
    windows = pa.table({
        "alert_id": [a.alert_id for a in alerts],
        "category": [a.category for a in alerts],
        "region": [a.region for a in alerts],
        "source": [a.source for a in alerts],
        "window_start": [utc(a.window_start) for a in alerts],
        "window_end": [utc(a.window_end) for a in alerts],
        "baseline_start": [utc(a.window_start) - timedelta(days=7) for a in alerts],
    })
    conn.register("surge_windows", windows)
    try:
        found = {r[0]: (r[1] or [], r[2] or []) for r in
                 conn.execute(explain_sql(lake, options)).fetchall()}
    finally:
        conn.unregister("surge_windows")
    return [replace(a, top_terms=tuple(found[a.alert_id][0]),
                    example_complaint_ids=tuple(found[a.alert_id][1])) for a in alerts]


# ------------------------------------------------------------------------------------------------
# One run
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurgeRun:
    """What one detection run found: the window it evaluated and the alerts it raised or
    updated (surges it saw, and open ones it saw end)."""

    window: Window | None
    alerts: list[Alert]
    surge_hours: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": None if self.window is None else self.window.since.isoformat(),
            "until": None if self.window is None else self.window.end.isoformat(),
            "surge_hours": self.surge_hours,
            "alerts": [a.payload() for a in self.alerts],
        }


def _since_open(existing: Sequence[Alert], since: datetime, options: SurgeOptions) -> datetime:
    """Evaluate again from the start of the earliest open surge (at most a week back), so that an
    alert that lasts is recomputed whole, not from the middle."""
    starts = [utc(a.window_start) for a in existing if a.kind == "surge" and a.status == "open"
              and utc(a.window_end) >= since - HOUR * (options.max_gap_hours + 1)]
    earliest = min([since, *starts])
    return max(earliest, since - timedelta(days=7))


def detect_surges(lake: Lake, options: SurgeOptions | None = None,
                  existing: Sequence[Alert] = ()) -> SurgeRun:
    """One detection run over the clean complaints; ``existing``: the alerts recorded so far (so
    that a surge that lasts updates its alert). Records nothing (see ``run_surge_detection``)."""
    opts = options or SurgeOptions()
    opts = replace(opts, as_of=utc(opts.as_of))
    if not _has_complaints(lake):
        return SurgeRun(None, [], 0)
    conn = connect()
    try:
        assert opts.as_of is not None
        newest = newest_complaint(conn, lake, opts.as_of)
        if newest is None:
            return SurgeRun(None, [], 0)
        window = plan_window(newest, opts)
        window = replace(window, since=_since_open(existing, window.since, opts))
        hours = find_surge_hours(conn, lake, window, opts)
        episodes = group_episodes(hours, opts.max_gap_hours)
        alerts = [episode_alert(e, window, opts, existing) for e in episodes]
        if opts.explain:
            alerts = explain_alerts(conn, lake, alerts, opts)
        alerts += ended_alerts(existing, [a.alert_id for a in alerts], window)
        return SurgeRun(window, alerts, len(hours))
    finally:
        conn.close()


def run_surge_detection(lake: Lake, webhook_url: str | None,
                        options: SurgeOptions | None = None) -> tuple[SurgeRun, list[Alert]]:
    """Detect, record in ``alerts/current.parquet`` and send the new and updated alerts to the
    webhook (never failing for it). Returns the run and the changed alerts."""
    from quality.alerts import publish_alerts, read_alerts

    run = detect_surges(lake, options, read_alerts(lake))
    changed, delivery = publish_alerts(lake, run.alerts, webhook_url)
    if webhook_url:
        print(delivery.summary())
    return run, changed


def surge_alerts(lake: Lake, since: datetime | None = None) -> list[Alert]:
    """Recorded surge alerts (whose window ends at or after ``since``), newest first."""
    from quality.alerts import read_alerts

    found = [a for a in read_alerts(lake) if a.kind == "surge"
             and (since is None or utc(a.window_end) >= utc(since))]
    return sorted(found, key=lambda a: (utc(a.window_start), a.alert_id), reverse=True)
