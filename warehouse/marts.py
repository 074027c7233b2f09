"""Marts and role views of the DuckDB warehouse: SQL only, over the views ``duckdb_warehouse``
builds on the lake (``complaints``, ``runs`` and the operational tables).

Marts (schema ``main``, beside ``complaints``):

``hourly_complaints``
    ``hour, event_date, category, source, region, complaints``: the unit surge detection and the
    on-call charts count in (UTC hours).
``channel_mix``
    ``event_date, source, complaints, share``: each channel's share of a day's complaints.
``time_to_resolution``
    One row per case of the operational systems that track a state: ``complaint_management``
    (opened at ``creation_time``, resolved at the first ``resolved`` communication or the first
    state change to ``resolved``/``closed``) and ``mbpp_reports`` (opened at ``created_at``,
    resolved at the first ``mbpp_events`` status update to ``closed`` or state change to
    ``closed``/``resolved``), joined to the clean complaint of the same case for category and
    region. The state changes are the incremental exports' ``OldImage`` -> ``NewImage``
    transitions (``case_state_changes``); ``resolved_by`` says which evidence came first
    (``communication``, ``event`` or ``state_change``). ``hours_to_resolution`` is NULL while
    the case is open.
``customer_complaints``
    A customer's complaints across channels: every complaint that names a customer, with how
    many complaints and channels that customer has in all.
``repeat_complainers``
    Customers with two or more complaints: how many, over which channels and categories, first
    and last.
``complaint_case_channels``
    One row per case across channels (``complaint_cases``, ``jobs.complaint_cases``): its
    complaints, the channels they came by, first and last event time, the first complaint's
    category and severity, the evidence and the lowest similarity that joined them.
``taxonomy_versions``
    The taxonomy (rules file) versions the clean complaints were classified with, and whether a
    version is the one of the latest transform run (``current``).

Role views (schemas ``analyst`` and ``cx``; ``complaints sql --role`` puts the role's schema
alone on the search path):

* ``analyst``: the complaints and marts with PII masked: ``customer_key``, ``case_key`` and
  ``record_key`` are salted SHA-256 prefixes of the customer, case and source record ids (the same
  customer gets the same key in every view and on every refresh, so joins and repeat counts still
  work), ZIP codes in ``location`` cut to three digits. No quarantine (it keeps raw records) and no
  operational tables (names, phone numbers).
* ``cx``: customer experience works cases: the complaints with their customer and case ids, the
  customer marts, ``case_links`` (which case in which source system each complaint is) and
  ``customer_links`` (each complaint's customers with the evidence and confidence of the link,
  beside the complaint's case, time and category; no identifier, not even hashed).
* ``analyst``'s ``customer_links``: the links with ``customer_key`` for the customer, evidence
  and confidence, no identifier hash; both roles see ``customer_link_counts``.
* both: ``complaint_cases`` and ``complaint_case_channels`` (complaint and case ids, channels,
  evidence kinds: no identifier, no customer).
* both: ``alerts`` when the warehouse has the surge detection's ``alerts`` view (no PII in it).

DuckDB has no users or grants: these schemas decide what each role sees by default, they do not
stop someone who can open the file from reading ``main``. Hand a role an extract
(``complaints sql --role analyst --out FILE``) when that matters.
"""

from __future__ import annotations

from pathlib import Path

from common.lake import lake_salt

#: The marts, in creation order (after the lake views they read).
MARTS: tuple[str, ...] = ("hourly_complaints", "channel_mix", "time_to_resolution",
                          "customer_complaints", "repeat_complainers", "taxonomy_versions",
                          "complaint_case_channels")

#: Roles and their schema (the same name).
ROLES: tuple[str, ...] = ("analyst", "cx")

_HOURLY = """\
SELECT date_trunc('hour', event_time) AS hour, event_date, category, source, region,
       count(*) AS complaints
FROM main.complaints
GROUP BY ALL"""

_CHANNEL_MIX = """\
SELECT event_date, source, count(*) AS complaints,
       round(count(*) / sum(count(*)) OVER (PARTITION BY event_date), 4) AS share
FROM main.complaints
GROUP BY event_date, source"""

