"""Sample-data generator: several days of realistic, messy telecom complaints from every channel.

``generate`` writes, fully determined by ``seed`` (``random.Random`` streams, never the clock):

* ``inbox/call_center/calls_<day>.jsonl``: call-centre log exports, JSON Lines, one call per line,
  ``started`` in four shapes (ISO with offset, space-separated Zulu, US local time with a ``tz``
  field, epoch seconds), optional and missing fields, PII in the free-text ``notes``, ~2% verbatim
  duplicate lines (some in the next day's file) and a few malformed lines per file (truncated
  JSON, one Latin-1 line that is invalid UTF-8, a non-numeric ``duration_s``, a missing ``notes``).
* ``inbox/web_form/forms_<day>.csv``: web-form exports in the CFPB 18-column layout, multi-line
  quoted narratives, ~2% duplicate rows, one row without a Complaint ID and one with an
  unparseable Date received per file.
* the nine operational DynamoDB tables of ``schemas.sources.DYNAMODB_TABLES`` (seeds 000-004),
  as DynamoDB JSON items, loaded into DynamoDB (or the local emulator) when asked.

Customers: ``service_bot_customers`` is the customer master (``CUSTOMER_COUNT`` customers, the
same for every seed), each with a phone (stored in any shape, a UK mobile in national format),
most with an e-mail and some with a social handle. Callers, chat users, complaint-system customers
and mbpp reporters are drawn from a wider id space, so some name customers the master lacks; a
caller's phone is their customer's, and a contact written in a text is the writer's own when the
writer is a known customer. Two customers share one phone (a household: ambiguous by design).
``GenerationSummary.customer_truth`` says who really wrote each complaint.

One surge is injected: on day index 2, calls from the South about network outages jump ~6x
between 13:00 and 17:00 UTC (with a smaller echo in web forms and mbpp incident reports). No
record carries a taxonomy label: the category of a complaint is only in its wording.
"""

from __future__ import annotations

import csv
import io
import json
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from common.settings import Settings
from schemas.regions import STATE_REGION
from schemas.sources import DYNAMODB_TABLES, WEB_FORM_COLUMNS

# ------------------------------------------------------------------------------------------------
# Reference data
# ------------------------------------------------------------------------------------------------


class Place(NamedTuple):
    city: str
    state: str
    zip: str
    tz: str
    area_code: str


PLACES: tuple[Place, ...] = (
    # Northeast
    Place("Boston", "MA", "02110", "America/New_York", "617"),
    Place("Hartford", "CT", "06103", "America/New_York", "860"),
    Place("Providence", "RI", "02903", "America/New_York", "401"),
    Place("Portland", "ME", "04101", "America/New_York", "207"),
    Place("Burlington", "VT", "05401", "America/New_York", "802"),
    Place("Manchester", "NH", "03101", "America/New_York", "603"),
    Place("Newark", "NJ", "07102", "America/New_York", "973"),
    Place("New York", "NY", "10001", "America/New_York", "212"),
    Place("Buffalo", "NY", "14202", "America/New_York", "716"),
    Place("Philadelphia", "PA", "19107", "America/New_York", "215"),
    Place("Pittsburgh", "PA", "15222", "America/New_York", "412"),
    # Midwest
    Place("Chicago", "IL", "60601", "America/Chicago", "312"),
    Place("Indianapolis", "IN", "46204", "America/Indiana/Indianapolis", "317"),
    Place("Detroit", "MI", "48226", "America/Detroit", "313"),
    Place("Columbus", "OH", "43215", "America/New_York", "614"),
    Place("Cleveland", "OH", "44114", "America/New_York", "216"),
    Place("Milwaukee", "WI", "53202", "America/Chicago", "414"),
    Place("Des Moines", "IA", "50309", "America/Chicago", "515"),
    Place("Wichita", "KS", "67202", "America/Chicago", "316"),
    Place("Minneapolis", "MN", "55401", "America/Chicago", "612"),
    Place("St. Louis", "MO", "63101", "America/Chicago", "314"),
    Place("Omaha", "NE", "68102", "America/Chicago", "402"),
    Place("Fargo", "ND", "58102", "America/Chicago", "701"),
    Place("Sioux Falls", "SD", "57104", "America/Chicago", "605"),
    # South
    Place("Austin", "TX", "78701", "America/Chicago", "512"),
    Place("Houston", "TX", "77002", "America/Chicago", "713"),
    Place("Dallas", "TX", "75201", "America/Chicago", "214"),
    Place("San Antonio", "TX", "78205", "America/Chicago", "210"),
    Place("Atlanta", "GA", "30303", "America/New_York", "404"),
    Place("Miami", "FL", "33130", "America/New_York", "305"),
    Place("Tampa", "FL", "33602", "America/New_York", "813"),
    Place("Charlotte", "NC", "28202", "America/New_York", "704"),
    Place("Raleigh", "NC", "27601", "America/New_York", "919"),
    Place("Nashville", "TN", "37203", "America/Chicago", "615"),
    Place("Memphis", "TN", "38103", "America/Chicago", "901"),
    Place("New Orleans", "LA", "70112", "America/Chicago", "504"),
    Place("Birmingham", "AL", "35203", "America/Chicago", "205"),
    Place("Louisville", "KY", "40202", "America/Kentucky/Louisville", "502"),
    Place("Richmond", "VA", "23219", "America/New_York", "804"),
    Place("Baltimore", "MD", "21201", "America/New_York", "410"),
    Place("Oklahoma City", "OK", "73102", "America/Chicago", "405"),
    Place("Little Rock", "AR", "72201", "America/Chicago", "501"),
    Place("Jackson", "MS", "39201", "America/Chicago", "601"),
    Place("Charleston", "SC", "29401", "America/New_York", "843"),
    Place("Washington", "DC", "20001", "America/New_York", "202"),
    Place("Wilmington", "DE", "19801", "America/New_York", "302"),
    Place("Charleston", "WV", "25301", "America/New_York", "304"),
    # West
    Place("Phoenix", "AZ", "85004", "America/Phoenix", "602"),
    Place("Denver", "CO", "80202", "America/Denver", "303"),
    Place("Boise", "ID", "83702", "America/Boise", "208"),
    Place("Billings", "MT", "59101", "America/Denver", "406"),
    Place("Las Vegas", "NV", "89101", "America/Los_Angeles", "702"),
    Place("Albuquerque", "NM", "87102", "America/Denver", "505"),
    Place("Salt Lake City", "UT", "84101", "America/Denver", "801"),
    Place("Cheyenne", "WY", "82001", "America/Denver", "307"),
    Place("Anchorage", "AK", "99501", "America/Anchorage", "907"),
    Place("Los Angeles", "CA", "90012", "America/Los_Angeles", "213"),
    Place("San Francisco", "CA", "94103", "America/Los_Angeles", "415"),
    Place("San Diego", "CA", "92101", "America/Los_Angeles", "619"),
    Place("Honolulu", "HI", "96813", "Pacific/Honolulu", "808"),
    Place("Portland", "OR", "97204", "America/Los_Angeles", "503"),
    Place("Seattle", "WA", "98104", "America/Los_Angeles", "206"),
)
US_ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark",
    "Sandra", "Keisha", "Darnell", "Aaliyah", "Tyrone", "Maria", "Carlos", "Guadalupe", "Luis",
    "Mei", "Wei", "Priya", "Raj", "Olga", "Dmitri", "Fatima", "Omar", "Zoë", "José", "Renée",
    "Chloé", "Ngozi", "Kwame",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Clark",
    "Washington", "Nguyen", "Patel", "Kim", "Chen", "O'Brien", "Kowalski", "Muñoz", "Peña",
    "Ibáñez", "Okafor", "Haddad", "Ivanova", "Schmidt",
)
LATIN1_CALLERS = ("José Muñoz", "Renée Peña", "Zoë Ibáñez", "Chloé Ramírez")
EMAIL_DOMAINS = ("example.com", "example.net", "mail.example.org")

