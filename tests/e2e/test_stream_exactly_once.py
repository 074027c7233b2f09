"""Crash safety end to end: Kinesis at-least-once becomes exactly-once in ``complaints``.

The real producer sends tens of thousands of SMS events to the emulator (over HTTP) while the
``complaints consume`` process is SIGKILLed at random moments and restarted; then a last consumer
drains the stream and the Spark transform runs. Every produced event id must be accounted for
exactly once: one row in ``complaints``, or counted as a duplicate of one that is.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from common.aws import Kinesis
from common.settings import REPO_ROOT, Settings
from complaints.emulator import moto_server
from jobs.transform import run_transform
from samples.producer import EventPlan, SendOptions, produce
from streaming.consumer import ConsumerOptions, consume

pytestmark = pytest.mark.e2e

EVENTS = int(os.environ.get("COMPLAINTS_E2E_STREAM_EVENTS", 10_000))
KILLS = int(os.environ.get("COMPLAINTS_E2E_STREAM_KILLS", 8))


def _consumer_process(settings: Settings, stderr: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "complaints.cli", "consume", "--source", "sms",
         "--worker-id", "crashy", "--lease-seconds", "5", "--batch-limit", "300",
         "--buffer-mb", "0.05", "--buffer-seconds", "0.5"],
        cwd=REPO_ROOT, env={**os.environ, **settings.to_env()},
        stdout=subprocess.DEVNULL, stderr=stderr,
    )


def test_sigkilled_consumer_loses_and_doubles_nothing_in_complaints(
    spark: Any, tmp_path: Path
) -> None:
    rng = random.Random(23)
    ids_file = tmp_path / "produced-ids.txt"
    with moto_server() as endpoint:
        settings = Settings(lake=tmp_path / "lake", aws_endpoint_url=endpoint)
        # the stream exists before the first consumer starts (a consumer of a missing stream
        # rightly exits 1, which is not the crash this test is about)
        Kinesis(settings).create_stream(settings.stream_of("sms"), 3)
        sent: dict[str, Any] = {}

        def send() -> None:
            sent["stats"] = produce(settings, "sms",
                                    EventPlan(rate_per_s=math.inf, count=EVENTS, seed=5),
                                    SendOptions(ids_path=ids_file, keep_ids=False, shards=3))

        producer = threading.Thread(target=send)
        producer.start()
        kills = 0
        while kills < KILLS:
            log = tmp_path / f"consumer-{kills}.log"
            with log.open("wb") as stderr:
                consumer = _consumer_process(settings, stderr)
                time.sleep(rng.uniform(1.0, 3.0))  # start-up takes about a second
                consumer.send_signal(signal.SIGKILL)
                returncode = consumer.wait(timeout=20)
            assert returncode == -signal.SIGKILL, log.read_text()[-2000:]
            kills += 1
        producer.join(timeout=300)
        assert not producer.is_alive()
        assert sent["stats"].sent == EVENTS and sent["stats"].failed_permanently == 0
        landed_by_killed_consumers = list((settings.zones.raw / "sms").rglob("*.jsonl"))
        assert landed_by_killed_consumers, "no consumer lived long enough to land a batch"
        drained = consume(settings, "sms", worker_id="crashy",
                          options=ConsumerOptions(idle_exit_s=2.0, lease_duration_s=5))
        assert drained.exit_reason == "idle"

    produced = ids_file.read_text().split()
    assert len(produced) == len(set(produced)) == EVENTS
    result = run_transform(replace(settings, aws_endpoint_url=None), sources=("sms",), spark=spark)
    (counts,) = result.counts
    assert counts.records_in >= EVENTS  # replays after a kill may land an event twice
    assert counts.quarantined == 0
    clean = ds.dataset(str(settings.zones.clean_complaints), partitioning="hive").to_table(
        columns=["source_record_id"], filter=ds.field("source") == "sms")
    clean_ids = clean.column("source_record_id").to_pylist()
    assert len(clean_ids) == len(set(clean_ids))  # no event twice in complaints
    assert set(clean_ids) <= set(produced)
    # every produced event is a row, or one of the duplicates the run recorded
    assert len(set(produced) - set(clean_ids)) == counts.duplicates - (counts.records_in - EVENTS)
    assert counts.clean + counts.duplicates == counts.records_in
