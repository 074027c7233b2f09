"""Links from complaints to the customers of the master, each with its evidence and confidence.

``clean/customer_links/source=…/``: one row per (complaint, customer) link that
``jobs.customer_links`` found; ``clean/customer_link_counts/``: what became of every complaint of
each source (linked, ambiguous, unmatched, no identifier), so nothing is left out silently.

Each kind of evidence has one fixed confidence (``EVIDENCE_CONFIDENCE``), documented here rather
than learnt: a CX agent reads ``evidence`` and knows how the link was made.
"""

from __future__ import annotations

from schemas.complaint import Column, RecordSchema

#: Kind of evidence -> the confidence of a link made by it, strongest first.
EVIDENCE_CONFIDENCE: dict[str, float] = {
    # the record's own customer id field names a customer of the master
    "customer_id_field": 1.0,
    # the record's case in a complaint system (complaint-management complaint, chat session)
    # belongs to a customer of the master
    "complaint_system_id": 0.95,
    # a phone number of the record (caller id, SMS sender, the ticket reporter's, one written in
    # the text) is, in E.164, a customer's phone
    "phone_e164": 0.9,
    # an e-mail address written in the record is a customer's (case-insensitive)
    "email": 0.9,
    # the social post's author is one of a customer's known handles (case and "@" ignored);
    # weaker: handles are public and can be imitated
    "social_handle": 0.7,
}

CUSTOMER_LINK = RecordSchema(
    name="customer_links",
    partition_by=("source",),
    columns=(
        Column("complaint_id", "string", False, "the linked complaint (clean complaints)"),
        Column("customer_id", "string", False, "the customer of the master it is linked to"),
        Column("evidence", "string", False,
               "the strongest evidence of the link (EVIDENCE_CONFIDENCE's kinds)"),
        Column("evidences", "array<string>", False,
               "every kind of evidence that names this customer for this complaint"),
        Column("confidence", "double", False, "the fixed confidence of the strongest evidence"),
        Column("identifier_key", "string", False,
               "salted SHA-256 prefix of the matched identifier (E.164 phone, lower-case e-mail "
               "or handle, customer id): the same hash as the warehouse's customer_key; the "
               "identifier itself is never stored"),
        Column("conflicting", "boolean", False,
               "the complaint is linked to more than one customer (each link kept, none chosen)"),
        Column("link_run_id", "string", False, "the linking run that wrote the row"),
        Column("source", "string", False, "the complaint's channel"),
    ),
)

#: What became of a source's complaints in one linking run (they add up to ``complaints``).
OUTCOMES = ("linked", "ambiguous", "unmatched", "no_identifier")

CUSTOMER_LINK_COUNTS = RecordSchema(
    name="customer_link_counts",
    columns=(
        Column("source", "string", False, "channel"),
        Column("complaints", "long", False, "clean complaints of the source"),
        Column("linked", "long", False, "complaints with at least one link"),
        Column("ambiguous", "long", False,
               "not linked: an identifier names several customers (e.g. a shared phone)"),
        Column("unmatched", "long", False, "not linked: identifiers found, none a customer's"),
        Column("no_identifier", "long", False, "not linked: the record holds no identifier"),
        Column("conflicting", "long", False, "linked to more than one customer"),
        Column("link_run_id", "string", False, "the linking run"),
    ),
)

#: Identifiers of complaints that name nobody in the master (``owners`` 0), hashed: what tells
#: that two complaints came from the same unknown person (``jobs.complaint_cases``).
UNMATCHED_IDENTIFIER = RecordSchema(
    name="unmatched_identifiers",
    partition_by=("source",),
    columns=(
        Column("complaint_id", "string", False, "the complaint holding the identifier"),
        Column("kind", "string", False, "customer_id, phone, email or handle"),
        Column("identifier_key", "string", False,
               "salted SHA-256 prefix of the normalised identifier (as customer_links')"),
        Column("link_run_id", "string", False, "the linking run that wrote the row"),
        Column("source", "string", False, "the complaint's channel"),
    ),
)
