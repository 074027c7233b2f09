"""Measured complaint cases across channels (``python -m bench --sections complaint_cases``).

Generated data of every channel (as in ``bench/customer_links.py``: call logs, web forms, the
DynamoDB tables, synthetic SMS and social events), plus planted cases (``samples.cases``): one
customer's (or a stranger's: every fourth case) complaint sent through 2-4 channels within
days, verbatim or with small edits, each beside two other customers sending the very same text
and one other complaint of the same person. Truth: a planted record belongs to its case; every
other record is a case of its own. All goes through the operational tables, the transform,
``jobs.customer_links`` and ``jobs.complaint_cases``; then, over pairs of clean complaints:

* **precision**: pairs put in one case that truly are one case / pairs put in one case;
* **recall**: pairs of one true case put in one case / pairs of one true case;

split by the texts of the pair: **exact** (the same text once lower-cased and without
punctuation, masks, @mentions, #hashtags) and **near** (the texts differ: edits, or a channel's
additions such as a web form's "reach me at ..."); and for the **cross-channel** pairs (the two
complaints came by different channels). The threshold sweep scores the same candidates at other
similarity thresholds (cases recomputed from the accepted pairs).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.customer_links import SEED, START
from common.settings import Settings

SWEEP = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class PairScore:
    predicted: int = 0
    correct: int = 0
    true: int = 0
    found: int = 0

    def precision(self) -> str:
        return f"{self.correct / self.predicted:.3f}" if self.predicted else "–"

    def recall(self) -> str:
        return f"{self.found / self.true:.3f}" if self.true else "–"


def build_lake(settings: Settings, days: int, stream_events: int, cases: int
               ) -> tuple[dict[tuple[str, str], str], float]:
    """Generate, land, transform, link and make cases; return the truth ((source, record id)
    -> planted case) and the seconds ``run_complaint_cases`` took."""
    from bench.customer_links import land_every_channel, linked_lake
    from jobs.complaint_cases import run_complaint_cases
    from samples.cases import planted_cases

    planted = planted_cases(SEED, START, days, cases=cases)
    land_every_channel(settings, days, stream_events,
                       {s: list(planted.of(s)) for s in ("call_center", "web_form", "sms",
                                                           "social")},
                       "planted_cases")
    spark = linked_lake(settings, "complaints-bench-cases")
    began = time.perf_counter()
    run_complaint_cases(settings, spark=spark)
    seconds = time.perf_counter() - began
    spark.stop()
    return planted.truth(), seconds


def _pairs(groups: Iterable[list[str]]) -> set[tuple[str, str]]:
    return {(a, b) for g in groups for a, b in itertools.combinations(sorted(g), 2)}


def _groups(label: dict[str, str]) -> list[list[str]]:
    by: dict[str, list[str]] = {}
    for member, group in label.items():
        by.setdefault(group, []).append(member)
    return list(by.values())


def _components(ids: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Union-find over the accepted pairs (the sweep's cases, computed here on few pairs)."""
    parent = {i: i for i in ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: root(i) for i in parent}


def score_pairs(predicted: set[tuple[str, str]], true: set[tuple[str, str]],
                same_text: dict[tuple[str, str], bool], cross: dict[tuple[str, str], bool]
                ) -> dict[str, PairScore]:
    scores = {k: PairScore() for k in ("exact", "near", "cross-channel", "all")}

    def kinds(pair: tuple[str, str]) -> list[str]:
        out = ["all", "exact" if same_text[pair] else "near"]
        return out + (["cross-channel"] if cross[pair] else [])

    for pair in predicted:
        for k in kinds(pair):
            scores[k].predicted += 1
            scores[k].correct += pair in true
    for pair in true:
        for k in kinds(pair):
            scores[k].true += 1
            scores[k].found += pair in predicted
    return scores


@dataclass
class Measured:
    written: dict[str, PairScore]  # the cases as written, over all complaints
    planted: dict[str, PairScore]  # the same, over pairs of two planted complaints
    # other thresholds / rules: (label, planted complaints only, all complaints)
    sweep: list[tuple[str, dict[str, PairScore], dict[str, PairScore]]]
    counts: dict[str, int]


