"""Rule-based classification of complaints from the versioned rules file (``rules/telecom.yaml``).

``load_rules`` reads and validates the file (pure Python); ``classify_complaints`` turns the rules
into one regex scan per text for every cue, then short work on the cues found, and adds category,
subcategory, rule severity, the rule that decided, a score, urgency, sentiment (VADER,
``jobs.sentiment``: the same for every taxonomy, so not part of the rules file) and the taxonomy
version to a DataFrame with a text column. No Python UDF: in local mode with a JDK, Java computes
it (``jobs/jvm/RuleClassifier.java``, from ``jvm_plan``); elsewhere native Spark expressions
compute the same rows. ``with_classification`` is the part ``complaints classify-eval`` measures.
"""

from __future__ import annotations

import importlib
import json
import re
import string
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.sentiment import with_sentiment
from jobs.spark import built_once, jvm_udf, map_literal, map_lookup

T = TypeVar("T")

TAXONOMY_CATEGORIES = (
    "network", "billing", "service", "account", "device", "privacy_fraud", "other",
)
SEVERITIES = ("P1", "P2", "P3")


# --- pattern language: how people write
# A pattern is a phrase: tokens separated by spaces (outside brackets). A plain word (letters and
# apostrophes) matches its inflections: plural, -ed, -ing, -er (with a doubled final consonant:
# drop/dropped, cancel/cancelled), a final e or y that changes (charge/charging, reply/replies) and
# British/American spellings (-ise/-ize, -isation/-ization, -our/-or). `~N` lets up to N other
# words stand between the tokens around it ("data ~2 cap" also finds "data usage cap"). Any other
# token is a Java regular expression, used as written ("mbps", "(is |has been )?down").
# Matches are whole words on letters only, so "25Mbps" matches "mbps".
STOP_WORDS = frozenset(
    "a an the no not my me to of in on for is it at by up out off and or be was are too i you "
    "we they he she this that with from as can".split())
_PLAIN_WORD = re.compile(r"[a-z][a-z']*")
_GAP = re.compile(r"~(\d)")
_SEPARATOR = "\\W+"
_BRITISH = ((re.compile(r"i[sz](?=e$|ation$|ed$|ing$|er$)"), "i[sz]"),
            (re.compile(r"(?<=[a-z]{3})ou?r$"), "ou?r"))
# Negation right before a cue cancels it: "not a billing issue", "isn't about my bill".
NEGATION = ("(?:not|never|isn'?t|wasn'?t|aren'?t|nothing to do with)\\s+"
            "(?:(?:a|an|the|my|about|just|only|really|related to|actually|even)\\s+){0,2}")


def _spelling(stem: str) -> str:
    for pattern, replacement in _BRITISH:
        stem = pattern.sub(replacement, stem)
    return stem


def inflected(word: str) -> str:
    """A regex for a plain word and its inflections (see the pattern language above)."""
    word = word.lower()
    if word in STOP_WORDS or len(word) < 3 or "'" in word:
        return re.escape(word)
    if word.endswith("e"):
        return _spelling(word)[:-1] + "(?:e|es|ed|ing|er|ers)"
    if word.endswith("y") and word[-2] not in "aeiou":
        return _spelling(word[:-1]) + "(?:y|ies|ied|ying)"
    last = word[-1] if word[-1] not in "aeiouwxy" else ""
    doubled = f"|{last}ed|{last}ing|{last}er|{last}ers" if last else ""
    return _spelling(word) + f"(?:s|es|ed|ing|er|ers{doubled})?"


def _tokens(pattern: str) -> list[str]:
    """Split on spaces outside brackets: "(is |has been )?down" stays one token."""
    tokens, depth, current = [], 0, ""
    for char in pattern:
        depth += (char in "([") - (char in ")]")
        if char == " " and depth == 0:
            tokens.append(current)
            current = ""
        else:
            current += char
    return [t for t in [*tokens, current] if t]


def phrase_regex(pattern: str) -> str:
    """The regex of one rule pattern, without the word guards (see ``cue_regex``)."""
    parts: list[str] = []
    gap = ""
    for token in _tokens(pattern):
        words = _GAP.fullmatch(token)
        if words:
            gap = f"(?:\\w+\\W+){{0,{words.group(1)}}}"
            continue
        if parts:
            parts.append(_SEPARATOR + gap)
            gap = ""
        parts.append(inflected(token) if _PLAIN_WORD.fullmatch(token) else f"(?:{token})")
    return "".join(parts)


class RulesError(ValueError):
    """The rules file is not usable; the message says where and why."""


@dataclass(frozen=True)
class Subcategory:
    name: str
    severity: str
    patterns: tuple[str, ...]
    weight: float = 1.0  # generic cues ("bill", "support") count less than specific ones


@dataclass(frozen=True)
class Category:
    name: str
    subcategories: tuple[Subcategory, ...]
    priority: int = 0  # equal scores go to the higher priority, then to the category listed first


@dataclass(frozen=True)
class Opening:
    """The first words of a long narrative usually name what it is about ("My mortgage servicer
    ..."), while the rest tells the story and mentions other products on the way: a cue within
    the first ``characters`` (cut at a word's end) counts ``weight`` times."""
    characters: int
    weight: float


