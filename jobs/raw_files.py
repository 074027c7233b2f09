"""Inspecting raw files before Spark reads them: can each file be read as a whole?

Spark fails a whole read, and with it every other file and source of the run, when one file is not
valid gzip; and it reads a CSV by position, so a web-form export whose columns moved puts values in
the wrong columns. Since raw files are immutable, such a file would fail every later run too. So
the transform inspects each raw file first (``inspect_raw_file``): a file that cannot be read as a
whole becomes one file-level quarantine entry with ``FileVerdict.reason``, and Spark gets only the
readable ones. Problems of single records (a malformed line or row, a missing field) are not looked
for here: the readers and parsers quarantine those record by record.

A file is unreadable as a whole (``readable`` False) when:

* any source: it cannot be opened; it is compressed other than with gzip (zip, bzip2, xz, zstd);
  it holds gzip data but is not named ``*.gz`` (Spark picks the codec by name) or is named
  ``*.gz`` without being gzip; its gzip stream does not decompress to its end (truncated, CRC);
  it is UTF-16 (a byte-order mark);
* JSON Lines sources (call_center, DynamoDB export data files, sms, social): it is larger than
  Spark's whole-file text limit (2 GiB) once decompressed;
* web-form CSV: it is empty or its first line is blank (no header); its header lacks a required
  column (``schemas.sources.WEB_FORM_REQUIRED``); a byte is not UTF-8 (where the first one is);
  its first MiB holds a NUL byte (UTF-16 without a byte-order mark, or not text).

Non-fatal findings are ``notes``: schema drift (extra columns ignored, optional columns missing,
columns in another order), a UTF-8 byte-order mark, and a CSV whose last record is cut off inside
a quoted field (the reader quarantines that record: ``truncated_last_record``).

Cost: one streaming pass over the decompressed bytes in 1 MiB chunks (gzip, UTF-8 decoding and
quote counting all run in C); a plain JSON Lines file is only sniffed and stat'ed. A CSV with an
odd number of quote characters, and only such a file, gets a second pass with the csv module to
tell a record cut off at the end from a stray quote.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import zlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from schemas.sources import WEB_FORM_COLUMNS, WEB_FORM_REQUIRED

CHUNK_BYTES = 1 << 20
# Spark reads a JSON Lines file whole (one text value per file): a Java array holds < 2^31 bytes.
WHOLE_TEXT_LIMIT = (1 << 31) - 16
CSV_SOURCES = frozenset({"web_form"})
GZIP_MAGIC = b"\x1f\x8b"
_OTHER_COMPRESSION = (
    (b"PK\x03\x04", "a ZIP archive, not a text file: unzip it and land the files it holds"),
    (b"BZh", "bzip2-compressed: land it uncompressed or as gzip (*.gz)"),
    (b"\xfd7zXZ\x00", "xz-compressed: land it uncompressed or as gzip (*.gz)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed: land it uncompressed or as gzip (*.gz)"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
# Appended after a CSV's last line: when the file ends inside a quoted field, the csv module
# reads this line into that field instead of as a record of its own.
_END_OF_FILE = "\x1eEND OF FILE\x1e"
_LISTED_NAMES = 10

UTF8_BOM_NOTE = "UTF-8 BOM"
REORDERED_NOTE = "columns in another order (read by name)"
TRUNCATED_NOTE = "file ends inside a quoted field: its last record is cut off (quarantined)"
STRAY_QUOTE_NOTE = "odd number of quote characters (a stray quote in an unquoted field?)"


@dataclass(frozen=True)
class FileVerdict:
    """What inspecting one raw file found; ``reason`` is set exactly when it is not readable."""

    path: Path
    source: str
    readable: bool  # False: the file as a whole cannot be read -> one file-level quarantine entry
    reason: str | None  # why not readable: one line a user can act on
    notes: tuple[str, ...]  # non-fatal findings (schema drift, BOM, a cut-off last record)
    header: tuple[str, ...] | None  # CSV sources: the file's own header (BOM stripped)
    compression: str | None  # "gzip" or None
    # CSV: the file ends inside a quoted field, so its last record is incomplete.
    truncated_last_record: bool = False


class _Unreadable(Exception):
    """The file cannot be read as a whole; the message is the verdict's reason."""

    def __init__(self, reason: str, header: tuple[str, ...] | None = None) -> None:
        super().__init__(reason)
        self.header = header  # a CSV's header, when it was read


