"""Customer links on tiny in-memory frames: evidence, confidence, ambiguity, nothing guessed."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from jobs.customer_links import (
    link_complaints,
    link_outcomes,
    phone_e164,
    unmatched_identifiers,
)

SALT = "abc123"
CUSTOMERS = [
    # id, phone (as the master holds it), email, country, social handles
    ("CUST-00001", "+13125552001", "Ann.Lee.1@Example.com", "US", ["@AnnLee_1"]),
    ("CUST-00002", "07911 123456", None, "GB", None),  # UK mobile in national format
    ("CUST-00003", "(312) 555-2007", None, "US", None),  # one household phone...
    ("CUST-00004", "312.555.2007", None, None, None),  # ...on two accounts
    ("CUST-00005", None, None, "US", []),
]
COMPLAINTS = [
    # complaint_id, source, customer_id, case_id, text_raw, sender, caller_phone
    ("c1", "call_center", " cust-00005", None, "no internet", None, "(312) 555-2001"),
    ("c2", "sms", None, None, "no signal", "+447911123456", None),
    ("c3", "social", None, None, "@AcmeCares bill doubled", "twitter:ANNLEE_1", None),
    ("c4", "call_center", None, None, "dropped calls", None, "312 555 2007"),
    ("c5", "web_form", None, None, "reach me at ann.lee.1@example.com or (312) 555-2001",
     None, None),
    ("c6", "chat_feedback", None, "sess-1", "the bot was useless", None, None),
    ("c7", "mbpp_reports", None, "T1", "pole down", None, None),
    ("c8", "mbpp_reports", None, "T2", "pole down again", None, None),
    ("c9", "sms", None, None, "call me on 07911 123456", "+12125550147", None),
]


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("(312) 555-2001", None, "+13125552001"),
    ("312.555.2001", "US", "+13125552001"),
    ("+1 312 555 2001", "GB", "+13125552001"),
    ("07911 123456", "GB", "+447911123456"),
    ("07911 123456", "US", None),  # a national UK number read as US is no number
    ("+44 7911 123456", "US", "+447911123456"),
    ("call me", "US", None),
    ("", "US", None),
])
def test_phone_e164(raw: str, region: str | None, expected: str | None) -> None:
    assert phone_e164(raw, region) == expected


def _links(spark: Any) -> tuple[list[Any], list[Any], list[Any]]:
    complaints = spark.createDataFrame(
        COMPLAINTS, "complaint_id string, source string, customer_id string, case_id string, "
                    "text_raw string, sender string, caller_phone string")
    customers = spark.createDataFrame(
        CUSTOMERS, "id string, phone string, email string, country string, "
                   "social_handles array<string>")
    owners = spark.createDataFrame([("chat_feedback", "sess-1", "CUST-00005"),
                                    ("complaint_management", "sess-1", "CUST-00001")],
                                   "source string, case_id string, owner string")
    reporters = spark.createDataFrame([("mbpp_reports", "T1", "+44 7911 123456")],
                                      "source string, case_id string, phone string")
    links, matched = link_complaints(spark, complaints, customers, owners, reporters, SALT, "r1")
    try:
        outcomes = link_outcomes(complaints, matched).collect()
        unmatched = unmatched_identifiers(matched, SALT, "r1").orderBy("complaint_id").collect()
        return links.orderBy("complaint_id", "customer_id").collect(), outcomes, unmatched
    finally:
        matched.unpersist()


def test_links_carry_their_evidence_and_nothing_is_guessed(spark: Any) -> None:
    links, outcomes, unmatched = _links(spark)
    assert [(r.complaint_id, r.customer_id, r.evidence, r.evidences, r.confidence,
             r.conflicting) for r in links] == [
        # an id field and a phone naming two customers: both kept, marked conflicting
        ("c1", "CUST-00001", "phone_e164", ["phone_e164"], 0.9, True),
        ("c1", "CUST-00005", "customer_id_field", ["customer_id_field"], 1.0, True),
        ("c2", "CUST-00002", "phone_e164", ["phone_e164"], 0.9, False),  # E.164 vs national GB
        ("c3", "CUST-00001", "social_handle", ["social_handle"], 0.7, False),  # case, no "@"
        # c4: the shared phone links to nobody
        ("c5", "CUST-00001", "phone_e164", ["email", "phone_e164"], 0.9, False),
        ("c6", "CUST-00005", "complaint_system_id", ["complaint_system_id"], 0.95, False),
        ("c7", "CUST-00002", "phone_e164", ["phone_e164"], 0.9, False),  # the ticket's reporter
    ]
    assert {r.link_run_id for r in links} == {"r1"}
    # The identifier is stored only as the warehouse's salted hash (here: of the customer id).
    c6 = next(r for r in links if r.complaint_id == "c6")
    assert c6.identifier_key == hashlib.sha256(f"{SALT}CUST-00005".encode()).hexdigest()[:16]
    counted = {r.source: (r.complaints, r.linked, r.ambiguous, r.unmatched, r.no_identifier,
                          r.conflicting) for r in outcomes}
    assert counted == {
        "call_center": (2, 1, 1, 0, 0, 1),
        "chat_feedback": (1, 1, 0, 0, 0, 0),
        "mbpp_reports": (2, 1, 0, 0, 1, 0),
        "sms": (2, 1, 0, 1, 0, 0),  # c9: a valid number nobody has (the UK text is not valid)
        "social": (1, 1, 0, 0, 0, 0),
        "web_form": (1, 1, 0, 0, 0, 0),
    }
    # Identifiers naming nobody, hashed (complaint cases read them); not the shared phone (c4).
    assert [(r.complaint_id, r.kind, r.identifier_key, r.source) for r in unmatched] == [
        ("c9", "phone", hashlib.sha256(f"{SALT}+12125550147".encode()).hexdigest()[:16], "sms")]