@dataclass(frozen=True)
class Rules:
    taxonomy: str
    version: str
    default_category: str
    default_subcategory: str
    default_severity: str
    categories: tuple[Category, ...]
    urgent: tuple[str, ...]
    opening: Opening | None = None  # None: every cue counts the same wherever it stands
    # Where a text without any cue goes (None: default_category). A taxonomy whose catch-all is a
    # real family that complaints rarely belong to sends such texts to its most common family.
    no_cue_category: str | None = None

    @property
    def without_cue(self) -> str:
        return self.no_cue_category or self.default_category

    @property
    def category_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories) + (self.default_category,)


def _patterns(raw: Any, where: str, phrases: bool = False) -> tuple[str, ...]:
    """Category patterns are phrases (the language above); urgency cues are plain regular
    expressions."""
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) and p for p in raw):
        raise RulesError(f"{where}: patterns must be a non-empty list of strings")
    for p in raw:
        try:
            re.compile(phrase_regex(p) if phrases else p)
        except re.error as exc:
            raise RulesError(f"{where}: pattern {p!r} is not a valid regex: {exc}") from exc
    return tuple(raw)


def _listed_twice(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


def _subcategory(sub: Any, where: str, default_severity: Any) -> Subcategory:
    if not isinstance(sub, dict) or not sub.get("name"):
        raise RulesError(f"{where}: a subcategory must be a mapping with a 'name'")
    severity = sub.get("severity", default_severity)
    if severity not in SEVERITIES:
        raise RulesError(f"{where}: severity {severity!r} is not one of {SEVERITIES}")
    weight = sub.get("weight", 1)
    if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
        raise RulesError(f"{where}: weight {weight!r} must be a positive number")
    patterns = _patterns(sub.get("patterns"), where, phrases=True)
    return Subcategory(str(sub["name"]), severity, patterns, float(weight))


def _category(cat: Any, i: int, allowed_categories: tuple[str, ...],
              default_severity: Any) -> Category:
    name = cat.get("name") if isinstance(cat, dict) else None
    if name not in allowed_categories:
        raise RulesError(f"categories[{i}]: {name!r} is not one of {allowed_categories}")
    subs = [_subcategory(sub, f"{name}.subcategories[{j}]", default_severity)
            for j, sub in enumerate(cat.get("subcategories") or [])]
    if not subs:
        raise RulesError(f"category {name} has no subcategories")
    twice = _listed_twice([s.name for s in subs])
    if twice:
        raise RulesError(f"category {name}: subcategories listed twice: {twice}")
    priority = cat.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise RulesError(f"category {name}: priority {priority!r} must be an integer")
    return Category(name, tuple(subs), priority)


def _categories(doc: dict[str, Any], allowed_categories: tuple[str, ...]) -> tuple[Category, ...]:
    if not isinstance(doc["categories"], list):
        raise RulesError("'categories' must be a list")
    default_severity = doc.get("default_severity", "P3")
    categories = tuple(_category(cat, i, allowed_categories, default_severity)
                       for i, cat in enumerate(doc["categories"]))
    names = [c.name for c in categories]
    twice = _listed_twice(names)
    if twice:
        raise RulesError(f"categories listed twice: {twice}")
    default = doc["default_category"]
    if default not in allowed_categories or default in names:
        raise RulesError(f"default_category {default!r} must be a taxonomy category without rules")
    missing = set(allowed_categories) - set(names) - {default}
    if missing:
        raise RulesError(f"categories without rules: {sorted(missing)}")
    return categories


def _opening(raw: Any) -> Opening | None:
    if raw is None:
        return None
    characters = raw.get("characters") if isinstance(raw, dict) else None
    weight = raw.get("weight") if isinstance(raw, dict) else None
    if not isinstance(characters, int) or isinstance(characters, bool) or characters <= 0:
        raise RulesError(f"opening: characters {characters!r} must be a positive integer")
    if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 1:
        raise RulesError(f"opening: weight {weight!r} must be a number of at least 1")
    return Opening(characters, float(weight))


def _no_cue_category(doc: dict[str, Any], categories: tuple[Category, ...]) -> str | None:
    name = doc.get("no_cue_category")
    names = [c.name for c in categories] + [doc["default_category"]]
    if name is not None and name not in names:
        raise RulesError(f"no_cue_category {name!r} is not one of {tuple(names)}")
    return name


def parse_rules(doc: Any, allowed_categories: tuple[str, ...] = TAXONOMY_CATEGORIES) -> Rules:
    if not isinstance(doc, dict):
        raise RulesError("rules file must be a mapping")
    for key in ("taxonomy", "version", "default_category", "categories"):
        if key not in doc:
            raise RulesError(f"rules file has no '{key}'")
    categories = _categories(doc, allowed_categories)
    default_severity = str(doc.get("default_severity", "P3"))
    if default_severity not in SEVERITIES:
        raise RulesError(f"default_severity {default_severity!r} is not one of {SEVERITIES}")
    return Rules(
        taxonomy=str(doc["taxonomy"]),
        version=str(doc["version"]),
        default_category=doc["default_category"],
        default_subcategory=str(doc.get("default_subcategory", "unspecified")),
        default_severity=default_severity,
        categories=categories,
        urgent=_patterns((doc.get("urgent") or {}).get("patterns"), "urgent"),
        opening=_opening(doc.get("opening")),
        no_cue_category=_no_cue_category(doc, categories),
    )


def load_rules(path: Path, allowed_categories: tuple[str, ...] | None = None) -> Rules:
    """Read and validate a rules file; ``allowed_categories`` defaults to the file's own
    ``categories`` list when it has one (another business's taxonomy), else the telecom one."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read rules file {path}: {exc}") from exc
    return parse_rules(doc, allowed_categories or _declared_categories(doc))


def _declared_categories(doc: Any) -> tuple[str, ...]:
    declared = doc.get("taxonomy_categories") if isinstance(doc, dict) else None
    if declared is None:
        return TAXONOMY_CATEGORIES
    if not isinstance(declared, list) or not all(isinstance(c, str) and c for c in declared):
        raise RulesError("'taxonomy_categories' must be a list of category names")
    return tuple(declared)


def word_regex(patterns: tuple[str, ...]) -> str:
    """One case-insensitive regex matching any pattern as whole words (urgency cues)."""
    return "(?i)(?<![\\w])(?:" + "|".join(f"(?:{p})" for p in patterns) + ")(?![\\w])"


def hit_count(text: Column, patterns: tuple[str, ...]) -> Column:
    return F.size(F.regexp_extract_all(text, F.lit(word_regex(patterns)), 0))


# --- compiled rules
@dataclass(frozen=True)
class Rule:
    """One pattern of one subcategory: what a cue found in a text is attributed to."""
    rule_id: str  # category.subcategory.n (n: the pattern's place in its list, from 1)
    category: str
    subcategory: str
    regex: str


def rules_of(rules: Rules) -> tuple[Rule, ...]:
    """Every pattern as a rule, in the order of the combined regex: longer phrases first (so
    "credit check" is found before "credit" can take the word), then category priority, then
    as listed."""
    listed = [
        (len(_tokens(p)), Rule(f"{c.name}.{s.name}.{n}", c.name, s.name, phrase_regex(p)))
        for c in _by_priority(rules) for s in c.subcategories
        for n, p in enumerate(s.patterns, start=1)
    ]
    return tuple(rule for _, rule in sorted(listed, key=lambda pair: -pair[0]))


def _by_priority(rules: Rules) -> list[Category]:
    return sorted(rules.categories, key=lambda c: -c.priority)  # stable: then listed order


# --- first-character dispatch
# Java tries the alternatives of a regex one by one at every position: with 300 patterns that is
# 300 attempts at every word of every text. Grouping them by the characters they can start with,
# behind a one-character lookahead, leaves a few dozen cheap checks and the handful of patterns
# that can start there, in their original order (so the same alternative wins as before).
sre = importlib.import_module("re._constants")  # Python's own regex parser, to read patterns
sre_parse = importlib.import_module("re._parser")
_DIGITS = frozenset("0123456789")
_SPACES = frozenset(" \t\n\r\f\v")
_WIDEST_RANGE = 64
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_BACK_REFERENCES = (sre.GROUPREF, sre.GROUPREF_EXISTS)


def _class_first(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is sre.LITERAL:
            chars.add(chr(av).lower())
        elif op is sre.RANGE and av[1] - av[0] < _WIDEST_RANGE:
            chars.update(chr(c).lower() for c in range(av[0], av[1] + 1))
        elif op is sre.CATEGORY and av in (sre.CATEGORY_DIGIT, sre.CATEGORY_SPACE):
            chars |= _DIGITS if av is sre.CATEGORY_DIGIT else _SPACES
        else:
            return None
    return chars


def _first(items: Iterable[tuple[Any, Any]]) -> tuple[set[str] | None, bool]:
    """The characters a parsed regex can start with (None: any), and whether it can match empty."""
    found: set[str] = set()
    for op, av in items:
        first: set[str] | None
        if op is sre.LITERAL:
            first, empty = {chr(av).lower()}, False
        elif op is sre.IN:
            first, empty = _class_first(av), False
        elif op is sre.SUBPATTERN:
            first, empty = _first(av[3])
        elif op is sre.BRANCH:
            firsts = [_first(branch) for branch in av[1]]
            first = None if any(f is None for f, _ in firsts) else \
                set().union(*(f for f, _ in firsts if f is not None))
            empty = any(e for _, e in firsts)
        elif op in _REPEATS:
            first, empty = _first(av[2])
            empty = empty or av[0] == 0
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):  # zero width: look further
            first, empty = set(), True
        else:
            return None, False
        if first is None:
            return None, False
        found |= first
        if not empty:
            return found, False
    return found, True


def _strictly(read: Callable[..., T], regex: str, *flags: Any) -> T:
    """``read(regex, *flags)`` with Python's own warnings raised as errors: a warning marks a
    construct Python reads otherwise than Java (``&&`` in a class is an intersection for Java)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read(regex, *flags)


def _parsed(regex: str) -> Any:
    return _strictly(sre_parse.parse, regex)


def first_chars(regex: str) -> frozenset[str] | None:
    """The (lower-case) characters every match of ``regex`` starts with, or None when that
    cannot be told (any character, an empty match, or syntax Python's parser does not know)."""
    try:
        chars, empty = _first(_parsed(regex))
    except (re.error, Warning, RecursionError, TypeError, ValueError, OverflowError):
        return None
    return None if chars is None or empty else frozenset(chars)


def _char_class(chars: Iterable[str]) -> str:
    return "[" + "".join(re.escape(c) if not c.isalnum() else c for c in sorted(chars)) + "]"


@dataclass(frozen=True)
class Dispatch:
    """Alternatives grouped by first character: ``groups`` pairs the characters of a group with
    the indexes (in order) of the alternatives that can start with one of them; ``anywhere`` holds
    those that can start with anything (they are in every group too)."""
    groups: tuple[tuple[str, tuple[int, ...]], ...]
    anywhere: tuple[int, ...]

    @property
    def known(self) -> str:
        return "".join(chars for chars, _ in self.groups)


def dispatch(alternatives: list[str]) -> Dispatch:
    firsts = [first_chars(a) for a in alternatives]
    members: dict[tuple[int, ...], str] = {}
    for char in sorted(set().union(*(f for f in firsts if f is not None))):
        key = tuple(i for i, f in enumerate(firsts) if f is None or char in f)
        members[key] = members.get(key, "") + char
    return Dispatch(tuple((chars, key) for key, chars in members.items()),
                    tuple(i for i, f in enumerate(firsts) if f is None))


def _alternation(alternatives: list[str], indexes: tuple[int, ...]) -> str:
    """The alternatives at ``indexes``, in that order, as one group (the first that matches)."""
    return "(?:" + "|".join(f"(?:{alternatives[i]})" for i in indexes) + ")"


def dispatched(alternatives: list[str]) -> str:
    """The alternation of ``alternatives`` (first match wins) as one regex, each group of
    ``dispatch`` entered through a one-character lookahead."""
    plan = dispatch(alternatives)
    branches = [f"(?={_char_class(chars)})" + _alternation(alternatives, indexes)
                for chars, indexes in plan.groups]
    if plan.anywhere:
        branches.append((f"(?!{_char_class(plan.known)})" if plan.known else "")
                        + _alternation(alternatives, plan.anywhere))
    return "(?:" + "|".join(branches) + ")"


_WORD_START = "(?i)(?<![a-z])"  # no cue starts right after a letter


def _guarded(alternatives: list[str]) -> str:
    return _WORD_START + "(" + NEGATION + ")?(" + dispatched(alternatives) + ")(?![a-z])"


def cue_at(alternatives: list[str]) -> list[tuple[str, str]]:
    """(characters, regex) for each ``dispatch`` group: the cue regex as it is at a position
    holding one of the characters, which is only that group's alternatives (its lookahead holds
    there, every other fails). A character a negation can start with is left out of every group
    (the negation may lead to a cue starting with anything): there, and at any character not
    listed, the whole cue regex applies. Same matches as the whole regex at the same position,
    with a fraction of its groups (which a Java matcher resets at every position it tries)."""
    negation_starts = first_chars(NEGATION)
    if negation_starts is None or any(_refers_back(a) for a in alternatives):
        return []  # a back-reference counts groups of the whole regex: it keeps the whole
    return [(kept, _WORD_START + _alternation(alternatives, indexes) + "(?![a-z])")
            for chars, indexes in dispatch(alternatives).groups
            if (kept := "".join(c for c in chars if c not in negation_starts))]


def _refers_back(regex: str) -> bool:
    """Whether ``regex`` has a back-reference (or Python cannot tell)."""
    def within(node: Any) -> bool:
        if isinstance(node, sre_parse.SubPattern):
            return any(within(item) for item in node.data)
        if isinstance(node, tuple) and node and any(node[0] is op for op in _BACK_REFERENCES):
            return True
        return isinstance(node, (tuple, list)) and any(within(item) for item in node)

    try:
        return within(_parsed(regex))
    except (re.error, Warning, RecursionError, TypeError, ValueError, OverflowError):
        return True


def cue_regex(rules: Rules) -> str:
    """All patterns of all categories as one regex: one scan of each text finds every cue.
    At one position the first alternative that matches wins, so the order is the priority
    (``dispatched`` keeps it)."""
    return _guarded([r.regex for r in rules_of(rules)])


def validate_with_java(spark: SparkSession, rules: Rules) -> None:
    """Compile every pattern with the engine that runs it (``java.util.regex``, as Spark does):
    Python's ``re`` accepts some patterns Java rejects, and the other way round."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:  # Spark Connect: the server compiles (and names the bad pattern) itself
        return
    compile_java = jvm.java.util.regex.Pattern.compile
    for rule in rules_of(rules):
        try:
            compile_java(_guarded([rule.regex]))
        except Exception as exc:  # py4j wraps PatternSyntaxException
            first = str(exc).strip().splitlines()
            detail = next((line for line in first if "PatternSyntax" in line), first[-1])
            raise RulesError(f"rule {rule.rule_id}: not a valid Java regex: {detail}") from exc


_CAPTURING = re.compile(r"(?<!\\)\((?!\?)")
_RULE_SEPARATOR = "\u0001"


def _non_capturing(regex: str) -> str:
    return _CAPTURING.sub("(?:", regex)


def _rule_index(part: Column, alternatives: list[str]) -> Column:
    """Which alternative (1-based) the main regex took for ``part``, the text of a cue after its
    negation: the first that matches all of it, which is the one the main regex chose (an earlier
    one matching the same text would have been taken). Only the group of the part's first
    character is tried: each of its alternatives is a numbered group of one anchored regex, and
    one replacement writes each group's text, separated by \\u0001 (Java writes nothing for a
    group that did not take part): the rule's group wrote the whole part, after one separator
    per group before it, so where the part starts in the result is the rule's place in the
    group. (A third of the time of splitting the result into pieces, and less generated code.)
    The part always matches: the main regex took it through the same group, in the same order."""
    plan = dispatch(alternatives)

    def within(indexes: tuple[int, ...]) -> Column:
        groups = "|".join(f"({_non_capturing(alternatives[i])})" for i in indexes)
        marks = _RULE_SEPARATOR.join(f"${n}" for n in range(1, len(indexes) + 1))
        written = F.regexp_replace(part, F.lit(f"(?i)^(?:{groups})$"), F.lit(marks))
        return F.element_at(_literals([i + 1 for i in indexes]), F.position(part, written))

    first = F.lower(F.substring(part, 1, 1))
    index: Column | None = None
    for chars, indexes in plan.groups:
        test = first.isin(*chars)
        index = (F.when if index is None else index.when)(test, within(indexes))
    fallback = within(plan.anywhere) if plan.anywhere else F.lit(None)
    return fallback if index is None else index.otherwise(fallback)


# --- the rule of a cue, looked up
# Most cues are written the way their pattern spells them ("outage", "charged", "no service"), so
# each pattern's own spellings are tried in Python, once per rules file, against the patterns of
# their first character in order, as ``_rule_index`` does: the first that matches all of a
# spelling is its rule. A cue whose text (in lower case) is such a spelling is looked up; any
# other is told by ``_rule_index``. Python's ``re`` (ASCII, case-insensitive) reads these
# patterns as Java does on printable ASCII; a pattern it reads otherwise (a warning) or not at
# all (Java-only syntax) ends the trust: no spelling it might take is listed after it.
# What an open word ("slow\\w*") is spelled with:
_WORD_ENDINGS = ("", "e", "s", "es", "ed", "ing", "er", "ers", "y", "ly", "al", "ness", "ment",
                 "ments", "ion", "ions", "ional", "ation", "ations")
_MOST_SPELLINGS = 1024
_SPELLING = re.compile("[ -~]+")  # printable ASCII


def _spelled(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    texts = {""}
    for op, av in items:
        forms = _forms(op, av)
        if forms is None:
            return None
        texts = {text + form for text in texts for form in forms}
        if len(texts) > _MOST_SPELLINGS:
            return None
    return texts


def _forms(op: Any, av: Any) -> set[str] | None:
    """Some texts one parsed regex item matches (None: it cannot say)."""
    if op is sre.LITERAL:
        return {chr(av).lower()}
    if op is sre.IN:
        spaces = ([(sre.CATEGORY, sre.CATEGORY_NOT_WORD)], [(sre.CATEGORY, sre.CATEGORY_SPACE)])
        return {" "} if av in spaces else _class_first(av)
    if op is sre.SUBPATTERN:
        return _spelled(av[3])
    if op is sre.BRANCH:
        branches = [b for b in (_spelled(branch) for branch in av[1]) if b is not None]
        return set().union(*branches) if branches else None
    if op in _REPEATS:
        return _repeated(*av)
    return {""} if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT) else None


def _repeated(least: int, most: int, item: Any) -> set[str] | None:
    if _is_word(item):
        return {e for e in _WORD_ENDINGS if least <= len(e) <= most}
    forms = _spelled(item)
    if forms is None or least > 3:
        return None
    # An optional part once and not at all; a gap of other words ("~2") not at all.
    counts = {least} if least > 0 or most == 0 or _has_word(item) else {0, 1}
    return {"".join(parts) for n in counts for parts in _product(forms, n)}


_WORD_CLASS = [(sre.IN, [(sre.CATEGORY, sre.CATEGORY_WORD)])]


def _is_word(item: Any) -> bool:
    return list(item) == _WORD_CLASS


def _has_word(items: Any) -> bool:
    """Whether parsed regex items repeat ``\\w`` anywhere (an open word: "~2" is one)."""
    for op, av in items:
        if op in _REPEATS and (_is_word(av[2]) or _has_word(av[2])):
            return True
        if op is sre.SUBPATTERN and _has_word(av[3]):
            return True
        if op is sre.BRANCH and any(_has_word(branch) for branch in av[1]):
            return True
    return False


def _product(forms: set[str], n: int) -> list[tuple[str, ...]]:
    parts: list[tuple[str, ...]] = [()]
    for _ in range(n):
        parts = [p + (f,) for p in parts for f in forms]
    return parts


def spellings(regex: str) -> frozenset[str]:
    """Texts ``regex`` is written to match (a few of them when there are many), in lower case."""
    try:
        texts = _spelled(_parsed(regex)) or set()
    except (re.error, Warning, RecursionError, TypeError, ValueError, OverflowError):
        return frozenset()
    return frozenset(t for t in texts if _SPELLING.fullmatch(t))


# Read otherwise even on plain text: inline flags (the table is looked up in lower case) and
# back-references (``_rule_index`` numbers the groups its own way).
_UNTRUSTED = re.compile(r"\(\?-?[A-Za-z]|\\[1-9k]")


def _python_regex(regex: str) -> re.Pattern[str] | None:
    if _UNTRUSTED.search(regex):
        return None
    try:
        return _strictly(re.compile, regex, re.IGNORECASE | re.ASCII)
    except (re.error, Warning, RecursionError, OverflowError):
        return None


def cue_table(alternatives: list[str]) -> dict[str, int]:
    """Spelling → the (1-based) alternative ``_rule_index`` finds for it."""
    plan = dispatch(alternatives)
    by_char = {char: indexes for chars, indexes in plan.groups for char in chars}
    regexes = [_python_regex(a) for a in alternatives]
    table: dict[str, int] = {}
    for text in sorted(set().union(*(spellings(a) for a in alternatives))):
        for i in by_char.get(text[0], plan.anywhere):
            regex = regexes[i]
            if regex is None:
                break
            if regex.fullmatch(text):
                table[text] = i + 1
                break
    return table


_TABLE_BUCKETS = 4096


def _rule_of(part: Column, alternatives: list[str], table: Column) -> Column:
    """The alternative (1-based) the main regex took for ``part``: looked up, else matched."""
    lower = F.translate(part, string.ascii_uppercase, string.ascii_lowercase)
    return F.coalesce(map_lookup(table, lower, _TABLE_BUCKETS), _rule_index(part, alternatives))


def _literals(values: list[Any]) -> Column:
    return F.array(*[F.lit(v) for v in values])


def _cue_of(found: Column, rules: Rules) -> Column:
    """The rule behind a cue (from ``_found``) and its subcategory's weight (0 when negated),
    times the cue's boost (see ``_found``)."""
    listed = rules_of(rules)
    subs = {(c.name, s.name): s for c in rules.categories for s in c.subcategories}
    index = found["index"]

    def pick(values: list[Any]) -> Column:
        return F.element_at(_literals(values), index)

    weight = pick([subs[(r.category, r.subcategory)].weight for r in listed]) * found["boost"]
    return F.struct(
        F.when(found["negated"], F.lit(0.0)).otherwise(weight).alias("weight"),
        (-index).alias("order"),  # the first listed wins among equal weights
        pick([r.category for r in listed]).alias("category"),
        pick([r.subcategory for r in listed]).alias("sub"),
        pick([subs[(r.category, r.subcategory)].severity for r in listed]).alias("severity"),
        pick([r.rule_id for r in listed]).alias("rule_id"),
    )


