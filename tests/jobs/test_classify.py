"""jobs/classify.py: the rules file, its validation, and classification of realistic texts."""

from __future__ import annotations

import copy
import os
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import functions as F

from common.settings import DEFAULT_RULES, REPO_ROOT
from jobs.classify import (
    TAXONOMY_CATEGORIES,
    Opening,
    Rules,
    RulesError,
    _cues_in,
    _rule_index,
    _rule_of,
    _table_of,
    classify_complaints,
    coarse_char,
    cue_at,
    cue_starts,
    cue_table,
    dispatched,
    first_chars,
    inflected,
    load_rules,
    parse_rules,
    phrase_regex,
    rules_of,
    spellings,
    validate_with_java,
    with_classification,
)
from jobs.spark import jvm_class

RULES_DOC: dict[str, Any] = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
CFPB_RULES = REPO_ROOT / "rules" / "cfpb.yaml"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(DEFAULT_RULES)


# --- the rules file
def test_real_rules_file_covers_exactly_the_taxonomy(rules: Rules) -> None:
    # The order matters: ties go to the category listed first (most serious first).
    assert rules.category_names == (
        "privacy_fraud", "network", "billing", "account", "device", "service", "other",
    )
    assert sorted(rules.category_names) == sorted(TAXONOMY_CATEGORIES)
    assert (rules.taxonomy, rules.default_subcategory, rules.default_severity) == (
        "telecom", "unspecified", "P3",
    )
    assert rules.version == str(RULES_DOC["version"]) and rules.version
    assert all(s.severity in ("P1", "P2", "P3") for c in rules.categories for s in c.subcategories)
    assert rules.urgent


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _category(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["categories"] if c["name"] == name)


BROKEN_RULES = {
    "unknown category": (
        _set(("categories", 0, "name"), "tv"),
        r"^categories\[0\]: 'tv' is not one of \('network', 'billing', ",
    ),
    "category without a name": (
        lambda d: d["categories"][2].pop("name"),
        r"^categories\[2\]: None is not one of ",
    ),
    "bad regex": (
        lambda d: _category(d, "network")["subcategories"][1]["patterns"].append("speed (test"),
        r"^network\.subcategories\[1\]: pattern 'speed \(test' is not a valid regex",
    ),
    "empty patterns": (
        lambda d: _category(d, "billing")["subcategories"][0].update(patterns=[]),
        r"^billing\.subcategories\[0\]: patterns must be a non-empty list of strings$",
    ),
    "missing category": (
        lambda d: d["categories"].remove(_category(d, "device")),
        r"^categories without rules: \['device'\]$",
    ),
    "duplicate category": (
        lambda d: d["categories"].append(copy.deepcopy(_category(d, "billing"))),
        r"^categories listed twice: \['billing'\]$",
    ),
    "duplicate subcategory": (
        lambda d: _category(d, "device")["subcategories"].append(
            copy.deepcopy(_category(d, "device")["subcategories"][0])),
        r"^category device: subcategories listed twice: \['modem_router'\]$",
    ),
    "subcategory without a name": (
        lambda d: _category(d, "service")["subcategories"][2].pop("name"),
        r"^service\.subcategories\[2\]: a subcategory must be a mapping with a 'name'$",
    ),
    "bad severity": (
        lambda d: _category(d, "account")["subcategories"][0].update(severity="high"),
        r"^account\.subcategories\[0\]: severity 'high' is not one of \('P1', 'P2', 'P3'\)$",
    ),
    "bad default severity": (
        _set(("default_severity",), "urgent"),
        r"^default_severity 'urgent' is not one of \('P1', 'P2', 'P3'\)$",
    ),
    "default category with rules": (
        _set(("default_category",), "network"),
        r"^default_category 'network' must be a taxonomy category without rules$",
    ),
    "opening without characters": (
        _set(("opening",), {"characters": 0, "weight": 3}),
        r"^opening: characters 0 must be a positive integer$",
    ),
    "opening that weighs less": (
        _set(("opening",), {"characters": 100, "weight": 0.5}),
        r"^opening: weight 0.5 must be a number of at least 1$",
    ),
    "unknown no-cue category": (
        _set(("no_cue_category",), "tv"),
        r"^no_cue_category 'tv' is not one of \('privacy_fraud', ",
    ),
    "no version": (lambda d: d.pop("version"), r"^rules file has no 'version'$"),
    "categories not a list": (_set(("categories",), None), r"^'categories' must be a list$"),
    "no urgent patterns": (
        lambda d: d.pop("urgent"), r"^urgent: patterns must be a non-empty list of strings$",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_RULES))
