"""Sentiment of complaint texts: VADER (Hutto & Gilbert, 2014) in the JVM, without a Python UDF.

VADER is a maintained lexicon of ~7,500 words, emoticons and slang rated by people, plus rules
for how writing shifts them: booster words ("very", "barely"), negation within three words
("not good"), ALL-CAPS emphasis, "but" (what follows weighs more), "!" and "??". The lexicon is
data in the repo (``rules/sentiment/``, rebuilt from the pinned ``vaderSentiment`` package by
``python -m jobs.sentiment``, MIT licence beside it); ``with_sentiment`` turns a text column into
VADER's compound score in [-1, 1] (``sentiment_score``) and its label (``sentiment``), the
package's scores (checked by the tests), one of two ways:

- ``jobs/jvm/VaderCompound.java``, the package's code in Java as a Spark UDF, when the session has
  the project's JVM classes (local mode with a JDK: ``jobs.spark.jvm_jar``): 4.7 µs of CPU per
  complaint text against about 55 µs for the expressions below (measured at 1M).
- Otherwise native Spark expressions: words are looked up in map literals bucketed by crc32 (a
  map literal is searched linearly, so one map of 7,500 words would cost thousands of comparisons
  per word), and the rules are higher-order functions over each text's word array, step for step
  as ``vaderSentiment`` 3.3.2 computes them.
"""

from __future__ import annotations

import json
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from common.settings import REPO_ROOT
from jobs.spark import built_once, jvm_udf, map_literal, map_lookup

LEXICON_DIR = REPO_ROOT / "rules" / "sentiment"
LEXICON_FILE = "vader_lexicon.tsv"  # word <TAB> mean valence (-4 .. 4)
EMOJI_FILE = "emoji_lexicon.tsv"  # emoji <TAB> its description (scored as words)
RULES_FILE = "vader_rules.json"  # boosters, negations, idioms: the package's word lists

# VADER's constants (vaderSentiment 3.3.2; a test compares them with the package)
B_INCR = 0.293  # a booster word's weight ("very good"); dampeners ("barely") weigh -0.293
C_INCR = 0.733  # an ALL-CAPS word among lower-case ones
N_SCALAR = -0.74  # a negated word's valence is multiplied by this
ALPHA = 15  # compound = s / sqrt(s^2 + ALPHA)
EXCLAMATION = 0.292  # per "!", up to 4
QUESTION = 0.18  # per "?" when there are 2 or 3; 0.96 for more
POSITIVE_FROM = 0.05  # VADER's thresholds on the compound score
NEGATIVE_TO = -0.05

BUCKETS = 1024  # crc32 buckets of the word map: ~7 words per map, so a lookup is a few compares
# Python's str.split() splits on these (str.isspace()); Java's \s is ASCII only.
_SPACE = ("[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}"
          "\\x{2029}\\x{202f}\\x{205f}\\x{3000}]+")
_PUNCTUATION_CHARS = tuple(string.punctuation)  # what VADER strips from word ends
_PUNCTUATION = "".join("\\" + c for c in _PUNCTUATION_CHARS)
_STRIP = f"^[{_PUNCTUATION}]+|[{_PUNCTUATION}]+$"
_PAD = 3  # words before the first one, so "the word 3 back" always exists
_TEMP = tuple(f"_sentiment_{step}" for step in (
    "text", "words", "n", "cap_diff", "but", "contexts", "valences"))


@dataclass(frozen=True)
class Vader:
    """VADER's data: the lexicon and the package's word lists, as read from ``LEXICON_DIR``."""
    lexicon: dict[str, float]
    emojis: dict[str, str]
    boosters: dict[str, float]
    negations: tuple[str, ...]
    special_cases: dict[str, float]