def _category_score(cues: Column, category: str) -> Column:
    return F.aggregate(cues, F.lit(0.0),
                       lambda acc, c: acc + F.when(c["category"] == category, c["weight"])
                       .otherwise(F.lit(0.0)))


_TEMP = ("_classify_text", "_found", "_cues", "_scores", "_best", "_total", "_winner")
_OUTPUT = ("category", "subcategory", "rule_severity", "rule_id", "classification_score")


def _split_negation(cue: Column, alternatives: list[str]) -> Column:
    """A cue the main regex found, as (negation, part): the way the main regex matched it, which
    is the first way its own regex, anchored at both ends, matches the cue (an earlier way would
    have matched in the text too). Only a cue that starts with a negation word is matched again."""
    split = F.regexp_extract_all(cue, F.lit("^" + _guarded(alternatives) + "$"), F.lit(1))
    negation = F.when(cue.rlike("(?i)^" + NEGATION),
                      F.coalesce(F.try_element_at(split, F.lit(1)), F.lit(""))).otherwise(F.lit(""))
    return F.struct(negation.alias("negation"),
                    F.substring(cue, F.length(negation) + 1, 1 << 30).alias("part"))


def _table_of(rules: Rules) -> Column:
    return map_literal(cue_table([r.regex for r in rules_of(rules)]), "int", _TABLE_BUCKETS)


