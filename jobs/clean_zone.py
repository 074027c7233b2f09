"""Reading and replacing partitions of the complaint tables (``event_date=…/source=…``).

A run never overwrites in place: it writes the partitions it touches to its staging folder
(``<lake>/.staging/<run id>/``), then swaps each staged partition for the live one
(``common.lake.replace_folder``: two renames). Readers (DuckDB globs, pandas, Spark) see a
partition before or after the run, and a run that dies before the swap leaves the zone as it was.

Row counts are read from Parquet footers (pyarrow), never by scanning data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.lake import event_partition, replace_folder
from schemas.complaint import RecordSchema

Partition = tuple[str, str]  # (ISO event date, source)


def parquet_files(folder: Path) -> list[Path]:
    """Data files of a partition folder (Spark's _SUCCESS, .crc and hidden files left out)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.parquet")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts))


def rows_in(folders: Iterable[Path]) -> int:
    """Rows in the Parquet files of ``folders``, from the footers."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for d in folders for f in parquet_files(d))


def existing_partitions(root: Path, sources: Sequence[str]) -> set[Partition]:
    """The (event_date, source) partitions of ``sources`` that exist under ``root``."""
    found: set[Partition] = set()
    for source in sources:
        for folder in root.glob(f"event_date=*/source={source}"):
            if parquet_files(folder):
                found.add((folder.parent.name.split("=", 1)[1], source))
    return found


def read_kept_rows(spark: SparkSession, root: Path, partitions: Iterable[Partition],
                   schema: RecordSchema) -> DataFrame | None:
    """Every row of the given partitions of a table under ``root`` (typed as ``schema``); None
    when none of them holds a data file."""
    folders = [str(event_partition(root, d, s)) for d, s in sorted(partitions)
               if parquet_files(event_partition(root, d, s))]
    if not folders:
        return None
    return (spark.read.schema(schema.spark_schema()).option("basePath", str(root))
            .parquet(*folders))


def read_partitions(spark: SparkSession, root: Path, partitions: Iterable[Partition],
                    schema: RecordSchema) -> DataFrame:
    """``read_kept_rows``, an empty frame when there are none."""
    rows = read_kept_rows(spark, root, partitions, schema)
    return rows if rows is not None else spark.createDataFrame([], schema.spark_schema())


def read_keys(spark: SparkSession, root: Path, sources: Sequence[str]) -> DataFrame | None:
    """``complaint_id, event_date, source`` of every row of ``sources`` under ``root`` (only that
    column is read from the files), or None when there is none."""
    if not existing_partitions(root, sources):
        return None
    table = spark.read.option("basePath", str(root)).parquet(str(root))
    return (table.where(F.col("source").isin(*sources))
            .select("complaint_id", F.col("event_date").cast("date").alias("event_date"),
                    "source"))


def write_staged(frame: DataFrame, staged_root: Path, schema: RecordSchema) -> None:
    """Write ``frame`` (shaped as ``schema``) partitioned by event date and source, one file per
    partition (no litter of small files)."""
    shaped = frame.select(*schema.names)  # typed upstream (enrich_complaints, read_partitions)
    (shaped.repartition(*schema.partition_by).write.mode("overwrite")
     .partitionBy(*schema.partition_by).parquet(str(staged_root)))


def swap_partitions(staged_root: Path, live_root: Path, partitions: Iterable[Partition]) -> int:
    """Replace each live partition by its staged one (removing it when the run left it empty);
    returns how many partitions were replaced."""
    count = 0
    for event_date, source in sorted(partitions):
        staged = event_partition(staged_root, event_date, source)
        replace_folder(event_partition(live_root, event_date, source),
                       staged if parquet_files(staged) else None)
        count += 1
    return count


def dates_between(partitions: Iterable[Partition], first: date, last: date) -> set[Partition]:
    return {(d, s) for d, s in partitions if first.isoformat() <= d <= last.isoformat()}
