"""Rule-based classification of complaints from the versioned rules file (``rules/telecom.yaml``).

``load_rules`` reads and validates the file (pure Python); ``classify_complaints`` turns the rules
into native Spark expressions (regex hit counts, no Python UDF) and adds category, subcategory,
rule severity, urgency, sentiment and the taxonomy version to a DataFrame with a text column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

TAXONOMY_CATEGORIES = (
    "network", "billing", "service", "account", "device", "privacy_fraud", "other",
)
SEVERITIES = ("P1", "P2", "P3")


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


@dataclass(frozen=True)
class Rules:
    taxonomy: str
    version: str
    default_category: str
    default_subcategory: str
    default_severity: str
    categories: tuple[Category, ...]
    urgent: tuple[str, ...]
    negative: tuple[str, ...]
    positive: tuple[str, ...]

    @property
    def category_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories) + (self.default_category,)


def _patterns(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) and p for p in raw):
        raise RulesError(f"{where}: patterns must be a non-empty list of strings")
    for p in raw:
        try:
            re.compile(p)
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
    return Subcategory(str(sub["name"]), severity, _patterns(sub.get("patterns"), where),
                       float(weight))


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
    return Category(name, tuple(subs))


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
    sentiment = doc.get("sentiment") or {}
    return Rules(
        taxonomy=str(doc["taxonomy"]),
        version=str(doc["version"]),
        default_category=doc["default_category"],
        default_subcategory=str(doc.get("default_subcategory", "unspecified")),
        default_severity=default_severity,
        categories=categories,
        urgent=_patterns((doc.get("urgent") or {}).get("patterns"), "urgent"),
        negative=_patterns(sentiment.get("negative"), "sentiment.negative"),
        positive=_patterns(sentiment.get("positive"), "sentiment.positive"),
    )


def load_rules(path: Path) -> Rules:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read rules file {path}: {exc}") from exc
    return parse_rules(doc)


def word_regex(patterns: tuple[str, ...]) -> str:
    """One case-insensitive regex matching any pattern as whole words."""
    return "(?i)(?<![\\w])(?:" + "|".join(f"(?:{p})" for p in patterns) + ")(?![\\w])"


def hit_count(text: Column, patterns: tuple[str, ...]) -> Column:
    return F.size(F.regexp_extract_all(text, F.lit(word_regex(patterns)), 0))


def _best(candidates: list[Column]) -> Column:
    """The candidate struct with the most hits; ties go to the earliest (highest `order`)."""
    return F.array_max(F.array(*candidates))


def classify_complaints(
    frame: DataFrame, rules: Rules, text_col: str = "classify_text"
) -> DataFrame:
    """Add category, subcategory, rule_severity, urgent, sentiment and taxonomy_version."""
    text = F.coalesce(F.col(text_col), F.lit(""))
    hits = {
        (c.name, s.name): hit_count(text, s.patterns).alias(f"_hits__{c.name}__{s.name}")
        for c in rules.categories
        for s in c.subcategories
    }
    with_hits = frame.select("*", *hits.values(),
                             hit_count(text, rules.urgent).alias("_urgent_hits"),
                             hit_count(text, rules.negative).alias("_neg_hits"),
                             hit_count(text, rules.positive).alias("_pos_hits"))

    def hits_of(cat: str, sub: str) -> Column:
        return F.col(f"_hits__{cat}__{sub}")

    category_candidates = []
    for i, cat in enumerate(rules.categories):
        best_sub = _best([
            F.struct((hits_of(cat.name, s.name) * F.lit(s.weight)).alias("hits"),
                     F.lit(-j).alias("order"),
                     F.lit(s.name).alias("name"), F.lit(s.severity).alias("severity"))
            for j, s in enumerate(cat.subcategories)
        ])
        score = sum((hits_of(cat.name, s.name) * F.lit(s.weight) for s in cat.subcategories),
                    F.lit(0.0))
        category_candidates.append(
            F.struct(score.alias("hits"), F.lit(-i).alias("order"), F.lit(cat.name).alias("name"),
                     best_sub.alias("sub"))
        )
    best = _best(category_candidates)
    matched = best["hits"] > 0
    sentiment_score = F.col("_pos_hits") - F.col("_neg_hits")
    classified = with_hits.select(
        "*",
        F.when(matched, best["name"]).otherwise(F.lit(rules.default_category)).alias("category"),
        F.when(matched, best["sub"]["name"]).otherwise(F.lit(rules.default_subcategory))
        .alias("subcategory"),
        F.when(matched, best["sub"]["severity"]).otherwise(F.lit(rules.default_severity))
        .alias("rule_severity"),
        (F.col("_urgent_hits") > 0).alias("urgent"),
        F.when(sentiment_score < 0, "negative").when(sentiment_score > 0, "positive")
        .otherwise("neutral").alias("sentiment"),
        F.lit(rules.version).alias("taxonomy_version"),
    )
    helper_columns = [c for c in classified.columns if c.startswith("_") and c.endswith("hits")
                      or c.startswith("_hits__")]
    return classified.drop(*helper_columns)
