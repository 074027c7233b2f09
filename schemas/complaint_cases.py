"""Complaint cases across channels: one customer's one complaint, however many records it took.

``clean/complaint_cases/source=…/``: one row per clean complaint with the case it belongs to
(``jobs.complaint_cases``). ``complaint_case_id`` is this pipeline's own case, distinct from the
complaint's ``case_id`` (the id a source system gave it).
"""

from __future__ import annotations

from schemas.complaint import Column, RecordSchema

#: Why two complaints were put in one case (besides their texts being near-duplicates).
CASE_EVIDENCE = ("same_customer", "same_identifier")

COMPLAINT_CASE = RecordSchema(
    name="complaint_cases",
    partition_by=("source",),
    columns=(
        Column("complaint_id", "string", False, "the complaint (clean complaints)"),
        Column("complaint_case_id", "string", False,
               "the case: a hash of its smallest complaint_id, the same in every run while the "
               "case keeps its members (not the source's case_id)"),
        Column("case_size", "long", False, "complaints in the case (1: a complaint on its own)"),
        Column("case_sources", "array<string>", False, "the channels of the case's complaints"),
        Column("evidence", "array<string>", False,
               "why it was joined to its case: same_customer (both linked to one customer of "
               "the master, links not conflicting), same_identifier (the same customer id in "
               "both records); empty on its own"),
        Column("similarity", "double", True,
               "highest text similarity (Jaccard of character 3-grams) of an accepted pair it "
               "is in; null on its own"),
        Column("case_run_id", "string", False, "the run that wrote the row"),
        Column("source", "string", False, "the complaint's channel"),
    ),
)