def _cues_in(text: Column, rules: Rules, boost: float, table: Column) -> Column:
    """Every cue of ``text`` as (index of its rule, negated, boost): one regex scan of the text,
    then short work on each cue it found (``table``: ``_table_of(rules)``)."""
    alternatives = [r.regex for r in rules_of(rules)]
    cues = F.regexp_extract_all(text, F.lit(cue_regex(rules)), 0)
    return F.transform(F.transform(cues, lambda cue: _split_negation(cue, alternatives)),
                       lambda cue: F.struct(
                           _rule_of(cue["part"], alternatives, table).cast("int").alias("index"),
                           (cue["negation"] != F.lit("")).alias("negated"),
                           F.lit(boost).alias("boost")))


def _opening_regex(opening: Opening) -> str:
    return f"^[\\s\\S]{{0,{opening.characters}}}(?![A-Za-z])"


def _found(text: Column, rules: Rules) -> Column:
    """The cues of the text; with an ``opening``, the cues of its first characters (cut at a
    word's end) once more, weighing the rest of the opening's weight: a second, short scan."""
    table = _table_of(rules)
    found = _cues_in(text, rules, 1.0, table)
    if rules.opening is None:
        return found
    opening = F.regexp_extract(text, _opening_regex(rules.opening), 0)
    return F.concat(found, _cues_in(opening, rules, rules.opening.weight - 1.0, table))


