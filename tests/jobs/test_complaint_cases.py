"""Complaint cases on a small hand-made set: the same person's copies join, twins do not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from common.settings import Settings
from jobs.complaint_cases import CASES_FOLDER, run_complaint_cases

T0 = datetime(2026, 10, 5, 9, tzinfo=UTC)


def _at(days: float) -> datetime:
    return datetime.fromtimestamp(T0.timestamp() + days * 86400, UTC)


COMPLAINTS = [
    # complaint_id, source, customer_id, event_time, text
    # Ann: SMS, tweet and web form of one complaint, with edits -> one case
    ("c01", "sms", None, _at(0), "no internet since Monday morning, nobody can tell me why"),
    ("c02", "social", None, _at(1), "@AcmeCares NO internet since monday morning nobody can "
                                    "tell me why!! #fail"),
    ("c03", "web_form", None, _at(3), "no internet since Monday mornign, nobody can tell me why "
                                      "reach me at [email]"),
    # Bob writes the same template words: never Ann's case
    ("c04", "sms", None, _at(0.5), "no internet since Monday morning, nobody can tell me why"),
    # Ann about something else the same week: a case of its own
    ("c05", "call_center", "cust-00001", _at(2), "I was charged twice for my August bill"),
    # Ann's same words a month later: another case
    ("c06", "sms", None, _at(30), "no internet since Monday morning, nobody can tell me why"),
    # Carol: same customer id field (not in the master), exact re-send by call -> same_identifier
    ("c07", "call_center", "CUST-00999", _at(1), "my modem keeps rebooting every few hours"),
    ("c08", "call_center", " cust-00999", _at(2), "my modem keeps rebooting every few hours"),
    # a complaint whose links conflict (two customers): joins nobody through them
    ("c09", "sms", None, _at(1), "no internet since Monday morning, nobody can tell me why"),
    # Ann twice on hold, for other hours: two calls, not one re-sent
    ("c10", "sms", None, _at(4), "waited on hold for 2 hours and then they hung up on me"),
    ("c11", "social", None, _at(5), "@AcmeCares waited on hold for 5 hours and then they hung "
                                     "up on me"),
    # Dan, no customer: the same unknown phone on an SMS and a call -> same_identifier
    ("c12", "sms", None, _at(1), "my bill went up by $40.00 with no notice"),
    ("c13", "call_center", None, _at(2), "Caller says my bill went up by $40.00 with no notice"),
]
UNMATCHED = [  # complaint_id, kind, identifier_key (jobs.customer_links' unmatched identifiers)
    ("c12", "phone", "00aa"), ("c13", "phone", "00aa"), ("c04", "email", "11bb"),
]
LINKS = [
    # complaint_id, customer_id, conflicting
    ("c01", "CUST-00001", False), ("c02", "CUST-00001", False), ("c03", "CUST-00001", False),
    ("c04", "CUST-00002", False), ("c05", "CUST-00001", False), ("c06", "CUST-00001", False),
    ("c09", "CUST-00001", True), ("c09", "CUST-00002", True),
    ("c10", "CUST-00001", False), ("c11", "CUST-00001", False),
]


def _lake(spark: Any, settings: Settings) -> None:
    complaints = spark.createDataFrame(
        COMPLAINTS, "complaint_id string, source string, customer_id string, "
                    "event_time timestamp, text string")
    complaints.selectExpr("*", "to_date(event_time) AS event_date").write \
        .partitionBy("event_date", "source").parquet(str(settings.zones.clean_complaints))
    spark.createDataFrame(LINKS, "complaint_id string, customer_id string, conflicting boolean") \
        .selectExpr("*", "'sms' AS source").write.partitionBy("source") \
        .parquet(str(settings.zones.clean / "customer_links"))
    spark.createDataFrame(UNMATCHED, "complaint_id string, kind string, identifier_key string") \
        .selectExpr("*", "'x' AS link_run_id", "'sms' AS source").write.partitionBy("source") \
        .parquet(str(settings.zones.clean / "unmatched_identifiers"))


def _cases(spark: Any, settings: Settings) -> dict[str, dict[str, Any]]:
    rows = spark.read.parquet(str(settings.zones.clean / CASES_FOLDER)).collect()
    return {r["complaint_id"]: r.asDict() for r in rows}


def test_same_person_across_channels_is_one_case_and_twins_are_not(spark: Any,
                                                                    settings: Settings) -> None:
    _lake(spark, settings)
    result = run_complaint_cases(settings, run_id="run-1", spark=spark)
    cases = _cases(spark, settings)
    assert set(cases) == {c[0] for c in COMPLAINTS}
    ann = cases["c01"]["complaint_case_id"]
    assert [cases[c]["complaint_case_id"] for c in ("c02", "c03")] == [ann, ann]
    assert cases["c01"]["case_size"] == 3
    assert cases["c01"]["case_sources"] == ["sms", "social", "web_form"]
    assert cases["c03"]["evidence"] == ["same_customer"]
    assert 0.4 <= cases["c03"]["similarity"] < 1.0
    alone = ("c04", "c05", "c06", "c09", "c10", "c11")
    others = {cases[c]["complaint_case_id"] for c in alone}
    # a twin, another complaint, a month later, conflicting links, numbers that disagree
    assert len(others) == len(alone) and ann not in others
    assert all(cases[c]["case_size"] == 1 and cases[c]["evidence"] == [] for c in alone)
    assert cases["c07"]["complaint_case_id"] == cases["c08"]["complaint_case_id"]
    assert cases["c07"]["evidence"] == ["same_identifier"]
    assert cases["c07"]["similarity"] == 1.0
    assert cases["c12"]["complaint_case_id"] == cases["c13"]["complaint_case_id"]
    assert cases["c13"]["evidence"] == ["same_identifier"]
    assert (result.complaints, result.cases, result.joined) == (13, 9, 7)

    # Same inputs: the cases of run-1 are kept, untouched.
    files = {p: p.stat().st_mtime_ns for p in (settings.zones.clean / CASES_FOLDER).rglob("*")}
    kept = run_complaint_cases(settings, run_id="run-2", spark=spark)
    assert (kept.skipped, kept.case_run_id, kept.cases) == (True, "run-1", 9)
    assert {p: p.stat().st_mtime_ns
            for p in (settings.zones.clean / CASES_FOLDER).rglob("*")} == files
    # New links (the same ones written again): the cases are made again, with the same result.
    spark.createDataFrame(LINKS, "complaint_id string, customer_id string, conflicting boolean") \
        .selectExpr("*", "'sms' AS source").write.mode("overwrite").partitionBy("source") \
        .parquet(str(settings.zones.clean / "customer_links"))
    again = run_complaint_cases(settings, run_id="run-3", spark=spark)
    rerun = _cases(spark, settings)
    assert (again.skipped, again.complaints, again.cases, again.joined) == (False, 13, 9, 7)
    assert {k: {**v, "case_run_id": None} for k, v in rerun.items()} == \
        {k: {**v, "case_run_id": None} for k, v in cases.items()}


def test_a_long_chain_is_one_component_in_few_rounds(spark: Any) -> None:
    """60 complaints linked one to the next: one case, found within 12 rounds (pointer
    jumping), each member labelled by the smallest id."""
    from jobs.complaint_cases import components

    ids = [f"k{i:03d}" for i in range(60)]
    edges = spark.createDataFrame(list(zip(ids, ids[1:], strict=False)), "a string, b string")
    roots = {r["complaint_id"]: r["root"] for r in components(edges, max_rounds=12).collect()}
    assert roots == dict.fromkeys(ids, "k000")


def test_an_identity_too_busy_for_one_person_proposes_no_pairs(spark: Any) -> None:
    """Three complaints in a week under one identity, with a limit of two: a shared number, not
    a person; the other identity's two complaints still pair."""
    from jobs.complaint_cases import candidate_pairs

    day = datetime(2026, 11, 2, 9, tzinfo=UTC)
    complaints = spark.createDataFrame(
        [(f"k{i}", day.replace(hour=9 + i)) for i in range(5)],
        "complaint_id string, event_time timestamp")
    people = spark.createDataFrame(
        [("k0", "SHOP", False), ("k1", "SHOP", False), ("k2", "SHOP", False),
         ("k3", "C7", True), ("k4", "C7", True)],
        "complaint_id string, person string, linked boolean")
    pairs = candidate_pairs(complaints, people, max_per_week=2).collect()
    assert [(r["a"], r["b"], r["evidence"]) for r in pairs] == [("k3", "k4", "same_customer")]