def test_parse_rules_rejects_broken_rules_with_a_helpful_message(case: str) -> None:
    mutate, message = BROKEN_RULES[case]
    doc = copy.deepcopy(RULES_DOC)
    mutate(doc)
    with pytest.raises(RulesError, match=message):
        parse_rules(doc)


def test_parse_rules_rejects_a_document_that_is_not_a_mapping() -> None:
    with pytest.raises(RulesError, match=r"^rules file must be a mapping$"):
        parse_rules(RULES_DOC["categories"])


def test_parse_rules_accepts_the_unchanged_document() -> None:
    # The control for the cases above: the mutation, not the copy, breaks them.
    assert parse_rules(copy.deepcopy(RULES_DOC)) == load_rules(DEFAULT_RULES)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, r"^cannot read rules file .*missing\.yaml"),
     ("categories: [unclosed", r"^cannot read rules file .*missing\.yaml")],
)
def test_load_rules_unreadable_file(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "missing.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RulesError, match=message):
        load_rules(path)


# --- classification
UNMATCHED = "the bluetooth pairing fails every time"
# (text, category, subcategory, rule severity, urgent, sentiment: VADER's label as the
# vaderSentiment package gives it, odd as some are: "super slow" is positive)
CASES = [
    ("someone opened an account in my name",
     "privacy_fraud", "identity_theft", "P1", False, "neutral"),
    ("my internet has been down for 3 days and nobody can tell me why",
     "network", "outage", "P1", False, "neutral"),
    ("NO INTERNET since Monday morning",
     "network", "outage", "P1", False, "negative"),
    # needed "keep" (not only "keeps") in network.intermittent (rules 2026.11.2)
    ("calls keep dropping when I drive through Austin",
     "network", "intermittent", "P2", False, "neutral"),
    # overcharge and bill_general both hit once: the first-listed subcategory wins
    ("I was charged twice for my October bill",
     "billing", "overcharge", "P2", False, "negative"),
    ("I cancelled my service in October and the account is still active",
     "account", "cancellation", "P2", False, "positive"),
    ("my modem keeps rebooting every few hours",
     "device", "modem_router", "P2", False, "neutral"),
    ("technician never showed up for my installation appointment",
     "service", "technician", "P2", False, "neutral"),
    ("Acme Telecom", "other", "unspecified", "P3", False, "neutral"),
    # no rule for it yet (see test_changing_a_rule_changes_the_outcome_and_the_version)
    (UNMATCHED, "other", "unspecified", "P3", False, "negative"),
    ("mobile data stopped working, phone only shows SOS",
     "network", "outage", "P1", False, "negative"),
    # generic billing words weigh half: the specific fraud cue wins (rules 2026.11.3)
    ("there are unauthorized charges on my bill",
     "privacy_fraud", "unauthorised_charges", "P1", False, "negative"),
    ("they ran a credit check when I only asked for a quote",
     "account", "credit_check", "P3", False, "positive"),
    ("you shared my personal information with a marketing company without consent",
     "privacy_fraud", "privacy", "P2", False, "positive"),
    ("the new phone you sent will not hold a charge",
     "device", "handset", "P3", False, "neutral"),
    ("I want to port my number but nobody will give me the account PIN",
     "account", "access", "P2", False, "positive"),
    ("scammers called pretending to be your billing team",
     "privacy_fraud", "scam", "P2", False, "positive"),
    ("I am not happy with the repair tech who came two hours late",
     "service", "technician", "P2", False, "negative"),
    (None, "other", "unspecified", "P3", False, "neutral"),
    # data caps are billing, throttling is network
    ("hit my data cap after two weeks and now I pay overage charges every month",
     "billing", "data_caps", "P3", False, "negative"),
    ("wifi is super slow every evening, it feels like you are throttling me",
     "network", "slow_speed", "P2", False, "positive"),
    # ties between categories go to the one listed first...
    ("received a bill for a phone I never ordered, this is identity theft",
     "privacy_fraud", "identity_theft", "P1", False, "neutral"),
    ("the internet is slow since you replaced my router",
     "network", "slow_speed", "P2", False, "neutral"),
    # ...but more hits win: device 3 (router, modem, rebooting) over network 1 (slow)
    ("the router is slow and the modem keeps rebooting",
     "device", "modem_router", "P2", False, "neutral"),
    ("I need 911", "other", "unspecified", "P3", True, "neutral"),
    ("home phone line has no dial tone and my mother needs to be able to call 911",
     "network", "outage", "P1", True, "negative"),
    ("Thank you, the technician was great and very helpful",
     "service", "technician", "P2", False, "positive"),
    ("this company is the worst, absolutely ridiculous",
     "other", "unspecified", "P3", False, "negative"),
]


def test_classify_realistic_texts(spark: Any, rules: Rules) -> None:
    frame = spark.createDataFrame([(i, c[0]) for i, c in enumerate(CASES)],
                                  "i int, classify_text string")
    out = classify_complaints(frame, rules)
    assert out.columns == ["i", "classify_text", "category", "subcategory", "rule_severity",
                           "rule_id", "classification_score", "urgent", "sentiment_score",
                           "sentiment", "taxonomy_version"]
    got = sorted(out.collect())
    assert [(r.classify_text, r.category, r.subcategory, r.rule_severity, r.urgent, r.sentiment)
            for r in got] == CASES
    assert {r.taxonomy_version for r in got} == {rules.version}


def _with_pattern(rules: Rules, category: str, subcategory: str, pattern: str,
                  version: str) -> Rules:
    categories = tuple(
        replace(c, subcategories=tuple(
            replace(s, patterns=s.patterns + (pattern,)) if s.name == subcategory else s
            for s in c.subcategories))
        if c.name == category else c
        for c in rules.categories
    )
    return replace(rules, categories=categories, version=version)


def test_changing_a_rule_changes_the_outcome_and_the_version(spark: Any, rules: Rules) -> None:
    frame = spark.createDataFrame([(UNMATCHED,)], "classify_text string")
    changed = _with_pattern(rules, "device", "handset", "bluetooth", "2026.11.3-test")
    assert changed.version != rules.version
    columns = ["category", "subcategory", "rule_severity", "taxonomy_version"]
    before = classify_complaints(frame, rules).select(columns)
    after = classify_complaints(frame, changed).select(columns)
    assert [tuple(r) for r in before.union(after).collect()] == [
        ("other", "unspecified", "P3", rules.version),
        ("device", "handset", "P3", "2026.11.3-test"),
    ]



# --- how people write: inflections, glued units, gaps, negation, priority
@pytest.mark.parametrize(("pattern", "matches", "misses"), [
    ("charge", ["charge", "charges", "charged", "charging", "Charger"],
     ["chargeback", "discharge"]),
    ("drop", ["drop", "drops", "dropped", "dropping"], ["droplet"]),
    ("cancel", ["cancel", "cancelled", "canceled", "cancelling", "cancels"], ["cancellation"]),
    ("company", ["company", "companies"], ["companion"]),
    ("authorize", ["authorize", "authorised", "authorizing"], ["authority"]),
    ("data ~2 cap", ["data cap", "data usage cap", "data-usage caps", "data monthly usage cap"],
     ["data a b c cap", "cap data"]),
    ("mbps", ["25Mbps", "25 mbps", "Mbps"], ["mbpsx"]),
])
def test_a_pattern_matches_how_people_write(pattern: str, matches: list[str],
                                            misses: list[str]) -> None:
    import re
    regex = re.compile(r"(?i)(?<![a-z])(?:" + phrase_regex(pattern) + r")(?![a-z])")
    assert [m for m in matches if not regex.search(m)] == []
    assert [m for m in misses if regex.search(m)] == []


def test_stop_words_are_not_inflected() -> None:
    assert (inflected("no"), inflected("not")) == ("no", "not")


def _tiny_rules(**changes: Any) -> Rules:
    doc = {
        "taxonomy": "tiny", "version": "1", "default_category": "other",
        "categories": [
            {"name": "billing", "subcategories": [
                {"name": "fees", "patterns": ["fee"]},
                {"name": "bill_general", "weight": 0.5, "patterns": ["bill"]}]},
            {"name": "network", "subcategories": [
                {"name": "slow", "patterns": ["slow", "speed"]}]},
            {"name": "service", "subcategories": [
                {"name": "not_authorised", "patterns": ["not authori[sz]ed"]}]},
        ],
        "urgent": {"patterns": ["911"]},
    }
    doc.update(changes)
    return parse_rules(doc, ("billing", "network", "service", "other"))


def _classified(spark: Any, rules: Rules, texts: list[str]) -> list[tuple[Any, ...]]:
    frame = spark.createDataFrame([(i, t) for i, t in enumerate(texts)],
                                  "i int, classify_text string")
    return [(r.category, r.subcategory, r.rule_id, r.classification_score)
            for r in classify_complaints(frame, rules).orderBy("i").collect()]


def test_negation_priority_rule_id_and_score(spark: Any) -> None:
    rules = _tiny_rules()
    assert _classified(spark, rules, [
        "it is not a billing issue, the speed is awful",  # the negated cue counts nothing
        "slow internet and a late fee",  # a tie: the category listed first
        "the fee and the bill are wrong, speed is fine",  # 1.5 billing against 1 network
        "this is not authorized",  # a rule that starts with "not" is no negation
        "nothing to see",
    ]) == [
        ("network", "slow", "network.slow.2", 1.0),
        ("billing", "fees", "billing.fees.1", 0.5),
        ("billing", "fees", "billing.fees.1", 0.6),
        ("service", "not_authorised", "service.not_authorised.1", 1.0),
        ("other", "unspecified", None, 0.0),
    ]
    categories: list[dict[str, Any]] = [
        {"name": "billing", "subcategories": [{"name": "fees", "patterns": ["fee"]}]},
        {"name": "network", "priority": 1,
         "subcategories": [{"name": "slow", "patterns": ["slow"]}]},
        {"name": "service", "subcategories": [{"name": "x", "patterns": ["x"]}]}]
    prioritised = _tiny_rules(categories=categories)
    assert _classified(spark, prioritised, ["slow internet and a late fee"]) == [
        ("network", "slow", "network.slow.1", 0.5)]


def test_each_cue_is_told_with_its_negation(spark: Any) -> None:
    rules = _tiny_rules()
    ids = [r.rule_id for r in rules_of(rules)]
    texts = ["it wasnt my bill, the speed is awful", "this is not authorized",
             "Not the fee but not a slow line either", "never slow"]
    frame = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "i int, t string")
    cues = _cues_in(F.col("t"), rules, 1.0, _table_of(rules))
    found = [[(ids[c["index"] - 1], c["negated"]) for c in r.cues] for r in frame.select(
        "i", cues.alias("cues")).orderBy("i").collect()]
    assert found == [
        [("billing.bill_general.1", True), ("network.slow.2", False)],
        [("service.not_authorised.1", False)],  # a rule that starts with "not" is no negation
        [("billing.fees.1", True), ("network.slow.1", True)],
        [("network.slow.1", True)],
    ]