# The customer master (``service_bot_customers``): CUSTOMER_COUNT customers ``CUST-00000`` ...
# The channels draw ids from a wider space, so ids CUSTOMER_COUNT .. CUSTOMER_ID_SPACE - 1 name
# customers the master does not hold (new accounts, typos): they must link to nobody.
CUSTOMER_COUNT = 300
CUSTOMER_ID_SPACE = 350
PHONE_SHAPES = ("({a}) 555-{x}", "+1 {a} 555 {x}", "{a}-555-{x}", "{a}.555.{x}", "{a}555{x}")
# Hard cases planted in the master (customer number -> what is special about it):
SHARED_PHONE_CUSTOMERS = (7, 8)  # one household phone on two accounts: ambiguous, links to none
UK_CUSTOMER = 11  # a UK mobile, kept in national format ("07911 ...") with country GB
UK_MOBILE_NATIONAL = "07911 123456"
UK_MOBILE_E164 = "+447911123456"
# A record's key holding the id of the customer who really wrote it (None: nobody the master
# knows); never written out (``json_line`` drops ``_`` keys), read by ``customer_truth``.
TRUE_CUSTOMER = "_customer"

CATEGORIES: tuple[str, ...] = (
    "network", "billing", "service", "account", "device", "privacy_fraud", "other",
)
CATEGORY_WEIGHTS: tuple[float, ...] = (0.24, 0.22, 0.16, 0.12, 0.12, 0.06, 0.08)

# ------------------------------------------------------------------------------------------------
# Complaint wording. Slots: {amount} {amount2} {fee} {month} {weekday} {days} {n} {hours}
# {speed_paid} {speed_got} {city} {street} {clock}
# ------------------------------------------------------------------------------------------------

COMPLAINT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "network": (
        "no internet since {weekday} morning",
        "my internet has been down for {days} days and nobody can tell me why",
        "internet keeps dropping every {n} minutes, I work from home and can't stay on a call",
        "paying for {speed_paid} Mbps but speed tests show {speed_got} Mbps at best",
        "no signal on my phone inside my house, calls drop constantly",
        "calls keep dropping when I drive through {city}",
        "TV picture keeps freezing and pixelating on every channel",
        "there is an outage in my neighborhood AGAIN, third time this month",
        "wifi is super slow every evening, it feels like you are throttling me",
        "connection keeps dropping all evening, unusable for streaming",
        "cable channels say no signal since the storm on {weekday}",
        "mobile data stopped working, phone only shows SOS",
        "home phone line has no dial tone since {weekday}",
        "internet is intermittent, goes out for a few minutes several times a day",
        "Spotty coverage at my address, I have to stand by the window to make a call",
    ),
    "billing": (
        "I was charged twice for my {month} bill",
        "my bill went up by {amount} with no notice",
        "I was told I'd get a credit of {amount} and it never showed up on my bill",
        "still waiting on my refund of {amount} from {month}",
        "charged a late fee even though my autopay went through on time",
        "got an overage charge of {amount} for data I did not use",
        "there is a {amount} 'network access fee' on my bill that I never agreed to",
        "my promotional rate ended and the price jumped to {amount} a month",
        "they sent my account to collections over a {amount} balance I already paid",
        "bill says I owe {amount} but my plan is supposed to be {amount2}",
        "payment was taken out of my bank account twice this month",
        "hit my data cap after two weeks and now I pay overage charges every month",
        "Why is my bill {amount} when I was quoted {amount2}??",
    ),
    "service": (
        "technician never showed up for my installation appointment",
        "waited on hold for {hours} hours and then they hung up on me",
        "the rep was rude and hung up on me",
        "I have called {n} times about the same problem and nobody resolves anything",
        "the salesman promised me a price that was never honored",
        "missed appointment again, I took a day off work for nothing",
        "store employee was extremely unhelpful and rude",
        "was transferred {n} times and every agent told me something different",
        "support keeps closing my ticket without fixing anything",
        "installer left cables all over my yard and never came back to finish",
        "poor service overall, nobody at this company seems to care",
        "repair tech came {days} hours late and left without doing the job",
    ),
    "account": (
        "want to cancel my contract but they charge an early termination fee of {fee}",
        "I cancelled my service in {month} and the account is still active",
        "moving to a new address and they say they can't transfer my service for {days} days",
        "locked out of my online account and the password reset never works",
        "they ran a credit check when I only asked for a quote",
        "I need to remove my ex-husband from the account and they will not let me",
        "tried to transfer ownership of the account to my daughter, still not done",
        "asked to downgrade my plan and they changed the wrong line",
        "my cancellation request keeps getting ignored, they say it is 'in process'",
        "want to port my number to another carrier but they won't give me the account PIN",
        "I moved out in {month} and they still have the service under my name",
    ),
    "device": (
        "my modem keeps rebooting every few hours",
        "the router you sent me is defective, the power light just blinks orange",
        "cable box freezes and has to be unplugged every day",
        "returned the set-top box in {month} and your system still says I have it",
        "the new phone I bought from you will not hold a charge",
        "replacement modem arrived damaged, the casing was cracked",
        "the remote and the DVR box stopped working after the update",
        "handset screen stopped responding within a week and the warranty claim was denied",
        "the rented gateway overheats and shuts itself off",
        "phone is stuck on the logo screen after your software update",
    ),
    "privacy_fraud": (
        "someone opened an account in my name",
        "there are two lines on my account that I never authorized",
        "my number was ported out without my permission and someone is getting my texts",
        "got a call from someone claiming to be Acme asking for my SSN, is this a scam?",
        "someone changed my account email and password, I think I was hacked",
        "you shared my personal information with a marketing company without consent",
        "received a bill for a phone I never ordered, this is identity theft",
        "phishing texts pretending to be Acme keep asking for my login",
        "unauthorized purchase of {amount} in apps on my account, I did not make it",
    ),
    "other": (
        "Acme Telecom",
        "I want to file a complaint",
        "calling about a letter I received, not sure what it is about",
        "not happy",
        "general complaint about the company",
        "had a question about the holiday schedule",
        "please call me back",
        "this company is the worst",
        "complaint",
    ),
}

SURGE_TEMPLATES: tuple[str, ...] = (
    "no internet since {clock}, is there an outage in {city}?",
    "total outage in my area, no internet and no cable",
    "no signal on my phone at all since this afternoon",
    "connection keeps dropping every couple of minutes",
    "internet down for the whole neighborhood in {city}",
    "outage again?? nothing works, no internet no tv",
    "no internet, the neighbors say theirs is out too",
    "mobile shows no service anywhere in {city}",
    "internet keeps cutting out, now it's completely down",
    "No Internet. No signal. Outage??",
)

INCIDENT_TEMPLATES: tuple[str, ...] = (
    "telephone pole leaning over the road on {street} after the storm, lines down",
    "contractor cut a fiber cable while digging on {street}, whole street has no internet",
    "street cabinet on {street} left open with cables hanging out",
    "cable hanging low across {street}, trucks keep hitting it",
)
INCIDENT_BLOCKS_ROAD = (True, False, False, True)

STREETS = (
    "Main St", "Oak Ave", "Elm Street", "2nd Ave", "Maple Dr", "Cedar Ln", "MLK Jr Blvd",
    "Broadway", "Lakeview Rd", "Pine St",
)
MONTHS = ("August", "September", "October", "November")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Agent wording around a call's complaint (kept free of category cues).
NOTE_OPENERS = (
    "", "", "Cust states ", "Caller says ", "Customer called: ", "cx reports ", "CALLER: ",
    "cust upset - ", "Inbound call. ",
)
NOTE_CLOSERS = (
    "", "", "", " Ticket opened.", " Escalated to tier 2.", " Advised callback within 24h.",
    " Cust very frustrated.", " Apologized, ref #{ref}.", " Follow-up scheduled.",
)
CONTACT_PHRASES = (
    " callback number {phone}", " call me back at {phone}", " my email is {email}",
    " reach me at {email} or {phone}", " cell {phone}",
)
CALL_QUEUES = ("main", "tier2", "callback", "spanish", "business", "retention")