def _read_tsv(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    return [line.strip().split("\t") for line in lines if line]


@lru_cache(maxsize=4)
def load_vader(directory: Path = LEXICON_DIR) -> Vader:
    rules = json.loads((directory / RULES_FILE).read_text(encoding="utf-8"))
    return Vader(
        lexicon={row[0]: float(row[1]) for row in _read_tsv(directory / LEXICON_FILE)},
        emojis={row[0]: row[1] for row in _read_tsv(directory / EMOJI_FILE)},
        boosters={k: float(v) for k, v in rules["boosters"].items()},
        negations=tuple(rules["negations"]),
        special_cases={k: float(v) for k, v in rules["special_cases"].items()},
    )


def rebuild_lexicon(directory: Path = LEXICON_DIR) -> None:
    """Write ``directory``'s files from the installed ``vaderSentiment`` package (pinned in
    requirements.lock): upgrading the package and rerunning this is how the lexicon changes."""
    from importlib.metadata import distribution

    from vaderSentiment import vaderSentiment as vader  # type: ignore[import-untyped]

    analyzer = vader.SentimentIntensityAnalyzer()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / LEXICON_FILE).write_text(
        "".join(f"{word}\t{valence}\n" for word, valence in analyzer.lexicon.items()),
        encoding="utf-8")
    package = Path(vader.__file__).parent
    shutil.copyfile(package / "emoji_utf8_lexicon.txt", directory / EMOJI_FILE)
    rules = {"boosters": vader.BOOSTER_DICT, "negations": vader.NEGATE,
             "special_cases": vader.SPECIAL_CASES}
    (directory / RULES_FILE).write_text(json.dumps(rules, indent=1) + "\n", encoding="utf-8")
    licence = next(f for f in distribution("vaderSentiment").files or [] if "LICENSE" in f.name)
    shutil.copyfile(Path(str(licence.locate())), directory / "LICENSE.txt")


def _let(value: Column, body: Callable[[Column], Column]) -> Column:
    """``body`` of ``value`` computed once: Spark's optimizer inlines a column used several times
    into each use (projections do not stop it), so a costly value is bound to a lambda variable."""
    return F.element_at(F.transform(F.array(value), body), 1)


def _word_entries(vader: Vader) -> dict[str, dict[str, Any]]:
    """Per lower-case word: its valence (v), booster weight (b), whether it negates (n)."""
    entries: dict[str, dict[str, Any]] = {w: {"v": v} for w, v in vader.lexicon.items()}
    for word, weight in vader.boosters.items():
        entries.setdefault(word, {})["b"] = weight
    for word in vader.negations:
        entries.setdefault(word, {})["n"] = True
    return entries


# --- text to words, as vaderSentiment's SentiText does
def _emoji_class(vader: Vader, exact: bool) -> str:
    """A regex class of the emojis (single code points, as VADER reads them); ``exact=False``
    merges nearby ranges into a few: a cheap first test for "has an emoji"."""
    points = sorted(ord(e) for e in vader.emojis if len(e) == 1)
    gap = 1 if exact else 256
    ranges: list[list[int]] = []
    for point in points:
        if ranges and point <= ranges[-1][1] + gap:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)


def _emoji_pieces(text: Column, vader: Vader) -> Column:
    """The text cut into emojis and the runs between them; NULL when it has no emoji (most
    texts: a cheap test with a few ranges decides)."""
    emoji = _emoji_class(vader, exact=True)
    return F.when(text.rlike(f"[{_emoji_class(vader, exact=False)}]"),
                  F.regexp_extract_all(text, F.lit(f"[{emoji}]|[^{emoji}]+"), 0))


def _emojis_as_words(text: Column, pieces: Column, vader: Vader) -> Column:
    """Each emoji replaced by its description, a space before it unless one is there (VADER's
    ``polarity_scores`` preamble)."""
    emojis = map_literal({e: d for e, d in vader.emojis.items() if len(e) == 1}, "string", 64)

    def rebuilt(piece: Column, k: Column) -> Column:
        description = map_lookup(emojis, piece, 64)
        before = F.element_at(pieces, F.greatest(k, F.lit(1)))
        after_space = (k == 0) | (before.endswith(" ") & map_lookup(emojis, before, 64).isNull())
        return F.when(description.isNull(), piece).otherwise(
            F.concat(F.when(after_space, F.lit("")).otherwise(F.lit(" ")), description))

    return F.when(pieces.isNull(), text).otherwise(F.array_join(F.transform(pieces, rebuilt), ""))