def test_an_opening_cue_counts_more_and_a_text_without_cue_can_go_elsewhere(spark: Any) -> None:
    texts = ["slow since monday, and then the fee, the fee and the bill", "nothing to see"]
    assert _classified(spark, _tiny_rules(), texts) == [  # 2.5 billing against 1 network
        ("billing", "fees", "billing.fees.1", 0.714), ("other", "unspecified", None, 0.0)]
    opening = _tiny_rules(opening={"characters": 12, "weight": 3}, no_cue_category="billing")
    # "slow" stands in the first 12 characters (cut at a word's end): 3 network against 2.5.
    assert _classified(spark, opening, texts) == [
        ("network", "slow", "network.slow.1", 0.545), ("billing", "unspecified", None, 0.0)]
    assert opening.opening == Opening(12, 3.0) and opening.without_cue == "billing"
    # The opening ends where a word ends: a word the cut would split is not in it.
    cut = _tiny_rules(opening={"characters": 3, "weight": 3})
    assert _classified(spark, cut, texts[:1])[0][0] == "billing"


@pytest.mark.parametrize(("regex", "first"), [
    ("outag(?:e|es)", "o"),
    ("(is |has been )?down", "ihd"),
    ("[A-C]\\w*", "abc"),
    ("\\d+\\s?m(b|eg)", "0123456789"),
    ("(?:x)?", None),  # can match nothing: any next character
    ("\\w+ing", None),  # any word character
    ("(?P<bad", None),  # not even Python's regex: no guess
])
def test_first_chars_of_a_pattern(regex: str, first: str | None) -> None:
    assert first_chars(regex) == (frozenset(first) if first is not None else None)