# --- web-form header -----------------------------------------------------------------------------
@dataclass(frozen=True)
class WebFormHeader:
    """How a web-form file's own header maps onto ``WEB_FORM_COLUMNS``."""

    positions: Mapping[str, int]  # WEB_FORM_COLUMNS name -> index in the file's header
    missing_required: tuple[tuple[str, ...], ...]  # WEB_FORM_REQUIRED groups with no column
    notes: tuple[str, ...]


def _header_key(name: str) -> str:
    # Exports differ in case and spacing ("Complaint id", "ZIP  code"), never in meaning.
    return " ".join(name.split()).casefold()


def _names(names: Sequence[str]) -> str:
    listed = ", ".join(repr(n) for n in names[:_LISTED_NAMES])
    more = len(names) - _LISTED_NAMES
    return listed + (f" and {more} more" if more > 0 else "")


def _counted(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def match_web_form_header(header: Sequence[str]) -> WebFormHeader:
    """Find each known column in ``header`` by name (ignoring case and spacing)."""
    wanted = {_header_key(c): c for c in WEB_FORM_COLUMNS}
    positions: dict[str, int] = {}
    extra: list[str] = []
    loose: list[str] = []
    repeated: list[str] = []
    for index, name in enumerate(header):
        column = wanted.get(_header_key(name))
        if column is None:
            extra.append(name)
        elif column in positions:
            repeated.append(column)
        else:
            positions[column] = index
            if name != column:
                loose.append(name)
    missing_required = tuple(g for g in WEB_FORM_REQUIRED if not any(c in positions for c in g))
    unmatched_required = {c for g in missing_required for c in g}
    missing = [c for c in WEB_FORM_COLUMNS if c not in positions and c not in unmatched_required]
    in_layout_order = [positions[c] for c in WEB_FORM_COLUMNS if c in positions]
    notes = [
        *([f"schema drift: {_counted(len(extra), 'extra column')} ignored: {_names(extra)}"]
          if extra else []),
        *([f"schema drift: {_counted(len(missing), 'optional column')} missing (read as null): "
           f"{_names(missing)}"] if missing else []),
        *([REORDERED_NOTE] if in_layout_order != sorted(in_layout_order) else []),
        *([f"header names matched ignoring case and spacing: {_names(loose)}"] if loose else []),
        *([f"repeated column {name!r}: the first one is read" for name in repeated]),
    ]
    return WebFormHeader(positions, missing_required, tuple(notes))


def _missing_columns_reason(header: Sequence[str], missing: Sequence[tuple[str, ...]]) -> str:
    parts = [repr(g[0]) if len(g) == 1 else "one of " + " or ".join(repr(c) for c in g)
             for g in missing]
    lead = "s " if len(missing) > 1 else ": " if len(missing[0]) > 1 else " "
    reason = f"CSV header lacks required column{lead}{', '.join(parts)}"
    if len(header) == 1:
        separators = [s for s in (";", "\t", "|") if s in header[0]]
        if separators:
            reason += f" (one column only: is the delimiter {separators[0]!r}, not ','?)"
    return reason


# --- byte streams --------------------------------------------------------------------------------
def _open_decompressed(path: Path, compression: str | None) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if compression == "gzip" else path.open("rb")


def _open_text(path: Path, compression: str | None) -> TextIO:
    if compression == "gzip":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _chunks(path: Path, compression: str | None) -> Iterator[bytes]:
    """The file's (decompressed) bytes in chunks; a stream that cannot be read is _Unreadable."""
    try:
        with _open_decompressed(path, compression) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk
    except EOFError as error:
        raise _Unreadable("not valid gzip (truncated: the compressed stream ends early)") from error
    except gzip.BadGzipFile as error:
        raise _Unreadable(f"not valid gzip ({error})") from error
    except zlib.error as error:
        raise _Unreadable(f"not valid gzip (corrupt data: {error})") from error
    except OSError as error:
        raise _Unreadable(f"cannot read the file: {error.strerror or error}") from error


def _sniff(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(8)
    except OSError as error:
        raise _Unreadable(f"cannot read the file: {error.strerror or error}") from error


def _compression_of(path: Path, head: bytes) -> str | None:
    """gzip or None, from the magic bytes; the name must agree (Spark picks the codec by name)."""
    named_gz = path.name.lower().endswith(".gz")
    if head.startswith(GZIP_MAGIC):
        if not named_gz:
            raise _Unreadable("gzip data in a file not named *.gz (it would be read as "
                              f"compressed bytes): land it as {path.name + '.gz'!r}")
        return "gzip"
    if named_gz:
        found = f"starts with {head[:2].hex(' ')}" if head else "empty file"
        raise _Unreadable(f"not valid gzip (named *.gz but {found})")
    for magic, what in _OTHER_COMPRESSION:
        if head.startswith(magic):
            raise _Unreadable(what)
    return None


def _text_notes(head: bytes) -> tuple[str, ...]:
    """Checks on the first decompressed bytes, any source: UTF-16 is unreadable, a BOM a note."""
    if head.startswith(_UTF16_BOMS):
        raise _Unreadable(f"file is UTF-16 (byte-order mark {head[:2].hex(' ').upper()}), "
                          "not UTF-8: re-export it as UTF-8")
    return (UTF8_BOM_NOTE,) if head.startswith(_UTF8_BOM) else ()


# --- JSON Lines ----------------------------------------------------------------------------------
def _inspect_json_lines(path: Path, compression: str | None, head: bytes,
                        whole_text_limit: int) -> tuple[str, ...]:
    """Readability only: a bad line is quarantined downstream, record by record."""
    if compression is None:
        size = path.stat().st_size
    else:
        size, head = 0, b""
        for chunk in _chunks(path, compression):
            if not size:
                head = chunk[:8]
            size += len(chunk)
    notes = _text_notes(head)
    if size > whole_text_limit:
        raise _Unreadable(f"too large to read whole ({size / (1 << 30):.1f} GiB uncompressed; "
                          f"the limit is {whole_text_limit / (1 << 30):.1f} GiB): split the file")
    return notes


# --- CSV -----------------------------------------------------------------------------------------
class _CsvScan:
    """One pass over a CSV's bytes: strict UTF-8, quote and line counts, the first text."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.size = 0
        self.quotes = 0
        self.newlines = 0
        self.prefix = ""  # the decoded first chunk: it holds the header
        self.notes: tuple[str, ...] = ()

    def feed(self, chunk: bytes) -> None:
        if not self.size:
            self.notes = _text_notes(chunk)
            if b"\x00" in chunk:  # valid UTF-8, yet no CSV: UTF-16 without a BOM, or binary
                raise _Unreadable("file holds NUL bytes (UTF-16 without a byte-order mark, or not "
                                  "text): re-export it as UTF-8 CSV")
        pending = len(self.decoder.getstate()[0])  # bytes of a character split across chunks
        try:
            text = self.decoder.decode(chunk)
        except UnicodeDecodeError as error:
            raise _Unreadable(self._not_utf8(error, self.size - pending)) from error
        if not self.size:
            self.prefix = text
        self.size += len(chunk)
        self.quotes += chunk.count(b'"')
        self.newlines += chunk.count(b"\n")

    def finish(self) -> None:
        try:
            self.decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise _Unreadable(self._not_utf8(error, self.size - len(error.object))) from error

    def _not_utf8(self, error: UnicodeDecodeError, object_offset: int) -> str:
        byte = error.object[error.start]
        line = self.newlines + error.object[: error.start].count(b"\n") + 1
        guess = bytes([byte]).decode("cp1252", errors="replace")
        return (f"file is not UTF-8 (byte 0x{byte:02X} at offset {object_offset + error.start}, "
                f"line {line}; Latin-1 or Windows-1252 {guess!r}?): re-export it as UTF-8")


def _csv_header(prefix: str, whole_file: bool) -> tuple[str, ...]:
    """The first record of the file's text; ``whole_file``: ``prefix`` is all of it."""
    text = prefix.removeprefix("\ufeff")
    if not text:
        raise _Unreadable("empty file (no CSV header)")
    buffer = io.StringIO(text, newline="")
    try:
        first = next(csv.reader(buffer), [])
    except csv.Error as error:
        raise _Unreadable(f"CSV header cannot be parsed ({error})") from error
    if not whole_file and buffer.tell() >= len(text):
        raise _Unreadable(f"no end of the CSV header in the first {CHUNK_BYTES >> 20} MiB")
    if not any(name.strip() for name in first):
        raise _Unreadable("no CSV header: the first line is blank")
    return tuple(first)


def _ends_inside_quotes(path: Path, compression: str | None) -> bool | None:
    """Whether the last record is cut off inside a quoted field (None: cannot tell)."""
    with _open_text(path, compression) as text:
        try:
            last = deque(csv.reader(itertools.chain(text, ["\n", _END_OF_FILE + "\n"])), 1)
        except csv.Error:  # a field over the csv module's size limit: a quote left open mid-file
            return None
    return list(last) != [[_END_OF_FILE]]


def _inspect_csv(path: Path, compression: str | None) -> tuple[tuple[str, ...], tuple[str, ...],
                                                                bool]:
    """(header, notes, truncated_last_record) of a readable web-form CSV."""
    scan = _CsvScan()
    for chunk in _chunks(path, compression):
        scan.feed(chunk)
    scan.finish()
    header = _csv_header(scan.prefix, whole_file=scan.size <= CHUNK_BYTES)
    matched = match_web_form_header(header)
    if matched.missing_required:
        raise _Unreadable(_missing_columns_reason(header, matched.missing_required), header)
    notes = [*scan.notes, *matched.notes]
    truncated = False
    if scan.quotes % 2:
        ends_inside = _ends_inside_quotes(path, compression)
        truncated = bool(ends_inside)
        notes.append(TRUNCATED_NOTE if truncated else STRAY_QUOTE_NOTE)
    return header, tuple(notes), truncated


# --- the verdict ---------------------------------------------------------------------------------
def inspect_raw_file(path: Path, source: str, *,
                     whole_text_limit: int = WHOLE_TEXT_LIMIT) -> FileVerdict:
    """Whether ``path``, a raw file of ``source``, can be read as a whole; never raises for what
    the file holds. Web-form files are CSV; every other source is JSON Lines."""
    compression: str | None = None
    try:
        head = _sniff(path)
        compression = _compression_of(path, head)
        if source in CSV_SOURCES:
            header, notes, truncated = _inspect_csv(path, compression)
        else:
            header, truncated = None, False
            notes = _inspect_json_lines(path, compression, head, whole_text_limit)
    except _Unreadable as unreadable:
        return FileVerdict(path, source, False, str(unreadable), (), unreadable.header,
                           compression)
    except OSError as error:  # e.g. the file went away or lost its permissions mid-inspection
        return FileVerdict(path, source, False, f"cannot read the file: {error.strerror or error}",
                           (), None, compression)
    return FileVerdict(path, source, True, None, notes, header, compression, truncated)
