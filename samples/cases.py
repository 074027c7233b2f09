"""Planted complaint cases: the same complaint sent through several channels, with known truth.

A *case* is one customer's one complaint however many times and ways it reached us: an SMS, a
tweet, a web form and a call about the same thing, re-sent within days, the text copied verbatim
(``exact``) or with small edits (``near``: casing, punctuation, a word added or dropped, a typo).
Beside each case the generator plants what must **not** join it:

* **twins**: other customers writing the very same templated text (the generator's texts come
  from templates, so different people really do send near-identical messages);
* **other complaint**: the case's customer writing about something else in the same days.

A quarter of the cases are written by **strangers**: people the customer master does not hold,
known only by their phone (their SMS, their calls, written in their web forms).

Everything is pure Python and deterministic by ``seed``. Records are in each source's landing
shape (call log JSON, CFPB web form rows, SMS and social events); ``CaseTruth`` says which case
each record belongs to (twins and other complaints are each their own case). Web forms carry no
identifier field, so a web form copy names its writer by the e-mail written in its narrative,
as people do ("reach me at ...").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from samples.generate import (
    CATEGORIES,
    CUSTOMER_COUNT,
    PLACES,
    SHARED_PHONE_CUSTOMERS,
    TRUE_CUSTOMER,
    UK_CUSTOMER,
    Customer,
    complaint_text,
    customer,
    iso_z,
    stream,
    web_form_row,
)

BRAND = "AcmeCares"
CHANNELS = ("sms", "social", "web_form", "call_center")
FILLERS = ("again", "still", "please", "urgent", "seriously", "today", "help")
WEB_FORM_ID_BASE = 9_100_000
STRANGER = "STRANGER-"


def stranger(number: int) -> Customer:
    """Someone the master does not hold, with a phone (``555-5xxx``: no customer's), an e-mail
    and a handle of their own."""
    area = PLACES[number % len(PLACES)].area_code
    e164 = f"+1{area}555{5000 + number:04d}"
    return Customer(f"{STRANGER}{number:04d}", f"Stranger {number}", "US", e164, e164,
                    f"stranger.{number}@example.org", f"@Stranger_{number}")


@dataclass(frozen=True)
class PlantedRecord:
    """One landed record: ``source``, its record id, and the case it truly belongs to."""

    source: str
    record_id: str
    case: str
    kind: str  # "exact" or "near" copy of a case, "twin", "other" (a case of its own)
    customer_id: str
    moment: datetime
    text: str
    record: dict[str, Any] | list[str]


@dataclass
class PlantedCases:
    records: list[PlantedRecord] = field(default_factory=list)

    def of(self, source: str) -> list[dict[str, Any] | list[str]]:
        return [r.record for r in self.records if r.source == source]

    def truth(self) -> dict[tuple[str, str], str]:
        """(source, record id) -> the true case."""
        return {(r.source, r.record_id): r.case for r in self.records}

    def kinds(self) -> dict[str, str]:
        """case -> "exact" / "near" (cases of several records) or "single"."""
        kinds: dict[str, str] = {}
        for r in self.records:
            kinds[r.case] = r.kind if r.kind in ("exact", "near") else "single"
        return kinds


# --- small edits a person makes re-sending a message
def _typo(rng: random.Random, words: list[str]) -> list[str]:
    long = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not long:
        return words
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(len(w) - 1)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return words


def edited(rng: random.Random, text: str) -> str:
    """``text`` with one or two small edits: casing, punctuation, a word added or dropped, a
    typo (never the same text back)."""
    for _ in range(5):
        words = text.split()
        for edit in rng.sample(("case", "punct", "add", "drop", "typo"), k=rng.randint(1, 2)):
            if edit == "add":
                words.insert(rng.randint(0, len(words)), rng.choice(FILLERS))
            elif edit == "drop" and len(words) > 4:
                del words[rng.randrange(1, len(words))]
            elif edit == "typo":
                words = _typo(rng, words)
            elif edit == "case":
                words = (" ".join(words).lower() if rng.random() < 0.5
                         else " ".join(words).upper()).split()
            elif edit == "punct":
                words[-1] = words[-1].rstrip(".!?,") + rng.choice(("!!", "...", "?!", "."))
                if len(words) > 3 and rng.random() < 0.5:
                    words[1] += ","
        out = " ".join(words)
        if out != text:
            return out
    return text + "!"


# --- records in each channel's shape
def _record(rng: random.Random, source: str, record_id: str, who: Customer, moment: datetime,
            text: str, category: str) -> dict[str, Any] | list[str]:
    if source == "sms":
        return {"event_id": record_id, "channel": "sms", "sent_at": iso_z(moment),
                "from": who.phone_e164, "customer_id": None, "state": None, "text": text,
                "label": None, TRUE_CUSTOMER: who.customer_id}
    if source == "social":
        assert who.handle is not None
        return {"event_id": record_id, "channel": "social", "platform": "twitter",
                "posted_at": iso_z(moment), "author": who.handle.lstrip("@"), "brand": BRAND,
                "in_reply_to": None, "inbound": True, "text": f"@{BRAND} {text}",
                TRUE_CUSTOMER: who.customer_id}
    if source == "call_center":
        return {"call_id": record_id, "started": iso_z(moment), "agent": "agent_007",
                "caller": {"customer_id": None if who.customer_id.startswith(STRANGER)
                           else who.customer_id, "name": who.name,
                           "phone": who.phone_e164},
                "notes": text, TRUE_CUSTOMER: who.customer_id}
    assert who.email is not None
    place = rng.choice(PLACES)
    narrative = f"{text} reach me at {who.email.lower()}"
    if who.customer_id.startswith(STRANGER):  # the phone that names them in other channels
        narrative += f" or {who.phone_e164}"
    return web_form_row(rng, moment.date(), record_id, category, place, narrative)


def _reachable(who: Customer) -> tuple[str, ...]:
    """The channels through which the generator can show who wrote: a social post needs a
    handle, a web form an e-mail. A stranger is known by a phone only (the master cannot tie a
    handle to it), so their posts could not be joined: they use the other channels."""
    if who.customer_id.startswith(STRANGER):
        return ("sms", "call_center", "web_form")
    return tuple(c for c in CHANNELS if (c != "social" or who.handle)
                 and (c != "web_form" or who.email))


def planted_cases(seed: int, start: date, days: int, cases: int = 200, twins: int = 2
                  ) -> PlantedCases:
    """``cases`` true cases (half exact copies, half edited; every fourth by a stranger), each
    of 2-4 records from one person over up to 5 days; per case ``twins`` other customers sending
    the same text and one other complaint of the same person."""
    rng = stream(seed, "complaint_cases")
    pool = [customer(n) for n in range(CUSTOMER_COUNT)
            if n not in (*SHARED_PHONE_CUSTOMERS, UK_CUSTOMER)]
    out = PlantedCases()
    counter = iter(range(10**6))
    first = datetime.combine(start, datetime.min.time(), UTC)
    span = max(days - 5, 1) * 86400

    def add(source: str, case: str, kind: str, who: Customer, moment: datetime, text: str,
            category: str) -> None:
        n = next(counter)
        record_id = (str(WEB_FORM_ID_BASE + n) if source == "web_form"
                     else f"case-{source}-{n:06d}")
        out.records.append(PlantedRecord(
            source, record_id, case, kind, who.customer_id, moment, text,
            _record(rng, source, record_id, who, moment, text, category)))

    said: dict[str, set[str]] = {}  # customer -> the wordings (digits left out) planted for them

    def wording(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalpha())

    def free(who: Customer, text: str) -> bool:
        """``who`` was given no other planted complaint of this wording: the truth stays
        knowable (the same person's same words twice in a week would be a re-send)."""
        return wording(text) not in said.get(who.customer_id, set())

    def pick(text: str, besides: str | None = None) -> Customer:
        found = rng.choice([p for p in pool if p.customer_id != besides and free(p, text)])
        said.setdefault(found.customer_id, set()).add(wording(text))
        return found

    for c in range(cases):
        kind = "exact" if c % 2 == 0 else "near"
        category = rng.choice(CATEGORIES)
        base = complaint_text(rng, category)
        if c % 4 == 3:
            who = stranger(c)
            said[who.customer_id] = {wording(base)}
        else:
            who = pick(base)
        at = first + timedelta(seconds=rng.randrange(span))
        channels = _reachable(who)
        sent = rng.sample(channels, k=min(len(channels), rng.randint(2, 3)))
        if rng.random() < 0.2:  # re-sent through the same channel
            sent.append(sent[0])
        name = f"case-{c:04d}"
        for i, source in enumerate(sent):
            moment = at + timedelta(seconds=0 if i == 0 else rng.randrange(5 * 86400))
            text = base if kind == "exact" or i == 0 else edited(rng, base)
            add(source, name, kind, who, moment, text, category)
        for t in range(twins):
            other = pick(base, besides=who.customer_id)
            moment = at + timedelta(seconds=rng.randrange(3 * 86400))
            add(rng.choice(_reachable(other)), f"{name}-twin-{t}", "twin", other, moment, base,
                category)
        other_category = rng.choice([x for x in CATEGORIES if x != category])
        other_text = complaint_text(rng, other_category)
        while not free(who, other_text):
            other_text = complaint_text(rng, other_category)
        said[who.customer_id].add(wording(other_text))
        moment = at + timedelta(seconds=rng.randrange(4 * 86400))
        add(rng.choice(channels), f"{name}-other", "other", who, moment, other_text,
            other_category)
    return out