def _steps(rules: Rules) -> list[list[Column]]:
    """The projections after the text's (each reads the columns before it, by name)."""
    text, found, cues, scores, best, total, winner = (F.col(c) for c in _TEMP)
    listed = {c.name: i for i, c in enumerate(rules.categories)}
    matched = best["score"] > 0
    return [
        [_found(text, rules)],
        [F.transform(found, lambda f: _cue_of(f, rules))],
        [F.array(*[F.struct(_category_score(cues, c.name).alias("score"),
                            F.lit(c.priority).alias("priority"),
                            F.lit(-listed[c.name]).alias("order"), F.lit(c.name).alias("name"))
                   for c in rules.categories])],
        [F.array_max(scores),
         F.aggregate(scores, F.lit(0.0), lambda acc, s: acc + s["score"]),
         F.array_max(F.filter(cues, lambda c: (c["category"] == F.array_max(scores)["name"])
                              & (c["weight"] > 0)))],
        [F.when(matched, best["name"]).otherwise(F.lit(rules.without_cue)),
         F.when(matched, winner["sub"]).otherwise(F.lit(rules.default_subcategory)),
         F.when(matched, winner["severity"]).otherwise(F.lit(rules.default_severity)),
         F.when(matched, winner["rule_id"]),
         F.when(matched, F.round(best["score"] / total, 3)).otherwise(F.lit(0.0))],
    ]


