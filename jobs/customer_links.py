"""Link clean complaints to the customers of the master, each link with its evidence and a
confidence (``schemas.customer_links``); nothing is guessed silently.

The clean text is PII-masked, so identifiers are read again from each complaint's raw record (its
lineage, ``raw_file`` / ``raw_line``, parsed by the source's own parser), and from the operational
tables its case points at:

* ``customer_id_field``: the record's customer id (call logs, SMS, complaint-management items);
* ``complaint_system_id``: the owner of the record's case in a complaint system: the
  complaint-management complaint's ``customer_id``, the chat session's ``user_id``;
* ``phone_e164``: the caller's number (call logs), the SMS sender, the reporter's number in the
  ticket's ``mbpp_events``, and numbers written in the text; normalised to E.164 with
  ``phonenumbers`` (a national number is read as US; the master's numbers in their customer's
  ``country``); a number ``phonenumbers`` does not call valid is no identifier;
* ``email``: addresses written in the text (lower case);
* ``social_handle``: the social post's author (lower case, without "@").

The master (``service_bot_customers``) gives each customer's id, phone, e-mail and handles. An
identifier that names more than one customer (a shared household phone) links to none and makes
the complaint ``ambiguous`` unless other evidence links it; a complaint whose identifiers name
nobody is ``unmatched``; one without any is ``no_identifier``. Evidence naming different customers
for one complaint keeps every link, marked ``conflicting``. Identifiers are never stored: a link
keeps the salted hash of the one it matched (``identifier_key``, the hash of the warehouse's
``customer_key``).

Each run recomputes every link from the current clean complaints and operational tables and
replaces ``clean/customer_links/`` whole (idempotent), and writes the outcome counts of each
source to ``clean/customer_link_counts/``, and the hashed identifiers that name nobody in the
master to ``clean/unmatched_identifiers/`` (for ``jobs.complaint_cases``: one unknown person's
complaints). A run whose inputs (clean complaints, operational tables, salt, code) are those of
the last one keeps its links and counts (``jobs.built_from``). Phone numbers are normalised in
Python on the distinct numbers only (``phonenumbers`` has no native Spark equivalent); everything
else is native.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from common.lake import atomic_target, lake_salt, replace_folder
from common.settings import Settings
from jobs import parse_sources, standardise
from jobs.built_from import fingerprint, last_build, record_path, remember
from jobs.parse_sources import JSON_LINE_PARSERS, parse_web_form
from jobs.raw_zone import read_json_lines, read_web_forms
from jobs.runs import new_run_id
from jobs.spark import spark_session
from jobs.standardise import EMAIL, PHONE, PHONE_DIGITS
from schemas import customer_links as link_schema
from schemas.customer_links import (
    CUSTOMER_LINK,
    CUSTOMER_LINK_COUNTS,
    EVIDENCE_CONFIDENCE,
    UNMATCHED_IDENTIFIER,
)

DEFAULT_REGION = "US"  # how a number written without a country code is read
CUSTOMERS_TABLE = "service_bot_customers"
LINKS_FOLDER = "customer_links"
COUNTS_FOLDER = "customer_link_counts"
UNMATCHED_FOLDER = "unmatched_identifiers"
# Kinds of identifier a claim and the master's index share; the evidence says where it was found.
KIND_OF_EVIDENCE = {
    "customer_id_field": "customer_id",
    "complaint_system_id": "customer_id",
    "phone_e164": "phone",
    "email": "email",
    "social_handle": "handle",
}
CLAIM_COLUMNS = ("complaint_id", "source", "evidence", "kind", "key")


@dataclass(frozen=True)
class LinkCounts:
    """What became of one source's complaints: linked + ambiguous + unmatched + no_identifier
    = complaints."""

    source: str
    complaints: int
    linked: int
    ambiguous: int
    unmatched: int
    no_identifier: int
    conflicting: int

    @property
    def conserved(self) -> bool:
        return self.complaints == (self.linked + self.ambiguous + self.unmatched
                                   + self.no_identifier)


@dataclass(frozen=True)
class LinkResult:
    link_run_id: str
    links: int
    counts: tuple[LinkCounts, ...]
    skipped: bool = False  # the inputs were those of the last run: its links were kept

    def to_dict(self) -> dict[str, object]:
        return {"link_run_id": self.link_run_id, "links": self.links,
                "counts": [asdict(c) for c in self.counts], "skipped": self.skipped}

    @classmethod
    def kept(cls, summary: dict[str, Any]) -> LinkResult:
        """The result of the earlier run whose links a run with the same inputs keeps."""
        return cls(str(summary["link_run_id"]), int(summary["links"]),
                   tuple(LinkCounts(**c) for c in summary["counts"]), skipped=True)


# --- identifiers, normalised
def phone_e164(raw: str | None, region: str | None = None) -> str | None:
    """``raw`` in E.164 (``+15125550147``), read in ``region`` when it has no country code; None
    when it is not a valid number there."""
    if raw is None or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, (region or DEFAULT_REGION).upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def e164_table(spark: SparkSession, pairs: Iterable[tuple[str, str | None]]) -> DataFrame:
    """``raw, region, e164`` for each distinct (number as written, region): the only Python step
    of the job, run on distinct numbers, never per complaint."""
    known = {(raw, region) for raw, region in pairs if raw is not None}
    frame = pd.DataFrame(sorted(known, key=lambda p: (p[0], p[1] or "")),
                         columns=["raw", "region"], dtype="object")
    frame["e164"] = [phone_e164(raw, region) for raw, region in
                     zip(frame["raw"], frame["region"], strict=True)]
    return spark.createDataFrame(frame, "raw string, region string, e164 string")


def email_key(raw: Column) -> Column:
    return F.lower(F.trim(raw))


def handle_key(raw: Column) -> Column:
    """A handle as platforms compare them: no "@", any case."""
    return F.lower(F.regexp_replace(F.trim(raw), r"^@+", ""))


def id_key(raw: Column) -> Column:
    return F.upper(F.trim(raw))


def hashed(salt: str, value: Column) -> Column:
    """The warehouse's hashed key (``warehouse.marts``): a salted SHA-256 prefix, 16 hex digits."""
    return F.substring(F.sha2(F.concat(F.lit(salt), value), 256), 1, 16)


