"""The one place a SparkSession is built, with the settings every job relies on."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

SPARK_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    # A rerun replaces only the (event_date, source) partitions it writes, never other days.
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.files.ignoreHiddenFiles": "true",
    "spark.driver.memory": "2g",
    "spark.sql.adaptive.enabled": "true",
}


def spark_session(master: str = "local[*]", app_name: str = "complaints") -> SparkSession:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the same interpreter (and packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