_TIME_TO_RESOLUTION = """\
WITH cm_cases AS (
  SELECT PK AS case_id, customer_id, try_cast(creation_time AS TIMESTAMPTZ) AS opened_at,
         current_state AS status
  FROM main.complaint_management WHERE SK = 'metadata'
), resolutions AS (
  SELECT 'complaint_management' AS source, PK AS case_id,
         try_cast(comm_date AS TIMESTAMPTZ) AS resolved_at, 'communication' AS resolved_by
  FROM main.complaint_management WHERE complaint_state = 'resolved'
  UNION ALL
  SELECT 'mbpp_reports', ticket_number, try_cast("timestamp" AS TIMESTAMPTZ), 'event'
  FROM main.mbpp_events
  WHERE event_type = 'status_updated' AND json_extract_string(data, '$.status') = 'closed'
  UNION ALL
  SELECT source, case_id, changed_at, 'state_change'
  FROM main.case_state_changes WHERE to_state IN ('resolved', 'closed')
), first_resolution AS (
  SELECT source, case_id, min(resolved_at) AS resolved_at,
         arg_min(resolved_by, resolved_at) AS resolved_by
  FROM resolutions WHERE resolved_at IS NOT NULL GROUP BY source, case_id
), cm_resolved AS (
  SELECT * EXCLUDE (source) FROM first_resolution WHERE source = 'complaint_management'
), mbpp_resolved AS (
  SELECT * EXCLUDE (source) FROM first_resolution WHERE source = 'mbpp_reports'
), cases AS (
  SELECT 'complaint_management' AS source, c.case_id, c.customer_id, c.opened_at, c.status,
         r.resolved_at, r.resolved_by
  FROM cm_cases c LEFT JOIN cm_resolved r USING (case_id)
  UNION ALL
  SELECT 'mbpp_reports', m.ticket_number, CAST(NULL AS VARCHAR),
         try_cast(m.created_at AS TIMESTAMPTZ), m.status, r.resolved_at, r.resolved_by
  FROM main.mbpp_reports m LEFT JOIN mbpp_resolved r ON r.case_id = m.ticket_number
)
SELECT c.source, c.case_id, k.complaint_id, coalesce(c.customer_id, k.customer_id) AS customer_id,
       k.category, k.region, c.opened_at, c.resolved_at, c.resolved_by, c.status,
       round(date_diff('second', c.opened_at, c.resolved_at) / 3600.0, 2) AS hours_to_resolution
FROM cases c
LEFT JOIN main.complaints k ON k.source = c.source AND k.case_id = c.case_id"""

_CUSTOMER_COMPLAINTS = """\
SELECT customer_id, complaint_id, source, case_id, source_record_id, event_time, event_date,
       category, subcategory, severity, sentiment, sentiment_score, region, text,
       count(*) OVER customer AS customer_total,
       count(DISTINCT source) OVER customer AS customer_channels
FROM main.complaints
WHERE customer_id IS NOT NULL
WINDOW customer AS (PARTITION BY customer_id)"""

_REPEAT_COMPLAINERS = """\
SELECT customer_id, count(*) AS complaints, count(DISTINCT source) AS channels,
       list(DISTINCT source ORDER BY source) AS sources,
       list(DISTINCT category ORDER BY category) AS categories,
       min(event_time) AS first_complaint, max(event_time) AS last_complaint
FROM main.complaints
WHERE customer_id IS NOT NULL
GROUP BY customer_id
HAVING count(*) >= 2"""

_TAXONOMY_VERSIONS = """\
SELECT taxonomy_version, count(*) AS complaints, min(event_date) AS first_event_date,
       max(event_date) AS last_event_date, max(ingest_time) AS last_ingest_time,
       coalesce(taxonomy_version = (SELECT taxonomy_version FROM main.runs
                                    ORDER BY started_at DESC LIMIT 1), false) AS current
FROM main.complaints
GROUP BY taxonomy_version"""

_COMPLAINT_CASE_CHANNELS = """\
SELECT c.complaint_case_id, count(*) AS complaints, count(DISTINCT c.source) AS channels,
       list(DISTINCT c.source ORDER BY c.source) AS sources,
       list(c.complaint_id ORDER BY k.event_time, c.complaint_id) AS complaint_ids,
       min(k.event_time) AS first_event_time, max(k.event_time) AS last_event_time,
       arg_min(k.category, k.event_time) AS category,
       arg_min(k.severity, k.event_time) AS severity,
       list_sort(list_distinct(flatten(list(c.evidence)))) AS evidence,
       min(c.similarity) AS lowest_similarity
FROM main.complaint_cases c
JOIN main.complaints k USING (complaint_id)
GROUP BY c.complaint_case_id"""


