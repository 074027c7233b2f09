"""Parse each raw source into one staged shape, before standardisation.

Input of every parser: raw records with lineage (``RAW_RECORD_COLUMNS``);
output: ``STAGED_COLUMNS``.
A record that cannot be parsed keeps its lineage and gets a ``parse_error``; it is quarantined
later, never dropped. The parsers are pure ``DataFrame -> DataFrame`` functions.

A JSON record is valid when ``try_parse_json`` accepts it as exactly one value (strict JSON:
``one_json_value_udf`` in Java, ``one_json_value`` as expressions), and its fields are read by
``from_json`` with a text schema: a field is the text of its JSON value (numbers as written,
fractions in Java's double format, objects and arrays as JSON), null when absent or when an object
is expected and something else is there. Each does
its one job: reading fields out of a VARIANT (``variant_get``) rebuilds each value and creates a
cast per field and row, which cost more than a second parse of the line (measured at 600,000
call-centre records). The streamed events, whose fields are type-checked, are read as VARIANTs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.spark import built_once, jvm_udf
from jobs.standardise import state_from_location
from schemas.sources import (
    CALL_CENTER_FIELDS,
    DYNAMODB_TABLES,
    WEB_FORM_COLUMNS,
    dynamodb_change_ddl,
    dynamodb_item_ddl,
    dynamodb_text_ddl,
)
from schemas.streaming import KNOWN_PLATFORMS, MAX_EVENT_BYTES, RAW_STREAM_RECORD_FIELDS

RAW_RECORD_COLUMNS = ("raw_file", "raw_line", "raw_record", "ingest_time")

# ``sender``: who sent a streamed message (SMS number, social platform:author); only used to find
# same-content duplicates of stream events (see jobs/transform.py), never written to clean.

STAGED_COLUMNS = (
    "source", "source_record_id", "customer_id", "case_id", "event_time_raw", "event_zone",
    "default_zone", "text_raw", "hints", "state_raw", "location", "severity_raw", "sender",
    "raw_file", "raw_line", "raw_record", "ingest_time", "parse_error",
)

MAX_RECORD_CHARS = 100_000
# A record must be exactly one JSON value: ``{"a": 1} xyz`` or ``{"a": 1} {"b": 2}`` is not.
TRAILING_REASON = "malformed JSON: trailing characters after the JSON value"


def _null() -> Column:
    return F.lit(None).cast("string")


def _blank_to_null(col: Column) -> Column:
    # Any whitespace, not only spaces (F.trim strips spaces only): "\t" or "\n" is no id or text.
    return F.when(col.rlike(r"^\s*$"), F.lit(None)).otherwise(col)


def _record_errors(raw: Column, file_utf8: Column | None = None) -> Column:
    """Errors any raw record can have, whatever its source. ``file_utf8`` (JSON Lines): whether
    the record's file is valid UTF-8; where it is not, a U+FFFD in the record is a byte that was
    not UTF-8 (web forms need no such check: a file with one is quarantined whole)."""
    too_large = F.when(F.length(raw) > MAX_RECORD_CHARS,
                       F.lit(f"record too large (over {MAX_RECORD_CHARS} characters)"))
    if file_utf8 is None:
        return too_large
    return too_large.when(raw.contains("\ufffd") & ~file_utf8, F.lit("invalid UTF-8"))


def _bracketed(text: Column) -> Column:
    """``text`` in brackets, parsed: ``try_parse_json`` alone reads the first value and ignores
    what follows it, so ``{"a":1} xyz`` would pass as clean. In brackets, trailing garbage makes
    the array invalid (null) and a second value makes it two elements long."""
    return F.try_parse_json(F.concat(F.lit("["), text, F.lit("]")))


def one_json_value(text: Column) -> Column:
    """Whether the whole of ``text`` is exactly one JSON value (never null). One case passes that
    should not: a text that closes the bracket itself (``{"a": 1}], [2``: in brackets, its first
    value is one array of one element); ``one_json_value_udf`` rejects it."""
    wrapped = _bracketed(text)
    return wrapped.isNotNull() & F.try_variant_get(wrapped, "$[1]", "variant").isNull()


def parse_one_json_value(text: Column) -> Column:
    """``text`` parsed as a VARIANT when the whole of it is exactly one JSON value, else null."""
    values = F.try_variant_get(_bracketed(text), "$", "array<variant>")
    return F.when(F.size(values) == 1, F.element_at(values, 1))


def one_json_value_udf(session: Any) -> str | None:
    """The session's UDF doing ``one_json_value`` in one parse (``jobs/jvm/OneJsonValue.java``:
    Spark's own JSON parser and variant builder, with the session's settings for duplicate keys
    and Unicode, then a check that nothing follows the value); None when the session's driver does
    not have it (``jvm_udf``: a cluster, no javac, Spark Connect)."""
    conf = session.conf  # the session's values, defaults included
    settings = (conf.get("spark.sql.variant.allowDuplicateKeys"),
                conf.get("spark.sql.variant.validateUnicodeInJsonParsing"))
    return built_once(session, settings,  # registered once per session and settings
                      lambda s: jvm_udf(session, "OneJsonValue", "boolean", *s))


def _malformed_json(trimmed: Column, one_value: Column) -> Column:
    """The reason for a record that is not one JSON object (null when it is one). The first
    value alone is parsed again only for rejected records, to tell trailing garbage apart."""
    return F.when(~one_value | ~trimmed.startswith("{"), F.when(
        ~one_value & F.try_parse_json(trimmed).isNotNull(), F.lit(TRAILING_REASON),
    ).otherwise(F.lit("malformed JSON")))


def _with_json_value(raw: DataFrame) -> DataFrame:
    """Add ``_one_value``: whether the raw record is exactly one JSON value (in Java when the
    session has ``one_json_value_udf``: 1.6 s against the expressions' 2.8 s over 1.76M
    call-centre lines, on 2 cores)."""
    trimmed = F.trim(F.col("raw_record"))
    udf = one_json_value_udf(raw.sparkSession)
    return raw.withColumn("_one_value",
                          F.call_function(udf, trimmed) if udf else one_json_value(trimmed))


def _json_errors() -> Column:
    """Why a ``_with_json_value`` row is not one JSON object of a sane size (null when it is)."""
    return F.coalesce(
        _record_errors(F.col("raw_record"), F.col("file_utf8")),
        _malformed_json(F.trim(F.col("raw_record")), F.col("_one_value")),
    )


def _read_json(ddl: str) -> Column:
    """The fields of a ``_with_json_value`` row's record (``ddl``: scalars as text); null when
    the record is not JSON, so an unparseable record keeps no half-read fields."""
    return F.when(F.col("_one_value"), F.from_json(F.col("raw_record"), ddl))


def _staged(frame: DataFrame, source: str, default_zone: str, **cols: Column) -> DataFrame:
    values: dict[str, Column] = {name: _null() for name in STAGED_COLUMNS}
    values.update(cols)
    values.update({name: F.col(name) for name in RAW_RECORD_COLUMNS})
    values["source"] = F.lit(source)
    values["default_zone"] = F.lit(default_zone)
    return frame.select(*[values[name].alias(name) for name in STAGED_COLUMNS])


# --- call_center
def _call_center_text_schema() -> str:
    # Scalars are read as text and typed explicitly below, so a wrong type is a clear reason.
    def as_text(kind: str) -> str:
        return kind if kind.startswith("struct") else "string"

    return ", ".join(f"`{n}` {as_text(k)}" for n, k in CALL_CENTER_FIELDS.items())


def parse_call_center(raw: DataFrame) -> DataFrame:
    # One column, so the record is read once whatever the number of fields taken from it.
    raw = _with_json_value(raw).withColumn("_call", _read_json(_call_center_text_schema()))

    def field(*names: str) -> Column:
        value = F.col("_call")
        for name in names:
            value = value[name]
        return value

    call_id = _blank_to_null(field("call_id"))
    duration = field("duration_s")
    error = F.coalesce(
        _json_errors(),
        F.when(call_id.isNull(), F.lit("missing field: call_id")),
        F.when(_blank_to_null(field("started")).isNull(), F.lit("missing field: started")),
        F.when(_blank_to_null(field("notes")).isNull(), F.lit("missing field: notes")),
        F.when(duration.isNotNull() & ~F.trim(duration).rlike(r"^[0-9]+$"),
               F.concat(F.lit("wrong type: duration_s is not a whole number: "),
                        F.substring(duration, 1, 40))),
    )
    return _staged(
        raw, "call_center", "America/New_York",
        source_record_id=F.trim(call_id),
        customer_id=_blank_to_null(F.trim(field("caller", "customer_id"))),
        event_time_raw=field("started"),
        event_zone=field("tz"),
        text_raw=field("notes"),
        state_raw=field("location", "state"),
        location=_blank_to_null(F.concat_ws(" ", F.trim(field("location", "city")),
                                            F.trim(field("location", "zip")))),
        parse_error=error,
    )


# --- web_form (CFPB layout)
def parse_web_form(raw: DataFrame) -> DataFrame:
    """``raw``: the CSV columns of WEB_FORM_COLUMNS plus lineage; raw_record is the row as JSON."""
    col = {name: F.col(f"`{name}`") for name in WEB_FORM_COLUMNS}
    complaint_id = _blank_to_null(F.trim(col["Complaint ID"]))
    narrative = _blank_to_null(col["Consumer complaint narrative"])
    issue_text = _blank_to_null(F.concat_ws(". ", col["Issue"], col["Sub-issue"]))
    error = F.coalesce(
        F.col("parse_error"),
        _record_errors(F.col("raw_record")),
        F.when(complaint_id.isNull(), F.lit("missing field: Complaint ID")),
        F.when(_blank_to_null(col["Date received"]).isNull(),
               F.lit("missing field: Date received")),
    )
    return _staged(
        raw, "web_form", "UTC",
        source_record_id=complaint_id,
        event_time_raw=col["Date received"],
        text_raw=F.coalesce(narrative, issue_text),
        hints=F.concat_ws(". ", col["Product"], col["Sub-product"], col["Issue"], col["Sub-issue"]),
        state_raw=col["State"],
        location=_blank_to_null(F.trim(col["ZIP code"])),
        parse_error=error,
    )


# --- DynamoDB exports
def parse_dynamodb_items(raw: DataFrame, logical_table: str) -> DataFrame:
    """Add ``_item`` (the typed-as-declared item) and ``_error`` to raw export lines (for the
    operational tables, which keep every attribute typed)."""
    ddl = dynamodb_item_ddl(DYNAMODB_TABLES[logical_table])
    parsed = _with_json_value(raw).withColumn("_doc", F.from_json(F.col("raw_record"), ddl))
    error = F.coalesce(
        _json_errors(),
        F.when(F.col("_doc.Item").isNull(), F.lit("export line has no Item")),
    )
    return (parsed.withColumn("_item", F.col("_doc.Item")).withColumn("_error", error)
            .drop("_doc", "_one_value"))


def parse_dynamodb_changes(raw: DataFrame, logical_table: str) -> DataFrame:
    """Add ``_item`` (the item a line leaves: a full export's ``Item``, an incremental export's
    ``NewImage``; null for a delete), ``_keys``, ``_old`` (``OldImage``), ``_write_micros``
    (``Metadata.WriteTimestampMicros`` as text), ``_change`` (an incremental export's line) and
    ``_error`` to raw export lines. ``_old`` holds only the case state (``CASE_STATE_ATTRIBUTE``),
    null for tables without one."""
    ddl = dynamodb_change_ddl(DYNAMODB_TABLES[logical_table])
    doc = F.from_json(F.col("raw_record"), ddl)
    change = doc["Keys"].isNotNull() & doc["Item"].isNull()
    error = F.coalesce(
        _json_errors(),
        F.when(doc["Item"].isNull() & doc["Keys"].isNull(),
               F.lit("export line has no Item and no Keys")),
    )
    return _with_json_value(raw).withColumn("_doc", doc).select(
        "*",
        F.coalesce(F.col("_doc.Item"), F.col("_doc.NewImage")).alias("_item"),
        F.col("_doc.Keys").alias("_keys"),
        (F.col("_doc.OldImage") if "OldImage" in ddl else F.lit(None)).alias("_old"),
        F.col("_doc.Metadata.WriteTimestampMicros.N").alias("_write_micros"),
        change.alias("_change"),
        error.alias("_error"),
    ).drop("_doc", "_one_value")


def _dynamodb_complaint_items(raw: DataFrame, logical_table: str) -> DataFrame:
    """Add ``_item`` (the line's ``Item``, each attribute's ``S`` as text; null unless ``Item`` is
    an object) and ``_error``; the complaint parsers read the attributes they need with ``_s``."""
    text_ddl = dynamodb_text_ddl(DYNAMODB_TABLES[logical_table])
    items = _with_json_value(raw).withColumn("_item", _read_json(text_ddl)["Item"])
    error = F.coalesce(
        _json_errors(),
        F.when(F.col("_item").isNull(), F.lit("export line has no Item")),
    )
    return items.withColumn("_error", error)


def _s(attr: str) -> Column:
    """A string (S) attribute of the item of a ``_dynamodb_complaint_items`` row, blank as null."""
    return _blank_to_null(F.col("_item")[attr]["S"])


def parse_complaint_management(raw: DataFrame) -> DataFrame:
    """Complaint metadata items (SK = "metadata"); comm# items are communications instead."""
    items = _dynamodb_complaint_items(raw, "complaint_management")
    complaints = items.where(F.col("_error").isNotNull() | (_s("SK") == "metadata"))
    error = F.coalesce(
        F.col("_error"),
        F.when(_s("PK").isNull(), F.lit("missing field: PK")),
        F.when(_s("creation_time").isNull(), F.lit("missing field: creation_time")),
        F.when(_s("complaint_description").isNull(), F.lit("missing field: complaint_description")),
    )
    return _staged(
        complaints, "complaint_management", "UTC",
        source_record_id=_s("PK"),
        customer_id=_s("customer_id"),
        case_id=F.coalesce(_s("complaint_id"), _s("PK")),
        event_time_raw=_s("creation_time"),
        text_raw=_s("complaint_description"),
        severity_raw=_s("severity"),
        parse_error=error,
    )


def parse_mbpp_reports(raw: DataFrame) -> DataFrame:
    items = _dynamodb_complaint_items(raw, "mbpp_reports")
    error = F.coalesce(
        F.col("_error"),
        F.when(_s("ticket_number").isNull(), F.lit("missing field: ticket_number")),
        F.when(_s("created_at").isNull(), F.lit("missing field: created_at")),
        F.when(_s("details").isNull() & _s("subject").isNull(), F.lit("missing field: details")),
    )
    return _staged(
        items, "mbpp_reports", "UTC",
        source_record_id=_s("ticket_number"),
        case_id=_s("ticket_number"),
        event_time_raw=_s("created_at"),
        text_raw=_blank_to_null(F.concat_ws(". ", _s("subject"), _s("details"))),
        state_raw=state_from_location(_s("location")),
        location=_s("location"),
        parse_error=error,
    )


def parse_chat_feedback(raw: DataFrame) -> DataFrame:
    """Chat messages whose feedback is negative are complaints about the service."""
    items = _dynamodb_complaint_items(raw, "chat_messages")
    negative = F.lower(F.trim(_s("feedback_type"))) == "negative"
    complaints = items.where(F.col("_error").isNotNull() | negative)
    text = F.coalesce(_s("feedback_message"), _s("user_prompt"))
    error = F.coalesce(
        F.col("_error"),
        F.when(_s("pk_message_id").isNull(), F.lit("missing field: pk_message_id")),
        F.when(_s("feedback_created_at").isNull() & _s("sent_at").isNull(),
               F.lit("missing field: feedback_created_at")),
        F.when(text.isNull(), F.lit("missing field: feedback_message")),
    )
    return _staged(
        complaints, "chat_feedback", "UTC",
        source_record_id=_s("pk_message_id"),
        case_id=_s("sk_session_id"),
        event_time_raw=F.coalesce(_s("feedback_created_at"), _s("sent_at")),
        text_raw=text,
        hints=_s("feedback_category"),
        parse_error=error,
    )


# --- streamed sources (Kinesis records landed as JSON lines, schemas/streaming.py)
# Quarantine reasons of events that are well formed but are not customer complaints. Spam SMS
# (the producer's label says "spam") and a brand's own outbound posts are landed and transformed
# like every event, then quarantined with these reasons rather than classified "other": they are
# not complaints, so they must not count in complaint volumes, and quarantine keeps them visible
# and counted (records_in = clean + quarantined + duplicates still holds).
SPAM_REASON = "spam (producer label)"
OUTBOUND_REASON = "outbound post (not from a customer)"
RAW_STREAM_DDL = ", ".join(f"`{name}` string" for name in RAW_STREAM_RECORD_FIELDS)


def decode_stream_records(raw: DataFrame) -> DataFrame:
    """Add ``_event`` (the record's data as a VARIANT) and ``_error`` to raw landing lines.

    Each line is the landing envelope with the Kinesis record's bytes base64-encoded in
    ``data_b64``; the bytes are decoded and checked natively: envelope, size, UTF-8, JSON object.
    """
    envelope = one_json_value(F.trim(F.col("raw_record")))
    data_b64 = F.from_json(F.col("raw_record"), RAW_STREAM_DDL)["data_b64"]
    data = F.try_to_binary(data_b64, F.lit("base64"))
    text = data.cast("string")  # no validation here; is_valid_utf8 below checks the bytes
    trimmed = F.trim(text)
    event = parse_one_json_value(trimmed)
    error = F.coalesce(
        F.when(~envelope | data.isNull(),
               F.lit("malformed landing record (no base64 data_b64)")),
        F.when(F.octet_length(data) > MAX_EVENT_BYTES,
               F.lit(f"record too large (over {MAX_EVENT_BYTES} bytes)")),
        F.when(~F.is_valid_utf8(text), F.lit("invalid UTF-8")),
        _malformed_json(trimmed, event.isNotNull()),
    )
    return raw.withColumn("_event", F.when(error.isNull(), event)).withColumn("_error", error)


def _field(name: str) -> Column:
    return F.variant_get(F.col("_event"), f"$.{name}", "variant")


def _field_type(name: str) -> Column:
    """STRING, BIGINT, BOOLEAN, OBJECT<…>, VOID (JSON null), … ; null when the field is absent."""
    return F.schema_of_variant(_field(name))


def _text_field(name: str) -> Column:
    return F.when(_field_type(name) == "STRING", F.variant_get(F.col("_event"), f"$.{name}",
                                                               "string"))


def _field_errors(required: tuple[str, ...], optional: tuple[str, ...]) -> list[Column]:
    """'wrong type' when a field is present but not a string (JSON null counts as absent), then
    'missing field' when a required one is absent or blank."""
    wrong = [
        F.when(_field_type(n).isNotNull() & ~_field_type(n).isin("STRING", "VOID"),
               F.lit(f"wrong type: {n} is not a string"))
        for n in (*required, *optional)
    ]
    missing = [F.when(_blank_to_null(_text_field(n)).isNull(), F.lit(f"missing field: {n}"))
               for n in required]
    return [*wrong, *missing]


def parse_sms(raw: DataFrame) -> DataFrame:
    """SMS events: one per raw line. Spam (label "spam") is quarantined with SPAM_REASON."""
    decoded = decode_stream_records(raw)
    label = F.lower(F.trim(_text_field("label")))
    error = F.coalesce(
        F.col("_error"),
        *_field_errors(("event_id", "sent_at", "text"),
                       ("from", "customer_id", "state", "label")),
        F.when(label == "spam", F.lit(SPAM_REASON)),
    )
    return _staged(
        decoded, "sms", "UTC",
        source_record_id=F.trim(_text_field("event_id")),
        customer_id=_blank_to_null(F.trim(_text_field("customer_id"))),
        event_time_raw=_text_field("sent_at"),
        text_raw=_text_field("text"),
        state_raw=_text_field("state"),
        sender=_blank_to_null(F.trim(_text_field("from"))),
        parse_error=error,
    )


def parse_social(raw: DataFrame) -> DataFrame:
    """Social posts: one per raw line; platform and brand are classification hints.

    A post with ``inbound`` false is the brand's own (a reply to a customer) and is quarantined
    with OUTBOUND_REASON; a platform outside KNOWN_PLATFORMS is quarantined as unknown.
    """
    decoded = decode_stream_records(raw)
    platform = F.lower(F.trim(_text_field("platform")))
    inbound_type = _field_type("inbound")
    inbound = F.variant_get(F.col("_event"), "$.inbound", "boolean")
    author = _blank_to_null(F.trim(_text_field("author")))
    error = F.coalesce(
        F.col("_error"),
        *_field_errors(("event_id", "platform", "posted_at", "text"),
                       ("author", "brand", "in_reply_to")),
        F.when(inbound_type.isNotNull() & ~inbound_type.isin("BOOLEAN", "VOID"),
               F.lit("wrong type: inbound is not a boolean")),
        F.when(~platform.isin(*KNOWN_PLATFORMS),
               F.concat(F.lit("unknown platform: "), F.substring(_text_field("platform"), 1, 40))),
        F.when(inbound_type.isin("BOOLEAN") & ~inbound, F.lit(OUTBOUND_REASON)),
    )
    return _staged(
        decoded, "social", "UTC",
        source_record_id=F.trim(_text_field("event_id")),
        event_time_raw=_text_field("posted_at"),
        text_raw=_text_field("text"),
        hints=_blank_to_null(F.concat_ws(". ", platform, F.trim(_text_field("brand")))),
        sender=F.when(author.isNotNull(), F.concat_ws(":", platform, author)),
        parse_error=error,
    )


JSON_LINE_PARSERS: dict[str, Callable[[DataFrame], DataFrame]] = {
    "call_center": parse_call_center,
    "complaint_management": parse_complaint_management,
    "mbpp_reports": parse_mbpp_reports,
    "chat_feedback": parse_chat_feedback,
    "sms": parse_sms,
    "social": parse_social,
}
