"""One settings object for the whole pipeline, resolved once at an entry point (CLI, DAG, test).

Everything the pipeline writes lives under ``lake`` (``COMPLAINTS_LAKE``, default ``./lake``):
``raw/``, ``quarantine/``, ``clean/``, ``alerts/``, ``runs/`` and the DuckDB warehouse file.
Functions below the entry points receive a ``Settings`` (or the paths they need) as arguments;
nothing deeper reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.lake import Lake
from schemas.streaming import STREAM_SOURCES

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES = REPO_ROOT / "rules" / "telecom.yaml"

# The operational DynamoDB tables of ../shared/seeds, by the logical name the pipeline uses.
DEFAULT_TABLES: dict[str, str] = {
    "complaint_management": "Complaint_management_system",
    "service_bot_customers": "dev-customers",
    "service_bot_service_levels": "dev-service-levels",
    "service_bot_messages": "dev-messages",
    "mbpp_reports": "mbpp-reports",
    "mbpp_events": "mbpp-events",
    "chat_sessions": "chat_sessions",
    "chat_messages": "messages",
    "chat_reviews": "reviews",
}


# How long each source may stay silent before a freshness alert (hours). Streams arrive all day;
# the daily exports (files, DynamoDB tables) once a day, so a day and a few hours' grace.
DEFAULT_FRESHNESS_HOURS: dict[str, float] = {
    "call_center": 30.0, "web_form": 30.0, "complaint_management": 30.0, "mbpp_reports": 30.0,
    "chat_feedback": 30.0, "sms": 1.0, "social": 1.0,
}
# A day's file or an export smaller than this share of the one before is a volume alert.
DEFAULT_VOLUME_DROP = 0.5


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {raw!r}")
    return value


def _freshness_hours(env: Mapping[str, str]) -> dict[str, float]:
    """``COMPLAINTS_FRESHNESS_<SOURCE>_HOURS`` over the defaults."""
    hours = dict(DEFAULT_FRESHNESS_HOURS)
    for source in hours:
        name = f"COMPLAINTS_FRESHNESS_{source.upper()}_HOURS"
        if env.get(name):
            hours[source] = _positive_float(name, env[name])
    return hours


def _pool_slots(raw: str) -> int:
    """``COMPLAINTS_SPARK_POOL_SLOTS``: a whole number of Spark tasks at once, at least 1."""
    try:
        slots = int(raw)
    except ValueError:
        slots = 0
    if slots < 1:
        raise ValueError(f"COMPLAINTS_SPARK_POOL_SLOTS must be a whole number >= 1, got {raw!r}")
    return slots


@dataclass(frozen=True)
class Settings:
    lake: Path = Path("lake")
    inbox: Path | None = None
    rules: Path = DEFAULT_RULES
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    export_bucket: str = "complaints-exports"
    tables: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TABLES))
    streams: Mapping[str, str] = field(default_factory=lambda: dict(STREAM_SOURCES))
    spark_master: str = "local[*]"
    # The Airflow pool every Spark task runs in, and its size: 1 on a 2-core machine, so the batch
    # DAG's two transforms and the stream DAG's transform never start three JVMs at once.
    spark_pool: str = "complaints_spark"
    spark_pool_slots: int = 1
    # Where new and updated alerts are POSTed as JSON (None: kept in the lake only).
    alert_webhook_url: str | None = None
    freshness_hours: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_FRESHNESS_HOURS))
    volume_drop: float = DEFAULT_VOLUME_DROP

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        tables = dict(DEFAULT_TABLES)
        for logical in tables:
            override = env.get(f"COMPLAINTS_TABLE_{logical.upper()}")
            if override:
                tables[logical] = override
        streams = {
            source: env.get(f"COMPLAINTS_STREAM_{source.upper()}") or name
            for source, name in STREAM_SOURCES.items()
        }
        inbox = env.get("COMPLAINTS_INBOX")
        return cls(
            lake=Path(env.get("COMPLAINTS_LAKE", "lake")).resolve(),
            inbox=Path(inbox).resolve() if inbox else None,
            rules=Path(env.get("COMPLAINTS_RULES", str(DEFAULT_RULES))).resolve(),
            aws_endpoint_url=env.get("COMPLAINTS_AWS_ENDPOINT_URL") or None,
            aws_region=env.get("COMPLAINTS_AWS_REGION", "us-east-1"),
            export_bucket=env.get("COMPLAINTS_EXPORT_BUCKET", "complaints-exports"),
            tables=tables,
            streams=streams,
            spark_master=env.get("COMPLAINTS_SPARK_MASTER", "local[*]"),
            spark_pool=env.get("COMPLAINTS_SPARK_POOL") or "complaints_spark",
            spark_pool_slots=_pool_slots(env.get("COMPLAINTS_SPARK_POOL_SLOTS", "1")),
            alert_webhook_url=env.get("COMPLAINTS_ALERT_WEBHOOK_URL") or None,
            freshness_hours=_freshness_hours(env),
            volume_drop=_positive_float(
                "COMPLAINTS_VOLUME_DROP",
                env.get("COMPLAINTS_VOLUME_DROP") or str(DEFAULT_VOLUME_DROP)),
        )

    def with_lake(self, lake: Path) -> Settings:
        return replace(self, lake=lake)

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` give back these settings (for subprocesses)."""
        env = {
            "COMPLAINTS_LAKE": str(self.lake),
            "COMPLAINTS_RULES": str(self.rules),
            "COMPLAINTS_AWS_REGION": self.aws_region,
            "COMPLAINTS_EXPORT_BUCKET": self.export_bucket,
            "COMPLAINTS_SPARK_MASTER": self.spark_master,
            "COMPLAINTS_SPARK_POOL": self.spark_pool,
            "COMPLAINTS_SPARK_POOL_SLOTS": str(self.spark_pool_slots),
        }
        if self.inbox is not None:
            env["COMPLAINTS_INBOX"] = str(self.inbox)
        if self.aws_endpoint_url:
            env["COMPLAINTS_AWS_ENDPOINT_URL"] = self.aws_endpoint_url
        if self.alert_webhook_url:
            env["COMPLAINTS_ALERT_WEBHOOK_URL"] = self.alert_webhook_url
        env["COMPLAINTS_VOLUME_DROP"] = str(self.volume_drop)
        for source, hours in self.freshness_hours.items():
            env[f"COMPLAINTS_FRESHNESS_{source.upper()}_HOURS"] = str(hours)
        for logical, name in self.tables.items():
            env[f"COMPLAINTS_TABLE_{logical.upper()}"] = name
        for source, name in self.streams.items():
            env[f"COMPLAINTS_STREAM_{source.upper()}"] = name
        return env

    @property
    def zones(self) -> Lake:
        """The lake's folders (``common.lake``): the only place that spells a zone's path."""
        return Lake(self.lake, self.inbox)

    def stream_of(self, source: str) -> str:
        """The Kinesis stream a streamed source (``sms``, ``social``) arrives on."""
        return self.streams[source]