# --- the master's index
def _identifier(kind: str, key: Column | None, raw: Column | None = None,
                region: Column | None = None) -> Column:
    none = F.lit(None).cast("string")
    return F.struct(F.lit(kind).alias("kind"), (none if key is None else key).alias("key"),
                    (none if raw is None else raw).alias("raw"),
                    (none if region is None else region).alias("region"))


def master_identifiers(customers: DataFrame) -> DataFrame:
    """``customer_id, kind, key, raw, region`` of each identifier of each customer of the
    master (phones still raw: ``key`` is filled in by ``with_e164``). One pass: the identifiers
    of a customer are an array, exploded."""
    handles = F.transform(F.coalesce(F.col("social_handles"), F.array().cast("array<string>")),
                          lambda h: _identifier("handle", handle_key(h)))
    found = F.concat(
        F.array(_identifier("customer_id", id_key(F.col("id"))),
                _identifier("phone", None, F.col("phone"),
                            F.coalesce(F.col("country"), F.lit(DEFAULT_REGION))),
                _identifier("email", email_key(F.col("email")))),
        handles,
    )
    return customers.where(F.col("id").isNotNull()).select(
        F.trim(F.col("id")).alias("customer_id"), F.explode(found).alias("i"),
    ).select("customer_id", "i.*").where(F.col("key").isNotNull() | F.col("raw").isNotNull())


def with_e164(identifiers: DataFrame, e164: DataFrame, region: Column | None = None
              ) -> DataFrame:
    """``key`` of phone rows set to the E.164 number of ``raw`` read in ``region`` (default: the
    row's own ``region``); rows without a usable key go (a number that is not valid is no
    identifier)."""
    read_in = F.col("region") if region is None else region
    keyed = identifiers.withColumn("_region", read_in).join(
        e164.withColumnRenamed("raw", "_raw").withColumnRenamed("region", "_e164_region"),
        (F.col("kind") == "phone") & (F.col("raw") == F.col("_raw"))
        & F.col("_region").eqNullSafe(F.col("_e164_region")),
        "left",
    )
    key = F.when(F.col("kind") == "phone", F.col("e164")).otherwise(F.col("key"))
    return keyed.withColumn("key", key).drop("_region", "_raw", "_e164_region", "e164", "raw",
                                             "region") \
        .where(F.col("key").isNotNull() & (F.col("key") != ""))


