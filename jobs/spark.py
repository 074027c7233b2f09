"""The one place a SparkSession is built, with the settings every job relies on.

Local mode (``local[*]``, the default) runs everything in one JVM. Any other master (a standalone
cluster's ``spark://host:7077``, ``yarn``, ``k8s://…``) gets ``CLUSTER_CONF`` on top: executors are
separate JVMs that connect back to the driver and may start Python workers, so the driver says
where it listens (``SPARK_LOCAL_IP``) and which interpreter to run (``PYSPARK_PYTHON``; the
driver's own by default, right when the workers share this machine or an identical image).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

T = TypeVar("T")

SPARK_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    # A rerun replaces only the (event_date, source) partitions it writes, never other days.
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.files.ignoreHiddenFiles": "true",
    # Local mode runs every task in the driver: 2 GiB ran out at 10M raw records (see RUN_CACHE
    # in jobs/transform.py); the heap grows to this only when a run needs it.
    "spark.driver.memory": "4g",
    "spark.sql.adaptive.enabled": "true",
    # Over 32 paths (Spark's default), Spark lists files with a job of one task per path: at 1M
    # raw records (1,437 files, five reads) those jobs took 4.5 to 7.8 s, where the driver lists
    # the same files itself in 0.5 to 1.5 s. Raised so the driver lists up to this many; a lake
    # on an object store with more files per read may want the default back (``conf``).
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "10000",
    # HotSpot does not JIT-compile a method over 8,000 bytes of bytecode: it runs interpreted. The
    # classification's fused stage generates a ~8,500-byte ``processNext``; past this limit Spark
    # compiles that stage operator by operator (small methods, JIT-compiled) instead: about a third
    # less CPU for the classification (the Spark docs advise 8000 on HotSpot; default 65535).
    "spark.sql.codegen.hugeMethodLimit": "8000",
}

# On top of SPARK_CONF when the master is not local. A fixed set of executors (no dynamic
# allocation: it needs an external shuffle service on every worker, and a batch transform of
# known size gains nothing from it); 1 core and 1 GiB each, which fits a small worker
# (``--cores 1 --memory 1g``) and is raised with ``conf`` (or spark-submit's --conf) at scale.
CLUSTER_CONF: dict[str, str] = {
    "spark.dynamicAllocation.enabled": "false",
    "spark.executor.cores": "1",
    "spark.executor.memory": "1g",
}


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


log = logging.getLogger(__name__)

# The project's JVM classes (jobs/jvm/): Hadoop's local file system without a ``chmod`` process per
# file, the rules' classification and VADER's score as Spark UDFs (jobs/classify.py,
# jobs/sentiment.py). Compiled once per sources and pyspark version into JVM_BUILD; local mode only
# (a cluster's executors would need the jar on their own class path): a cluster runs Hadoop's file
# system and the Spark expressions of classification and sentiment, which give the same rows.
JVM_SOURCES = Path(__file__).resolve().parent / "jvm"
JVM_BUILD = Path(__file__).resolve().parent.parent / ".build" / "jvm"
LOCAL_FILE_SYSTEM = "complaints.jvm.NioLocalFileSystem"
FILE_SYSTEM_KEY = "spark.hadoop.fs.file.impl"  # a ``conf`` that sets it keeps its own
CLASS_PATH_KEY = "spark.driver.extraClassPath"


def _spark_jars() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def _compiled(sources: list[Path], classpath: Path, jar: Path) -> Path:
    """``sources`` compiled by javac against the jars in ``classpath`` into ``jar`` (written
    whole, then renamed into place: runs that start together may both build it)."""
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jar.parent) as work:
        classes = Path(work) / "classes"
        subprocess.run(["javac", "--release", "17", "-nowarn", "-cp", str(classpath / "*"),
                        "-d", str(classes), *map(str, sources)],
                       check=True, capture_output=True, text=True)
        staged = Path(work) / jar.name
        with zipfile.ZipFile(staged, "w") as archive:
            for path in sorted(classes.rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
        os.replace(staged, jar)
    return jar


def jvm_jar(sources: Path = JVM_SOURCES, build: Path = JVM_BUILD) -> Path | None:
    """The jar of the project's JVM classes, built when missing; None (with a warning: results
    stay the same, only slower) when it cannot be: no javac (a JRE only), a read-only checkout."""
    files = sorted(sources.glob("*.java"))
    jars = _spark_jars()
    if not files or not jars.is_dir():
        return None
    digest = hashlib.sha256()
    for path in [*files, *sorted(jars.glob("*.jar"))]:
        digest.update(path.name.encode() + (path.read_bytes() if path in files else b""))
    jar = build / f"complaints-jvm-{digest.hexdigest()[:16]}.jar"
    if jar.is_file():
        return jar
    if shutil.which("javac") is None:
        log.warning("javac not found (a JRE only): Spark's local writes start a chmod process "
                    "per file, and classification and sentiment run as Spark expressions; "
                    "install a JDK to speed them up")
        return None
    try:
        return _compiled(files, jars, jar)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = (str(getattr(error, "stderr", None) or error).strip().splitlines() or [""])[-1]
        log.warning("could not build %s (%s): Spark's local writes start a chmod process per "
                    "file, and classification and sentiment run as Spark expressions", jar, detail)
        return None


def jvm_class(session: Any, name: str) -> Any | None:
    """The project's JVM class ``name`` (``complaints.jvm.<name>``) as the session's driver sees
    it; None when it is not on its class path (a cluster, no javac, Spark Connect)."""
    jvm = getattr(session, "_jvm", None)
    if jvm is None:
        return None
    from py4j.java_gateway import JavaClass  # type: ignore[import-untyped]

    found = getattr(jvm.complaints.jvm, name)
    return found if isinstance(found, JavaClass) else None


def jvm_udf(session: Any, class_name: str, returns: str, *args: str) -> str | None:
    """The name under which ``complaints.jvm.<class_name>(*args)`` is registered in the session
    as a UDF returning ``returns`` (a DDL type); named by class and arguments, so the same data
    registers once. None when the session's driver does not have the class (``jvm_class``)."""
    udf_class = jvm_class(session, class_name)
    if udf_class is None:
        return None
    digest = hashlib.sha256("\0".join(args).encode()).hexdigest()[:16]
    name = f"complaints_{class_name.lower()}_{digest}"
    return_type = session._jvm.org.apache.spark.sql.types.DataType.fromDDL(returns)
    session._jsparkSession.udf().register(name, udf_class(*args), return_type)
    return name