def _words(text: Column) -> Column:
    """Whitespace-separated words, punctuation stripped from their ends unless that leaves two
    characters or fewer (then it was an emoticon like ":)" and stays). Most words have none at
    either end: two character tests spare them the regex."""
    def stripped(word: Column) -> Column:
        ends = F.substring(word, 1, 1).isin(*_PUNCTUATION_CHARS) \
            | F.substring(word, -1, 1).isin(*_PUNCTUATION_CHARS)
        bare = F.regexp_replace(word, _STRIP, "")
        return F.when(ends & (F.length(bare) > 2), bare).otherwise(word)

    return F.transform(F.filter(F.split(text, _SPACE), lambda w: w != ""), stripped)


def _word_facts(words: Column, vader: Vader) -> Column:
    """Each word with what the rules need of it: lower case, ALL CAPS, valence, booster weight,
    negation. Each word is lower-cased and looked up once (a first pass), then read (a lambda
    would compute a value again for each use)."""
    entries = map_literal(_word_entries(vader), "struct<v:double,b:double,n:boolean>", BUCKETS)

    def looked_up(word: Column) -> Column:
        lower = F.lower(word)
        return F.struct(word.alias("word"), lower.alias("lw"),
                        map_lookup(entries, lower, BUCKETS).alias("entry"))

    def facts(found: Column) -> Column:
        word, lower, entry = found["word"], found["lw"], found["entry"]
        return F.struct(
            lower.alias("lw"),
            ((lower != word) & (F.upper(word) == word)).alias("up"),
            entry["v"].alias("v"), entry["b"].alias("b"),
            (F.coalesce(entry["n"], F.lit(False)) | lower.contains("n't")).alias("n"))

    return F.transform(F.transform(words, looked_up), facts)


# --- VADER's rules, one word at a time
@dataclass(frozen=True)
class _Context:
    """The word array (padded: ``_PAD`` blanks before, two after), one word's place in it and
    whether the text mixes ALL-CAPS and other words."""
    padded: Column
    i: Column  # 0-based place of the word
    n: Column  # number of words
    cap_diff: Column

    def at(self, offset: int | Column) -> Column:
        return F.element_at(self.padded, self.i + F.lit(_PAD + 1) + offset)

    def lw(self, offset: int) -> Column:
        return self.at(offset)["lw"]


def _blank() -> Column:
    return F.struct(F.lit("").alias("lw"), F.lit(False).alias("up"),
                    F.lit(None).cast("double").alias("v"), F.lit(None).cast("double").alias("b"),
                    F.lit(False).alias("n"))


def _caps(up: Column, valence: Column, c: _Context) -> Column:
    """+C_INCR (away from zero) for an ALL-CAPS word among lower-case ones, else 0."""
    return F.when(up & c.cap_diff, F.when(valence > 0, F.lit(C_INCR)).otherwise(-C_INCR)) \
        .otherwise(F.lit(0.0))


def _own_valence(word: Column, c: _Context) -> Column:
    """The word's lexicon valence, "no" before it (up to 3 back) negating, caps emphasis."""
    valence = word["v"]
    no_before = (((c.i > 0) & (c.lw(-1) == "no")) | ((c.i > 1) & (c.lw(-2) == "no"))
                 | ((c.i > 2) & (c.lw(-3) == "no") & c.lw(-1).isin("or", "nor")))
    # "no" right before a lexicon word negates it rather than counting itself
    plain = F.when((word["lw"] == "no") & (c.i < c.n - 1) & c.at(1)["v"].isNotNull(),
                   F.lit(0.0)).otherwise(valence)
    own = F.when(no_before, valence * N_SCALAR).otherwise(plain)
    return own + _caps(word["up"], own, c)


