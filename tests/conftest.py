"""Shared fixtures: one SparkSession per session, a fresh lake per test, the AWS emulator.

Tests that need the real samples in ../shared/data call ``shared_data(...)``: it skips with the
reason when the folder is missing, and fails instead when CI is set.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from common.settings import REPO_ROOT, Settings

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# py4j says "Closing down clientserver connection" (INFO) when a connection is collected at exit,
# after pytest has closed the stream Airflow's logging set-up writes to: "--- Logging error ---".
logging.getLogger("py4j").setLevel(logging.WARNING)
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"real sample data not found at {path} (../shared/data beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from jobs.spark import spark_session

    session = spark_session("local[2]", app_name="complaints-tests")
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(lake=tmp_path / "lake")


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    from complaints.emulator import moto_server

    with moto_server() as url:
        yield url


def reset_emulator(endpoint: str) -> None:
    """Forget every table, stream and bucket of the emulator (moto's reset API)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def aws(aws_endpoint: str, settings: Settings) -> Settings:
    """Settings on the session's emulator, freshly reset (nothing left by an earlier test)."""
    reset_emulator(aws_endpoint)
    return replace(settings, aws_endpoint_url=aws_endpoint)