# Narrative padding for web forms (neutral, no category cues).
NARRATIVE_DETAILS = (
    "This has been going on since {month}.",
    "I have been a customer for {n} years.",
    "Please help, I don't know what else to do.",
    'The rep told me "{quote}".',
    "I want this resolved as soon as possible.",
    "My account number is XXXX.",
    "On XX/XX/2026 I contacted the company again.",
)
REP_QUOTES = (
    "there is nothing we can do", "it will be fixed by tomorrow",
    "that's just how it is", "someone will call you back",
)

# --- web form (CFPB layout) -----------------------------------------------------------------------


class WebIssue(NamedTuple):
    product: str
    sub_product: str
    issue: str
    sub_issue: str


WEB_ISSUES: dict[str, tuple[WebIssue, ...]] = {
    "network": (
        WebIssue("Internet service", "Cable internet", "Service outage",
                 "No service or connection"),
        WebIssue("Internet service", "Fiber", "Slow or unreliable service",
                 "Speeds lower than advertised"),
        WebIssue("Mobile phone", "Postpaid", "Coverage or reception", "Dropped calls"),
        WebIssue("Cable TV", "Basic cable", "Picture or signal problems", "Channels freezing"),
        WebIssue("Home phone", "Landline", "Service outage", "No dial tone"),
    ),
    "billing": (
        WebIssue("Internet service", "Cable internet", "Billing dispute", "Charged twice"),
        WebIssue("Mobile phone", "Postpaid", "Unexpected fees or charges", "Overage charges"),
        WebIssue("Cable TV", "Premium channels", "Price increase", "Promotional rate expired"),
        WebIssue("Mobile phone", "Prepaid", "Problem with a refund or credit",
                 "Refund not received"),
    ),
    "service": (
        WebIssue("Internet service", "Fiber", "Installation or repair appointment",
                 "Technician did not show up"),
        WebIssue("Mobile phone", "Postpaid", "Customer service", "Rude or unhelpful staff"),
        WebIssue("Cable TV", "Basic cable", "Misleading sales practices",
                 "Promised price not honored"),
    ),
    "account": (
        WebIssue("Internet service", "DSL", "Cancelling service", "Early termination fee"),
        WebIssue("Home phone", "VoIP", "Moving or transferring service",
                 "Transfer not completed"),
        WebIssue("Mobile phone", "Postpaid", "Account access or changes",
                 "Cannot change account holder"),
    ),
    "device": (
        WebIssue("Internet service", "Cable internet", "Equipment problem",
                 "Modem or router not working"),
        WebIssue("Cable TV", "Basic cable", "Equipment rental or return",
                 "Returned equipment not credited"),
        WebIssue("Mobile phone", "Postpaid", "Handset problem", "Defective phone"),
    ),
    "privacy_fraud": (
        WebIssue("Mobile phone", "Postpaid", "Unauthorized account or charges",
                 "Account opened without consent"),
        WebIssue("Mobile phone", "Prepaid", "Identity theft", "Number ported without consent"),
        WebIssue("Internet service", "Fiber", "Privacy", "Personal information shared"),
    ),
    "other": (
        WebIssue("Internet service", "I do not know", "Other", "Other"),
        WebIssue("Home phone", "Landline", "Other features, terms, or problems", "Other problem"),
    ),
}
COMPANY = "Acme Telecom"
PUBLIC_RESPONSES = (
    "", "", "",
    "Company has responded to the consumer and the CFPB and chooses not to provide a public "
    "response",
    "Company believes it acted appropriately as authorized by contract or law",
)
COMPANY_RESPONSES = (
    "Closed with explanation", "Closed with explanation", "Closed with non-monetary relief",
    "Closed with monetary relief", "In progress",
)
UNPARSEABLE_DATES = ("13/45/2026", "2026-11-XX", "N/A", "Nov 3rd", "00/00/0000")
NON_NUMERIC_DURATIONS = ("4m 12s", "N/A", "unknown", "12:30")

# --- DynamoDB sources -----------------------------------------------------------------------------
AGENT_IDS = tuple(f"Agent{c}" for c in "ABCDEFGHJK")
COMPLAINT_STATES = ("waiting", "assigned", "investigating", "resolved")
COMM_TEXTS: dict[str, tuple[str, ...]] = {
    "waiting": ("Complaint received, awaiting assignment.", "Auto-acknowledgement sent."),
    "assigned": ("Assigned to {agent}.", "Picked up by {agent}, will contact customer."),
    "investigating": (
        "Called customer, confirmed the issue.", "Requested logs from field operations.",
        "Left voicemail for customer.", "Customer sent photos, reviewing.",
    ),
    "resolved": (
        "Issue fixed, customer confirmed.", "Issued a credit of {amount}, customer satisfied.",
        "Closed: no response from customer after 3 attempts.",
    ),
}
MBPP_SUBJECTS: dict[str, tuple[str, ...]] = {
    "network": ("Internet down", "No signal", "Slow internet", "Outage in my area"),
    "billing": ("Wrong bill", "Double charge", "Refund request"),
    "service": ("Missed appointment", "Bad customer service"),
    "account": ("Cancellation problem", "Account transfer"),
    "device": ("Faulty modem", "Equipment issue"),
    "privacy_fraud": ("Fraud on my account", "Unauthorized line"),
    "other": ("Complaint", "General feedback"),
}
MBPP_PRODUCTS = ("Fibre broadband", "Mobile", "TV", "Landline")
MBPP_STATUSES = ("open", "open", "in_progress", "closed")
MBPP_FEEDBACK = ("Please resolve urgently", "Second report this week", "Very disappointed", "")
CHAT_QUESTIONS = (
    "how do I reset my router?", "what are your store hours?", "how can I pay my bill online?",
    "how do I set up voicemail?", "can I upgrade my plan?", "where do I return a cable box?",
    "how do I check my data usage?",
)
CHAT_ANSWERS = (
    "You can find step-by-step instructions in our support center.",
    "I'm sorry to hear that. Let me connect you with the right team.",
    "Please sign in to My Account to see that information.",
    "Here is an article that may help.",
)
CHAT_DOCUMENTS = (
    ("kb-101", "Restarting your equipment"), ("kb-204", "Understanding your bill"),
    ("kb-317", "Checking for outages"), ("kb-422", "Cancelling or moving service"),
    ("kb-530", "Protecting your account"),
)
NEGATIVE_FEEDBACK_CATEGORIES = ("not_helpful", "inaccurate", "too_slow", "other")
CHAT_ERRORS = ("ThrottlingException: Rate exceeded", "KendraTimeout: retrieval timed out")
REVIEW_COMMENTS = (
    "Bot answer was off-topic.", "Escalate to billing team.", "Fine.", "Needs KB article update.",
)
SERVICE_LEVELS: tuple[tuple[str, tuple[str, ...], int, str], ...] = (
    ("basic", ("status_check", "volume_control"), 1, "standard"),
    ("premium", ("status_check", "volume_control", "device_info", "device_relocation",
                 "music_services"), 3, "priority"),
    ("enterprise", ("status_check", "volume_control", "device_info", "device_relocation",
                    "music_services", "multi_room_audio", "custom_actions"), 10, "dedicated"),
)
DEVICE_TYPES = ("SmartSpeaker", "SmartDisplay", "StreamingStick", "Gateway")
ROOMS = ("living_room", "bedroom", "kitchen", "office", "basement")
BOT_REQUESTS = (
    ("status_check", "Is my speaker online?"),
    ("volume_control", "Turn the volume down in the kitchen"),
    ("device_relocation", "Move my smart speaker to the bedroom"),
    ("device_info", "What firmware is my display running?"),
    ("music_services", "Connect my music account"),
    ("multi_room_audio", "Play the same song in every room"),
)