def master_index(identifiers: DataFrame) -> DataFrame:
    """``kind, key, customer_id, owners``: each identifier once; ``owners`` > 1 means several
    customers share it (ambiguous), and ``customer_id`` is then not to be used."""
    return identifiers.groupBy("kind", "key").agg(
        F.count_distinct("customer_id").alias("owners"),
        F.min("customer_id").alias("customer_id"),
    )


# --- claims: identifiers each complaint holds
def _claim(evidence: str, key: Column | None, raw: Column | None = None) -> Column:
    return F.struct(F.lit(evidence).alias("evidence"),
                    _identifier(KIND_OF_EVIDENCE[evidence], key, raw).alias("i"))


def _found(text: Column, pattern: str, evidence: str, as_key: bool) -> Column:
    """A claim for every match of ``pattern`` in the raw text (the raw text only where it can
    hold one: matching is the costly part)."""
    matches = F.regexp_extract_all(text, F.lit(pattern), 0)
    return F.transform(matches, lambda m: _claim(evidence, email_key(m) if as_key else None,
                                                 None if as_key else m))


def complaint_claims(complaints: DataFrame, case_owners: DataFrame,
                     reporter_phones: DataFrame) -> DataFrame:
    """``complaint_id, source, evidence, kind, key, raw``: one row per identifier a complaint
    holds (phones raw, ``key`` null until ``with_e164``). One pass over the complaints: each
    complaint's claims are an array, exploded.

    ``complaints``: complaint_id, source, customer_id, case_id, text_raw, sender, caller_phone;
    ``case_owners``: source, case_id, owner; ``reporter_phones``: source, case_id, phone.
    """
    case_facts = case_owners.select("source", "case_id", "owner",
                                    F.lit(None).cast("string").alias("phone")) \
        .unionByName(reporter_phones.select("source", "case_id",
                                            F.lit(None).cast("string").alias("owner"), "phone")) \
        .groupBy("source", "case_id").agg(F.collect_set("owner").alias("owners"),
                                          F.collect_set("phone").alias("phones"))
    text = F.coalesce(F.col("text_raw"), F.lit(""))
    digits = F.length(text) - F.length(F.translate(text, "0123456789", ""))
    sender = F.col("sender")
    author = F.regexp_extract(sender, r"^[^:]*:(.*)$", 1)
    no_text = F.array().cast("array<string>")
    singles = F.array(
        F.when(F.col("customer_id").isNotNull(),
               _claim("customer_id_field", id_key(F.col("customer_id")))),
        F.when(F.col("caller_phone").isNotNull(),
               _claim("phone_e164", None, F.col("caller_phone"))),
        F.when((F.col("source") == "sms") & sender.isNotNull(), _claim("phone_e164", None, sender)),
        F.when((F.col("source") == "social") & (author != ""),
               _claim("social_handle", handle_key(author))),
    )
    found = F.concat(
        singles,
        F.transform(F.coalesce(F.col("owners"), no_text),
                    lambda o: _claim("complaint_system_id", id_key(o))),
        F.transform(F.coalesce(F.col("phones"), no_text),
                    lambda p: _claim("phone_e164", None, p)),
        F.when(digits >= PHONE_DIGITS, _found(text, PHONE, "phone_e164", as_key=False))
        .otherwise(F.slice(singles, 1, 0)),  # no claims (an empty array of the same type)
        F.when(text.contains("@"), _found(text, EMAIL, "email", as_key=True))
        .otherwise(F.slice(singles, 1, 0)),
    )
    return complaints.join(case_facts, ["source", "case_id"], "left").select(
        "complaint_id", "source", F.explode(F.array_compact(found)).alias("c"),
    ).select("complaint_id", "source", "c.evidence", "c.i.kind", "c.i.key", "c.i.raw")


def claims_with_e164(claims: DataFrame, e164: DataFrame) -> DataFrame:
    """Phone claims keyed by their E.164 number (read as ``DEFAULT_REGION`` when national);
    a number that is not valid is no identifier and goes."""
    return with_e164(claims.withColumn("region", F.lit(None).cast("string")), e164,
                     F.lit(DEFAULT_REGION)).distinct()


