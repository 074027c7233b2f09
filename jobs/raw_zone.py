"""Reading the raw zone with lineage: which file, which line or record, when it was landed.

Raw files are immutable and partitioned by landing time (``ingest_date=…/hour=…``). Every reader
returns one row per record with ``raw_file`` (relative to the lake), ``raw_line`` (1-based) and
``ingest_time`` (the landing hour, UTC), so each clean or quarantined row traces back to its input.
The readers expect files that ``jobs.raw_files.inspect_raw_file`` found readable: a file that
cannot be read as a whole is quarantined as a file by the transform, never handed to Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from common.lake import INGEST_PARTITION_REGEX
from common.settings import Settings
from jobs.raw_files import FileVerdict, inspect_raw_file, match_web_form_header
from schemas.sources import COMPLAINT_SOURCE_TABLE, WEB_FORM_COLUMNS

MALFORMED_ROW = "malformed CSV row"
TRUNCATED_RECORD = "truncated CSV record (the file ends inside a quoted field)"
_CORRUPT = "_corrupt_record"
_LINEAGE_FIELDS = [
    T.StructField("raw_file", T.StringType()),
    T.StructField("raw_line", T.LongType()),
    T.StructField("raw_record", T.StringType()),
    T.StructField("ingest_time", T.TimestampType()),
]
# ``file_utf8``: the line's whole file is valid UTF-8. Splitting a file into lines decodes it
# (an invalid byte becomes U+FFFD), so only the file, read whole, still shows what its bytes were:
# a U+FFFD in a valid file is a real character, not a replaced byte.
JSON_LINES_SCHEMA = T.StructType([*_LINEAGE_FIELDS, T.StructField("file_utf8", T.BooleanType())])
WEB_FORM_READ_SCHEMA = T.StructType(
    [T.StructField(c, T.StringType()) for c in WEB_FORM_COLUMNS]
    + _LINEAGE_FIELDS + [T.StructField("parse_error", T.StringType())]
)


def raw_files_of(settings: Settings, source: str) -> list[Path]:
    """Raw-zone files holding a source's records, in a stable order."""
    if source in COMPLAINT_SOURCE_TABLE:
        # Complaints come from full exports; incremental exports feed the operational tables.
        return settings.zones.full_export_data_files(COMPLAINT_SOURCE_TABLE[source])
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
    """One row per non-blank line, with its 1-based line number and whether its file is valid
    UTF-8 (``file_utf8``). Gzip files are decompressed."""
    if not files:
        return spark.createDataFrame([], JSON_LINES_SCHEMA)
    raw_file, ingest_time = _lineage(lake)
    # Lineage and UTF-8 are worked out once per file, in a projection of its one row, before it is
    # split: next to the split, Spark would work them out again for every line.
    files_read = spark.read.text([str(f) for f in files], wholetext=True).select(
        raw_file, ingest_time, F.is_valid_utf8(F.col("value")).alias("file_utf8"), "value")
    lines = files_read.select(
        "raw_file", "ingest_time", "file_utf8",
        F.posexplode(F.split(F.col("value"), "\n")).alias("pos", "line")
    )
    # A UTF-8 byte-order mark is not part of the first record (it would make it malformed JSON).
    line = F.when(F.col("pos") == 0, F.regexp_replace(F.col("line"), "^\ufeff", "")).otherwise(
        F.col("line"))
    return lines.where(~line.rlike(r"^\s*$")).select(
        "raw_file",
        (F.col("pos") + 1).cast("long").alias("raw_line"),
        # The CR of a CRLF ending, and nothing else (a regex "\r$" also took a CR before a
        # last U+2028, and scanned every line for it: 0.9 s of a 1M-record read).
        F.when(line.endswith("\r"), F.substring(line, F.lit(1), F.length(line) - 1))
        .otherwise(line).alias("raw_record"),
        "ingest_time",
        "file_utf8",
    )


# --- web forms (CSV)
class UnreadableRawFile(ValueError):
    """A raw file given by path cannot be read as a whole (pass its FileVerdict to skip it)."""


def _readable_web_forms(files: Sequence[FileVerdict | Path]) -> list[FileVerdict]:
    """Verdicts of the files to read: unreadable verdicts are skipped (their caller quarantines
    them as files); a bare path is inspected here, and raises when it is unreadable, since then
    nobody would quarantine it."""
    readable = []
    for given in files:
        verdict = given if isinstance(given, FileVerdict) else inspect_raw_file(given, "web_form")
        if isinstance(given, Path) and not verdict.readable:
            raise UnreadableRawFile(f"{given}: {verdict.reason}")
        if verdict.readable:
            readable.append(verdict)
    return readable


