"""Cases across channels: the same complaint sent by SMS, tweeted, filed through the web form or
re-sent with small edits becomes one case (``schemas.complaint_cases``).

Texts alone cannot tell a re-sent complaint from another person's: many people write the same
templated words ("no internet since Monday morning"), and text-only MinHash LSH put such strangers
together (precision 0.36-0.56 on the generated data). So two complaints are candidates only when
they are the same person's and close in time, and are joined only when their texts are
near-duplicates:

* **candidates**: both complaints are linked to one customer of the master
  (``clean/customer_links``, links that are not ``conflicting``; an ambiguous identifier links
  to nobody, so it joins nothing): ``same_customer``; or both records carry the same customer
  id, or the same phone, e-mail or handle of someone the master does not hold
  (``clean/unmatched_identifiers``, written by the linking): ``same_identifier``; and their
  event times are at most ``WINDOW_DAYS`` apart.
  Candidates are pairs within one person's complaints of a week, so they stay few; no LSH is
  needed to find them.
* **accepted**: the Jaccard similarity of the two texts' character 3-grams is at least
  ``THRESHOLD`` and their facts agree (the numbers, day and month names of one are all in the
  other: "on hold for 2 hours" and "on hold for 5 hours" are two calls). Texts are compared
  lower-cased, without contact details (``reach me at [email]``), @mentions, #hashtags and
  punctuation, so casing, punctuation and a channel's decorations do not count; a typo changes
  only a few 3-grams.
  Measured (``python -m bench --sections complaint_cases``): on the planted cases precision is
  1.0 at every threshold from 0.3 up (the candidates already keep other people apart; the
  threshold only separates one person's different complaints), recall is 1.0 up to 0.4 and
  falls above it (0.985 for near pairs at 0.5, 0.944 at 0.6: short texts with a typo), so 0.4.
  MinHash LSH is not used: it finds candidates among texts, and candidates come from the
  customer here; the exact Jaccard of a week of one person's complaints is cheap. All of this
  is native Spark (higher-order array functions), no Python UDF.
* **cases**: the connected components of accepted pairs, by label propagation in Spark (each
  complaint takes the smallest complaint id among its neighbours and its label's label until
  nothing changes: a few rounds, even along a long chain). ``complaint_case_id`` is a hash of
  the case's smallest complaint id: stable across runs while the case keeps that member. A
  complaint that joins nothing is a case of its own.

Each run recomputes every case from the current clean complaints and customer links and replaces
``clean/complaint_cases/`` whole (idempotent); a run whose inputs are those of the last one keeps
its cases (``jobs.built_from``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from common.lake import replace_folder
from common.settings import Settings
from jobs.built_from import fingerprint, last_build, record_path, remember
from jobs.runs import new_run_id
from jobs.spark import spark_session
from schemas.complaint_cases import COMPLAINT_CASE

CASES_FOLDER = "complaint_cases"
LINKS_FOLDER = "customer_links"
UNMATCHED_FOLDER = "unmatched_identifiers"
WINDOW_DAYS = 7
#: More complaints than this in one week under one identity: not one person (no pairs from it).
MAX_PER_WEEK = 100
#: Jaccard of character 3-grams from which two of one person's texts are one complaint
#: (measured: bench/complaint_cases.py).
THRESHOLD = 0.4
SHINGLE = 3
MAX_ROUNDS = 50


@dataclass(frozen=True)
class CaseResult:
    case_run_id: str
    complaints: int
    cases: int
    joined: int  # complaints in a case of more than one
    skipped: bool = False  # the inputs were those of the last run: its cases were kept

    def to_dict(self) -> dict[str, object]:
        return {"case_run_id": self.case_run_id, "complaints": self.complaints,
                "cases": self.cases, "joined": self.joined, "skipped": self.skipped}

    @classmethod
    def kept(cls, summary: dict[str, Any]) -> CaseResult:
        """The result of the earlier run whose cases a run with the same inputs keeps."""
        return cls(str(summary["case_run_id"]), int(summary["complaints"]),
                   int(summary["cases"]), int(summary["joined"]), skipped=True)


# --- texts
#: Contact details and the words that introduce them ("reach me at [email] or [phone]"): how to
#: answer is not what the complaint says, and one channel's copy has them where another's has not.
CONTACT = (r"(?:\b(?:reach me at|call me back at|call me at|callback number|my email is|"
           r"email me at|text me at|cell|or)\s*)?\[[a-z_]+\]")


def comparable_text(text: Column) -> Column:
    """What two copies of one complaint share: lower case, without PII masks (``[email]``) and
    the words introducing them, @mentions, #hashtags, punctuation and extra spaces."""
    t = F.lower(F.coalesce(text, F.lit("")))
    t = F.regexp_replace(t, CONTACT, " ")
    t = F.regexp_replace(t, r"[@#][\w.]+", " ")
    t = F.regexp_replace(t, r"[^a-z0-9]+", " ")
    return F.trim(t)