def test_dispatch_keeps_the_first_alternative_that_matches(spark: Any) -> None:
    # Order decides ("not working" before "work"); a pattern that can start with anything sits in
    # every group and in its own (the digits here); Java compiles what Python's parser cannot.
    alternatives = ["not working", "(no|poor) signal", "work", "\\w*bill\\w*", "signal",
                    "\\d+\\s?mbps", "(?<![a-z])n\\p{L}t"]
    plain = "(?i)(?<![a-z])(?:" + "|".join(f"(?:{a})" for a in alternatives) + ")(?![a-z])"
    grouped = "(?i)(?<![a-z])" + dispatched(alternatives) + "(?![a-z])"
    texts = ["Internet not working, poor signal", "overbilled again; signal 25Mbps",
             "work work bill", "NOT WORKING and No signal", "7 mbps net", "", "nut"]
    frame = spark.createDataFrame([(t,) for t in texts], "text string")
    rows = frame.select(F.regexp_extract_all("text", F.lit(plain), 0).alias("plain"),
                        F.regexp_extract_all("text", F.lit(grouped), 0).alias("grouped")).collect()
    assert [r.grouped for r in rows] == [r.plain for r in rows]
    assert rows[0].grouped == ["not working", "poor signal"]
    assert rows[1].grouped == ["overbilled", "signal", "25Mbps"]


