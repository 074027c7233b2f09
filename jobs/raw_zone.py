"""Reading the raw zone with lineage: which file, which line or record, when it was landed.

Raw files are immutable and partitioned by landing time (``ingest_date=…/hour=…``). Every reader
returns one row per record with ``raw_file`` (relative to the lake), ``raw_line`` (1-based) and
``ingest_time`` (the landing hour, UTC), so each clean or quarantined row traces back to its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from common.lake import EXPORT_DIR, INGEST_PARTITION_REGEX
from common.settings import Settings
from schemas.sources import COMPLAINT_SOURCE_TABLE, WEB_FORM_COLUMNS


def raw_files_of(settings: Settings, source: str) -> list[Path]:
    """Raw-zone files holding a source's records, in a stable order."""
    if source in COMPLAINT_SOURCE_TABLE:
        return settings.zones.raw_files(COMPLAINT_SOURCE_TABLE[source], f"{EXPORT_DIR}/*/data/*")
    return settings.zones.raw_files(source)


def _lineage(lake: Path) -> tuple[Column, Column]:
    """raw_file (relative to the lake) and ingest_time (from the hour partition) of each row."""
    # _metadata.file_path is a URI: strip the scheme and decode %XX (a '+' is literal in a path).
    uri_path = F.regexp_replace(F.col("_metadata.file_path"), r"^file:(//)?", "")
    path = F.url_decode(F.regexp_replace(uri_path, r"\+", "%2B"))
    relative = F.regexp_replace(path, "^\\Q" + str(lake.resolve()) + "\\E/", "")
    ingest = F.try_to_timestamp(
        F.concat_ws(" ", F.regexp_extract(path, INGEST_PARTITION_REGEX, 1),
                    F.concat(F.regexp_extract(path, INGEST_PARTITION_REGEX, 2), F.lit(":00:00"))),
        F.lit("yyyy-MM-dd HH:mm:ss"),
    )
    return relative.alias("raw_file"), ingest.alias("ingest_time")


def read_json_lines(spark: SparkSession, lake: Path, files: Sequence[Path]) -> DataFrame:
    """One row per non-blank line, with its 1-based line number. Gzip files are decompressed."""
    raw_file, ingest_time = _lineage(lake)
    whole = spark.read.text([str(f) for f in files], wholetext=True)
    lines = whole.select(
        raw_file, ingest_time, F.posexplode(F.split(F.col("value"), "\n")).alias("pos", "line")
    )
    return lines.where(~F.col("line").rlike(r"^\s*$")).select(
        "raw_file",
        (F.col("pos") + 1).cast("long").alias("raw_line"),
        F.regexp_replace(F.col("line"), "\r$", "").alias("raw_record"),
        "ingest_time",
    )


def read_web_forms(spark: SparkSession, lake: Path, files: Sequence[Path]) -> DataFrame:
    """CFPB-layout CSV (quoted multi-line narratives); raw_line is the 1-based record number."""
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in WEB_FORM_COLUMNS]
        + [T.StructField("_corrupt_record", T.StringType())]
    )
    raw_file, ingest_time = _lineage(lake)
    rows = (
        spark.read.schema(schema)
        .options(header=True, multiLine=True, escape='"', mode="PERMISSIVE",
                 columnNameOfCorruptRecord="_corrupt_record", enforceSchema=False)
        .csv([str(f) for f in files])
        .select("*", raw_file, ingest_time, F.monotonically_increasing_id().alias("_order"))
    )
    in_file_order = Window.partitionBy("raw_file").orderBy("_order")
    as_json = F.to_json(F.struct(*[F.col(f"`{c}`") for c in WEB_FORM_COLUMNS]))
    return rows.select(
        *[F.col(f"`{c}`") for c in WEB_FORM_COLUMNS],
        "raw_file",
        F.row_number().over(in_file_order).cast("long").alias("raw_line"),
        F.coalesce(F.col("_corrupt_record"), as_json).alias("raw_record"),
        "ingest_time",
        F.when(F.col("_corrupt_record").isNotNull(), F.lit("malformed CSV row"))
        .alias("parse_error"),
    )