def shingles(text: Column, size: int = SHINGLE) -> Column:
    """The distinct character ``size``-grams of ``text`` (the text itself when shorter)."""
    return F.array_distinct(F.transform(
        F.sequence(F.lit(1), F.greatest(F.length(text) - size + 1, F.lit(1))),
        lambda i: F.substring(text, i, size)))


def jaccard(a: Column, b: Column) -> Column:
    union = F.size(F.array_union(a, b))
    return F.when(union == 0, F.lit(0.0)).otherwise(
        F.size(F.array_intersect(a, b)) / union)


# --- who wrote it
def identities(complaints: DataFrame, links: DataFrame,
               unmatched: DataFrame | None = None) -> DataFrame:
    """``complaint_id, person, linked``: each person a complaint is known to be from: the
    customer of a link that is not conflicting (``linked``), the record's own customer id, an
    identifier that names nobody in the master (``unmatched``: complaint_id, kind,
    identifier_key; a phone, e-mail or handle of someone who is not a customer)."""
    linked = links.where(~F.col("conflicting")).select(
        "complaint_id", F.upper(F.trim("customer_id")).alias("person"), F.lit(True).alias("l"))
    own = complaints.where(F.col("customer_id").isNotNull() & (F.trim("customer_id") != "")) \
        .select("complaint_id", F.upper(F.trim("customer_id")).alias("person"),
                F.lit(False).alias("l"))
    found = linked.unionByName(own)
    if unmatched is not None:
        found = found.unionByName(unmatched.select(
            "complaint_id", F.concat_ws(":", "kind", "identifier_key").alias("person"),
            F.lit(False).alias("l")))
    return found.groupBy("complaint_id", "person").agg(F.max("l").alias("linked"))


def candidate_pairs(complaints: DataFrame, people: DataFrame,
                    window_days: int = WINDOW_DAYS,
                    max_per_week: int = MAX_PER_WEEK) -> DataFrame:
    """``a, b, evidence`` (a < b): complaints of one person at most ``window_days`` apart;
    ``same_customer`` when both are linked to that customer, else ``same_identifier``.
    An identity with more than ``max_per_week`` complaints in some week is no one person (a
    shop's phone, a reseller's account, a bot's handle): it proposes no pairs, since its pairs
    would grow with the square of its complaints."""
    timed = people.join(complaints.select("complaint_id", "event_time"), "complaint_id")
    week = F.floor(F.unix_seconds("event_time") / (7 * 86400))
    crowded = timed.groupBy("person", week.alias("week")).count() \
        .where(F.col("count") > max_per_week).select("person").distinct()
    timed = timed.join(crowded, "person", "left_anti")
    a, b = timed.alias("a"), timed.alias("b")
    near = F.abs(F.unix_seconds(F.col("a.event_time")) - F.unix_seconds(F.col("b.event_time"))) \
        <= window_days * 86400
    pairs = a.join(b, (F.col("a.person") == F.col("b.person"))
                   & (F.col("a.complaint_id") < F.col("b.complaint_id")) & near)
    return pairs.groupBy(F.col("a.complaint_id").alias("a"), F.col("b.complaint_id").alias("b")) \
        .agg(F.max(F.col("a.linked") & F.col("b.linked")).alias("both_linked")) \
        .select("a", "b", F.when(F.col("both_linked"), F.lit("same_customer"))
                .otherwise(F.lit("same_identifier")).alias("evidence"))


#: Facts that tell one incident from another: numbers (amounts, hours, days, speeds) and the
#: names of days and months.
FACTS = (r"[0-9]+|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|"
         r"february|march|april|may|june|july|august|september|october|november|december)\b")


def numbers(text: Column) -> Column:
    """The distinct facts (``FACTS``) written in a comparable text."""
    return F.array_distinct(F.regexp_extract_all(text, F.lit(FACTS), 0))


