"""The planted cases generator: deterministic, and its truth is what it says."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from samples.cases import edited, planted_cases


def test_planted_cases_are_deterministic_and_keep_their_truth() -> None:
    first = planted_cases(7, date(2026, 10, 5), 7, cases=30)
    assert first.records == planted_cases(7, date(2026, 10, 5), 7, cases=30).records
    assert first.records != planted_cases(8, date(2026, 10, 5), 7, cases=30).records
    by_case: dict[str, list[Any]] = defaultdict(list)
    for r in first.records:
        by_case[r.case].append(r)
    kinds = first.kinds()
    for name, records in by_case.items():
        if kinds[name] == "single":
            assert len(records) == 1
            continue
        assert len(records) >= 2 and len({r.customer_id for r in records}) == 1
        assert len({r.source for r in records}) >= 2  # across channels
        assert max(r.moment for r in records) - min(r.moment for r in records) <= \
            timedelta(days=5)
        texts = {r.text for r in records}
        assert len(texts) == 1 if kinds[name] == "exact" else len(texts) >= 2
        twins = [by_case[f"{name}-twin-{t}"][0] for t in range(2)]
        assert all(t.text == records[0].text and t.customer_id != records[0].customer_id
                   for t in twins)
        other = by_case[f"{name}-other"][0]
        assert other.customer_id == records[0].customer_id and other.text != records[0].text
    assert len(first.truth()) == len(first.records)  # record ids are unique


def test_edits_are_small_and_never_the_same_text() -> None:
    rng = random.Random(1)
    text = "my internet has been down for 10 days and nobody can tell me why"
    for _ in range(50):
        copy = edited(rng, text)
        assert copy != text
        assert abs(len(copy.split()) - len(text.split())) <= 2