def measure(settings: Settings, truth: dict[tuple[str, str], str]) -> Measured:
    """Scores of the written cases, and of other thresholds and rules on the same candidates."""
    from pyspark.sql import functions as F

    from jobs.complaint_cases import (
        CASES_FOLDER,
        THRESHOLD,
        _links,
        _unmatched,
        candidate_pairs,
        comparable_text,
        identities,
        scored_pairs,
    )
    from jobs.spark import spark_session

    spark = spark_session(settings.spark_master, app_name="complaints-bench-cases-score")
    complaints = spark.read.parquet(str(settings.zones.clean_complaints)).select(
        "complaint_id", "source", "source_record_id", "customer_id", "event_time", "text")
    cases = spark.read.parquet(str(settings.zones.clean / CASES_FOLDER))
    rows = complaints.join(cases.select("complaint_id", "complaint_case_id"), "complaint_id") \
        .select("complaint_id", "source", "source_record_id", "complaint_case_id",
                comparable_text(F.col("text")).alias("same")).collect()
    candidates = candidate_pairs(complaints, identities(complaints, _links(spark, settings),
                                                        _unmatched(spark, settings)))
    scored = [(r["a"], r["b"], r["similarity"], r["numbers_agree"])
              for r in scored_pairs(candidates, complaints).collect()]
    spark.stop()

    source = {r["complaint_id"]: r["source"] for r in rows}
    text = {r["complaint_id"]: r["same"] for r in rows}
    planted = {r["complaint_id"] for r in rows if (r["source"], r["source_record_id"]) in truth}
    true_case = {r["complaint_id"]: truth.get((r["source"], r["source_record_id"]),
                                              f"own-{r['complaint_id']}") for r in rows}
    true = _pairs(_groups(true_case))
    written = _pairs(_groups({r["complaint_id"]: r["complaint_case_id"] for r in rows}))

    def cases_at(threshold: float, numbers: bool) -> set[tuple[str, str]]:
        accepted = [(a, b) for a, b, s, agree in scored
                    if s >= threshold and (agree or not numbers)]
        return _pairs(_groups(_components(source, accepted)))

    sweep_sets = {f"{t}": cases_at(t, True) for t in SWEEP}
    sweep_sets[f"{THRESHOLD}, facts ignored"] = cases_at(THRESHOLD, False)
    every = true | written | set().union(*sweep_sets.values())
    same_text = {p: text[p[0]] == text[p[1]] for p in every}
    cross = {p: source[p[0]] != source[p[1]] for p in every}

    def of_planted(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {p for p in pairs if p[0] in planted and p[1] in planted}

    wrong = written - true
    counts = {"complaints": len(rows), "planted": len(planted), "true_pairs": len(true),
              "candidates": len(scored), "cases": len({r["complaint_case_id"] for r in rows}),
              "wrong": len(wrong),
              "wrong_background": sum(p[0] not in planted and p[1] not in planted
                                      for p in wrong),
              "wrong_mixed": sum((p[0] in planted) != (p[1] in planted) for p in wrong),
              "wrong_same_text": sum(same_text[p] for p in wrong)}
    return Measured(
        score_pairs(written, true, same_text, cross),
        score_pairs(of_planted(written), of_planted(true), same_text, cross),
        [(t, score_pairs(of_planted(p), of_planted(true), same_text, cross),
          score_pairs(p, true, same_text, cross)) for t, p in sweep_sets.items()],
        counts)


def _table(scores: dict[str, PairScore]) -> list[str]:
    lines = ["| pairs | put in one case | correct | precision | true | found | recall |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for kind in ("exact", "near", "cross-channel", "all"):
        s = scores[kind]
        lines.append(f"| {kind} | {s.predicted:,} | {s.correct:,} | {s.precision()} | "
                     f"{s.true:,} | {s.found:,} | {s.recall()} |")
    return lines


def complaint_cases_section(days: int = 7, stream_events: int = 1500, cases: int = 200
                            ) -> list[str]:
    from jobs.complaint_cases import THRESHOLD, WINDOW_DAYS

    with tempfile.TemporaryDirectory(prefix="complaints-bench-cases-") as tmp:
        settings = Settings(lake=Path(tmp) / "lake")
        began = time.perf_counter()
        truth, job_seconds = build_lake(settings, days, stream_events, cases)
        total = time.perf_counter() - began
        m = measure(settings, truth)
    counts = m.counts
    lines = [
        "## Complaint cases across channels",
        "",
        f"Generated: {days} days of every channel (seed {SEED}), {stream_events:,} SMS and social "
        f"events each, and {cases} planted cases (one customer's complaint by 2-4 channels "
        "within 5 days, half verbatim, half with edits; every fourth by a stranger the master "
        "does not hold, known by a phone), each beside two other customers sending the same "
        "text and one other complaint of the same person: "
        f"{counts['complaints']:,} clean complaints ({counts['planted']:,} planted), "
        f"{counts['true_pairs']:,} true pairs. Generate, land, transform, link and case took "
        f"{total:.0f} s; `run_complaint_cases` {job_seconds:.1f} s "
        f"({counts['candidates']:,} candidate pairs, {counts['cases']:,} cases).",
        "",
        f"Planted complaints only (pairs of two planted complaints: cases, their twins, the "
        f"same customers' other complaints; threshold {THRESHOLD}, window {WINDOW_DAYS} days):",
        "",
        *_table(m.planted),
        "",
        "All complaints (the generator's background included: each background record is a "
        "case of its own):",
        "",
        *_table(m.written),
        "",
        f"Wrong pairs: {counts['wrong']:,}, of which {counts['wrong_background']:,} between two "
        f"background complaints and {counts['wrong_mixed']:,} between a planted and a background "
        f"one; {counts['wrong_same_text']:,} have the same text. The background draws each "
        "complaint independently (300 customers, about 20 complaints each a week, a hundred "
        "templates), so one customer sending the very same words twice in a week happens by "
        "chance there and cannot be told from a re-send.",
        "",
        "Other thresholds and rules on the same candidates (Jaccard of character 3-grams; "
        "pairs whose facts (numbers, day and month names) contradict are refused unless said; "
        "P precision, R recall):",
        "",
        "| threshold | planted: exact P | exact R | near P | near R | cross-channel P | "
        "cross-channel R | all complaints: P | R |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t, p, a in m.sweep:
        lines.append(f"| {t} | {p['exact'].precision()} | {p['exact'].recall()} | "
                     f"{p['near'].precision()} | {p['near'].recall()} | "
                     f"{p['cross-channel'].precision()} | {p['cross-channel'].recall()} | "
                     f"{a['all'].precision()} | {a['all'].recall()} |")
    lines.append("")
    return lines