def _json_names(header: Sequence[str]) -> list[str]:
    """The header's names as JSON keys of raw_record; blank or repeated ones become _c<index>."""
    seen: set[str] = set()
    names = []
    for index, name in enumerate(header):
        names.append(name if name.strip() and name not in seen else f"_c{index}")
        seen.add(name)
    return names


def _read_web_form_group(spark: SparkSession, lake: Path, paths: Sequence[str],
                         header: Sequence[str], truncated: bool) -> DataFrame:
    """Files sharing one header: read by position with that header's width (the header line is
    skipped), then each WEB_FORM_COLUMNS column taken by name from the header."""
    fields = [f"_c{i}" for i in range(len(header))]
    schema = T.StructType([T.StructField(f, T.StringType()) for f in fields]
                          + [T.StructField(_CORRUPT, T.StringType())])
    positions = match_web_form_header(header).positions
    known = [(F.col(fields[positions[c]]) if c in positions else F.lit(None).cast("string"))
             .alias(c) for c in WEB_FORM_COLUMNS]
    # The row as the file has it (every column, file order) for the quarantine.
    as_json = F.to_json(F.struct(*[F.col(f).alias(n) for f, n in zip(fields, _json_names(header),
                                                                      strict=True)]))
    raw_file, ingest_time = _lineage(lake)
    rows = (
        spark.read.schema(schema)
        .options(header=True, multiLine=True, escape='"', mode="PERMISSIVE",
                 columnNameOfCorruptRecord=_CORRUPT, enforceSchema=True)
        .csv(list(paths))
    )
    raw_record = F.coalesce(F.col(_CORRUPT), as_json)
    return rows.select(
        *known, raw_file, ingest_time,
        F.monotonically_increasing_id().alias("_order"),
        raw_record.alias("raw_record"),
        # Same as "_corrupt_record is not null", but through every column: Spark refuses a query
        # on raw CSV that needs the corrupt-record column alone (e.g. counting parse errors).
        (F.col(_CORRUPT) == raw_record).alias("_malformed"),
        F.lit(truncated).alias("_truncated"),
    )


def read_web_forms(spark: SparkSession, lake: Path,
                   files: Sequence[FileVerdict | Path]) -> DataFrame:
    """Web-form CSV (quoted multi-line narratives, UTF-8, optionally gzip), each file read by its
    own header: columns by name in any order, extra ones ignored, missing optional ones null.

    ``files``: verdicts of ``jobs.raw_files.inspect_raw_file`` (unreadable ones are skipped), or
    paths (inspected here). raw_line is the 1-based record number in the file; a row the CSV
    parser cannot split into the header's columns, and the last record of a file that ends inside
    a quoted field, get a parse_error (record-level quarantine).
    """
    verdicts = _readable_web_forms(files)
    if not verdicts:
        return spark.createDataFrame([], WEB_FORM_READ_SCHEMA)
    groups: dict[tuple[tuple[str, ...], bool], list[str]] = {}
    for verdict in verdicts:
        if verdict.header is None:
            raise ValueError(f"{verdict.path}: a readable web-form verdict without a header")
        groups.setdefault((verdict.header, verdict.truncated_last_record), []).append(
            str(verdict.path))
    frames = [_read_web_form_group(spark, lake, paths, header, truncated)
              for (header, truncated), paths in groups.items()]
    rows = reduce(DataFrame.unionByName, frames)
    in_file = Window.partitionBy("raw_file")
    record_number = F.row_number().over(in_file.orderBy("_order"))
    parse_error = F.when(F.col("_malformed"), F.lit(MALFORMED_ROW))  # null: not malformed
    if any(truncated for _, truncated in groups):
        is_last = record_number == F.count(F.lit(1)).over(in_file)
        parse_error = F.when(F.col("_truncated") & is_last, F.lit(TRUNCATED_RECORD)).otherwise(
            parse_error)
    return rows.select(
        *[F.col(f"`{c}`") for c in WEB_FORM_COLUMNS],
        "raw_file",
        record_number.cast("long").alias("raw_line"),
        "raw_record",
        "ingest_time",
        parse_error.alias("parse_error"),
    )