# Calls per UTC hour of the day (a US call centre: busy 13:00-01:00 UTC).
HOURLY_CALL_WEIGHTS: tuple[float, ...] = (
    3.0, 2.0, 1.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.5, 0.8, 1.5, 2.5,
    3.5, 4.0, 4.5, 5.0, 5.0, 5.0, 5.0, 4.5, 4.5, 4.0, 4.0, 3.5,
)
SURGE_DAY_INDEX = 2
SURGE_MULTIPLIER = 6


# ------------------------------------------------------------------------------------------------
# Public results
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Surge:
    """The injected incident: extra network-outage complaints from one region in one window."""

    day: date
    region: str
    category: str
    start_hour_utc: int
    hours: int

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, time(self.start_hour_utc), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(), "region": self.region, "category": self.category,
            "start_hour_utc": self.start_hour_utc, "hours": self.hours,
        }


@dataclass(frozen=True)
class GenerationSummary:
    """What ``generate`` wrote. Counts are raw: every line / row written, copies included."""

    seed: int
    start: date
    days: int
    files: list[Path]
    records: dict[str, int]
    duplicates: dict[str, int]
    malformed: dict[str, int]
    anomalies: dict[str, dict[str, int]]  # source -> kind of malformed record -> count
    dynamodb_items: dict[str, int]  # logical table -> items generated (and written if loaded)
    dynamodb_loaded: bool
    surge: Surge | None  # None when the run has fewer than 3 days
    # source -> source record id -> the customer who really wrote it (None: nobody the master
    # knows); what the customer linking is measured against. Not in ``to_dict`` (it is big).
    customer_truth: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "files": [str(p) for p in self.files],
            "records": dict(self.records),
            "duplicates": dict(self.duplicates),
            "malformed": dict(self.malformed),
            "anomalies": {k: dict(v) for k, v in self.anomalies.items()},
            "dynamodb_items": dict(self.dynamodb_items),
            "dynamodb_loaded": self.dynamodb_loaded,
            "surge": self.surge.to_dict() if self.surge else None,
        }


@dataclass
class FileExport:
    """One day's file before it is written."""

    path: Path
    content: bytes
    records: int
    duplicates: int
    anomalies: dict[str, int] = field(default_factory=dict)
    truth: dict[str, str | None] = field(default_factory=dict)  # record id -> true customer


# ------------------------------------------------------------------------------------------------
# Small pure helpers
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    """One customer of the master, with the identifiers the channels may show: ``phone`` as the
    master stores it (any shape; ``country`` says how to read a national number), its E.164 form
    (the truth the linker must find), an e-mail and a social handle (``@Name``, mixed case) when
    the customer has them."""

    customer_id: str
    name: str
    country: str
    phone: str
    phone_e164: str
    email: str | None
    handle: str | None


def customer_ref(number: int) -> str:
    """The customer id a channel writes for a drawn number (ids past CUSTOMER_COUNT are not in
    the master)."""
    return f"CUST-{number % CUSTOMER_ID_SPACE:05d}"


def _ascii(text: str) -> str:
    return text.replace("'", "").encode("ascii", "ignore").decode()


@cache
def customer(number: int) -> Customer:
    """Customer ``number`` of the master, the same in every run (independent of the seed)."""
    rng = random.Random(f"customer/{number}")
    first, last = person_name(rng)
    area = rng.choice(PLACES).area_code
    if number in SHARED_PHONE_CUSTOMERS:
        area, line = "312", 2000 + SHARED_PHONE_CUSTOMERS[0]
    else:
        line = 2000 + number
    e164 = f"+1{area}555{line:04d}"
    shape = rng.choice(("e164", *PHONE_SHAPES))
    stored = e164 if shape == "e164" else shape.format(a=e164[2:5], x=e164[-4:])
    country = "US"
    if number == UK_CUSTOMER:
        country, stored, e164 = "GB", UK_MOBILE_NATIONAL, UK_MOBILE_E164
    email = (f"{_ascii(first)}.{_ascii(last)}.{number}@{rng.choice(EMAIL_DOMAINS)}"
             if rng.random() < 0.8 else None)
    handle = (f"@{_ascii(first)[:6]}{_ascii(last)[:5]}_{number}" if rng.random() < 0.6
              else None)
    return Customer(customer_ref(number), f"{first} {last}", country, stored, e164, email, handle)


def known_customer(customer_id: str | None) -> Customer | None:
    """The master's customer with this id, None when the master has no such customer."""
    if customer_id is None or not customer_id.startswith("CUST-"):
        return None
    number = int(customer_id[5:])
    return customer(number) if number < CUSTOMER_COUNT else None


def hashed_customer(*parts: object) -> Customer | None:
    """A customer chosen from what a record already holds (no random draw, so adding it changes
    no other value of the data): who wrote a record that does not carry a customer id."""
    digest = zlib.crc32("/".join(map(str, parts)).encode())
    return known_customer(customer_ref(digest))


def customer_master() -> list[Customer]:
    return [customer(number) for number in range(CUSTOMER_COUNT)]


def stream(seed: int, *names: object) -> random.Random:
    """An independent, reproducible random stream for one part of the data."""
    return random.Random("/".join([str(seed), *map(str, names)]))


def pick_category(rng: random.Random) -> str:
    return rng.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0]


def slot_values(rng: random.Random, city: str) -> dict[str, Any]:
    cents = rng.choice(("00", "99", "50", "47", "15"))
    return {
        "amount": f"${rng.randint(12, 240)}.{cents}",
        "amount2": f"${rng.randint(30, 120)}.00",
        "fee": rng.choice(("$150", "$240", "$325.00", "$400")),
        "month": rng.choice(MONTHS),
        "weekday": rng.choice(WEEKDAYS),
        "days": rng.randint(2, 14),
        "n": rng.randint(2, 9),
        "hours": rng.randint(2, 5),
        "speed_paid": rng.choice((300, 500, 940, 1000)),
        "speed_got": rng.randint(3, 40),
        "city": city,
        "street": rng.choice(STREETS),
        "clock": rng.choice(("8am", "9 am", "about 10", "this morning", "an hour ago")),
    }


def fill(rng: random.Random, template: str, city: str) -> str:
    return template.format(**slot_values(rng, city))


def complaint_text(rng: random.Random, category: str, city: str = "my area") -> str:
    return fill(rng, rng.choice(COMPLAINT_TEMPLATES[category]), city)


def surge_text(rng: random.Random, city: str) -> str:
    return fill(rng, rng.choice(SURGE_TEMPLATES), city)


def scruff(rng: random.Random, text: str) -> str:
    """Mixed case and stray whitespace, the way people and agents actually type."""
    roll = rng.random()
    if roll < 0.12:
        text = text.lower()
    elif roll < 0.17:
        text = text.upper()
    elif roll < 0.5:
        text = text[:1].upper() + text[1:]
    if rng.random() < 0.2:
        words = text.split(" ")
        at = rng.randrange(len(words))
        words[at] = words[at] + " " * rng.randint(1, 3)
        text = " ".join(words)
    if rng.random() < 0.1:
        text = " " * rng.randint(1, 2) + text
    if rng.random() < 0.1:
        text = text + rng.choice(("  ", " ", "\t", "!!", "..."))
    return text


def sentence(text: str) -> str:
    """``text`` ending like a sentence, so that more text can follow it."""
    text = text.rstrip()
    return text if text[-1:] in ".!?" else text + "."


def person_name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def phone_number(rng: random.Random, area_code: str, customer: Customer | None = None) -> str:
    """A stranger's number (555-01xx, never a customer's) or, given ``customer``, that customer's
    number, in one of the shapes people write (the same random draws either way)."""
    line = f"01{rng.randint(0, 99):02d}"
    shape = rng.choice(PHONE_SHAPES)
    if customer is not None:
        if customer.country != "US":
            return customer.phone_e164 if rng.random() < 0.5 else customer.phone
        area_code, line = customer.phone_e164[2:5], customer.phone_e164[-4:]
    return shape.format(a=area_code, x=line)


def email_address(rng: random.Random, first: str, last: str) -> str:
    local = f"{first}.{last}".lower().replace("'", "").encode("ascii", "ignore").decode()
    return f"{local}{rng.randint(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"