# --- links and outcomes
def match_claims(claims: DataFrame, index: DataFrame) -> DataFrame:
    """Each claim with ``owners`` (0: nobody, 1: one customer, more: ambiguous) and the
    customer when exactly one owns the identifier."""
    matched = claims.join(F.broadcast(index), ["kind", "key"], "left")
    owners = F.coalesce(F.col("owners"), F.lit(0))
    return matched.select(*CLAIM_COLUMNS, owners.alias("owners"),
                          F.when(owners == 1, F.col("customer_id")).alias("customer_id"))


def confidence_of(evidence: Column) -> Column:
    table = F.create_map(*[F.lit(x) for kv in EVIDENCE_CONFIDENCE.items() for x in kv])
    return F.element_at(table, evidence)


def customer_links(matched: DataFrame, salt: str, link_run_id: str) -> DataFrame:
    """One row per (complaint, customer): the strongest evidence (ties: by name, so every run
    picks the same), every evidence, the confidence, the hashed identifier, conflicts."""
    usable = matched.where(F.col("customer_id").isNotNull()).withColumn(
        "confidence", confidence_of(F.col("evidence"))).withColumn(
        "identifier_key", hashed(salt, F.col("key")))
    strength = F.struct(F.col("confidence"), F.col("evidence"), F.col("identifier_key"))
    links = usable.groupBy("complaint_id", "source", "customer_id").agg(
        F.max_by("evidence", strength).alias("evidence"),
        F.array_sort(F.collect_set("evidence")).alias("evidences"),
        F.max("confidence").alias("confidence"),
        F.max_by("identifier_key", strength).alias("identifier_key"),
    )
    customers = F.count(F.lit(1)).over(Window.partitionBy("complaint_id"))
    return links.select(
        *[F.lit(link_run_id).alias(c.name) if c.name == "link_run_id"
          else (customers > 1).alias(c.name) if c.name == "conflicting"
          else F.col(c.name) for c in CUSTOMER_LINK.columns])


def unmatched_identifiers(matched: DataFrame, salt: str, link_run_id: str) -> DataFrame:
    """The identifiers that name nobody in the master, hashed, one row per (complaint, kind,
    identifier): two complaints of one unknown person share one (``jobs.complaint_cases``).
    Identifiers several customers share (ambiguous) are not among them."""
    return matched.where(F.col("owners") == 0).select(
        "complaint_id", "kind", hashed(salt, F.col("key")).alias("identifier_key"),
        F.lit(link_run_id).alias("link_run_id"), "source").distinct() \
        .select(*UNMATCHED_IDENTIFIER.names)


def link_outcomes(complaints: DataFrame, matched: DataFrame) -> DataFrame:
    """Per source: complaints, linked, ambiguous, unmatched, no_identifier, conflicting."""
    per_complaint = matched.groupBy("complaint_id").agg(
        F.max(F.col("owners") > 1).alias("any_ambiguous"),
        F.count_distinct("customer_id").alias("customers"))
    joined = complaints.select("complaint_id", "source").join(per_complaint, "complaint_id",
                                                              "left")
    claimed = F.col("customers").isNotNull()
    linked = F.coalesce(F.col("customers"), F.lit(0)) > 0
    return joined.groupBy("source").agg(
        F.count(F.lit(1)).alias("complaints"),
        F.count_if(linked).alias("linked"),
        F.count_if(claimed & ~linked & F.col("any_ambiguous")).alias("ambiguous"),
        F.count_if(claimed & ~linked & ~F.col("any_ambiguous")).alias("unmatched"),
        F.count_if(~claimed).alias("no_identifier"),
        F.count_if(F.coalesce(F.col("customers"), F.lit(0)) > 1).alias("conflicting"),
    ).orderBy("source")


