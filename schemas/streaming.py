"""Streamed sources (SMS and social posts on Kinesis): the event format and the raw landing format.

Producer side: each Kinesis record's data is one UTF-8 JSON object (an *event*):

* SMS (stream ``complaints-sms``)::

    {"event_id": "sms-<uuid or hash>", "channel": "sms", "sent_at": "2026-11-04T13:05:00Z",
     "from": "+15125550147", "customer_id": "CUST-00042" | null, "state": "TX" | null,
     "text": "no signal since this morning", "label": "ham" | "spam" | null}

* Social (stream ``complaints-social``)::

    {"event_id": "social-<id>", "channel": "social", "platform": "twitter" | "facebook" | ...,
     "posted_at": "Sun Oct 22 03:15:18 +0000 2017" | ISO 8601, "author": "330671",
     "brand": "comcastcares" | null, "in_reply_to": "961316" | null, "inbound": true,
     "text": "@comcastcares my internet is down again"}

``event_id`` is set by the producer and is the same on every retry of the same event, so
Kinesis's at-least-once delivery can be made exactly-once downstream (dedupe by event id).

Consumer side: ``raw/<source>/ingest_date=YYYY-MM-DD/hour=HH/<file>`` where source is ``sms`` or
``social``, hour is the *arrival* hour, and each line is one Kinesis record exactly as received::

    {"stream": "complaints-sms", "shard_id": "shardId-000000000001",
     "sequence_number": "4959...", "approximate_arrival": "2026-11-22T01:02:03.456000+00:00",
     "partition_key": "...", "data_b64": "<base64 of the record's bytes>"}

The bytes are kept base64-encoded so that raw is byte-exact even when a producer sent invalid
UTF-8 or non-JSON; the transform decodes and validates them (and quarantines with the reason).
File names are deterministic from stream, shard and sequence range
(``<stream>__<shard id>__<first seq>-<last seq>.jsonl``) so a replay after a crash rewrites the
same file instead of adding a copy.
"""

from __future__ import annotations

STREAM_SOURCES: dict[str, str] = {"sms": "complaints-sms", "social": "complaints-social"}
SMS_FIELDS = ("event_id", "channel", "sent_at", "from", "customer_id", "state", "text", "label")
SOCIAL_FIELDS = ("event_id", "channel", "platform", "posted_at", "author", "brand",
                 "in_reply_to", "inbound", "text")
KNOWN_PLATFORMS = ("twitter", "facebook", "instagram", "reddit", "app_review")
RAW_STREAM_RECORD_FIELDS = ("stream", "shard_id", "sequence_number", "approximate_arrival",
                            "partition_key", "data_b64")
MAX_EVENT_BYTES = 64 * 1024  # larger events are quarantined as oversized


def raw_file_name(stream: str, shard_id: str, first_sequence: str, last_sequence: str) -> str:
    return f"{stream}__{shard_id}__{first_sequence}-{last_sequence}.jsonl"
