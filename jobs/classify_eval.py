"""Measure a taxonomy on hand-labelled texts: ``complaints classify-eval``.

The texts go through ``jobs.classify.with_classification``, the very expressions the transform
uses, so a figure measured here is the figure of the pipeline. The metric functions are pure
(lists of labels in, numbers out) and tested on their own.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.classify import Rules, validate_with_java, with_classification


class LabelsError(ValueError):
    """The labels file cannot be used; the message says why."""


@dataclass(frozen=True)
class Labelled:
    text: str
    category: str


@dataclass(frozen=True)
class CategoryScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    categories: tuple[str, ...]
    per_category: dict[str, CategoryScores]
    macro_f1: float
    accuracy: float
    n: int
    confusion: dict[tuple[str, str], int]  # (true, predicted) -> count
    predicted_share: dict[str, float]
    true_share: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "macro_f1": self.macro_f1, "accuracy": self.accuracy, "n": self.n,
            "per_category": {c: vars(s) for c, s in self.per_category.items()},
            "predicted_share": self.predicted_share,
            "confusion": {t: {p: self.confusion.get((t, p), 0) for p in self.categories}
                          for t in self.categories},
        }


# --- reading labels
def read_labels(path: Path, split: str | None = None) -> list[Labelled]:
    """``text,category`` rows (other columns ignored; ``split`` filters on a ``split`` column)."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"text", "category"} - set(reader.fieldnames or ())
            if missing:
                raise LabelsError(f"labels file {path} has no column(s) {sorted(missing)}: "
                                  "it needs a header with text,category")
            rows = list(reader)
    except OSError as exc:
        raise LabelsError(f"cannot read labels file {path}: {exc.strerror or exc}") from exc
    if split is not None:
        rows = [r for r in rows if r.get("split") == split]
    labelled = [Labelled(r["text"] or "", (r["category"] or "").strip()) for r in rows]
    if not labelled:
        raise LabelsError(f"labels file {path} has no labelled rows"
                          + (f" in split {split!r}" if split else ""))
    return labelled


def check_categories(labelled: list[Labelled], categories: tuple[str, ...], path: Path) -> None:
    unknown = sorted({lab.category for lab in labelled} - set(categories))
    if unknown:
        raise LabelsError(f"labels file {path} names categories the taxonomy does not have: "
                          f"{', '.join(map(repr, unknown))} (taxonomy: {', '.join(categories)})")


# --- pure metrics
def _ratio(num: float, den: float) -> float:
    return round(num / den, 4) if den else 0.0


def category_scores(truth: list[str], predicted: list[str], category: str) -> CategoryScores:
    pairs = list(zip(truth, predicted, strict=True))
    tp = sum(t == category and p == category for t, p in pairs)
    predicted_n = sum(p == category for _, p in pairs)
    support = sum(t == category for t, _ in pairs)
    precision, recall = _ratio(tp, predicted_n), _ratio(tp, support)
    return CategoryScores(precision, recall, _ratio(2 * precision * recall, precision + recall),
                          support)


def evaluate(truth: list[str], predicted: list[str], categories: tuple[str, ...]) -> Evaluation:
    """Per-category precision/recall/F1; macro-F1 over the categories that occur (in the labels
    or the predictions): a category nobody labelled and nothing predicted says nothing."""
    n = len(truth)
    per = {c: category_scores(truth, predicted, c) for c in categories}
    present = [c for c in categories if c in truth or c in predicted]
    true_counts, predicted_counts = Counter(truth), Counter(predicted)
    return Evaluation(
        categories=categories,
        per_category=per,
        macro_f1=round(sum(per[c].f1 for c in present) / len(present), 4) if present else 0.0,
        accuracy=_ratio(sum(t == p for t, p in zip(truth, predicted, strict=True)), n),
        n=n,
        confusion=dict(Counter(zip(truth, predicted, strict=True))),
        predicted_share={c: _ratio(predicted_counts[c], n) for c in categories},
        true_share={c: _ratio(true_counts[c], n) for c in categories},
    )


def format_table(result: Evaluation) -> str:
    cats = result.categories
    width = max(len(c) for c in cats) + 2
    lines = [f"{'category':<{width}}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"
             f"{'predicted':>11}{'true':>7}"]
    for c in cats:
        s = result.per_category[c]
        lines.append(f"{c:<{width}}{s.precision:>10.3f}{s.recall:>8.3f}{s.f1:>8.3f}{s.support:>9}"
                     f"{result.predicted_share[c]:>11.1%}{result.true_share[c]:>7.1%}")
    lines += ["", f"macro-F1 {result.macro_f1:.3f}   accuracy {result.accuracy:.3f}   "
                  f"n {result.n}", "", "confusion (rows: labelled, columns: predicted)"]
    short = [c[:8] for c in cats]
    lines.append(" " * width + "".join(f"{s:>9}" for s in short))
    for t in cats:
        lines.append(f"{t:<{width}}" + "".join(f"{result.confusion.get((t, p), 0):>9}"
                                                for p in cats))
    return "\n".join(lines)


# --- classification with the transform's expressions
def predict(spark: SparkSession, rules: Rules, texts: list[str]) -> list[str]:
    validate_with_java(spark, rules)
    frame = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "i int, text string")
    text = F.coalesce(F.col("text"), F.lit(""))
    rows = with_classification(frame, text, rules).orderBy("i").collect()
    return [r["category"] for r in rows]


def classify_eval(spark: SparkSession, rules: Rules, labels: Path,
                  split: str | None = None) -> Evaluation:
    labelled = read_labels(labels, split)
    check_categories(labelled, rules.category_names, labels)
    predicted = predict(spark, rules, [lab.text for lab in labelled])
    return evaluate([lab.category for lab in labelled], predicted, rules.category_names)