def link_complaints(spark: SparkSession, complaints: DataFrame, customers: DataFrame,
                    case_owners: DataFrame, reporter_phones: DataFrame, salt: str,
                    link_run_id: str) -> tuple[DataFrame, DataFrame]:
    """(links, matched claims) of ``complaints`` (see ``complaint_claims``) against the master
    ``customers`` (id, phone, email, country, social_handles). Collects the distinct phone
    numbers to normalise them (``e164_table``). ``matched`` comes back cached (the links and
    the outcome counts both read it): unpersist it when done."""
    claims = complaint_claims(complaints, case_owners, reporter_phones).persist()
    identifiers = master_identifiers(customers)
    phones = claims.where(F.col("kind") == "phone").select(
        "raw", F.lit(DEFAULT_REGION).alias("region")).unionByName(
        identifiers.where(F.col("kind") == "phone").select("raw", "region")).distinct().collect()
    e164 = F.broadcast(e164_table(spark, [(r["raw"], r["region"]) for r in phones]))
    index = master_index(with_e164(identifiers, e164))
    matched = match_claims(claims_with_e164(claims, e164), index).persist()
    matched.count()
    claims.unpersist()
    return customer_links(matched, salt, link_run_id), matched


# --- reads at the edge
def _table(spark: SparkSession, folder: Path, ddl: str) -> DataFrame:
    """An operational table's columns of ``ddl``; empty when the table was never built."""
    if not any(folder.glob("*.parquet")):
        return spark.createDataFrame([], ddl)
    names = [part.strip().split(" ")[0] for part in ddl.split(",")]
    return spark.read.parquet(str(folder)).select(*names)


def raw_identifiers(spark: SparkSession, settings: Settings, source: str,
                    files: list[str]) -> DataFrame:
    """``raw_file, raw_line, text_raw, sender, caller_phone`` of the raw records of ``files``
    (relative to the lake), parsed by the source's own parser: the unmasked text."""
    paths = [settings.lake / f for f in files if (settings.lake / f).is_file()]
    if source == "web_form":
        staged = parse_web_form(read_web_forms(spark, settings.lake, paths))
    else:
        staged = JSON_LINE_PARSERS[source](read_json_lines(spark, settings.lake, paths))
    caller = (F.get_json_object("raw_record", "$.caller.phone") if source == "call_center"
              else F.lit(None).cast("string"))
    return staged.select("raw_file", "raw_line", "text_raw", "sender",
                         caller.alias("caller_phone"))


def _with_raw(spark: SparkSession, settings: Settings, complaints: DataFrame) -> DataFrame:
    files: dict[str, list[str]] = {}
    for row in complaints.select("source", "raw_file").distinct().collect():
        files.setdefault(row["source"], []).append(row["raw_file"])
    frames = [raw_identifiers(spark, settings, s, sorted(fs)).withColumn("source", F.lit(s))
              for s, fs in sorted(files.items()) if s in JSON_LINE_PARSERS or s == "web_form"]
    if not frames:
        return complaints.select("*", *[F.lit(None).cast("string").alias(c) for c in
                                        ("text_raw", "sender", "caller_phone")])
    raw = frames[0]
    for frame in frames[1:]:
        raw = raw.unionByName(frame)
    return complaints.join(raw, ["source", "raw_file", "raw_line"], "left")


def _operational(spark: SparkSession, settings: Settings) -> tuple[DataFrame, DataFrame,
                                                                   DataFrame]:
    """The master, the case owners and the mbpp reporters' phones."""
    clean = settings.zones.clean
    customers = _table(spark, clean / CUSTOMERS_TABLE,
                       "id string, phone string, email string, country string, "
                       "social_handles array<string>")
    cm = _table(spark, clean / "complaint_management", "PK string, SK string, customer_id string")
    sessions = _table(spark, clean / "chat_sessions", "pk_session_id string, user_id string")
    events = _table(spark, clean / "mbpp_events", "ticket_number string, data string")
    owners = cm.where(F.col("SK") == "metadata").select(
        F.lit("complaint_management").alias("source"), F.col("PK").alias("case_id"),
        F.col("customer_id").alias("owner"),
    ).unionByName(sessions.select(
        F.lit("chat_feedback").alias("source"), F.col("pk_session_id").alias("case_id"),
        F.col("user_id").alias("owner")))
    reporters = events.select(
        F.lit("mbpp_reports").alias("source"), F.col("ticket_number").alias("case_id"),
        F.get_json_object("data", "$.reporter.phone").alias("phone")).distinct()
    return customers, owners, reporters