def _negation(back: int, c: _Context) -> Column:
    """The factor of a negation ``back`` + 1 words before (VADER's ``_negation_check``)."""
    negated = F.when(c.at(-back - 1)["n"], F.lit(N_SCALAR)).otherwise(F.lit(1.0))
    so_this = ("so", "this")
    if back == 0:
        return negated
    if back == 1:
        return (F.when((c.lw(-2) == "never") & c.lw(-1).isin(*so_this), F.lit(1.25))
                .when((c.lw(-2) == "without") & (c.lw(-1) == "doubt"), F.lit(1.0))
                .otherwise(negated))
    return (F.when(((c.lw(-3) == "never") & c.lw(-2).isin(*so_this)) | c.lw(-1).isin(*so_this),
                   F.lit(1.25))
            .when((c.lw(-3) == "without") & ((c.lw(-2) == "doubt") | (c.lw(-1) == "doubt")),
                  F.lit(1.0))
            .otherwise(negated))


def _phrase(c: _Context, *offsets: int) -> Column:
    return F.concat_ws(" ", *[c.lw(o) for o in offsets])


def _small_map(entries: dict[str, float]) -> Column:
    return F.create_map(*[x for k, v in entries.items() for x in (F.lit(k), F.lit(v))])


def _idiom(c: _Context, vader: Vader) -> Column:
    """The valence an idiom around the word sets ("the shit", "kiss of death"), else NULL
    (VADER's ``_special_idioms_check``)."""
    cases = _small_map(vader.special_cases)
    return F.coalesce(
        F.when(c.n - 1 > c.i + 1, cases[_phrase(c, 0, 1, 2)]),
        F.when(c.n - 1 > c.i, cases[_phrase(c, 0, 1)]),
        *[cases[_phrase(c, *o)] for o in ((-1, 0), (-2, -1, 0), (-2, -1), (-3, -2, -1), (-3, -2))])


def _dampening(c: _Context, vader: Vader) -> Column:
    """Booster phrases ("kind of", "sort of") 3 and 2 words back; VADER adds them without the
    sign rule (at most one of them can be there, so their sum is the package's sum)."""
    boosters = _small_map({k: v for k, v in vader.boosters.items() if " " in k})
    total = F.lit(0.0)
    for offsets in ((-3, -2, -1), (-3, -2), (-2, -1)):
        total = total + F.coalesce(boosters[_phrase(c, *offsets)], F.lit(0.0))
    return total


def _least(c: _Context) -> Column:
    """ "least" before a word negates it, unless "at least" / "very least"."""
    least = c.lw(-1) == "least"
    negates = least & (((c.i > 1) & ~c.lw(-2).isin("at", "very")) | (c.i == 1))
    return F.when(negates, F.lit(N_SCALAR)).otherwise(F.lit(1.0))


def _word_context(word: Column, c: _Context, vader: Vader) -> Column:
    """What a word's neighbours do to it, apart from the boosters (which depend on the valence
    as it is modified): NULL for a word that counts 0 (a booster itself, "kind" of "kind of",
    a word not in the lexicon). A projection of its own: one expression for all the rules would
    be too large for Java code generation."""
    counts = word["b"].isNull() & ~((word["lw"] == "kind") & (c.lw(1) == "of")) \
        & word["v"].isNotNull()
    return F.when(counts, F.struct(
        _own_valence(word, c).alias("own"),
        F.array(*[_negation(back, c) for back in range(3)]).alias("negation"),
        _idiom(c, vader).alias("idiom"),
        _dampening(c, vader).alias("dampening"),
        _least(c).alias("least")))


def _modified(valence: Column, back: Column, context: Column, c: _Context) -> Column:
    """One of the three words before: a booster (weighing less further back), a negation, and
    idioms once 3 back (VADER's loop over ``start_i``)."""
    before = c.at(-back - 1)
    sign = F.when(valence < 0, F.lit(-1.0)).otherwise(F.lit(1.0))
    boost = F.when(before["b"].isNotNull(), before["b"] * sign + _caps(before["up"], valence, c)) \
        .otherwise(F.lit(0.0))
    dampened = boost * F.when(back == 1, F.lit(0.95)).when(back == 2, F.lit(0.9)).otherwise(1.0)
    negated = (valence + dampened) * F.element_at(context["negation"], back + 1)
    step = F.when(back == 2, F.coalesce(context["idiom"], negated) + context["dampening"]) \
        .otherwise(negated)
    return F.when((c.i > back) & before["v"].isNull(), step).otherwise(valence)


