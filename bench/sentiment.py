"""Sentiment figures (issue 8, "sentiment"): VADER in Spark against the package, the old lexicon
and the hand labels, and the cost of classification.

``python -m bench.sentiment [FOLDER]`` (FOLDER: ``../shared/data`` by default) prints:

1. agreement of ``jobs.sentiment`` with the ``vaderSentiment`` package on 1,000 texts (400
   inbound tweets, 300 CFPB narratives, 300 SMS, a fixed random sample): labels equal, compound
   scores within 1e-3;
2. the negative share per source (every inbound tweet, CFPB narrative and SMS) with the rules
   files' lexicon before 2026.12.2 (``OLD_NEGATIVE`` / ``OLD_POSITIVE``, telecom's: the default
   rules of every source) and with VADER;
3. accuracy and per-class recall of both on ``rules/labels/sentiment.csv``.

``python -m bench.sentiment --cost N`` times ``classify_complaints`` (default rules) on N texts
cycled from the same sources, written to Spark's ``noop`` sink after one warm-up run on 2,000.
It uses only ``jobs.classify``, so it also runs on a tree from before VADER (``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common.settings import REPO_ROOT

LABELS = REPO_ROOT / "rules" / "labels" / "sentiment.csv"
CLASSES = ("negative", "neutral", "positive")
# The sentiment cues of rules/telecom.yaml up to version 2026.12.1 (score = positive hits -
# negative hits), kept here to measure what VADER replaced.
OLD_NEGATIVE = (
    "angry", "furious", "frustrat\\w+", "terrible", "horrible", "awful", "worst", "ridiculous",
    "unacceptable", "disgust\\w+", "useless", "never", "not working", "fed up", "sick of", "upset",
    "disappoint\\w+", "hate", "scam\\w*", "rip(ped)? ?off", "incompetent", "still", "again",
    "not (happy|helpful|good)")
OLD_POSITIVE = (
    "thank(s| you)", "(?<!not )great", "excellent", "appreciate\\w*", "(?<!not )helpful",
    "resolved quickly", "(?<!not )happy", "love", "good job", "awesome")


def source_texts(folder: Path) -> dict[str, list[str]]:
    """Inbound tweets, CFPB narratives and SMS texts of the shared samples."""
    csv.field_size_limit(10**7)
    tweets_csv = folder / "twcs-customer-support-twitter-sample" / "twcs_small.csv"
    cfpb_csv = folder / "cfpb-complaints-2019-2020-sample" / "complaints_cfpb_2019_2020_sample.csv"
    sms = folder / "uci-sms-spam-collection" / "SMSSpamCollection"
    with tweets_csv.open(newline="", encoding="utf-8") as f:
        tweets = [r["text"] for r in csv.DictReader(f) if r["inbound"] == "True"]
    with cfpb_csv.open(newline="", encoding="utf-8") as f:
        narratives = [n for r in csv.DictReader(f)
                      if (n := r["Consumer complaint narrative"]).strip()]
    lines = sms.read_text(encoding="utf-8").splitlines()
    return {"tweet": tweets, "cfpb": narratives,
            "sms": [line.split("\t", 1)[1] for line in lines if "\t" in line]}


def _label(score: float) -> str:
    return "positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral"


def _both(spark: Any, texts: list[str]) -> list[tuple[str, float, str]]:
    """(old lexicon label, VADER score, VADER label) per text, in order, one Spark job."""
    from pyspark.sql import functions as F

    from jobs.classify import hit_count
    from jobs.sentiment import with_sentiment

    frame = spark.createDataFrame(list(enumerate(texts)), "i int, text string")
    text = F.col("text")
    old = hit_count(text, OLD_POSITIVE) - hit_count(text, OLD_NEGATIVE)
    scored = with_sentiment(frame.select(
        "*", F.when(old < 0, "negative").when(old > 0, "positive").otherwise("neutral")
        .alias("old")), text)
    return [(r.old, r.sentiment_score, r.sentiment) for r in scored.orderBy("i").collect()]


def agreement(spark: Any, by_source: dict[str, list[str]]) -> list[str]:
    from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
        SentimentIntensityAnalyzer,
    )

    rng = random.Random(7)
    texts = [t for source, n in (("tweet", 400), ("cfpb", 300), ("sms", 300))
             for t in rng.sample(by_source[source], n)]
    analyzer = SentimentIntensityAnalyzer()
    package = [analyzer.polarity_scores(t)["compound"] for t in texts]
    ours = _both(spark, texts)
    close = sum(abs(o[1] - p) <= 1e-3 for o, p in zip(ours, package, strict=True))
    same = sum(o[2] == _label(p) for o, p in zip(ours, package, strict=True))
    return [f"agreement with vaderSentiment on {len(texts)} texts: labels {same / len(texts):.1%}, "
            f"compound within 1e-3 {close / len(texts):.1%}"]


def negative_shares(spark: Any, by_source: dict[str, list[str]]) -> list[str]:
    lines = []
    for source, texts in by_source.items():
        rows = _both(spark, texts)
        old = sum(r[0] == "negative" for r in rows) / len(rows)
        new = sum(r[2] == "negative" for r in rows) / len(rows)
        lines.append(f"negative share, {source} ({len(rows)} texts): old lexicon {old:.1%}, "
                     f"VADER {new:.1%}")
    return lines


def _scores(truth: list[str], predicted: list[str]) -> str:
    right = Counter(t for t, p in zip(truth, predicted, strict=True) if t == p)
    total = Counter(truth)
    recall = ", ".join(f"{c} {right[c] / total[c]:.2f} ({total[c]})" for c in CLASSES)
    return f"accuracy {sum(right.values()) / len(truth):.3f}; recall {recall}"


def label_agreement(spark: Any) -> list[str]:
    with LABELS.open(newline="", encoding="utf-8") as f:
        labelled = list(csv.DictReader(f))
    rows = _both(spark, [r["text"] for r in labelled])
    truth = [r["sentiment"] for r in labelled]
    old, new = [r[0] for r in rows], [r[2] for r in rows]
    return [f"hand labels ({len(truth)} texts), old lexicon: {_scores(truth, old)}",
            f"hand labels ({len(truth)} texts), VADER: {_scores(truth, new)}"]


def classification_cost(spark: Any, by_source: dict[str, list[str]], size: int) -> str:
    from common.settings import DEFAULT_RULES
    from jobs.classify import classify_complaints, load_rules

    pool = [t for texts in by_source.values() for t in texts]
    rules = load_rules(DEFAULT_RULES)

    def run(n: int) -> float:
        frame = spark.range(n).selectExpr("id", f"id % {len(pool)} AS k").join(
            spark.createDataFrame(list(enumerate(pool)), "k long, classify_text string"), "k")
        started = time.perf_counter()
        classify_complaints(frame.repartition(4), rules).write.format("noop").mode(
            "overwrite").save()
        return time.perf_counter() - started

    run(2000)
    return f"classify_complaints on {size} texts: {run(size):.1f} s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path,
                        default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--cost", type=int, default=0, help="time classification of N texts")
    args = parser.parse_args(argv)
    from jobs.spark import spark_session

    spark = spark_session("local[2]", app_name="bench-sentiment")
    by_source = source_texts(args.folder)
    if args.cost:
        lines = [classification_cost(spark, by_source, args.cost)]
    else:
        lines = [*agreement(spark, by_source), *negative_shares(spark, by_source),
                 *label_agreement(spark)]
    spark.stop()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