def with_classification(frame: DataFrame, text: Column, rules: Rules,
                        jvm: bool = True) -> DataFrame:
    """Add category, subcategory, rule_severity, rule_id and classification_score of a text.

    One regex scan finds every cue (``cue_regex``); each cue is attributed to its subcategory on
    its own short text; a category's score is the sum of its cues' weights (negated cues weigh
    0; with an ``opening``, a cue in the text's first characters weighs its weight times more);
    the highest score wins, equal scores go to the higher priority (then the first listed).
    Within the winner, the heaviest cue decides subcategory and rule. The score is the winner's
    share of all cue weight (1.0: every cue agrees; 0.0: no cue, the default category or the
    ``no_cue_category``).

    With ``jvm`` and the project's JVM classes in the session (local mode with a JDK), Java
    computes it (jobs/jvm/RuleClassifier.java, from ``jvm_plan``); else Spark expressions do.
    In the expressions, each step is its own projection, so Spark computes the cues once, not
    once per use; the steps are built once per session and rules (``built_once``).
    """
    session = frame.sparkSession
    udf = built_once(session, rules, lambda r: _registered_classifier(session, r)) \
        if jvm else None
    if udf is not None:
        result = "_classification"
        return frame.select("*", F.call_function(udf, text).alias(result)).select(
            "*", *[F.col(result)[name].alias(name) for name in _OUTPUT]).drop(result)
    steps = built_once(session, rules, _steps)
    names = [[_TEMP[1]], [_TEMP[2]], [_TEMP[3]], list(_TEMP[4:]), list(_OUTPUT)]
    frame = frame.select("*", text.alias(_TEMP[0]))
    for step, step_names in zip(steps, names, strict=True):
        frame = frame.select("*", *[c.alias(n) for c, n in zip(step, step_names, strict=True)])
    return frame.drop(*_TEMP)


