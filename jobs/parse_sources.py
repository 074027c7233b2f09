"""Parse each raw source into one staged shape, before standardisation.

Input of every parser: raw records with lineage (``RAW_RECORD_COLUMNS``);
output: ``STAGED_COLUMNS``.
A record that cannot be parsed keeps its lineage and gets a ``parse_error``; it is quarantined
later, never dropped. The parsers are pure ``DataFrame -> DataFrame`` functions.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.standardise import state_from_location
from schemas.sources import (
    CALL_CENTER_FIELDS,
    DYNAMODB_TABLES,
    WEB_FORM_COLUMNS,
    dynamodb_item_ddl,
)

RAW_RECORD_COLUMNS = ("raw_file", "raw_line", "raw_record", "ingest_time")

STAGED_COLUMNS = (
    "source", "source_record_id", "customer_id", "case_id", "event_time_raw", "event_zone",
    "default_zone", "text_raw", "hints", "state_raw", "location", "severity_raw",
    "raw_file", "raw_line", "raw_record", "ingest_time", "parse_error",
)

MAX_RECORD_CHARS = 100_000


def _null() -> Column:
    return F.lit(None).cast("string")


def _blank_to_null(col: Column) -> Column:
    # Any whitespace, not only spaces (F.trim strips spaces only): "\t" or "\n" is no id or text.
    return F.when(col.rlike(r"^\s*$"), F.lit(None)).otherwise(col)


def _record_errors(raw: Column) -> Column:
    """Errors any raw record can have, whatever its source."""
    return (
        F.when(F.length(raw) > MAX_RECORD_CHARS,
               F.lit(f"record too large (over {MAX_RECORD_CHARS} characters)"))
        .when(raw.contains("\ufffd"), F.lit("invalid UTF-8"))
    )


def _json_errors(raw: Column) -> Column:
    trimmed = F.trim(raw)
    return F.coalesce(
        _record_errors(raw),
        F.when(F.try_parse_json(trimmed).isNull() | ~trimmed.startswith("{"),
               F.lit("malformed JSON")),
    )


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
    parsed = raw.withColumn("_j", F.from_json(F.col("raw_record"), _call_center_text_schema()))
    j = F.col("_j")
    call_id = _blank_to_null(j["call_id"])
    duration = j["duration_s"]
    error = F.coalesce(
        _json_errors(F.col("raw_record")),
        F.when(call_id.isNull(), F.lit("missing field: call_id")),
        F.when(_blank_to_null(j["started"]).isNull(), F.lit("missing field: started")),
        F.when(_blank_to_null(j["notes"]).isNull(), F.lit("missing field: notes")),
        F.when(duration.isNotNull() & ~F.trim(duration).rlike(r"^[0-9]+$"),
               F.concat(F.lit("wrong type: duration_s is not a whole number: "),
                        F.substring(duration, 1, 40))),
    )
    return _staged(
        parsed, "call_center", "America/New_York",
        source_record_id=F.trim(call_id),
        customer_id=_blank_to_null(F.trim(j["caller"]["customer_id"])),
        event_time_raw=j["started"],
        event_zone=j["tz"],
        text_raw=j["notes"],
        state_raw=j["location"]["state"],
        location=_blank_to_null(
            F.concat_ws(" ", F.trim(j["location"]["city"]), F.trim(j["location"]["zip"]))),
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
    """Add ``_item`` (the typed-as-declared item) and ``_error`` to raw export lines."""
    ddl = dynamodb_item_ddl(DYNAMODB_TABLES[logical_table])
    parsed = raw.withColumn("_doc", F.from_json(F.col("raw_record"), ddl))
    error = F.coalesce(
        _json_errors(F.col("raw_record")),
        F.when(F.col("_doc.Item").isNull(), F.lit("export line has no Item")),
    )
    return parsed.withColumn("_item", F.col("_doc.Item")).withColumn("_error", error).drop("_doc")


def _s(attr: str) -> Column:
    return _blank_to_null(F.col("_item")[attr]["S"])


def parse_complaint_management(raw: DataFrame) -> DataFrame:
    """Complaint metadata items (SK = "metadata"); comm# items are communications instead."""
    items = parse_dynamodb_items(raw, "complaint_management")
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
    items = parse_dynamodb_items(raw, "mbpp_reports")
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
    items = parse_dynamodb_items(raw, "chat_messages")
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


JSON_LINE_PARSERS: dict[str, Callable[[DataFrame], DataFrame]] = {
    "call_center": parse_call_center,
    "complaint_management": parse_complaint_management,
    "mbpp_reports": parse_mbpp_reports,
    "chat_feedback": parse_chat_feedback,
}