@pytest.mark.parametrize(("regex", "some", "none_of"), [
    (phrase_regex("outage"), {"outage", "outages"}, set()),
    (phrase_regex("authorise"), {"authorised", "authorizing"}, set()),
    (phrase_regex("data ~2 cap"), {"data cap", "data caps"}, {"data usage cap"}),  # no gap words
    ("slow\\w*", {"slow", "slowly", "slowness"}, set()),
    ("(is |has been )?down", {"down", "is down", "has been down"}, set()),
    ("\\d+\\s?m(b|eg)", {"5mb", "0 meg"}, {"mb"}),  # a number: each digit once
    ("n\\p{L}t", set(), {"nut"}),  # Java's syntax: Python cannot spell it
])
def test_spellings_of_a_pattern(regex: str, some: set[str], none_of: set[str]) -> None:
    spelled = spellings(regex)
    assert some <= spelled and not none_of & spelled
    assert (spelled == frozenset()) == (not some)


@pytest.mark.parametrize("rules_file", [DEFAULT_RULES, CFPB_RULES])
def test_every_spelling_in_the_cue_table_has_the_rule_java_finds(spark: Any,
                                                                  rules_file: Path) -> None:
    # The table is built with Python's re; the rules run on Java's. Every entry, in lower and
    # upper case, must name the pattern Java's anchored match takes (``_rule_index``).
    alternatives = [r.regex for r in rules_of(load_rules(rules_file))]
    table = cue_table(alternatives)
    assert len(table) > 10_000
    frame = spark.createDataFrame(list(table.items()), "text string, rule int")
    differ = frame.where(~F.col("rule").eqNullSafe(_rule_index(F.col("text"), alternatives))
                         | ~F.col("rule").eqNullSafe(_rule_index(F.upper("text"), alternatives)))
    assert differ.count() == 0


def test_a_cue_not_in_the_table_is_told_by_its_pattern(spark: Any, rules: Rules) -> None:
    alternatives = [r.regex for r in rules_of(rules)]
    table = cue_table(alternatives)
    cues = ["Outage", "port my number", "Internet has been  DOWN", "port number"]
    assert [c.lower() in table for c in cues] == [True, False, False, True]
    frame = spark.createDataFrame([(c,) for c in cues], "cue string")
    told = frame.select(_rule_of(F.col("cue"), alternatives, _table_of(rules)).alias("rule"),
                        _rule_index(F.col("cue"), alternatives).alias("matched")).collect()
    assert [r.rule for r in told] == [r.matched for r in told] and None not in told[0]
    ids = [rules_of(rules)[r.rule - 1].rule_id for r in told]
    assert ids[0].startswith("network.outage.") and ids[1] == ids[3]


