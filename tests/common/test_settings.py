"""Settings: resolved once from the environment, and handed to subprocesses unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import DEFAULT_TABLES, Settings
from schemas.streaming import STREAM_SOURCES


def test_defaults_put_everything_under_the_lake(tmp_path: Path) -> None:
    settings = Settings.from_env({"COMPLAINTS_LAKE": str(tmp_path / "lake")})
    lake = (tmp_path / "lake").resolve()
    assert settings.lake == lake
    lake_zones = settings.zones
    zones = [lake_zones.inbox, lake_zones.raw, lake_zones.quarantine, lake_zones.clean,
             lake_zones.alerts, lake_zones.runs, lake_zones.warehouse]
    assert all(p.is_relative_to(lake) for p in zones)
    assert settings.aws_endpoint_url is None
    assert dict(settings.tables) == DEFAULT_TABLES
    assert dict(settings.streams) == STREAM_SOURCES


def test_overrides_and_round_trip_through_the_environment(tmp_path: Path) -> None:
    env = {
        "COMPLAINTS_LAKE": str(tmp_path / "l"),
        "COMPLAINTS_INBOX": str(tmp_path / "drop"),
        "COMPLAINTS_AWS_ENDPOINT_URL": "http://127.0.0.1:5999",
        "COMPLAINTS_TABLE_MBPP_REPORTS": "prod-mbpp-reports",
        "COMPLAINTS_STREAM_SMS": "prod-sms",
        "COMPLAINTS_SPARK_MASTER": "spark://127.0.0.1:7077",
    }
    settings = Settings.from_env(env)
    assert settings.zones.inbox == (tmp_path / "drop").resolve()
    assert settings.tables["mbpp_reports"] == "prod-mbpp-reports"
    assert settings.tables["chat_sessions"] == DEFAULT_TABLES["chat_sessions"]
    assert settings.streams == {"sms": "prod-sms", "social": STREAM_SOURCES["social"]}
    assert Settings.from_env(settings.to_env()) == settings


def test_spark_pool_is_one_slot_by_default_and_configurable(tmp_path: Path) -> None:
    default = Settings.from_env({"COMPLAINTS_LAKE": str(tmp_path)})
    assert (default.spark_pool, default.spark_pool_slots) == ("complaints_spark", 1)
    bigger = Settings.from_env({"COMPLAINTS_LAKE": str(tmp_path),
                                "COMPLAINTS_SPARK_POOL": "spark_big",
                                "COMPLAINTS_SPARK_POOL_SLOTS": "3"})
    assert (bigger.spark_pool, bigger.spark_pool_slots) == ("spark_big", 3)
    assert Settings.from_env(bigger.to_env()) == bigger
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="COMPLAINTS_SPARK_POOL_SLOTS"):
            Settings.from_env({"COMPLAINTS_SPARK_POOL_SLOTS": bad})
