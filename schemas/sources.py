"""Declared schemas of the raw sources, as they arrive (before any standardisation).

* ``call_center``: call-centre log exports, JSON Lines, one call per line, semi-structured (nested
  objects, optional fields, several timestamp formats).
* ``web_form``: web-form exports, CSV in the CFPB complaint-database layout (18 columns, quoted
  multi-line narratives), UTF-8, optionally gzip; read by header name (``WEB_FORM_REQUIRED``).
* DynamoDB tables (``../shared/seeds``): "Export to S3" output, DynamoDB JSON, one
  ``{"Item": {...}}`` per line in ``data/*.json.gz``. ``DYNAMODB_TABLES`` declares each table's key
  and attribute types (S, N, BOOL, NULL, M, L, SS, NS).
* ``sms`` and ``social``: Kinesis records landed as JSON lines with the event base64-encoded; the
  event and landing formats are declared in ``schemas/streaming.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.complaint import Column, RecordSchema

# --- call_center
# A call's "started" timestamp comes in one of these shapes (the generator uses all of them):
#   "2026-11-03T14:22:05-05:00"       ISO 8601 with offset
#   "2026-11-03 19:22:05Z"            space-separated, Zulu
#   "11/03/2026 02:22:05 PM"          US local time, zone in the call's "tz" field
#   1762197725                        epoch seconds (a JSON number)
CALL_CENTER_FIELDS: dict[str, str] = {
    "call_id": "string",
    "started": "string",  # number or string in the file; read as text
    "tz": "string",
    "agent": "string",
    "queue": "string",
    "duration_s": "long",
    "caller": "struct<customer_id:string,name:string,phone:string>",
    "location": "struct<city:string,state:string,zip:string>",
    "notes": "string",
}
CALL_CENTER_REQUIRED = ("call_id", "started", "notes")


def call_center_ddl() -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in CALL_CENTER_FIELDS.items())


# --- web_form (CFPB layout)
WEB_FORM_COLUMNS: tuple[str, ...] = (
    "Date received",
    "Product",
    "Sub-product",
    "Issue",
    "Sub-issue",
    "Consumer complaint narrative",
    "Company public response",
    "Company",
    "State",
    "ZIP code",
    "Tags",
    "Consumer consent provided?",
    "Submitted via",
    "Date sent to company",
    "Company response to consumer",
    "Timely response?",
    "Consumer disputed?",
    "Complaint ID",
)
# "Date received" is a date only: yyyy-MM-dd (CFPB) or MM/dd/yyyy (older exports).

# A web-form file is read by its own header, by column name (jobs/raw_files.py, jobs/raw_zone.py):
# columns may come in any order, extra columns are ignored (schema drift, noted with a count) and
# a missing optional column reads as null. Each group below names columns of which the header must
# hold at least one, or the whole file is quarantined with the missing names:
# * "Complaint ID": the source record id, hence the complaint id and its dedupe;
# * "Date received": the event time and the clean partition;
# * a complaint text: the narrative, or else the issue (CFPB withholds most narratives, so "Issue"
#   is the text of most rows; an export with neither has nothing to classify).
# Rows with a blank value in a required column are still quarantined one by one (parse_sources).
WEB_FORM_REQUIRED: tuple[tuple[str, ...], ...] = (
    ("Complaint ID",),
    ("Date received",),
    ("Consumer complaint narrative", "Issue"),
)


# --- DynamoDB exports
@dataclass(frozen=True)
class DynamoTable:
    logical: str  # the pipeline's name; also the raw-zone folder
    partition_key: str
    sort_key: str | None
    attributes: dict[str, str]  # attribute -> DynamoDB type: S N BOOL NULL M L SS NS
    seed: str  # which ../shared/seeds document it comes from


DYNAMODB_TABLES: dict[str, DynamoTable] = {
    t.logical: t
    for t in (
        DynamoTable(
            "complaint_management", "PK", "SK",
            {
                "PK": "S", "SK": "S", "customer_id": "S", "complaint_id": "S", "comm_id": "S",
                "comm_date": "S", "complaint_state": "S", "current_state": "S",
                "creation_time": "S", "severity": "S", "complaint_description": "S",
                "comm_text": "S", "attachments": "SS", "agentID": "S", "escalated_to": "S",
                "escalation_time": "S",
            },
            "000",
        ),
        DynamoTable(
            "service_bot_customers", "id", None,
            # phone / email / country / social_handles: the customer master's contact
            # identifiers, which complaints are linked by (jobs/customer_links.py).
            {"id": "S", "name": "S", "service_level": "S", "devices": "L", "phone": "S",
             "email": "S", "country": "S", "social_handles": "SS"},
            "001",
        ),
        DynamoTable(
            "service_bot_service_levels", "level", None,
            {"level": "S", "allowed_actions": "L", "max_devices": "N", "support_priority": "S"},
            "001",
        ),
        DynamoTable(
            "service_bot_messages", "conversationId", "timestamp",
            {
                "conversationId": "S", "timestamp": "S", "userId": "S", "text": "S",
                "requestType": "S", "requiredActions": "L", "allowed": "BOOL",
            },
            "001",
        ),
        DynamoTable(
            "mbpp_reports", "ticket_number", None,
            {
                "ticket_number": "S", "subject": "S", "details": "S", "location": "S",
                "feedback": "S", "category": "S", "sub_category": "S", "blocked_road": "BOOL",
                "created_at": "S", "status": "S", "ttl": "N",
            },
            "002",
        ),
        DynamoTable(
            "mbpp_events", "event_id", None,
            {
                "event_id": "S", "ticket_number": "S", "event_type": "S", "timestamp": "S",
                "data": "M", "ttl": "N",
            },
            "002",
        ),
        DynamoTable(
            "chat_sessions", "pk_session_id", None,
            {
                "pk_session_id": "S", "user_id": "S", "title": "S", "created_at": "S",
                "updated_at": "S", "message_count": "N",
            },
            "004",
        ),
        DynamoTable(
            "chat_messages", "pk_message_id", "sk_session_id",
            {
                "pk_message_id": "S", "sk_session_id": "S", "user_prompt": "S",
                "bot_response": "S", "metadata": "M", "sent_at": "S", "response_time": "N",
                "errors": "S", "feedback_type": "S", "feedback_rank": "N",
                "feedback_category": "S", "feedback_message": "S", "feedback_created_at": "S",
            },
            "004",
        ),
        DynamoTable(
            "chat_reviews", "pk_review_id", None,
            {
                "pk_review_id": "S", "session_id": "S", "reviewed_by": "S", "comments": "S",
                "reviewed_at": "S",
            },
            "004",
        ),
    )
}

# Raw sources whose records become rows of the unified complaint table, and where they land.
FILE_SOURCES = ("call_center", "web_form")
# Landed once a day by the batch DAG (files from the inbox, DynamoDB exports).
BATCH_COMPLAINT_SOURCES = ("call_center", "web_form", "complaint_management", "mbpp_reports",
                           "chat_feedback")
# Landed continuously from Kinesis (schemas/streaming.py) and transformed in micro-batches by the
# stream DAG; their raw files are raw/<source>/ingest_date=…/hour=…/<stream>__<shard>__<seq>.jsonl.
STREAM_COMPLAINT_SOURCES = ("sms", "social")
COMPLAINT_SOURCES = BATCH_COMPLAINT_SOURCES + STREAM_COMPLAINT_SOURCES
# chat_feedback complaints are the negative-feedback items of the chat_messages export.
COMPLAINT_SOURCE_TABLE = {
    "complaint_management": "complaint_management",
    "mbpp_reports": "mbpp_reports",
    "chat_feedback": "chat_messages",
}


def _image_ddl(table: DynamoTable) -> str:
    """Spark DDL of one item image ``{attr: {TYPE: value}}`` of ``table`` (a struct's fields).

    Scalars are kept as text here and converted by the transform (N to decimal, not float).
    M and L stay as raw JSON text so nested DynamoDB JSON can be decoded recursively.
    """
    kinds: dict[str, str] = {
        "S": "struct<S:string,NULL:boolean>",
        "N": "struct<N:string,NULL:boolean>",
        "BOOL": "struct<BOOL:boolean,NULL:boolean>",
        "NULL": "struct<NULL:boolean>",
        "SS": "struct<SS:array<string>,NULL:boolean>",
        "NS": "struct<NS:array<string>,NULL:boolean>",
        "M": "string",
        "L": "string",
    }
    return ", ".join(f"`{a}`: {kinds[k]}" for a, k in table.attributes.items())


def dynamodb_item_ddl(table: DynamoTable) -> str:
    """Spark DDL for one export line ``{"Item": {attr: {TYPE: value}}}`` of ``table``."""
    return f"Item struct<{_image_ddl(table)}>"


def dynamodb_text_ddl(table: DynamoTable) -> str:
    """Spark DDL for reading only the S (string) member of each attribute of an export line's
    ``Item``, as text: no typed member (``NULL``, ``BOOL``) can make an attribute unreadable."""
    attributes = ", ".join(f"`{a}`: struct<S:string>" for a in table.attributes)
    return f"Item struct<{attributes}>"


def dynamodb_change_ddl(table: DynamoTable) -> str:
    """Spark DDL for one line of a full export (``Item``) or of an incremental export
    (``{"Metadata": {"WriteTimestampMicros": {"N": ...}}, "Keys": {...}, "NewImage": {...},
    "OldImage": {...}}``; a delete has no ``NewImage``) of ``table``."""
    image = f"struct<{_image_ddl(table)}>"
    keys = ", ".join(f"`{k}`: struct<S:string>"
                     for k in (table.partition_key, table.sort_key) if k)
    # Of the OldImage only the case state is read (its transitions); the rest is not parsed.
    state = CASE_STATE_ATTRIBUTE.get(table.logical)
    old = f", OldImage struct<`{state}`: struct<S:string>>" if state else ""
    return (f"Item {image}, NewImage {image}{old}, Keys struct<{keys}>, "
            "Metadata struct<WriteTimestampMicros: struct<N:string>>")


# The attribute holding a case's state in the tables that track one (the complaint system's
# metadata items, the municipal reports): incremental exports carry its OldImage -> NewImage
# transitions (jobs/operational.py writes them to clean/case_state_changes/).
CASE_STATE_ATTRIBUTE: dict[str, str] = {
    "complaint_management": "current_state",
    "mbpp_reports": "status",
}


# How each DynamoDB type lands in a clean operational table (see jobs/operational.py).
CLEAN_TYPE_OF_DYNAMODB = {
    "S": "string", "N": "decimal", "BOOL": "boolean", "NULL": "string", "SS": "array<string>",
    "NS": "array<decimal>", "M": "string", "L": "string",
}
LINEAGE_COLUMNS = (
    Column("raw_file", "string", False, "raw-zone export file, relative to the lake"),
    Column("raw_line", "long", False, "1-based line in the decompressed export file"),
    Column("ingest_time", "timestamp", False, "when the export was landed (hour), UTC"),
)


def operational_schema(table: DynamoTable) -> RecordSchema:
    """The clean operational table of a DynamoDB table: its attributes, typed, plus lineage."""
    keys = {table.partition_key, table.sort_key}
    columns = tuple(
        Column(name, CLEAN_TYPE_OF_DYNAMODB[kind], name not in keys,
               f"DynamoDB {kind}" + (" as JSON text" if kind in ("M", "L") else ""))
        for name, kind in table.attributes.items()
    )
    return RecordSchema(name=table.logical, columns=columns + LINEAGE_COLUMNS)


#: clean/case_state_changes/source=<table>/ (jobs/operational.py): one row per write that moved a
#: tracked case's state, from the incremental exports' OldImage -> NewImage.
CASE_STATE_CHANGE = RecordSchema(
    name="case_state_changes",
    partition_by=("source",),
    columns=(
        Column("source", "string", False, "the operational table (CASE_STATE_ATTRIBUTE)"),
        Column("case_id", "string", False, "the case: the item's partition key"),
        Column("from_state", "string", True, "OldImage's state; null for a new case"),
        Column("to_state", "string", False, "NewImage's state"),
        Column("changed_at", "timestamp", False, "the write's time (WriteTimestampMicros), UTC"),
        Column("raw_file", "string", False, "raw-zone incremental export file"),
        Column("raw_line", "long", False, "1-based line in the decompressed export file"),
    ),
)


def describe() -> dict[str, Any]:
    return {
        "call_center": CALL_CENTER_FIELDS,
        "web_form": list(WEB_FORM_COLUMNS),
        "dynamodb": {k: v.attributes for k, v in DYNAMODB_TABLES.items()},
    }