def test_a_pattern_python_reads_otherwise_ends_the_tables_trust() -> None:
    # "[a-z&&[^n]]ut" is an intersection for Java (not "nut"), a set with "&" for Python (which
    # warns): no spelling it might take is listed, since Python cannot tell.
    assert cue_table(["nut", "cut"]) == {"nut": 1, "cut": 2}
    assert cue_table(["[a-z&&[^n]]ut", "nut", "cut"]) == {}
    assert cue_table(["n\\p{L}t", "nut", "cut"]) == {}  # it might start with anything
    # Case-sensitive for Java, looked up in lower case: "LTE" is the first pattern's, "lte" not.
    assert cue_table(["(?-i:LTE)", "lte"]) == {}
    # Python rejects a lookbehind of varying width, Java takes it; it starts with "n" only.
    assert cue_table(["n(?<=\\w{1,3})ut", "nut", "cut"]) == {"cut": 3}


def test_a_pattern_java_rejects_is_an_error_naming_the_rule(spark: Any) -> None:
    # Python's named group: Python's re accepts it, Java (which runs it) does not.
    rules = _tiny_rules()
    service = rules.categories[2]
    broken = parse_rules({"taxonomy": "tiny", "version": "1", "default_category": "other",
                          "categories": [
                              {"name": c.name, "subcategories": [
                                  {"name": s.name, "patterns": list(s.patterns)}
                                  for s in c.subcategories]}
                              for c in rules.categories[:2]] + [
                              {"name": service.name, "subcategories": [
                                  {"name": "not_authorised", "patterns": ["(?P<word>cap)"]}]}],
                          "urgent": {"patterns": ["911"]}},
                         ("billing", "network", "service", "other"))
    with pytest.raises(RulesError, match=r"^rule service\.not_authorised\.1: not a valid Java "
                                         r"regex: "):
        validate_with_java(spark, broken)


def test_the_largest_taxonomy_compiles_to_java_without_falling_back(spark: Any) -> None:
    # The CFPB rules (the most patterns) with sentiment, as Spark expressions: code past Java's
    # 64 KB method limit would fail to compile, and Spark would quietly run the stage interpreted
    # (logging a long stack trace). With the fallback off, that is an error here.
    frame = spark.createDataFrame(
        [("My mortgage servicer charged late fees twice, and I am NOT happy with my credit",),
         ("Debt collector keeps calling about a debt that is not mine",)], "text string")
    spark.conf.set("spark.sql.codegen.fallback", "false")
    try:
        rows = classify_complaints(frame, load_rules(CFPB_RULES), text_col="text",
                                   jvm=False).collect()
    finally:
        spark.conf.unset("spark.sql.codegen.fallback")
    assert [r.category for r in rows] == ["mortgage", "debt_collection"]
    assert rows[0].sentiment == "negative"


# --- the same in Java (jobs/jvm/RuleClassifier.java)
def _jvm_classes(spark: Any) -> None:
    if jvm_class(spark, "RuleClassifier") is None:
        message = "no RuleClassifier class in the session: the JVM classes need a JDK's javac"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _texts_for(rules: Rules) -> list[str]:
    """Texts full of the rules' cues: the cases above, each spelling of the cue table in a few
    settings (negated, upper case, at the start, glued to punctuation or letters), and random
    word salads of those spellings, negations and other words, some long (past an opening)."""
    spelled = sorted(cue_table([r.regex for r in rules_of(rules)]))
    texts = [c[0] or "" for c in CASES]
    for n, word in enumerate(spelled):
        texts += [word, f"not a {word} issue", f"{word.upper()}!!", f"it's x{word} or {word}s.",
                  f"never {word}, {spelled[(n * 7) % len(spelled)]} again"]
    rng = random.Random(11)
    filler = ["the", "my", "is", "not", "no", "isn't", "never", "and", "but", "2", "$5.00", "😡",
              "é", "O'Brien", "\t", "-", "nothing to do with", "really", "a"]
    for _ in range(1500):
        words = [*rng.choices(spelled, k=rng.randint(1, 6)),
                 *rng.choices(filler, k=rng.randint(0, 30))]
        rng.shuffle(words)
        texts.append(" ".join(w.upper() if rng.random() < 0.1 else w for w in words))
    return texts