def with_contact(rng: random.Random, text: str, first: str, last: str, area: str,
                 customer: Customer | None = None) -> str:
    """Sometimes a phone number or e-mail address ends up inside the free text: the customer's
    own when the writer is a known ``customer`` with an e-mail, a stranger's otherwise."""
    if rng.random() >= 0.25:
        return text
    phone, email = phone_number(rng, area), email_address(rng, first, last)
    if customer is not None and customer.email is not None:
        phone, email = customer.phone_e164, customer.email.lower()
    phrase = rng.choice(CONTACT_PHRASES).format(phone=phone, email=email)
    return text.rstrip(". ") + "," + phrase


def messy_state(rng: random.Random, state: str) -> str:
    roll = rng.random()
    if roll < 0.06:
        return state.lower()
    if roll < 0.10:
        return f" {state}"
    if roll < 0.13:
        return f"{state} "
    if roll < 0.15:
        return state[0] + state[1].lower()
    return state


def messy_city(rng: random.Random, city: str) -> str:
    roll = rng.random()
    if roll < 0.08:
        return city.upper()
    if roll < 0.14:
        return city.lower()
    if roll < 0.18:
        return city + " "
    return city


def utc_moment(rng: random.Random, day: date, hour: int | None = None) -> datetime:
    """A moment of ``day`` (UTC); the hour follows the call centre's daily profile if not given."""
    if hour is None:
        hour = rng.choices(range(24), weights=HOURLY_CALL_WEIGHTS)[0]
    return datetime.combine(day, time(hour), tzinfo=UTC) + timedelta(
        seconds=rng.randrange(3600)
    )


def started_value(rng: random.Random, moment: datetime, tz: str) -> tuple[str | int, bool]:
    """``started`` in one of the four exported shapes; the flag says the ``tz`` field is needed."""
    shape = rng.choices(("iso_offset", "zulu", "us_local", "epoch"), weights=(30, 25, 25, 20))[0]
    local = moment.astimezone(ZoneInfo(tz))
    if shape == "iso_offset":
        return local.isoformat(timespec="seconds"), False
    if shape == "zulu":
        return f"{moment:%Y-%m-%d %H:%M:%S}Z", False
    if shape == "us_local":
        return f"{local:%m/%d/%Y %I:%M:%S %p}", True
    return int(moment.timestamp()), False