def numbers_agree(a: Column, b: Column) -> Column:
    """Neither text has a fact the other contradicts: the facts of one are all in the other.
    "on hold for 2 hours" and "on hold for 5 hours", "no internet since Friday" and "since
    Tuesday" are two complaints, not one re-sent; a call note that adds a reference number to
    the customer's words still agrees."""
    return (F.size(F.array_except(a, b)) == 0) | (F.size(F.array_except(b, a)) == 0)


def text_features(complaints: DataFrame) -> DataFrame:
    """``complaint_id, grams, numbers`` of each complaint's comparable text."""
    same = comparable_text(F.col("text"))
    return complaints.select("complaint_id", shingles(same).alias("grams"),
                             numbers(same).alias("numbers"))


def scored_pairs(candidates: DataFrame, complaints: DataFrame) -> DataFrame:
    """The candidates with ``similarity`` and ``numbers_agree``."""
    features = text_features(complaints)

    def side(name: str) -> DataFrame:
        return features.select(F.col("complaint_id").alias(name),
                               F.col("grams").alias(f"g{name}"),
                               F.col("numbers").alias(f"n{name}"))

    return candidates.join(side("a"), "a").join(side("b"), "b").select(
        "a", "b", "evidence", jaccard(F.col("ga"), F.col("gb")).alias("similarity"),
        numbers_agree(F.col("na"), F.col("nb")).alias("numbers_agree"))


def accepted_pairs(candidates: DataFrame, complaints: DataFrame,
                   threshold: float = THRESHOLD) -> DataFrame:
    """``a, b, evidence, similarity`` of the candidates whose texts are near-duplicates whose
    numbers agree."""
    return scored_pairs(candidates, complaints) \
        .where((F.col("similarity") >= threshold) & F.col("numbers_agree")) \
        .drop("numbers_agree")


# --- cases
def components(edges: DataFrame, max_rounds: int = MAX_ROUNDS) -> DataFrame:
    """``complaint_id, root``: the smallest complaint id of each connected component of the
    undirected ``edges`` (a, b), for the complaints in an edge. Label propagation with pointer
    jumping: each round a complaint takes the smallest label among its own, its neighbours' and
    its label's label, so a long chain (a customer re-sending every few days for months) takes
    a few rounds, not one per link."""
    both = edges.select("a", "b").unionByName(edges.select(F.col("b").alias("a"),
                                                           F.col("a").alias("b"))) \
        .distinct().localCheckpoint()
    labels = both.groupBy(F.col("a").alias("complaint_id")) \
        .agg(F.least(F.col("complaint_id"), F.min("b")).alias("root")).localCheckpoint()
    for _ in range(max_rounds):
        heard = both.join(labels.withColumnRenamed("complaint_id", "a"), "a") \
            .groupBy(F.col("b").alias("complaint_id")).agg(F.min("root").alias("heard"))
        jumped = labels.select(F.col("complaint_id").alias("r"), F.col("root").alias("jump"))
        new = labels.join(heard, "complaint_id", "left") \
            .join(jumped, F.col("root") == F.col("r"), "left") \
            .select("complaint_id", F.least("root", "heard", "jump").alias("new_root"),
                    "root") \
            .select("complaint_id", F.col("new_root").alias("root"),
                    (F.col("new_root") < F.col("root")).alias("changed")).localCheckpoint()
        labels = new.select("complaint_id", "root")
        if new.where(F.col("changed")).isEmpty():
            return labels
    raise RuntimeError(f"complaint cases did not converge in {max_rounds} rounds")


def case_id_of(root: Column) -> Column:
    """A case's id: from its smallest complaint id, so it is the same in every run."""
    return F.concat(F.lit("CASE-"), F.substring(F.sha2(root, 256), 1, 16))