@pytest.mark.parametrize("rules_file", [DEFAULT_RULES, CFPB_RULES])
def test_java_classifies_as_the_expressions_do(spark: Any, rules_file: Path) -> None:
    _jvm_classes(spark)
    rules = load_rules(rules_file)
    texts = _texts_for(rules)
    frame = spark.createDataFrame(list(enumerate(texts)), "i int, text string")
    text = F.coalesce(F.col("text"), F.lit(""))
    java = with_classification(frame, text, rules, jvm=True)
    assert "complaints_ruleclassifier_" in java._jdf.queryExecution().analyzed().toString()
    expressions = with_classification(frame, text, rules, jvm=False)
    rows = {jvm: sorted(tuple(r) for r in result.collect())
            for jvm, result in ((True, java), (False, expressions))}
    assert len(rows[True]) == len(texts)
    assert rows[True] == rows[False]
    assert {r[2] for r in rows[True]} >= {c.name for c in rules.categories}  # each one seen


def test_the_cue_regex_by_first_character_leaves_negations_and_back_references_whole(
        spark: Any) -> None:
    rules = _tiny_rules(categories=[
        {"name": "billing", "subcategories": [{"name": "fees", "patterns": ["fee", "bill"]}]},
        {"name": "network", "subcategories": [{"name": "slow", "patterns": ["no signal"]}]},
        {"name": "service", "subcategories": [{"name": "x", "patterns": ["[ab]x"]}]}])
    alternatives = [r.regex for r in rules_of(rules)]
    by_char = dict(cue_at(alternatives))
    # "n" (no signal) and "a" ([ab]x) may start a negation ("not", "aren't"): the whole regex
    assert sorted(by_char) == ["b", "f"]
    assert "fe(?:e" in by_char["f"] and "bill" not in by_char["f"] and "not" not in by_char["f"]
    assert cue_at([*alternatives, "(f)\\1ee"]) == []
    _jvm_classes(spark)
    frame = spark.createDataFrame(
        [(i, t) for i, t in enumerate(["not a fee", "a bill, no signal", "aren't fees",
                                       "bx, AX and FEE", "nothing", "isn't bx"])],
        "i int, classify_text string")
    java, expressions = [
        [(r.category, r.subcategory, r.classification_score)
         for r in classify_complaints(frame, rules, jvm=jvm).orderBy("i").collect()]
        for jvm in (True, False)]
    assert java == expressions
    assert [c for c, _, _ in java] == ["other", "billing", "other", "service", "other", "other"]


def test_the_starts_of_a_cue_and_when_they_cannot_be_told(spark: Any) -> None:
    starts = cue_starts(_tiny_rules())
    assert starts is not None
    # the cues' first three characters ("#": not a letter, digit or "_"), negations included
    assert {"fee", "bil", "slo", "spe", "not", "nev", "isn", "was"} <= starts
    assert {"the", "my#", "###"}.isdisjoint(starts)
    assert coarse_char("F") == "f" and coarse_char("é") == "#" and coarse_char("7") == "7"
    # repeats: "x{5}" starts "xxx"; "(?:x?){5}" can start with anything after no x at all
    repeats = cue_starts(_tiny_rules(categories=[
        {"name": "billing",
         "subcategories": [{"name": "fees", "patterns": ["x{5}", "(?:y?){5}z"]}]},
        {"name": "network", "subcategories": [{"name": "slow", "patterns": ["slow"]}]},
        {"name": "service", "subcategories": [{"name": "x", "patterns": ["qq"]}]}]))
    assert repeats is not None and repeats >= {"xxx", "yyy", "yyz", "yz", "z"}
    # a back-reference: no starts, Java tries every position (and still finds what Spark does)
    doubled = _tiny_rules(categories=[
        {"name": "billing", "subcategories": [{"name": "fees", "patterns": ["(f)\\1ee"]}]},
        {"name": "network", "subcategories": [{"name": "slow", "patterns": ["slow"]}]},
        {"name": "service", "subcategories": [{"name": "x", "patterns": ["xx"]}]}])
    assert cue_starts(doubled) is None
    _jvm_classes(spark)
    frame = spark.createDataFrame([(1, "a ffee and slow"), (2, "FFEE"), (3, "nothing")],
                                  "i int, text string")
    text = F.coalesce(F.col("text"), F.lit(""))
    assert with_classification(frame, text, doubled).orderBy("i").collect() == \
        with_classification(frame, text, doubled, jvm=False).orderBy("i").collect()