def _valence(context: Column, c: _Context) -> Column:
    """A word's valence in context (VADER's ``sentiment_valence``)."""
    in_context = F.aggregate(F.array(F.lit(0), F.lit(1), F.lit(2)), context["own"],
                             lambda valence, back: _modified(valence, back, context, c))
    return F.when(context.isNull(), F.lit(0.0)).otherwise(in_context * context["least"])


def _padded(words: Column) -> Column:
    return F.concat(F.array_repeat(_blank(), _PAD), words, F.array_repeat(_blank(), 2))


def _cap_diff(padded: Column) -> Column:
    """Some words but not all are ALL CAPS (the blanks are neither)."""
    words = F.slice(padded, _PAD + 1, F.size(padded) - _PAD - 2)
    return F.exists(words, lambda w: w["up"]) & F.exists(words, lambda w: ~w["up"])


def _contexts(padded: Column, n: Column, cap_diff: Column, vader: Vader) -> Column:
    """Every word's ``_word_context``; ``padded``, ``n`` and ``cap_diff`` must be columns
    (computed once per text: an expression here would be evaluated again for every word)."""
    return F.transform(F.slice(padded, _PAD + 1, n), lambda w, i: _word_context(
        w, _Context(padded, i, n, cap_diff), vader))


def _valences(contexts: Column, padded: Column, n: Column, cap_diff: Column) -> Column:
    return F.transform(contexts, lambda x, i: _valence(x, _Context(padded, i, n, cap_diff)))


# --- the score
def _but_position(padded: Column) -> Column:
    """1-based place of the first "but" among the words, 0 without one."""
    return F.greatest(F.array_position(F.transform(padded, lambda w: w["lw"]), "but") - _PAD,
                      F.lit(0)).cast("int")


def _but_weighted_sum(valences: Column, but: Column) -> Column:
    """Words before the first "but" count half, words after it 1.5 times. VADER 3.3.2 finds
    the word to weigh by its value (``list.index``), so when a weighted value equals a later
    one, the earlier word is weighed again and the later not at all; this does the same (on
    the non-zero valences only: weighing a zero changes nothing)."""
    placed = F.filter(F.transform(valences, lambda v, i: F.struct(i.alias("i"), v.alias("v"))),
                      lambda x: x["v"] != 0)

    def weigh(acc: Column, k: Column) -> Column:
        first = F.array_position(F.transform(acc, lambda x: x["v"]), F.element_at(acc, k + 1)["v"])
        return F.transform(acc, lambda x, j: F.when(
            j + 1 == first, F.struct(x["i"].alias("i"), (x["v"] * F.when(x["i"] + 1 < but, 0.5)
                                     .when(x["i"] + 1 > but, 1.5).otherwise(1.0)).alias("v")))
            .otherwise(x))

    weighted = _let(placed, lambda values: F.when(but == 0, values).otherwise(F.aggregate(
        F.sequence(F.lit(0), F.size(values) - 1), values, weigh)))
    return F.aggregate(weighted, F.lit(0.0), lambda total, x: total + x["v"])


def _count(text: Column, mark: str) -> Column:
    return F.length(text) - F.length(F.replace(text, F.lit(mark), F.lit("")))


def _punctuation(text: Column) -> Column:
    """Emphasis from "!" (0.292 each, up to 4) and "??" (0.18 each for 2-3, 0.96 beyond)."""
    questions = _count(text, "?")
    return (F.least(_count(text, "!"), F.lit(4)) * EXCLAMATION
            + F.when(questions > 3, F.lit(0.96)).when(questions > 1, questions * QUESTION)
            .otherwise(F.lit(0.0)))