# --- the same in Java (jobs/jvm/RuleClassifier.java)
_RESULT_DDL = ("category string, subcategory string, rule_severity string, rule_id string, "
               "classification_score double")
_START_LENGTH = 3  # characters of a cue's start the Java scan looks at
_MOST_STARTS = 20_000
# The alphabet of the starts: what a text's character is to the scan (coarse_char).
_WORD_CHARS = frozenset(string.ascii_lowercase + string.digits + "_")
_COARSE = frozenset(_WORD_CHARS | {"#"})


def coarse_char(char: str) -> str:
    """A text's character as the Java scan reads it: ASCII letters in lower case, digits and
    "_" as they are, anything else "#" (the cue regex is case-insensitive on ASCII only)."""
    lower = char.lower() if "A" <= char <= "Z" else char
    return lower if lower in _WORD_CHARS else "#"


def _coarse_class(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is sre.NEGATE:
            return set(_COARSE)
        if op is sre.LITERAL:
            chars.add(coarse_char(chr(av)))
        elif op is sre.RANGE:
            low, high = av
            chars.update(coarse_char(chr(c)) for c in range(low, min(high, 127) + 1))
            if high > 127:
                chars.add("#")
        elif op is sre.CATEGORY:
            chars |= {sre.CATEGORY_DIGIT: set(string.digits), sre.CATEGORY_WORD: set(_WORD_CHARS),
                      sre.CATEGORY_SPACE: {"#"}, sre.CATEGORY_NOT_WORD: {"#"}}.get(av, _COARSE)
        else:
            return None
    return chars


def _starts(items: Iterable[tuple[Any, Any]], k: int) -> set[str] | None:
    """The first ``k`` characters (``coarse_char``) of every match of parsed regex ``items``;
    a shorter string is a whole match. None: it cannot be told (or there are too many)."""
    found = {""}
    for op, av in items:
        if all(len(s) >= k for s in found):
            return found
        forms = _starts_of(op, av, k)
        if forms is None:
            return None
        found = {s if len(s) >= k else (s + f)[:k] for s in found for f in forms}
        if len(found) > _MOST_STARTS:
            return None
    return found


def _starts_of(op: Any, av: Any, k: int) -> set[str] | None:
    if op is sre.LITERAL:
        return {coarse_char(chr(av))}
    if op in (sre.NOT_LITERAL, sre.ANY):
        return set(_COARSE)
    if op is sre.IN:
        return _coarse_class(av)
    if op is sre.SUBPATTERN:
        return _starts(av[3], k)
    if op is sre.BRANCH:
        branches = [_starts(branch, k) for branch in av[1]]
        return None if any(b is None for b in branches) else \
            set().union(*(b for b in branches if b is not None))
    if op in _REPEATS:
        least, most, item = av
        return _repeated_starts(least, most, item, k)
    return {""} if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT) else None  # zero width: look on


