"""Surge detection on small generated histories written straight into the clean zone (DuckDB only,
no Spark): a planted surge is found, explained and kept as one alert while it lasts; quiet history
raises nothing; reruns change nothing."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import NormalDist

import duckdb
import pytest

from common.lake import Lake
from common.settings import Settings
from quality.alerts import read_alerts
from quality.surges import (
    SurgeOptions,
    detect_surges,
    group_episodes,
    poisson_z_sql,
    run_surge_detection,
)
from samples.history import HistoryPlan, PlantedSurge, write_history
from warehouse.duckdb_warehouse import refresh_warehouse, run_query

START = date(2026, 10, 26)  # a Monday
SURGE = PlantedSurge("network", "South", "call_center",
                     datetime(2026, 11, 10, 13, tzinfo=UTC), hours=4, factor=6.0)
PER_DAY = {"call_center": 4000.0}


def _lake(tmp_path: Path, surges: tuple[PlantedSurge, ...] = (SURGE,), days: int = 21) -> Lake:
    lake = Lake(tmp_path / "lake")
    write_history(HistoryPlan(START, days, PER_DAY, seed=5, surges=surges), lake.clean_complaints)
    return lake


def _options(as_of: datetime, **overrides: object) -> SurgeOptions:
    return SurgeOptions(as_of=as_of, since=datetime(2026, 11, 6, tzinfo=UTC),
                        **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def surge_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return _lake(tmp_path_factory.mktemp("surge"))


def test_a_planted_surge_is_one_alert_that_explains_itself(surge_lake: Lake) -> None:
    run = detect_surges(surge_lake, _options(datetime(2026, 11, 12, tzinfo=UTC)))
    assert [(a.category, a.region, a.source) for a in run.alerts] == [
        ("network", "South", "call_center")]
    alert = run.alerts[0]
    assert alert.window_start == SURGE.start
    assert SURGE.end <= alert.window_end <= SURGE.end + timedelta(hours=2)
    assert alert.status == "resolved"
    assert alert.observed is not None and alert.expected is not None
    assert alert.observed > 2.5 * alert.expected
    assert alert.score is not None and alert.score >= 4.5
    # The planted surge speaks of outages; the example ids are complaints of its window.
    assert {"outage", "down", "signal", "service", "tower", "anywhere", "nothing", "works"} \
        & set(alert.top_terms)
    assert len(alert.example_complaint_ids) == 3
    ids = ", ".join(f"'{i}'" for i in alert.example_complaint_ids)
    rows = duckdb.execute(
        f"SELECT category, region, event_time FROM read_parquet('{surge_lake.clean_complaints}"
        f"/*/*/*.parquet', hive_partitioning = true) WHERE complaint_id IN ({ids})").fetchall()
    assert all(r[0] == "network" and r[1] == "South" for r in rows)
    assert all(SURGE.start <= r[2] < alert.window_end for r in rows)


def test_quiet_history_raises_no_alert(tmp_path: Path) -> None:
    lake = _lake(tmp_path, surges=())
    run = detect_surges(lake, _options(datetime(2026, 11, 16, tzinfo=UTC)))
    assert run.alerts == []
    assert run.surge_hours == 0


def test_a_surge_that_lasts_is_one_alert_updated_then_resolved(surge_lake: Lake,
                                                               tmp_path: Path) -> None:
    lake = Lake(tmp_path / "state")  # alerts of this test only; the complaints are shared
    lake.root.mkdir()
    (lake.root / "clean").symlink_to(surge_lake.clean)
    seen = []
    for minutes in (15, 75, 150, 420):  # micro-batches during the surge, then long after
        as_of = SURGE.start + timedelta(minutes=minutes)
        run, changed = run_surge_detection(lake, None, _options(as_of, explain=False))
        seen.append([(a.alert_id, a.status, a.window_end) for a in read_alerts(lake)])
        assert changed, f"the run at {as_of} should update the alert"
    ids = {entry[0][0] for entry in seen}
    assert len(ids) == 1 and all(len(entry) == 1 for entry in seen), seen
    assert [entry[0][1] for entry in seen] == ["open", "open", "open", "resolved"]
    assert seen[0][0][2] == SURGE.start + timedelta(minutes=15)  # the hour in progress
    alert = read_alerts(lake)[0]
    assert alert.first_seen == SURGE.start + timedelta(minutes=15)  # within one micro-batch
    # Rerunning the last run changes nothing.
    _, changed = run_surge_detection(lake, None, _options(SURGE.start + timedelta(minutes=420),
                                                          explain=False))
    assert changed == []
    assert read_alerts(lake) == [alert]


def test_the_warehouse_alerts_view(surge_lake: Lake, tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "wh")
    settings.lake.mkdir()
    (settings.lake / "clean").symlink_to(surge_lake.clean)
    refresh_warehouse(settings)
    empty = run_query(settings, "SELECT * FROM alerts")
    assert empty.rows == []
    assert empty.columns[:3] == ["alert_id", "kind", "category"]
    run_surge_detection(settings.zones, None, _options(datetime(2026, 11, 12, tzinfo=UTC)))
    refresh_warehouse(settings)
    result = run_query(settings, "SELECT kind, category, region, source, status, "
                                 "len(top_terms) > 0, typeof(window_start) FROM alerts")
    assert result.rows == [("surge", "network", "South", "call_center", "resolved", True,
                            "TIMESTAMP WITH TIME ZONE")]


def test_no_clean_complaints_is_no_run(tmp_path: Path) -> None:
    run = detect_surges(Lake(tmp_path), SurgeOptions())
    assert run.window is None and run.alerts == []


def test_a_long_modest_surge_is_found_through_its_six_hour_window(tmp_path: Path) -> None:
    # 2x for six hours on a quiet series: no hour, and no three hours, stand out enough alone.
    long = PlantedSurge("billing", "West", "call_center", datetime(2026, 11, 10, 10, tzinfo=UTC),
                        hours=6, factor=2.0)
    lake = Lake(tmp_path / "lake")
    write_history(HistoryPlan(START, 21, {"call_center": 1500.0}, seed=5, surges=(long,)),
                  lake.clean_complaints)
    as_of = datetime(2026, 11, 12, tzinfo=UTC)
    assert detect_surges(lake, _options(as_of, windows=(1, 2, 3), explain=False)).alerts == []
    alerts = detect_surges(lake, _options(as_of, explain=False)).alerts
    assert [(a.category, a.region) for a in alerts] == [("billing", "West")]
    assert alerts[0].window_start <= long.start + timedelta(hours=1)
    assert alerts[0].window_end >= long.end - timedelta(hours=1)
    assert alerts[0].observed is not None and alerts[0].expected is not None
    assert alerts[0].observed >= 2 * alerts[0].expected


def test_surge_hours_a_quiet_hour_apart_are_one_surge() -> None:
    from quality.surges import SurgeHour

    def hour(h: int, region: str = "South") -> SurgeHour:
        return SurgeHour("network", region, "sms", datetime(2026, 11, 2, h, tzinfo=UTC), 9, 1.0,
                         5.0)

    episodes = group_episodes([hour(1), hour(3), hour(6), hour(3, "West")], max_gap_hours=1)
    assert [(e.region, [h.hour.hour for h in e.hours]) for e in episodes] == [
        ("South", [1, 3]), ("South", [6]), ("West", [3])]


def test_complaints_surges_command(surge_lake: Lake, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from complaints.cli import main

    lake = tmp_path / "cli"
    lake.mkdir()
    (lake / "clean").symlink_to(surge_lake.clean)
    monkeypatch.setenv("COMPLAINTS_LAKE", str(lake))
    assert main(["surges", "--since", "2026-11-08", "--as-of", "2026-11-12T00:00"]) == 0
    out = capsys.readouterr().out
    assert "Surges from 2026-11-08 00:00 to 2026-11-12 00:00 UTC: 1 alert" in out
    assert "surge network / South / call_center" in out and "2026-11-10 13:00" in out
    assert main(["surges", "--since", "2026-11-12", "--as-of", "2026-11-11"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("complaints surges: --since 2026-11-12T00:00 is not before --as-of")
    monkeypatch.setenv("COMPLAINTS_LAKE", str(tmp_path / "nowhere"))
    assert main(["surges"]) == 1
    assert "there is no lake at" in capsys.readouterr().err


def _score(observed: float, expected: float) -> float:
    row = duckdb.execute(f"SELECT {poisson_z_sql(str(observed), str(expected))}").fetchone()
    assert row is not None
    return float(row[0])


def _exact_tail_z(observed: int, expected: float) -> float:
    """The standard normal quantile of P(X >= observed) for a Poisson ``expected``."""
    tail = sum(math.exp(k * math.log(expected) - expected - math.lgamma(k + 1))
               for k in range(observed, observed + 1000))
    return -NormalDist().inv_cdf(tail)


@pytest.mark.parametrize(("observed", "expected"), [
    (7, 2.0), (9, 3.3), (16, 5.3), (23, 6.7), (35, 16.2), (83, 58.3), (250, 190.0)])
def test_the_score_reads_as_the_z_of_the_exact_poisson_tail(observed: int,
                                                            expected: float) -> None:
    assert _score(observed, expected) == pytest.approx(_exact_tail_z(observed, expected),
                                                       abs=0.15)


def test_the_score_of_no_rise_and_of_an_empty_baseline() -> None:
    assert _score(5, 5) == 0
    assert _score(0, 2) == pytest.approx(-2.0)  # -sqrt(2 e)
    assert _score(6, 0) == pytest.approx(_score(6, 0.01))  # an empty hour is not a zero


SMALL_SURGE = PlantedSurge("billing", "West", "call_center",
                           datetime(2026, 11, 12, 9, tzinfo=UTC), hours=2, factor=3.0)


def test_a_small_morning_surge_is_found_through_its_two_hour_window(tmp_path: Path) -> None:
    """3x for two hours of the morning ramp of a series of about 200 complaints a day (2.4 and 4.6
    expected): neither hour alone nor a three-hour window (one quiet hour in it) reaches the
    threshold; the two hours together do, and the alert's score is theirs."""
    lake = Lake(tmp_path / "lake")
    write_history(HistoryPlan(START, 21, PER_DAY, seed=4, surges=(SMALL_SURGE,)),
                  lake.clean_complaints)
    run = detect_surges(lake, _options(datetime(2026, 11, 16, tzinfo=UTC), explain=False))
    assert [(a.category, a.region, a.source, a.window_start, a.window_end) for a in run.alerts] \
        == [("billing", "West", "call_center", SMALL_SURGE.start, SMALL_SURGE.end)]
    alert = run.alerts[0]
    assert alert.observed is not None and alert.expected is not None and alert.score is not None
    assert alert.observed >= 2.5 * alert.expected
    assert alert.score == pytest.approx(_score(alert.observed, alert.expected))
    assert alert.score >= SurgeOptions.min_score