def _write_links(settings: Settings, links: DataFrame, run_id: str,
                 folder: str = LINKS_FOLDER) -> int:
    target = settings.zones.clean / folder
    staged = settings.zones.staging(run_id) / folder
    links.write.mode("overwrite").partitionBy("source").parquet(str(staged))
    written = links.sparkSession.read.parquet(str(staged)).count()
    replace_folder(target, staged)
    return written


def _write_counts(settings: Settings, counts: list[LinkCounts], run_id: str) -> None:
    folder = settings.zones.clean / COUNTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(c), "link_run_id": run_id} for c in counts]
    table = pa.Table.from_pylist(rows, schema=CUSTOMER_LINK_COUNTS.arrow_schema())
    with atomic_target(folder / "part-00000.parquet") as tmp:
        pq.write_table(table, tmp)


def _counts(row: dict[str, Any]) -> LinkCounts:
    return LinkCounts(str(row["source"]), *(int(row[k]) for k in (
        "complaints", "linked", "ambiguous", "unmatched", "no_identifier", "conflicting")))


def _has_complaints(settings: Settings) -> bool:
    return any(settings.zones.clean_complaints.glob("event_date=*/source=*/*.parquet"))


def _complaints(spark: SparkSession, settings: Settings) -> DataFrame:
    return spark.read.parquet(str(settings.zones.clean_complaints)).select(
        "complaint_id", "source", "customer_id", "case_id", "raw_file", "raw_line")


def link_inputs(settings: Settings) -> str:
    """The fingerprint of what the links are made of (``jobs.built_from``): the clean
    complaints (whose raw records are immutable), the operational tables read, the salt and
    the linking code."""
    clean = settings.zones.clean
    tables = [clean / t for t in (CUSTOMERS_TABLE, "complaint_management", "chat_sessions",
                                  "mbpp_events")]
    return fingerprint(settings.lake,
                       [settings.zones.clean_complaints, *tables, settings.zones.warehouse_salt],
                       [sys.modules[__name__], parse_sources, standardise, link_schema])


def run_customer_links(settings: Settings, run_id: str | None = None,
                       spark: SparkSession | None = None) -> LinkResult:
    """Recompute every complaint's customer links; replace ``clean/customer_links/`` and
    ``clean/customer_link_counts/``. With the inputs of the last run (nothing new in the clean
    complaints or the operational tables) its links are kept and no Spark session starts."""
    run_id = run_id or new_run_id(datetime.now(UTC))
    if not _has_complaints(settings):
        replace_folder(settings.zones.clean / LINKS_FOLDER, None)
        replace_folder(settings.zones.clean / UNMATCHED_FOLDER, None)
        _write_counts(settings, [], run_id)
        return LinkResult(run_id, 0, ())
    salt = lake_salt(settings.zones.warehouse_salt)
    inputs = link_inputs(settings)
    record = record_path(settings.zones.runs, LINKS_FOLDER)
    outputs = [settings.zones.clean / f for f in (LINKS_FOLDER, UNMATCHED_FOLDER, COUNTS_FOLDER)]
    earlier = last_build(record, inputs, outputs)
    if earlier:
        return LinkResult.kept(earlier)
    spark = spark or spark_session(settings.spark_master)
    complaints = _complaints(spark, settings)
    customers, owners, reporters = _operational(spark, settings)
    # Read once: the raw records are re-read and re-parsed, the costliest step of the job.
    with_raw = _with_raw(spark, settings, complaints).persist()
    try:
        links, matched = link_complaints(spark, with_raw, customers, owners, reporters, salt,
                                         run_id)
        try:
            written = _write_links(settings, links, run_id)
            _write_links(settings, unmatched_identifiers(matched, salt, run_id), run_id,
                         UNMATCHED_FOLDER)
            counts = [_counts(row.asDict()) for row in link_outcomes(with_raw, matched).collect()]
        finally:
            matched.unpersist()
    finally:
        with_raw.unpersist()
    _write_counts(settings, counts, run_id)
    result = LinkResult(run_id, written, tuple(counts))
    unconserved = [c.source for c in counts if not c.conserved]
    if unconserved:
        raise RuntimeError(f"customer link outcomes do not add up for {unconserved}")
    remember(record, inputs, result.to_dict())
    return result