def session_conf(master: str, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """Everything the session is built with: SPARK_CONF, CLUSTER_CONF off local mode, ``conf``;
    in local mode also the project's JVM classes (``jvm_jar``) and with them the local file system
    without chmod processes (``LOCAL_FILE_SYSTEM``), unless ``conf`` names another one."""
    settings = dict(SPARK_CONF)
    if not is_local(master):
        local_ip = os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
        python = os.environ.get("PYSPARK_PYTHON", sys.executable)
        settings.update(CLUSTER_CONF)
        settings.update({
            # Executors connect back to the driver here (its block manager and RPC endpoint).
            "spark.driver.host": local_ip,
            "spark.driver.bindAddress": local_ip,
            # Python workers started by executors run this interpreter with these packages.
            "spark.pyspark.python": python,
            "spark.executorEnv.PYSPARK_PYTHON": python,
        })
    settings.update(conf or {})
    jar = jvm_jar() if is_local(master) else None
    if jar is not None:
        class_path = [p for p in settings.get(CLASS_PATH_KEY, "").split(os.pathsep) if p]
        settings[CLASS_PATH_KEY] = os.pathsep.join([*class_path, str(jar)])
        settings.setdefault(FILE_SYSTEM_KEY, LOCAL_FILE_SYSTEM)
    return settings


def spark_session(master: str = "local[*]", app_name: str = "complaints",
                  conf: Mapping[str, str] | None = None) -> SparkSession:
    """The session for ``master`` (``Settings.spark_master``); ``conf`` overrides any setting.

    An already running session is returned as it is (Spark allows one per process).
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the same interpreter (and packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in session_conf(master, conf).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


# Built expressions by (session, data): building a large one (the rules, the VADER lexicon) takes
# thousands of calls into the JVM, seconds each time, although it depends on neither the frame
# nor the text (the expressions read fixed column names).
_BUILT: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}


def built_once(session: Any, data: Any, build: Callable[[Any], T]) -> T:
    """``build(data)``, built once per session and ``data`` (by value when ``data`` is hashable,
    by identity otherwise) and reused after."""
    by_value = True
    try:
        hash(data)
    except TypeError:
        by_value = False
    key = (id(session), data if by_value else ("id", id(data)), build.__qualname__)
    cached = _BUILT.get(key)
    if cached is None or cached[0] is not session or (not by_value and cached[1] is not data):
        cached = (session, data, build(data))  # holding both: their ids stay theirs
        _BUILT[key] = cached
    result: T = cached[2]
    return result


def pinned(frame: DataFrame, level: StorageLevel) -> DataFrame:
    """``frame`` computed now and its rows kept at ``level``, with its lineage cut: later queries
    are planned from the kept rows, not from the expressions that made them. Planning a query
    over the parsing, classification and sentiment expressions takes seconds, every time; a
    small transform run asks about twenty. The rows are not recomputed if lost (an executor that
    dies fails the run, which a rerun redoes). ``unpin`` releases them."""
    return frame.localCheckpoint(eager=True, storageLevel=level)


def unpin(frame: DataFrame) -> None:
    """Release a ``pinned`` frame's rows now, not when the JVM's garbage collector gets to them
    (a local checkpoint cannot be unpersisted through its DataFrame). Spark Connect: a no-op, the
    server releases them when the frame is gone."""
    jdf = getattr(frame, "_jdf", None)
    if jdf is None:
        return
    plan = jdf.queryExecution().analyzed()
    if plan.getClass().getSimpleName() == "LogicalRDD":
        plan.rdd().unpersist(False)


# --- lookups: map literals bucketed by crc32, folded to constants by the optimizer. A map literal
# is searched linearly, so one map of thousands of keys would cost thousands of comparisons per
# lookup; split into buckets of a few keys each, a lookup is a hash and a few comparisons.
def bucket_of(key: str, buckets: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % buckets


def map_literal(entries: Mapping[str, Any], value_type: str, buckets: int) -> Column:
    maps: list[dict[str, Any]] = [{} for _ in range(buckets)]
    for key, value in entries.items():
        maps[bucket_of(key, buckets)][key] = value
    # One JSON string literal, parsed once when the plan is optimised (constant folding): the
    # plan stays small, where 15,000 literal columns would take seconds to analyse.
    return F.from_json(F.lit(json.dumps(maps)), f"array<map<string,{value_type}>>")


def map_lookup(maps: Column, key: Column, buckets: int) -> Column:
    """The value of ``key`` in ``map_literal``'s maps; null when it has none."""
    index = (F.crc32(key.cast("binary")) % F.lit(buckets) + 1).cast("int")
    return F.element_at(maps, index)[key]