def _repeated_starts(least: int, most: int, item: Any, k: int) -> set[str] | None:
    one = _starts(item, k)
    if one is None:
        return None
    # More than k + 1 repetitions start no other way than k + 1 do (the first k characters come
    # from k items at most, and the others can be empty or are past them).
    top = min(most, k + 1)
    found, repeated = set(), {""}
    for count in range(top + 1):
        if count >= min(least, top):
            found |= repeated
        repeated = {s if len(s) >= k else (s + f)[:k] for s in repeated for f in one}
    return found


def cue_starts(rules: Rules) -> frozenset[str] | None:
    """Every start (``_START_LENGTH`` characters, ``coarse_char``) a match of ``cue_regex`` can
    have; None when some cannot be told or a match can be empty (the scan then tries every
    position)."""
    return _cue_starts(cue_regex(rules))


def _cue_starts(cue: str) -> frozenset[str] | None:
    try:
        starts = _starts(_parsed(cue), _START_LENGTH)
    except (re.error, Warning, RecursionError, TypeError, ValueError, OverflowError):
        return None
    return None if starts is None or "" in starts else frozenset(starts)


def jvm_plan(rules: Rules) -> str:
    """What RuleClassifier.java needs of ``rules`` (JSON): the regexes and the cue table the
    expressions use, the rules in ``rules_of`` order, the categories, the defaults."""
    listed = rules_of(rules)
    alternatives = [r.regex for r in listed]
    cue = _guarded(alternatives)  # cue_regex(rules)
    subs = {(c.name, s.name): s for c in rules.categories for s in c.subcategories}
    plan = dispatch(alternatives)
    starts = _cue_starts(cue)
    return json.dumps({
        "cue": cue,
        "negation_start": "(?i)^" + NEGATION,
        "anchored": "^" + cue + "$",
        "cue_at": [list(group) for group in cue_at(alternatives)],
        "alternatives": [f"(?i)(?:{a})" for a in alternatives],
        "groups": [[chars, list(indexes)] for chars, indexes in plan.groups],
        "anywhere": list(plan.anywhere),
        "table": cue_table(alternatives),
        "rules": [{"category": r.category, "sub": r.subcategory,
                   "severity": subs[(r.category, r.subcategory)].severity,
                   "rule_id": r.rule_id, "weight": subs[(r.category, r.subcategory)].weight}
                  for r in listed],
        "categories": [{"name": c.name, "priority": c.priority} for c in rules.categories],
        "without_cue": rules.without_cue,
        "default_subcategory": rules.default_subcategory,
        "default_severity": rules.default_severity,
        "opening": None if rules.opening is None else {
            "regex": _opening_regex(rules.opening),
            "boost": rules.opening.weight - 1.0},
        "starts": None if starts is None else sorted(starts),
        "word_start": cue.startswith(_WORD_START),
    }, sort_keys=True)


def _registered_classifier(session: Any, rules: Rules) -> str | None:
    """The name of the rules' classification as a JVM UDF registered in the session; None when
    the session's driver does not have RuleClassifier (``jvm_udf``)."""
    return jvm_udf(session, "RuleClassifier", _RESULT_DDL, jvm_plan(rules))


def classify_complaints(
    frame: DataFrame, rules: Rules, text_col: str = "classify_text",
    sentiment_col: str | None = None, jvm: bool = True,
) -> DataFrame:
    """Add category, subcategory, rule_severity, rule_id, classification_score, urgent,
    sentiment_score, sentiment and taxonomy_version. Sentiment reads ``sentiment_col`` (default:
    the classified text): the customer's words, without the source's category hints. ``jvm``:
    computed in Java when the session has the project's JVM classes (the same results)."""
    validate_with_java(frame.sparkSession, rules)
    text = F.coalesce(F.col(text_col), F.lit(""))
    classified = with_classification(frame, text, rules, jvm=jvm).select(
        "*", text.rlike(word_regex(rules.urgent)).alias("urgent"))
    feeling = F.coalesce(F.col(sentiment_col or text_col), F.lit(""))
    return with_sentiment(classified, feeling, jvm=jvm).select(
        "*", F.lit(rules.version).alias("taxonomy_version"))