def complaint_cases(complaints: DataFrame, links: DataFrame, run_id: str,
                    threshold: float = THRESHOLD, window_days: int = WINDOW_DAYS,
                    unmatched: DataFrame | None = None) -> DataFrame:
    """Every complaint (``complaint_id, source, customer_id, event_time, text``) with its case
    (``COMPLAINT_CASE`` columns), given the customer ``links`` (complaint_id, customer_id,
    conflicting) and the ``unmatched`` identifiers (see ``identities``)."""
    complaints = complaints.select("complaint_id", "source", "customer_id", "event_time", "text")
    people = identities(complaints, links, unmatched)
    edges = accepted_pairs(candidate_pairs(complaints, people, window_days), complaints,
                           threshold).localCheckpoint()
    roots = components(edges)
    ends = edges.select(F.col("a").alias("complaint_id"), "evidence", "similarity") \
        .unionByName(edges.select(F.col("b").alias("complaint_id"), "evidence", "similarity")) \
        .groupBy("complaint_id").agg(F.array_sort(F.collect_set("evidence")).alias("evidence"),
                                     F.max("similarity").alias("similarity"))
    joined = complaints.join(roots, "complaint_id", "left").join(ends, "complaint_id", "left") \
        .withColumn("root", F.coalesce("root", "complaint_id"))
    per_case = joined.groupBy("root").agg(
        F.count(F.lit(1)).alias("case_size"),
        F.array_sort(F.collect_set("source")).alias("case_sources"))
    out = joined.join(per_case, "root").select(
        "complaint_id", case_id_of(F.col("root")).alias("complaint_case_id"), "case_size",
        "case_sources", F.coalesce("evidence", F.array().cast("array<string>")).alias("evidence"),
        "similarity", F.lit(run_id).alias("case_run_id"), "source")
    return out.select(*COMPLAINT_CASE.names)


# --- reads and writes at the edge
def _unmatched(spark: SparkSession, settings: Settings) -> DataFrame | None:
    folder = settings.zones.clean / UNMATCHED_FOLDER
    if not any(folder.glob("source=*/*.parquet")):
        return None
    return spark.read.parquet(str(folder)).select("complaint_id", "kind", "identifier_key")


def _links(spark: SparkSession, settings: Settings) -> DataFrame:
    folder = settings.zones.clean / LINKS_FOLDER
    if not any(folder.glob("source=*/*.parquet")):
        return spark.createDataFrame([], "complaint_id string, customer_id string, "
                                         "conflicting boolean")
    return spark.read.parquet(str(folder)).select("complaint_id", "customer_id", "conflicting")


def case_inputs(settings: Settings, threshold: float, window_days: int) -> str:
    """The fingerprint of what the cases are made of (``jobs.built_from``): the clean
    complaints, the customer links and unmatched identifiers, the settings and the code."""
    clean = settings.zones.clean
    return fingerprint(settings.lake, [settings.zones.clean_complaints, clean / LINKS_FOLDER,
                                       clean / UNMATCHED_FOLDER],
                       [sys.modules[__name__]]) + f"/{threshold}/{window_days}"


def run_complaint_cases(settings: Settings, run_id: str | None = None,
                        spark: SparkSession | None = None, threshold: float = THRESHOLD,
                        window_days: int = WINDOW_DAYS) -> CaseResult:
    """Recompute every complaint's case; replace ``clean/complaint_cases/`` whole. With the
    inputs of the last run its cases are kept and no Spark session starts."""
    run_id = run_id or new_run_id(datetime.now(UTC), "cases")
    target = settings.zones.clean / CASES_FOLDER
    root = settings.zones.clean_complaints
    if not any(root.glob("event_date=*/source=*/*.parquet")):
        replace_folder(target, None)
        return CaseResult(run_id, 0, 0, 0)
    inputs = case_inputs(settings, threshold, window_days)
    record = record_path(settings.zones.runs, CASES_FOLDER)
    earlier = last_build(record, inputs, [target])
    if earlier:
        return CaseResult.kept(earlier)
    spark = spark or spark_session(settings.spark_master)
    complaints = spark.read.parquet(str(root))
    cases = complaint_cases(complaints, _links(spark, settings), run_id, threshold, window_days,
                            _unmatched(spark, settings))
    staged = settings.zones.staging(run_id) / CASES_FOLDER
    cases.write.mode("overwrite").partitionBy("source").parquet(str(staged))
    written = spark.read.parquet(str(staged))
    row = written.agg(F.count(F.lit(1)).alias("n"),
                      F.count_distinct("complaint_case_id").alias("cases"),
                      F.count_if(F.col("case_size") > 1).alias("joined")).first()
    replace_folder(target, staged)
    assert row is not None
    result = CaseResult(run_id, int(row["n"]), int(row["cases"]), int(row["joined"]))
    remember(record, inputs, result.to_dict())
    return result
