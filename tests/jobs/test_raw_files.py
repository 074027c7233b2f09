"""jobs/raw_files.py (is a raw file readable as a whole?) and the web-form reader that reads each
file by its own header (jobs/raw_zone.py), on real files in a tmp lake and the real Spark."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from common.settings import Settings
from jobs.raw_files import (
    CHUNK_BYTES,
    REORDERED_NOTE,
    STRAY_QUOTE_NOTE,
    TRUNCATED_NOTE,
    UTF8_BOM_NOTE,
    FileVerdict,
    inspect_raw_file,
    match_web_form_header,
)
from jobs.raw_zone import (
    MALFORMED_ROW,
    TRUNCATED_RECORD,
    UnreadableRawFile,
    read_json_lines,
    read_web_forms,
)
from schemas.sources import WEB_FORM_COLUMNS
from tests.conftest import shared_data

PARTITION = Path("ingest_date=2026-11-03") / "hour=07"
READ_COLUMNS = [*WEB_FORM_COLUMNS, "raw_file", "raw_line", "raw_record", "ingest_time",
                "parse_error"]
ROWS: list[dict[str, str]] = [
    {"Date received": "2026-11-03", "Product": "Internet service", "Issue": "Billing dispute",
     "Consumer complaint narrative": 'Charged twice.\nThe rep said "fixed tomorrow".',
     "State": "TX", "Complaint ID": "7000001"},
    {"Date received": "2026-11-04", "Product": "Mobile", "Issue": "Dropped calls",
     "Consumer complaint narrative": "Calls drop, every day, at home.", "State": "FL",
     "Complaint ID": "7000002"},
    {"Date received": "11/05/2026", "Product": "Cable TV", "Issue": "Outage",
     "Consumer complaint narrative": "No signal since Monday", "State": "NY",
     "Complaint ID": "7000003"},
]


def csv_text(header: Sequence[str], rows: Sequence[dict[str, str]], newline: str = "\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in header])
    return buffer.getvalue()


def land(settings: Settings, name: str, data: bytes, source: str = "web_form") -> Path:
    folder = settings.zones.raw / source / PARTITION
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def land_csv(settings: Settings, name: str, header: Sequence[str] = WEB_FORM_COLUMNS,
             rows: Sequence[dict[str, str]] = ROWS) -> Path:
    return land(settings, name, csv_text(header, rows).encode())


def web_form(path: Path) -> FileVerdict:
    return inspect_raw_file(path, "web_form")


def read_rows(spark: Any, settings: Settings,
              files: Sequence[FileVerdict | Path]) -> dict[tuple[str, int], dict[str, Any]]:
    """(file name, record number) -> the row read."""
    frame = read_web_forms(spark, settings.lake, files)
    assert frame.columns == READ_COLUMNS
    return {(Path(r.raw_file).name, r.raw_line): r.asDict() for r in frame.collect()}


def known_values(row: dict[str, Any]) -> dict[str, Any]:
    return {c: row[c] for c in WEB_FORM_COLUMNS if row[c] is not None}


# --- header by name --------------------------------------------------------------------------
def test_a_cfpb_header_matches_as_is() -> None:
    matched = match_web_form_header(WEB_FORM_COLUMNS)
    assert matched.positions == {c: i for i, c in enumerate(WEB_FORM_COLUMNS)}
    assert matched.missing_required == ()
    assert matched.notes == ()


def test_header_names_match_ignoring_case_and_spacing_and_repeats_are_noted() -> None:
    header = ["complaint  id", " Date received ", "Issue", "Issue", "State"]
    matched = match_web_form_header(header)
    assert matched.positions == {"Complaint ID": 0, "Date received": 1, "Issue": 2, "State": 4}
    assert matched.missing_required == ()
    assert "header names matched ignoring case and spacing: 'complaint  id', ' Date received '" \
        in matched.notes
    assert "repeated column 'Issue': the first one is read" in matched.notes
    assert REORDERED_NOTE in matched.notes


def test_reordered_columns_land_in_the_right_columns(spark: Any, settings: Settings) -> None:
    header = list(reversed(WEB_FORM_COLUMNS))
    path = land_csv(settings, "reordered.csv", header)
    verdict = web_form(path)
    assert (verdict.readable, verdict.reason, verdict.notes) == (True, None, (REORDERED_NOTE,))
    assert verdict.header == tuple(header)
    got = read_rows(spark, settings, [verdict])
    assert [known_values(got[("reordered.csv", i + 1)]) for i in range(3)] == ROWS
    assert {r["parse_error"] for r in got.values()} == {None}
    # raw_record is the row as the file has it: its own columns (empty ones left out), in its
    # own order
    assert list(json.loads(got[("reordered.csv", 1)]["raw_record"])) == [
        c for c in header if ROWS[0].get(c)]


def test_extra_columns_are_schema_drift_and_rows_read_fine(spark: Any, settings: Settings) -> None:
    header = [*WEB_FORM_COLUMNS[:5], "Foo", *WEB_FORM_COLUMNS[5:], "Bar"]
    rows = [{**r, "Foo": "foo value", "Bar": "bar value"} for r in ROWS]
    verdict = web_form(land_csv(settings, "extra.csv", header, rows))
    assert verdict.readable
    assert verdict.notes == ("schema drift: 2 extra columns ignored: 'Foo', 'Bar'",)
    got = read_rows(spark, settings, [verdict])
    assert [known_values(got[("extra.csv", i + 1)]) for i in range(3)] == ROWS
    assert json.loads(got[("extra.csv", 2)]["raw_record"])["Bar"] == "bar value"


def test_missing_optional_columns_read_as_null(spark: Any, settings: Settings) -> None:
    header = [c for c in WEB_FORM_COLUMNS if c not in ("State", "Product")]
    verdict = web_form(land_csv(settings, "fewer.csv", header))
    assert verdict.readable
    assert verdict.notes == (
        "schema drift: 2 optional columns missing (read as null): 'Product', 'State'",)
    got = read_rows(spark, settings, [verdict])
    assert [(got[("fewer.csv", i + 1)]["State"], got[("fewer.csv", i + 1)]["Product"],
             got[("fewer.csv", i + 1)]["Complaint ID"]) for i in range(3)] == [
        (None, None, "7000001"), (None, None, "7000002"), (None, None, "7000003")]


@pytest.mark.parametrize(("dropped", "reason"), [
    (("Complaint ID",), "CSV header lacks required column 'Complaint ID'"),
    (("Date received", "Complaint ID"),
     "CSV header lacks required columns 'Complaint ID', 'Date received'"),
    (("Consumer complaint narrative", "Issue"),
     "CSV header lacks required column: one of 'Consumer complaint narrative' or 'Issue'"),
])
def test_a_missing_required_column_makes_a_poison_file(
    settings: Settings, dropped: tuple[str, ...], reason: str
) -> None:
    header = [c for c in WEB_FORM_COLUMNS if c not in dropped]
    verdict = web_form(land_csv(settings, "lacking.csv", header))
    assert (verdict.readable, verdict.reason) == (False, reason)
    assert verdict.header == tuple(header)


def test_either_text_column_is_enough(settings: Settings) -> None:
    for text in ("Consumer complaint narrative", "Issue"):
        header = [c for c in WEB_FORM_COLUMNS
                  if c not in ("Consumer complaint narrative", "Issue")] + [text]
        assert web_form(land_csv(settings, "one_text.csv", header)).readable


def test_a_semicolon_file_names_the_delimiter(settings: Settings) -> None:
    path = land(settings, "semicolon.csv",
                ";".join(WEB_FORM_COLUMNS).encode() + b"\n2026-11-03;Mobile\n")
    reason = web_form(path).reason
    assert reason is not None
    assert reason.endswith("(one column only: is the delimiter ';', not ','?)")


# --- encodings and line endings ---------------------------------------------------------------
def test_utf8_bom(spark: Any, settings: Settings) -> None:
    path = land(settings, "bom.csv", b"\xef\xbb\xbf" + csv_text(WEB_FORM_COLUMNS, ROWS).encode())
    verdict = web_form(path)
    assert (verdict.readable, verdict.notes) == (True, (UTF8_BOM_NOTE,))
    assert verdict.header == WEB_FORM_COLUMNS  # the BOM is not part of "Date received"
    got = read_rows(spark, settings, [verdict])
    assert [known_values(got[("bom.csv", i + 1)]) for i in range(3)] == ROWS


def test_crlf_line_endings_leave_no_carriage_return(spark: Any, settings: Settings) -> None:
    rows = [{**ROWS[0], "Consumer complaint narrative": "line one\r\nline two"}, *ROWS[1:]]
    path = land(settings, "crlf.csv", csv_text(WEB_FORM_COLUMNS, rows, newline="\r\n").encode())
    assert path.read_bytes().count(b"\r\n") == 5  # four line ends and one inside a narrative
    verdict = web_form(path)
    assert (verdict.readable, verdict.notes, verdict.header) == (True, (), WEB_FORM_COLUMNS)
    got = read_rows(spark, settings, [verdict])
    assert [got[("crlf.csv", i + 1)]["Complaint ID"] for i in range(3)] == [
        "7000001", "7000002", "7000003"]
    assert not any("\r" in (v or "") for row in got.values() for v in known_values(row).values())
    assert got[("crlf.csv", 1)]["Consumer complaint narrative"] == "line one\nline two"


def test_latin1_csv_is_a_poison_file_that_says_where(settings: Settings) -> None:
    data = csv_text(WEB_FORM_COLUMNS, [{**ROWS[0], "Company": "Télécom"}]).encode("latin-1")
    verdict = web_form(land(settings, "latin1.csv", data))
    offset = data.index(b"\xe9")
    assert (verdict.readable, verdict.reason) == (
        False, f"file is not UTF-8 (byte 0xE9 at offset {offset}, line 3; Latin-1 or "
               "Windows-1252 'é'?): re-export it as UTF-8")


def test_utf8_is_checked_across_chunks_and_to_the_last_byte(settings: Settings) -> None:
    header = csv_text(WEB_FORM_COLUMNS, []).encode()
    filler = b"2026-11-03,,,Outage,,x,,,,,,,,,,,,7000001\n"
    body = header + filler * ((CHUNK_BYTES - len(header)) // len(filler))
    split = body + b"x" * (CHUNK_BYTES - len(body) - 1) + "é\n".encode()  # é across the chunks
    assert split.index("é".encode()) == CHUNK_BYTES - 1
    assert web_form(land(settings, "split.csv", split)).readable
    last_line = split.count(b"\n") + 1
    late = split + b"\xff\n"
    assert web_form(land(settings, "late.csv", late)).reason == (
        f"file is not UTF-8 (byte 0xFF at offset {len(split)}, line {last_line}; "
        "Latin-1 or Windows-1252 'ÿ'?): re-export it as UTF-8")
    cut = split + b"\xc3"  # a two-byte character cut off by the end of the file
    assert web_form(land(settings, "cut.csv", cut)).reason == (
        f"file is not UTF-8 (byte 0xC3 at offset {len(split)}, line {last_line}; "
        "Latin-1 or Windows-1252 'Ã'?): re-export it as UTF-8")


def test_utf16_is_a_poison_file(settings: Settings) -> None:
    data = csv_text(WEB_FORM_COLUMNS, ROWS).encode("utf-16")
    assert web_form(land(settings, "utf16.csv", data)).reason == (
        "file is UTF-16 (byte-order mark FF FE), not UTF-8: re-export it as UTF-8")
    no_bom = data.removeprefix(b"\xff\xfe")  # valid UTF-8, every other byte a NUL
    no_bom.decode("utf-8")
    assert web_form(land(settings, "utf16le.csv", no_bom)).reason == (
        "file holds NUL bytes (UTF-16 without a byte-order mark, or not text): re-export it as "
        "UTF-8 CSV")


# --- empty, header only, truncated ------------------------------------------------------------
def test_header_only_is_readable_with_no_records(spark: Any, settings: Settings) -> None:
    verdict = web_form(land_csv(settings, "header_only.csv", rows=[]))
    assert (verdict.readable, verdict.notes, verdict.header) == (True, (), WEB_FORM_COLUMNS)
    assert read_rows(spark, settings, [verdict]) == {}


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty file (no CSV header)"),
    (b"\xef\xbb\xbf", "empty file (no CSV header)"),
    (b"\n" + csv_text(WEB_FORM_COLUMNS, ROWS).encode(), "no CSV header: the first line is blank"),
    (b"  \r\n", "no CSV header: the first line is blank"),
])
def test_no_header_makes_a_poison_file(settings: Settings, data: bytes, reason: str) -> None:
    verdict = web_form(land(settings, "no_header.csv", data))
    assert (verdict.readable, verdict.reason, verdict.header) == (False, reason, None)


@pytest.mark.parametrize("cut_at", [
    'The rep said ""fixed',  # inside the quoted narrative: the columns after it are missing
    ',"70000',  # inside the quoted last column: as many columns as the header
])
def test_a_truncated_last_record_is_quarantined_alone(
    spark: Any, settings: Settings, cut_at: str
) -> None:
    header = WEB_FORM_COLUMNS
    rows = [*ROWS[1:], ROWS[0]]  # the multi-line narrative last
    whole = csv_text(header, rows).replace(",7000001\n", ',"7000001"\n')
    cut = whole[: whole.rindex(cut_at) + len(cut_at)]
    verdict = web_form(land(settings, "cut.csv", cut.encode()))
    assert (verdict.readable, verdict.notes, verdict.truncated_last_record) == (
        True, (TRUNCATED_NOTE,), True)
    got = read_rows(spark, settings, [verdict])
    assert sorted(got) == [("cut.csv", 1), ("cut.csv", 2), ("cut.csv", 3)]
    assert [known_values(got[("cut.csv", n)]) for n in (1, 2)] == ROWS[1:]
    assert [got[("cut.csv", n)]["parse_error"] for n in (1, 2, 3)] == [
        None, None, TRUNCATED_RECORD]


def test_a_stray_quote_is_not_a_truncation(spark: Any, settings: Settings) -> None:
    data = csv_text(WEB_FORM_COLUMNS, ROWS).replace("Mobile", 'Mobile 5" screen')
    verdict = web_form(land(settings, "stray.csv", data.encode()))
    assert (verdict.readable, verdict.notes, verdict.truncated_last_record) == (
        True, (STRAY_QUOTE_NOTE,), False)
    got = read_rows(spark, settings, [verdict])
    assert [got[("stray.csv", n)]["parse_error"] for n in (1, 2, 3)] == [None, None, None]
    assert got[("stray.csv", 2)]["Product"] == 'Mobile 5" screen'


def test_a_malformed_row_is_quarantined_with_its_record_number(
    spark: Any, settings: Settings
) -> None:
    header = list(reversed(WEB_FORM_COLUMNS))
    text = csv_text(header, ROWS)
    lines = text.split("\n")
    bad_row = "7000002,too,many," + ",".join(["x"] * 20)
    text = text.replace(next(line for line in lines if line.startswith("7000002")), bad_row)
    got = read_rows(spark, settings, [web_form(land(settings, "malformed.csv", text.encode()))])
    assert [got[("malformed.csv", n)]["parse_error"] for n in (1, 2, 3)] == [
        None, MALFORMED_ROW, None]
    assert got[("malformed.csv", 2)]["raw_record"] == bad_row
    assert got[("malformed.csv", 3)]["Complaint ID"] == "7000003"
    # parse errors can be counted on their own (Spark refuses raw-CSV queries that need only the
    # corrupt-record column)
    frame = read_web_forms(spark, settings.lake, [settings.zones.raw / "web_form" / PARTITION
                                                  / "malformed.csv"])
    assert frame.where(F.col("parse_error").isNotNull()).count() == 1


# --- compression ------------------------------------------------------------------------------
def test_gzip_csv_reads_fine(spark: Any, settings: Settings) -> None:
    data = gzip.compress(csv_text(list(reversed(WEB_FORM_COLUMNS)), ROWS).encode())
    verdict = web_form(land(settings, "forms.csv.gz", data))
    assert (verdict.readable, verdict.compression, verdict.notes) == (
        True, "gzip", (REORDERED_NOTE,))
    got = read_rows(spark, settings, [verdict])
    assert [known_values(got[("forms.csv.gz", i + 1)]) for i in range(3)] == ROWS


GOOD_GZIP = gzip.compress(csv_text(WEB_FORM_COLUMNS, ROWS).encode())


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("truncated.csv.gz", GOOD_GZIP[: len(GOOD_GZIP) // 2],
     "not valid gzip (truncated: the compressed stream ends early)"),
    ("no_trailer.csv.gz", GOOD_GZIP[:-8],
     "not valid gzip (truncated: the compressed stream ends early)"),
    ("crc.csv.gz", GOOD_GZIP[:-8] + b"\0\0\0\0" + GOOD_GZIP[-4:], "not valid gzip (CRC check"),
    ("plain.csv.gz", csv_text(WEB_FORM_COLUMNS, ROWS).encode(),
     "not valid gzip (named *.gz but starts with 44 61)"),
    ("empty.csv.gz", b"", "not valid gzip (named *.gz but empty file)"),
    ("unnamed.csv", GOOD_GZIP, "gzip data in a file not named *.gz (it would be read as "
                               "compressed bytes): land it as 'unnamed.csv.gz'"),
])
def test_a_corrupt_or_misnamed_gzip_is_a_poison_file(
    settings: Settings, name: str, data: bytes, reason: str
) -> None:
    verdict = web_form(land(settings, name, data))
    assert verdict.readable is False
    assert verdict.reason is not None and verdict.reason.startswith(reason)


def test_a_zip_archive_is_a_poison_file(settings: Settings) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("complaints.csv", csv_text(WEB_FORM_COLUMNS, ROWS))
    verdict = web_form(land(settings, "complaints.csv.zip", buffer.getvalue()))
    assert (verdict.readable, verdict.reason) == (
        False, "a ZIP archive, not a text file: unzip it and land the files it holds")


def test_a_missing_file_is_unreadable_not_an_error(settings: Settings) -> None:
    verdict = web_form(settings.zones.raw / "web_form" / PARTITION / "gone.csv")
    assert (verdict.readable, verdict.reason) == (
        False, "cannot read the file: No such file or directory")


# --- a mix of good and poison files -----------------------------------------------------------
def test_good_and_poison_files_read_together(spark: Any, settings: Settings) -> None:
    good = [
        land_csv(settings, "a_good.csv"),
        land_csv(settings, "b_reordered.csv", list(reversed(WEB_FORM_COLUMNS)),
                 [{**r, "Complaint ID": "8" + r["Complaint ID"]} for r in ROWS]),
        land(settings, "c_good.csv.gz", gzip.compress(csv_text(
            [*WEB_FORM_COLUMNS, "Extra"], [{**ROWS[0], "Complaint ID": "9000001"}]).encode())),
        land_csv(settings, "d_header_only.csv", rows=[]),
    ]
    poison = [
        land(settings, "e_empty.csv", b""),
        land(settings, "f_latin1.csv", csv_text(WEB_FORM_COLUMNS, [
            {**ROWS[0], "Company": "Télécom", "Complaint ID": "6000001"}]).encode("latin-1")),
        land_csv(settings, "g_no_id.csv", WEB_FORM_COLUMNS[:-1]),
        land(settings, "h_truncated.csv.gz", GOOD_GZIP[:40]),
        land(settings, "i_unnamed.csv", GOOD_GZIP),
    ]
    verdicts = [web_form(p) for p in sorted(good + poison)]
    assert [v.path for v in verdicts if not v.readable] == poison
    assert all(v.reason for v in verdicts if not v.readable)
    got = read_rows(spark, settings, verdicts)
    assert sorted((name, row["Complaint ID"], row["parse_error"])
                  for (name, _), row in got.items()) == [
        ("a_good.csv", "7000001", None), ("a_good.csv", "7000002", None),
        ("a_good.csv", "7000003", None),
        ("b_reordered.csv", "87000001", None), ("b_reordered.csv", "87000002", None),
        ("b_reordered.csv", "87000003", None),
        ("c_good.csv.gz", "9000001", None),
    ]


def test_no_readable_file_gives_an_empty_frame(spark: Any, settings: Settings) -> None:
    poison = web_form(land(settings, "empty.csv", b""))
    assert read_rows(spark, settings, [poison]) == {}
    assert read_rows(spark, settings, []) == {}
    assert read_json_lines(spark, settings.lake, []).collect() == []


def test_an_unreadable_file_given_by_path_raises_with_the_reason(
    spark: Any, settings: Settings
) -> None:
    good = land_csv(settings, "good.csv")
    empty = land(settings, "empty.csv", b"")
    with pytest.raises(UnreadableRawFile, match=r"empty\.csv: empty file \(no CSV header\)"):
        read_web_forms(spark, settings.lake, [good, empty])
    assert len(read_rows(spark, settings, [good])) == 3  # paths that are readable still work


def test_the_real_cfpb_sample_is_readable_as_is() -> None:
    sample = shared_data("cfpb-complaints-2019-2020-sample", "complaints_cfpb_2019_2020_sample.csv")
    verdict = web_form(sample)
    assert (verdict.readable, verdict.notes, verdict.header, verdict.compression) == (
        True, (), WEB_FORM_COLUMNS, None)


# --- JSON Lines sources: only readability is file-level ---------------------------------------
def test_json_lines_bad_lines_stay_record_level(settings: Settings) -> None:
    path = land(settings, "calls.jsonl", b'{"call_id": "1"}\nnot json\n\xe9\xe9\n', "call_center")
    verdict = inspect_raw_file(path, "call_center")
    assert verdict == FileVerdict(path, "call_center", True, None, (), None, None)


@pytest.mark.parametrize("source", ["call_center", "complaint_management", "sms"])
def test_json_lines_gzip_is_checked_to_the_end(settings: Settings, source: str) -> None:
    data = gzip.compress(b'{"Item": {}}\n' * 1000)
    good = inspect_raw_file(land(settings, "part.json.gz", data, source), source)
    assert (good.readable, good.compression) == (True, "gzip")
    bad = inspect_raw_file(land(settings, "cut.json.gz", data[:-3], source), source)
    assert (bad.readable, bad.reason, bad.compression) == (
        False, "not valid gzip (truncated: the compressed stream ends early)", "gzip")


def test_json_lines_too_large_to_read_whole(settings: Settings) -> None:
    path = land(settings, "big.jsonl.gz", gzip.compress(b'{"n": 1}\n' * 1000), "call_center")
    assert inspect_raw_file(path, "call_center", whole_text_limit=9000).readable
    verdict = inspect_raw_file(path, "call_center", whole_text_limit=8999)
    assert verdict.reason == ("too large to read whole (0.0 GiB uncompressed; the limit is "
                              "0.0 GiB): split the file")


def test_json_lines_utf16_is_unreadable_and_a_bom_is_stripped(
    spark: Any, settings: Settings
) -> None:
    utf16 = land(settings, "utf16.jsonl", '{"n": 1}\n'.encode("utf-16"), "call_center")
    assert inspect_raw_file(utf16, "call_center").reason == (
        "file is UTF-16 (byte-order mark FF FE), not UTF-8: re-export it as UTF-8")
    bom = land(settings, "bom.jsonl.gz", gzip.compress(b'\xef\xbb\xbf{"n": 1}\n{"n": 2}\n'),
               "call_center")
    verdict = inspect_raw_file(bom, "call_center")
    assert (verdict.readable, verdict.notes) == (True, (UTF8_BOM_NOTE,))
    got = read_json_lines(spark, settings.lake, [bom]).collect()
    assert sorted((r.raw_line, r.raw_record) for r in got) == [(1, '{"n": 1}'), (2, '{"n": 2}')]