def iso_z(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def iso_ms_z(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def insert_at_random(rng: random.Random, items: list[Any], new: Sequence[Any]) -> None:
    for item in new:
        items.insert(rng.randint(0, len(items)), item)


def default_surge(start: date, days: int) -> Surge | None:
    if days <= SURGE_DAY_INDEX:
        return None
    return Surge(
        day=start + timedelta(days=SURGE_DAY_INDEX), region="South", category="network",
        start_hour_utc=13, hours=4,
    )


def places_in(region: str) -> tuple[Place, ...]:
    return tuple(p for p in PLACES if STATE_REGION[p.state] == region)


# ------------------------------------------------------------------------------------------------
# Call-centre logs (JSON Lines)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    moment: datetime
    record: dict[str, Any]


def call_record(
    rng: random.Random, call_id: str, moment: datetime, place: Place, text: str
) -> dict[str, Any]:
    """One call as the export writes it; optional parts are left out or nulled at random."""
    first, last = person_name(rng)
    has_location = rng.random() >= 0.04
    tz = place.tz if has_location or rng.random() < 0.5 else rng.choice(US_ZONES)
    started, needs_tz = started_value(rng, moment, tz)
    record: dict[str, Any] = {"call_id": call_id, "started": started}
    if needs_tz or rng.random() < 0.4:
        record["tz"] = tz
    record["agent"] = f"agent_{rng.randint(1, 60):03d}"
    if rng.random() < 0.8:
        record["queue"] = rng.choice(CALL_QUEUES)
    record["duration_s"] = int(rng.lognormvariate(5.6, 0.7))
    caller: dict[str, Any] = {}
    roll = rng.random()
    if roll < 0.92:
        caller["customer_id"] = customer_ref(rng.randint(0, 99999))
    elif roll < 0.96:
        caller["customer_id"] = None
    # Who really called (the truth the customer linking is measured against): the customer the
    # id names, or for a call without one, a customer chosen from the call itself.
    who = (known_customer(caller["customer_id"]) if caller.get("customer_id")
           else hashed_customer(moment, first, last, place.zip))
    record[TRUE_CUSTOMER] = who.customer_id if who else None
    name = f"{first} {last}"
    caller["name"] = name.upper() if rng.random() < 0.07 else name
    caller["phone"] = phone_number(rng, place.area_code, who)
    record["caller"] = caller
    if has_location:
        record["location"] = {
            "city": messy_city(rng, place.city),
            "state": messy_state(rng, place.state),
            "zip": place.zip,
        }
    opener = rng.choice(NOTE_OPENERS)
    closer = rng.choice(NOTE_CLOSERS).format(ref=rng.randint(10000, 99999))
    body = with_contact(rng, text, first, last, place.area_code, who)
    record["notes"] = scruff(rng, opener + (sentence(body) + closer if closer else body))
    return record


def json_line(record: dict[str, Any]) -> bytes:
    """The record as one JSON line, without the generator's own keys (``_…``: the truth)."""
    return json.dumps({k: v for k, v in record.items() if not k.startswith("_")},
                      ensure_ascii=False).encode("utf-8")


def baseline_calls(rng: random.Random, day: date) -> list[Call]:
    """The day's ordinary calls (ids are given once all calls are in time order)."""
    calls = []
    for _ in range(rng.randint(150, 225)):
        moment = utc_moment(rng, day)
        place = rng.choice(PLACES)
        text = complaint_text(rng, pick_category(rng), place.city)
        calls.append(Call(moment, call_record(rng, "", moment, place, text)))
    return calls


def surge_calls(rng: random.Random, surge: Surge, baseline: Sequence[Call]) -> list[Call]:
    """Extra outage calls that lift the region's call volume ~``SURGE_MULTIPLIER``-fold."""
    region_places = places_in(surge.region)
    in_window = sum(
        1 for c in baseline
        if surge.covers(c.moment) and "location" in c.record
        and STATE_REGION.get(c.record["location"]["state"].strip().upper()) == surge.region
    )
    extra = max(25, (SURGE_MULTIPLIER - 1) * in_window)
    calls = []
    for _ in range(extra):
        hour = surge.start_hour_utc + rng.randrange(surge.hours)
        moment = utc_moment(rng, surge.day, hour)
        place = rng.choice(region_places)
        calls.append(Call(moment, call_record(rng, "", moment, place,
                                              surge_text(rng, place.city))))
    return calls


def malformed_call_lines(
    rng: random.Random, day: date, next_id: Callable[[], str]
) -> dict[str, list[bytes]]:
    """The broken lines of one file, by kind."""

    def fresh() -> dict[str, Any]:
        moment = utc_moment(rng, day)
        place = rng.choice(PLACES)
        return call_record(rng, next_id(), moment, place,
                           complaint_text(rng, pick_category(rng), place.city))

    truncated = []
    for _ in range(3):
        line = json_line(fresh())
        truncated.append(line[: rng.randint(12, len(line) - 5)])

    latin1 = fresh()
    latin1["caller"]["name"] = rng.choice(LATIN1_CALLERS)
    latin1_line = json_line(latin1).decode("utf-8").encode("latin-1", errors="replace")

    bad_duration = fresh()
    bad_duration["duration_s"] = rng.choice(NON_NUMERIC_DURATIONS)

    no_notes = fresh()
    del no_notes["notes"]

    return {
        "truncated_json": truncated,
        "invalid_utf8": [latin1_line],
        "non_numeric_duration": [json_line(bad_duration)],
        "missing_notes": [json_line(no_notes)],
    }


def call_center_exports(
    seed: int, inbox: Path, window: Sequence[date], surge: Surge | None
) -> list[FileExport]:
    """One JSON Lines file per day, with duplicates (some carried into the next day's file)."""
    rng = stream(seed, "call_center")
    counter = iter(range(100001, 10**7))

    def next_id() -> str:
        return f"CALL-{next(counter):07d}"

    exports = []
    carried: list[bytes] = []
    for index, day in enumerate(window):
        calls = baseline_calls(rng, day)
        if surge is not None and day == surge.day:
            calls += surge_calls(rng, surge, calls)
        calls.sort(key=lambda c: c.moment)
        for call in calls:
            call.record["call_id"] = next_id()
        lines = [json_line(c.record) for c in calls]
        truth = {c.record["call_id"]: c.record[TRUE_CUSTOMER] for c in calls}

        copies = rng.sample(lines, k=max(1, round(0.02 * len(lines))))
        is_last = index == len(window) - 1
        to_next = [c for c in copies if not is_last and rng.random() < 0.35]
        same_day = [c for c in copies if c not in to_next]

        broken = malformed_call_lines(rng, day, next_id)
        insert_at_random(rng, lines, same_day + carried)
        insert_at_random(rng, lines, [line for kind in broken.values() for line in kind])
        exports.append(FileExport(
            path=inbox / "call_center" / f"calls_{day:%Y-%m-%d}.jsonl",
            content=b"".join(line + b"\n" for line in lines),
            records=len(lines),
            duplicates=len(same_day) + len(carried),
            anomalies={kind: len(v) for kind, v in broken.items()},
            truth=truth,
        ))
        carried = to_next
    return exports


# ------------------------------------------------------------------------------------------------
# Web forms (CFPB CSV)
# ------------------------------------------------------------------------------------------------


def narrative(rng: random.Random, category: str, city: str) -> str:
    """A consumer narrative: the complaint plus neutral detail, sometimes over several lines."""
    parts = [scruff(rng, complaint_text(rng, category, city))]
    for detail in rng.sample(NARRATIVE_DETAILS, k=rng.choice((0, 1, 1, 2, 3))):
        parts[-1] = sentence(parts[-1])
        parts.append(fill(rng, detail.replace("{quote}", rng.choice(REP_QUOTES)), city))
    joiner = rng.choice((" ", " ", "\n", "\n\n", " \n"))
    return joiner.join(parts)


def web_form_row(
    rng: random.Random, day: date, complaint_id: str, category: str, place: Place,
    text: str | None,
) -> list[str]:
    """One CFPB-layout row (``WEB_FORM_COLUMNS`` order); ``text`` None leaves the narrative out."""
    issue = rng.choice(WEB_ISSUES[category])
    has_narrative = text is not None
    received = f"{day:%m/%d/%Y}" if rng.random() < 0.12 else day.isoformat()
    sent = day + timedelta(days=rng.choice((0, 0, 0, 1)))
    missing_place = rng.random() < 0.03
    zip_code = place.zip if rng.random() >= 0.1 else place.zip[:3] + "XX"
    row = {
        "Date received": received,
        "Product": issue.product,
        "Sub-product": issue.sub_product,
        "Issue": issue.issue,
        "Sub-issue": issue.sub_issue if rng.random() < 0.85 else "",
        "Consumer complaint narrative": text or "",
        "Company public response": rng.choice(PUBLIC_RESPONSES),
        "Company": COMPANY,
        "State": "" if missing_place else place.state,
        "ZIP code": "" if missing_place else zip_code,
        "Tags": rng.choices(("", "Older American", "Servicemember"), weights=(88, 8, 4))[0],
        "Consumer consent provided?": "Consent provided" if has_narrative
        else rng.choice(("Consent not provided", "Other", "N/A")),
        "Submitted via": "Web",
        "Date sent to company": sent.isoformat(),
        "Company response to consumer": rng.choice(COMPANY_RESPONSES),
        "Timely response?": "Yes" if rng.random() < 0.93 else "No",
        "Consumer disputed?": "N/A",
        "Complaint ID": complaint_id,
    }
    return [row[column] for column in WEB_FORM_COLUMNS]


def csv_bytes(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(WEB_FORM_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def web_form_exports(
    seed: int, inbox: Path, window: Sequence[date], surge: Surge | None
) -> list[FileExport]:
    rng = stream(seed, "web_form")
    counter = iter(range(7_400_000, 10**8, 3))
    exports = []
    for day in window:
        rows: list[list[str]] = []
        for _ in range(rng.randint(80, 118)):
            category = pick_category(rng)
            place = rng.choice(PLACES)
            text = narrative(rng, category, place.city) if rng.random() < 0.75 else None
            rows.append(web_form_row(rng, day, str(next(counter)), category, place, text))
        if surge is not None and day == surge.day:
            region_places = places_in(surge.region)
            for _ in range(rng.randint(10, 16)):
                place = rng.choice(region_places)
                text = scruff(rng, surge_text(rng, place.city))
                rows.append(web_form_row(rng, day, str(next(counter)), surge.category,
                                         place, text))
            rng.shuffle(rows)

        category, place = pick_category(rng), rng.choice(PLACES)
        no_id = web_form_row(rng, day, "", category, place, narrative(rng, category, place.city))
        bad_date = web_form_row(rng, day, str(next(counter)), pick_category(rng),
                                rng.choice(PLACES), None)
        bad_date[WEB_FORM_COLUMNS.index("Date received")] = rng.choice(UNPARSEABLE_DATES)

        copies = [list(r) for r in rng.sample(rows, k=max(1, round(0.02 * len(rows))))]
        insert_at_random(rng, rows, copies)
        insert_at_random(rng, rows, [no_id, bad_date])
        exports.append(FileExport(
            path=inbox / "web_form" / f"forms_{day:%Y-%m-%d}.csv",
            content=csv_bytes(rows),
            records=len(rows),
            duplicates=len(copies),
            anomalies={"missing_complaint_id": 1, "unparseable_date_received": 1},
        ))
    return exports


# ------------------------------------------------------------------------------------------------
# DynamoDB items (DynamoDB JSON)
# ------------------------------------------------------------------------------------------------

Item = dict[str, Any]  # plain values; boto3's TypeSerializer writes the DynamoDB JSON


def clamp(moment: datetime, last: datetime) -> datetime:
    return min(moment, last)


def complaint_management_items(
    rng: random.Random, window: Sequence[date], last: datetime
) -> list[Item]:
    """Single-table design (seed 000): a ``metadata`` item and 1-4 ``comm#`` items per complaint."""
    items: list[Item] = []
    number = 1000
    comm_number = 5000
    for day in window:
        for _ in range(rng.randint(8, 16)):
            number += rng.randint(1, 7)
            pk = f"Complaint{number}"
            created = utc_moment(rng, day)
            category = pick_category(rng)
            description = scruff(rng, complaint_text(rng, category))
            if rng.random() < 0.3:
                detail = rng.choice(NARRATIVE_DETAILS).replace("{quote}", rng.choice(REP_QUOTES))
                description = sentence(description) + " " + fill(rng, detail, "my area")
            severity = rng.choices(("P1", "P2", "P3"), weights=(
                (5, 3, 2) if category in ("network", "privacy_fraud") else (1, 4, 5)
            ))[0]
            states = COMPLAINT_STATES[: rng.randint(1, 4)]
            customer = customer_ref(rng.randint(0, 99999))
            creation = iso_z(created) if rng.random() < 0.6 else f"{created:%Y-%m-%dT%H:%M:%S}"
            metadata: Item = {
                "PK": pk, "SK": "metadata", "customer_id": customer,
                "complaint_id": pk, "current_state": states[-1],
                "creation_time": creation, "severity": severity,
                "complaint_description": description,
            }
            moment = created
            comms: list[Item] = []
            for state in states:
                moment = clamp(moment + timedelta(minutes=rng.randint(5, 600)), last)
                comm_number += 1
                comm_id = f"comm{comm_number}"
                agent = rng.choice(AGENT_IDS)
                text = rng.choice(COMM_TEXTS[state]).format(
                    agent=agent, amount=f"${rng.randint(10, 80)}.00"
                )
                comm: Item = {
                    "PK": pk, "SK": f"comm#{iso_z(moment)}#{comm_id}", "comm_id": comm_id,
                    "comm_date": iso_z(moment), "agentID": agent, "comm_text": text,
                    "complaint_state": state,
                }
                if rng.random() < 0.2:
                    comm["attachments"] = set([
                        f"s3://acme-complaint-attachments/{pk}/{name}"
                        for name in rng.sample(("photo_1.jpg", "bill.pdf", "screenshot.png",
                                                "speedtest.png"), k=rng.randint(1, 3))
                    ])
                comms.append(comm)
            if rng.random() < 0.3:
                escalated = clamp(created + timedelta(minutes=rng.randint(30, 900)), last)
                metadata["escalated_to"] = rng.choice(AGENT_IDS)
                metadata["escalation_time"] = iso_z(escalated)
            items.append(metadata)
            items.extend(comms)
    return items


def mbpp_reporter(ticket_number: str) -> Customer | None:
    """Who reported a ticket (a customer of the master, or None); their phone is in its events."""
    return hashed_customer("mbpp", ticket_number)


def mbpp_items(
    rng: random.Random, window: Sequence[date], last: datetime, surge: Surge | None
) -> tuple[list[Item], list[Item]]:
    """Complaint/incident tickets (seed 002) and their workflow events."""
    reports: list[Item] = []
    events: list[Item] = []
    ticket = 20200
    event_number = 0

    def report(day: date, moment: datetime, place: Place, kind: str, category: str,
               details: str, blocked: bool) -> None:
        nonlocal ticket, event_number
        ticket += rng.randint(1, 9)
        number = f"{ticket}/{day:%Y/%m/%d}"
        created = moment.isoformat(timespec="seconds") if rng.random() < 0.5 else iso_z(moment)
        status = rng.choice(MBPP_STATUSES)
        ttl = int((moment + timedelta(days=90)).timestamp())
        subject = rng.choice(MBPP_SUBJECTS[category]) if kind == "complaint" else "Damaged line"
        item: Item = {
            "ticket_number": number, "subject": subject, "details": details,
            "location": f"{place.city}, {place.state}",
            "category": kind, "sub_category": rng.choice(MBPP_PRODUCTS),
            "blocked_road": blocked, "created_at": created, "status": status,
            "ttl": ttl,
        }
        feedback = rng.choice(MBPP_FEEDBACK)
        if feedback:
            item["feedback"] = feedback
        reports.append(item)
        first, last_name = person_name(rng)
        reporter = mbpp_reporter(number)
        stages = [(f"{kind}_created", moment)]
        if status != "open":
            stages.append(("status_updated",
                           clamp(moment + timedelta(minutes=rng.randint(20, 800)), last)))
        for event_type, at in stages:
            event_number += 1
            events.append({
                "event_id": f"evt-{event_number:05d}-{rng.getrandbits(32):08x}",
                "ticket_number": number, "event_type": event_type,
                "timestamp": iso_z(at),
                "data": {
                    "subject": subject, "category": kind,
                    "location": f"{place.city}, {place.state}",
                    "status": status if event_type == "status_updated" else "open",
                    "reporter": {"name": f"{first} {last_name}",
                                   "phone": phone_number(rng, place.area_code, reporter)},
                    "attachments_count": rng.randint(0, 3),
                },
                "ttl": int((at + timedelta(days=90)).timestamp()),
            })

    for day in window:
        for _ in range(rng.randint(6, 12)):
            place = rng.choice(PLACES)
            moment = utc_moment(rng, day)
            if rng.random() < 0.2:
                which = rng.randrange(len(INCIDENT_TEMPLATES))
                details = scruff(rng, fill(rng, INCIDENT_TEMPLATES[which], place.city))
                report(day, moment, place, "incident", "network", details,
                       INCIDENT_BLOCKS_ROAD[which])
            else:
                category = pick_category(rng)
                details = scruff(rng, with_contact(rng, complaint_text(rng, category, place.city),
                                                   *person_name(rng), place.area_code))
                report(day, moment, place, "complaint", category, details, False)
        if surge is not None and day == surge.day:
            for _ in range(rng.randint(3, 5)):
                place = rng.choice(places_in(surge.region))
                moment = utc_moment(rng, day, surge.start_hour_utc + rng.randrange(surge.hours))
                report(day, moment, place, "complaint", surge.category,
                       scruff(rng, surge_text(rng, place.city)), False)
    return reports, events


def chat_items(
    rng: random.Random, window: Sequence[date], last: datetime
) -> tuple[list[Item], list[Item], list[Item]]:
    """Chat sessions, messages with feedback (about a third negative) and reviews (seed 004)."""
    sessions: list[Item] = []
    messages: list[Item] = []
    reviews: list[Item] = []
    message_number = 0
    for day_index, day in enumerate(window):
        remaining = rng.randint(12, 24)
        session_number = 0
        while remaining > 0:
            session_number += 1
            session_id = f"sess-{day:%Y%m%d}-{session_number:03d}"
            user = customer_ref(rng.randint(0, 99999))
            count = min(remaining, rng.randint(1, 4))
            remaining -= count
            moment = utc_moment(rng, day)
            first_sent = moment
            for _ in range(count):
                message_number += 1
                moment = clamp(moment + timedelta(seconds=rng.randint(20, 400)), last)
                response_time = f"{rng.uniform(0.4, 9.0):.2f}"
                docs = rng.sample(CHAT_DOCUMENTS, k=rng.randint(1, 3))
                item: Item = {
                    "pk_message_id": f"msg-{message_number:05d}",
                    "sk_session_id": session_id,
                    "user_prompt": rng.choice(CHAT_QUESTIONS) if rng.random() < 0.6
                                     else scruff(rng, complaint_text(rng, pick_category(rng))),
                    "bot_response": rng.choice(CHAT_ANSWERS),
                    "metadata": {
                        "model": rng.choice(("claude-3-haiku", "titan-text-express")),
                        "kendra_index": "acme-support-kb",
                        "documents": [
                            {"document_id": doc_id, "title": title,
                               "uri": f"https://support.example.com/{doc_id}",
                               "score": Decimal(f"{rng.uniform(0.3, 0.99):.2f}")}
                            for doc_id, title in docs
                        ],
                    },
                    "sent_at": iso_ms_z(moment.replace(microsecond=rng.randrange(10**6))),
                    "response_time": Decimal(response_time),
                }
                roll = rng.random()
                if roll < 0.1:
                    item["errors"] = rng.choice(CHAT_ERRORS)
                elif roll < 0.35:
                    item["errors"] = None
                feedback_at = iso_z(clamp(moment + timedelta(seconds=rng.randint(30, 900)), last))
                roll = rng.random()
                if roll < 0.34:
                    complaint = with_contact(rng, complaint_text(rng, pick_category(rng)),
                                             *person_name(rng), rng.choice(PLACES).area_code,
                                             known_customer(user))
                    item.update({
                        "feedback_type": "negative", "feedback_rank": rng.randint(1, 2),
                        "feedback_category": rng.choice(NEGATIVE_FEEDBACK_CATEGORIES),
                        "feedback_message": scruff(rng, complaint),
                        "feedback_created_at": feedback_at,
                    })
                elif roll < 0.8:
                    item.update({
                        "feedback_type": "positive", "feedback_rank": rng.randint(4, 5),
                        "feedback_category": "helpful",
                        "feedback_created_at": feedback_at,
                    })
                    if rng.random() < 0.3:
                        item["feedback_message"] = rng.choice(("thanks!", "That worked."))
                messages.append(item)
            sessions.append({
                "pk_session_id": session_id, "user_id": user,
                "title": rng.choice(("Billing question", "Internet help", "Account help",
                                       "New chat", "Equipment")),
                "created_at": iso_z(first_sent),
                "updated_at": iso_z(clamp(moment + timedelta(seconds=10), last)),
                "message_count": count,
            })
            if rng.random() < 0.25:
                review: Item = {
                    "pk_review_id": f"rev-{day_index}{session_number:03d}",
                    "session_id": session_id,
                    "reviewed_by": f"admin-{rng.randint(1, 4)}",
                    "reviewed_at": iso_z(clamp(moment + timedelta(hours=rng.randint(1, 20)),
                                                 last)),
                }
                if rng.random() < 0.7:
                    review["comments"] = rng.choice(REVIEW_COMMENTS)
                reviews.append(review)
    return sessions, messages, reviews


def customer_item(person: Customer, level: str, devices: list[Item]) -> Item:
    """The master's item of a customer: the seed's attributes plus the contact identifiers."""
    item: Item = {"id": person.customer_id, "name": person.name, "service_level": level,
                  "devices": devices, "phone": person.phone, "country": person.country}
    if person.email:
        item["email"] = person.email
    if person.handle:
        item["social_handles"] = {person.handle}
    return item


def service_bot_items(
    rng: random.Random, window: Sequence[date]
) -> tuple[list[Item], list[Item], list[Item]]:
    """Customers with devices, service levels and conversation messages (seed 001)."""
    levels: list[Item] = [
        {"level": level, "allowed_actions": [a for a in actions],
         "max_devices": max_devices, "support_priority": priority}
        for level, actions, max_devices, priority in SERVICE_LEVELS
    ]
    level_of = {level: (actions, max_devices) for level, actions, max_devices, _ in SERVICE_LEVELS}
    customers: list[Item] = []
    customer_levels: list[tuple[str, str]] = []
    device_number = 0
    for person in customer_master():
        level = rng.choices(("basic", "premium", "enterprise"), weights=(6, 4, 2))[0]
        devices = []
        for _ in range(rng.randint(1, min(4, level_of[level][1]))):
            device_number += 1
            devices.append({"id": f"dev_{device_number:03d}",
                              "type": rng.choice(DEVICE_TYPES),
                              "location": rng.choice(ROOMS)})
        customers.append(customer_item(person, level, devices))
        customer_levels.append((person.customer_id, level))

    messages: list[Item] = []
    conversation = 0
    for day in window:
        for _ in range(rng.randint(2, 4)):
            conversation += 1
            customer_id, level = rng.choice(customer_levels)
            moment = utc_moment(rng, day).replace(microsecond=rng.randrange(10**6))
            for _ in range(rng.randint(1, 3)):
                request_type, text = rng.choice(BOT_REQUESTS)
                allowed = request_type in level_of[level][0]
                messages.append({
                    "conversationId": f"conv_{conversation:04d}",
                    "timestamp": iso_ms_z(moment), "userId": customer_id, "text": text,
                    "requestType": request_type, "requiredActions": [request_type],
                    "allowed": allowed,
                })
                moment += timedelta(milliseconds=rng.randint(400, 3000))
                reply = "Done." if allowed else (
                    f"Sorry, {request_type.replace('_', ' ')} is not included in your "
                    f"{level} plan."
                )
                messages.append({
                    "conversationId": f"conv_{conversation:04d}",
                    "timestamp": iso_ms_z(moment), "userId": "bot", "text": reply,
                })
                moment += timedelta(seconds=rng.randint(5, 120))
    return customers, levels, messages


def dynamodb_items(
    seed: int, window: Sequence[date], surge: Surge | None
) -> dict[str, list[Item]]:
    """Every table's items, by logical table name (``DYNAMODB_TABLES`` order)."""
    last = datetime.combine(window[-1], time(23, 59, 59), tzinfo=UTC)
    reports, events = mbpp_items(stream(seed, "mbpp"), window, last, surge)
    sessions, messages, reviews = chat_items(stream(seed, "chat"), window, last)
    customers, levels, bot_messages = service_bot_items(stream(seed, "service_bot"), window)
    tables = {
        "complaint_management": complaint_management_items(
            stream(seed, "complaint_management"), window, last
        ),
        "service_bot_customers": customers,
        "service_bot_service_levels": levels,
        "service_bot_messages": bot_messages,
        "mbpp_reports": reports,
        "mbpp_events": events,
        "chat_sessions": sessions,
        "chat_messages": messages,
        "chat_reviews": reviews,
    }
    return {logical: tables[logical] for logical in DYNAMODB_TABLES}


def customer_truth(items: dict[str, list[Item]]) -> dict[str, dict[str, str | None]]:
    """Who really wrote each complaint of the DynamoDB sources, by source and source record id:
    the complaint system's customer (its own id, or the chat session's user) when the master
    knows them, the ticket's reporter for mbpp reports; None when nobody the master knows."""
    def known(customer_id: str | None) -> str | None:
        person = known_customer(customer_id)
        return person.customer_id if person else None

    users = {s["pk_session_id"]: s["user_id"] for s in items["chat_sessions"]}
    reporters = {r["ticket_number"]: mbpp_reporter(r["ticket_number"])
                 for r in items["mbpp_reports"]}
    return {
        "complaint_management": {i["PK"]: known(i["customer_id"])
                                 for i in items["complaint_management"] if i["SK"] == "metadata"},
        "mbpp_reports": {t: r.customer_id if r else None for t, r in reporters.items()},
        "chat_feedback": {m["pk_message_id"]: known(users[m["sk_session_id"]])
                          for m in items["chat_messages"]
                          if m.get("feedback_type") == "negative"},
    }


def load_tables(settings: Settings, items: dict[str, list[Item]]) -> dict[str, int]:
    """Create missing tables (PITR on) and put every item; putting again overwrites."""
    from common.aws import DynamoDB

    dynamodb = DynamoDB(settings)
    existing = set(dynamodb.table_names())
    written = {}
    for logical, table_items in items.items():
        spec = DYNAMODB_TABLES[logical]
        name = settings.tables[logical]
        if name not in existing:
            dynamodb.create_table(name, spec.partition_key, spec.sort_key)
        dynamodb.enable_point_in_time_recovery(name)
        written[logical] = dynamodb.put_items(name, table_items)
    return written


# ------------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------------


def write_exports(exports: Sequence[FileExport]) -> list[Path]:
    for export in exports:
        export.path.parent.mkdir(parents=True, exist_ok=True)
        export.path.write_bytes(export.content)
    return [export.path for export in exports]


def summed(exports: Sequence[FileExport]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for export in exports:
        for kind, count in export.anomalies.items():
            totals[kind] = totals.get(kind, 0) + count
    return totals


def generate(
    settings: Settings,
    *,
    seed: int = 7,
    days: int = 5,
    start: date = date(2026, 11, 2),
    load_dynamodb: bool = True,
) -> GenerationSummary:
    """Write ``days`` days of sample complaints from ``start`` and (optionally) load DynamoDB."""
    if days < 1:
        raise ValueError("days must be at least 1")
    window = [start + timedelta(days=i) for i in range(days)]
    surge = default_surge(start, days)
    inbox = settings.zones.inbox
    by_source = {
        "call_center": call_center_exports(seed, inbox, window, surge),
        "web_form": web_form_exports(seed, inbox, window, surge),
    }
    files = [path for exports in by_source.values() for path in write_exports(exports)]
    anomalies = {source: summed(exports) for source, exports in by_source.items()}
    items = dynamodb_items(seed, window, surge)
    if load_dynamodb:
        item_counts = load_tables(settings, items)
    else:
        item_counts = {logical: len(table_items) for logical, table_items in items.items()}
    return GenerationSummary(
        seed=seed,
        start=start,
        days=days,
        files=files,
        records={src: sum(e.records for e in ex) for src, ex in by_source.items()},
        duplicates={src: sum(e.duplicates for e in ex) for src, ex in by_source.items()},
        malformed={src: sum(kinds.values()) for src, kinds in anomalies.items()},
        anomalies=anomalies,
        dynamodb_items=item_counts,
        dynamodb_loaded=load_dynamodb,
        surge=surge,
        customer_truth={"call_center": {k: v for e in by_source["call_center"]
                                        for k, v in e.truth.items()},
                        "web_form": {}, **customer_truth(items)},
    )