def mart_sql() -> dict[str, str]:
    """The SQL of each mart (``MARTS``)."""
    return {
        "hourly_complaints": _HOURLY,
        "channel_mix": _CHANNEL_MIX,
        "time_to_resolution": _TIME_TO_RESOLUTION,
        "customer_complaints": _CUSTOMER_COMPLAINTS,
        "repeat_complainers": _REPEAT_COMPLAINERS,
        "taxonomy_versions": _TAXONOMY_VERSIONS,
        "complaint_case_channels": _COMPLAINT_CASE_CHANNELS,
    }


def customer_key_salt(path: Path) -> str:
    """The lake's salt for hashed keys (``common.lake.lake_salt``): the customer links job hashes
    identifiers with the same one."""
    return lake_salt(path)


def _hashed(column: str, salt: str) -> str:
    """A salted SHA-256 prefix of ``column`` (NULL stays NULL); 16 hex digits: 64 bits, no
    collision among a few billion ids."""
    return f"left(sha256('{salt}' || {column}), 16)"


def _analyst_views(salt: str) -> dict[str, str]:
    customer = _hashed("customer_id", salt)
    case = _hashed("case_id", salt)
    zip3 = r"regexp_replace(location, '\b(\d{3})\d{2}(-\d{4})?\b', '\1xx', 'g')"
    return {
        "complaints": (
            "SELECT * EXCLUDE (customer_id, case_id, source_record_id, location),\n"
            f"  {customer} AS customer_key, {case} AS case_key,\n"
            f"  {_hashed('source_record_id', salt)} AS record_key, {zip3} AS location\n"
            "FROM main.complaints"),
        **{name: f"SELECT * FROM main.{name}" for name in (
            "daily_complaints", "hourly_complaints", "channel_mix", "taxonomy_versions", "runs",
            "complaint_cases", "complaint_case_channels")},
        "customer_complaints": (
            f"SELECT {customer} AS customer_key, {case} AS case_key,\n"
            "  * EXCLUDE (customer_id, case_id, source_record_id)\n"
            "FROM main.customer_complaints"),
        "repeat_complainers": (
            f"SELECT {customer} AS customer_key, * EXCLUDE (customer_id)\n"
            "FROM main.repeat_complainers"),
        "time_to_resolution": (
            f"SELECT {customer} AS customer_key, {case} AS case_key,\n"
            "  * EXCLUDE (customer_id, case_id)\n"
            "FROM main.time_to_resolution"),
        # How well complaints link to customers, never to whom: no id, no identifier hash.
        "customer_links": (
            f"SELECT {customer} AS customer_key,\n"
            "  * EXCLUDE (customer_id, identifier_key)\n"
            "FROM main.customer_links"),
        "customer_link_counts": "SELECT * FROM main.customer_link_counts",
    }


_CASE_LINKS = """\
SELECT customer_id, source, case_id, source_record_id, complaint_id, event_time, category,
       severity
FROM main.complaints
WHERE customer_id IS NOT NULL OR case_id IS NOT NULL"""

_CUSTOMER_LINKS = """\
SELECT l.customer_id, l.source, k.case_id, k.source_record_id, l.complaint_id, k.event_time,
       k.category, k.severity, l.evidence, l.evidences, l.confidence, l.conflicting
FROM main.customer_links l
LEFT JOIN main.complaints k ON k.complaint_id = l.complaint_id"""


def _cx_views() -> dict[str, str]:
    shared = ("complaints", "daily_complaints", "hourly_complaints", "channel_mix",
              "customer_complaints", "repeat_complainers", "time_to_resolution",
              "taxonomy_versions", "customer_link_counts", "complaint_cases",
              "complaint_case_channels")
    return {**{name: f"SELECT * FROM main.{name}" for name in shared},
            "case_links": _CASE_LINKS, "customer_links": _CUSTOMER_LINKS}


def role_sql(salt: str) -> dict[str, dict[str, str]]:
    """The views of each role's schema: ``{role: {view: sql}}``."""
    if not salt.isalnum():
        raise ValueError("the customer key salt must be letters and digits")
    return {"analyst": _analyst_views(salt), "cx": _cx_views()}
