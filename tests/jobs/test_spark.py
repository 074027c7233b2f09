"""The project's JVM classes (jobs/jvm/), built once; the session's local file system: Hadoop's,
with permissions set without a chmod process."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from jobs.spark import (
    CLASS_PATH_KEY,
    FILE_SYSTEM_KEY,
    JVM_SOURCES,
    LOCAL_FILE_SYSTEM,
    jvm_class,
    jvm_jar,
    session_conf,
)


def _javac() -> None:
    if shutil.which("javac") is None:
        message = "javac not found: the project's JVM classes are built with a JDK's javac"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_the_jar_is_built_once_per_source(tmp_path: Path) -> None:
    _javac()
    jar = jvm_jar(build=tmp_path)
    assert jar is not None and jar.parent == tmp_path
    with zipfile.ZipFile(jar) as archive:
        assert {"complaints/jvm/NioLocalFileSystem.class",
                "complaints/jvm/VaderCompound.class"} <= set(archive.namelist())
    built = jar.stat().st_mtime_ns
    assert jvm_jar(build=tmp_path) == jar
    assert jar.stat().st_mtime_ns == built  # found, not rebuilt
    changed = shutil.copytree(JVM_SOURCES, tmp_path / "src")
    source = changed / "VaderCompound.java"
    source.write_text(source.read_text() + "\n// another version\n")
    assert jvm_jar(changed, build=tmp_path) not in (None, jar)


def test_without_javac_the_session_keeps_hadoops_file_system(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with caplog.at_level(logging.WARNING, logger="jobs.spark"):
        assert jvm_jar(build=tmp_path / "build") is None
    assert "javac not found" in caplog.text


def test_a_source_that_does_not_compile_is_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _javac()
    broken = shutil.copytree(JVM_SOURCES, tmp_path / "src")
    (broken / "NioLocalFileSystem.java").write_text(
        "package complaints.jvm; public class NioLocalFileSystem {")
    with caplog.at_level(logging.WARNING, logger="jobs.spark"):
        assert jvm_jar(broken, build=tmp_path / "build") is None
    assert "could not build" in caplog.text
    assert not list((tmp_path / "build").glob("*.jar"))


def test_local_mode_only_and_a_callers_choice_wins() -> None:
    _javac()
    local = session_conf("local[2]", {CLASS_PATH_KEY: "/opt/extra.jar"})
    assert local[FILE_SYSTEM_KEY] == LOCAL_FILE_SYSTEM
    extra, jar = local[CLASS_PATH_KEY].split(os.pathsep)
    assert extra == "/opt/extra.jar" and Path(jar).is_file()
    assert FILE_SYSTEM_KEY not in session_conf("spark://127.0.0.1:7077")
    own = session_conf("local[2]", {FILE_SYSTEM_KEY: "org.apache.hadoop.fs.LocalFileSystem"})
    assert own[FILE_SYSTEM_KEY] == "org.apache.hadoop.fs.LocalFileSystem"
    assert Path(own[CLASS_PATH_KEY]).is_file()  # the other classes stay on the class path


def test_spark_writes_through_it_with_hadoops_permissions(spark: Any, tmp_path: Path) -> None:
    _javac()
    from pyspark.sql import functions as F

    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(str(tmp_path))
    assert path.getFileSystem(hadoop).getClass().getName() == LOCAL_FILE_SYSTEM
    out = tmp_path / "out"
    (spark.range(6).withColumn("day", F.col("id") % 3)
     .write.partitionBy("day").parquet(str(out)))
    assert sorted(r.id for r in spark.read.parquet(str(out)).collect()) == list(range(6))
    # Hadoop's defaults under its umask (fs.permissions.umask-mode, 022): what chmod set before.
    files = [p for p in out.rglob("*") if p.is_file()]
    folders = [p for p in out.rglob("*") if p.is_dir()]
    assert len(folders) == 3 and any(p.suffix == ".parquet" for p in files)
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o644}
    assert {stat.S_IMODE(p.stat().st_mode) for p in folders} == {0o755}


def test_the_sessions_driver_has_the_classes(spark: Any) -> None:
    _javac()
    assert jvm_class(spark, "VaderCompound") is not None
    assert jvm_class(spark, "NoSuchClass") is None