def compound(valence_sum: Column, text: Column) -> Column:
    """Punctuation emphasis away from zero, normalised to [-1, 1], rounded as VADER rounds."""
    emphasis = _punctuation(text)

    def normalised(total: Column) -> Column:
        return F.bround(total / F.sqrt(total * total + F.lit(float(ALPHA))), 4)

    return _let(valence_sum, lambda v: _let(
        F.when(v > 0, v + emphasis).when(v < 0, v - emphasis).otherwise(v), normalised))


def sentiment_label(score: Column) -> Column:
    """VADER's thresholds: >= 0.05 positive, <= -0.05 negative, else (and for NULL) neutral."""
    return (F.when(score >= POSITIVE_FROM, F.lit("positive"))
            .when(score <= NEGATIVE_TO, F.lit("negative")).otherwise(F.lit("neutral")))


def _steps(vader: Vader) -> list[Column]:
    """The projections after the text's: the words, their count, caps, "but", the words'
    contexts and valences, and the score."""
    text_col, padded, n, cap_diff, but, contexts, valences = (F.col(c) for c in _TEMP)
    return [
        _let(_emoji_pieces(text_col, vader), lambda pieces: _padded(
            _word_facts(_words(_emojis_as_words(text_col, pieces, vader)), vader))),
        F.size(padded) - _PAD - 2,
        _cap_diff(padded),
        _but_position(padded),
        _contexts(padded, n, cap_diff, vader),
        _valences(contexts, padded, n, cap_diff),
        F.when(text_col.isNotNull(), compound(_but_weighted_sum(valences, but), text_col)),
    ]


def _tsv(entries: dict[str, Any]) -> str:
    return "".join(f"{key}\t{value}\n" for key, value in entries.items())


def _registered_udf(session: Any, vader: Vader) -> str | None:
    """The name of VADER's compound score as a JVM UDF (jobs/jvm/VaderCompound.java: the
    package's code in Java, about ten times less CPU than the expressions) registered in the
    session with ``vader``'s data; None when the session's driver does not have the class
    (``jvm_udf``: a cluster, no javac, Spark Connect)."""
    emojis = {e: d for e, d in vader.emojis.items() if len(e) == 1}  # read per code point
    return jvm_udf(session, "VaderCompound", "double", _tsv(vader.lexicon), _tsv(emojis),
                   _tsv(vader.boosters), _tsv(dict.fromkeys(vader.negations, "")),
                   _tsv(vader.special_cases))


def with_sentiment(frame: DataFrame, text: Column, vader: Vader | None = None,
                   jvm: bool = True) -> DataFrame:
    """Add ``sentiment_score`` (VADER's compound; NULL for a NULL text) and ``sentiment``.

    With ``jvm`` and the project's JVM classes in the session (local mode with a JDK), the score
    is ``VaderCompound``'s; else it is built from Spark expressions. Both are the package's
    scores (the tests hold each to them). In the expressions, each step is its own projection:
    an array a lambda reads must be a column, or Spark would build it again for every word;
    values used more than once in a step are bound (``_let``).
    """
    vader = vader or load_vader()
    session = frame.sparkSession
    udf = built_once(session, vader, lambda v: _registered_udf(session, v)) if jvm else None
    if udf is not None:
        scored = frame.select("*", F.call_function(udf, text).alias("sentiment_score"))
    else:
        *steps, score = built_once(session, vader, _steps)
        frame = frame.select("*", text.alias(_TEMP[0]))
        for name, step in zip(_TEMP[1:], steps, strict=True):
            frame = frame.select("*", step.alias(name))
        scored = frame.select("*", score.alias("sentiment_score")).drop(*_TEMP)
    return scored.select("*", sentiment_label(F.col("sentiment_score")).alias("sentiment"))

if __name__ == "__main__":
    rebuild_lexicon()
    print(f"rebuilt {LEXICON_DIR} from the installed vaderSentiment package")
