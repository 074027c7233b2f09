"""The command line's argument handling: usage errors on one line with a "did you mean", help that
shows every default, and argument types that check a value before any work starts (dates, sources
that can be landed, DAG ids read from the dags folder without starting Airflow).
"""

from __future__ import annotations

import argparse
import ast
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn

from complaints.errors import USAGE, did_you_mean

_INVALID_CHOICE = re.compile(r"argument (?P<argument>\S+): invalid choice: '(?P<value>[^']*)'")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written; ``(default: ...)`` after every option whose help does not already
    say its default (a flag's default is off, a default of None is spelled out in the help)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 32,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False \
                or action.default == argparse.SUPPRESS:
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text  # a required positional has no default
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line, with a suggestion when a choice was
    mistyped (``complaints trnasform`` -> did you mean 'transform'?)."""

    def error(self, message: str) -> NoReturn:
        found = _INVALID_CHOICE.search(message)
        action = self._action_named(found["argument"]) if found else None
        if found and isinstance(action, argparse._SubParsersAction):
            commands = list(action.choices)
            value = found["value"]
            message = (f"{value!r} is not a command{did_you_mean(value, commands)}"
                       f" (the commands: {', '.join(commands)})")
        elif found and action is not None and action.choices is not None:
            message += did_you_mean(found["value"], [str(c) for c in action.choices])
        self.exit(USAGE, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")

    def _action_named(self, argument: str) -> argparse.Action | None:
        for action in self._actions:
            if argument in (*action.option_strings, action.dest, action.metavar):
                return action
        return None


# ------------------------------------------------------------------------------------------------
# Argument types: each raises ArgumentTypeError, which the parser reports as a usage error
# ------------------------------------------------------------------------------------------------


def iso_day(text: str) -> date:
    """A calendar date written ``YYYY-MM-DD`` (nothing else: ``11/06/2026`` is refused)."""
    try:
        if _ISO_DATE.match(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a date: expected YYYY-MM-DD, e.g. 2026-11-06")


def iso_date(text: str) -> str:
    """``iso_day``, kept as its text (a DAG run's logical date)."""
    return iso_day(text).isoformat()


def iso_moment(text: str) -> datetime:
    """A moment, ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS][+HH:MM]``; UTC unless it says."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T").replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC unless it gives "
            "an offset)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(text: str, parse: Callable[[str], float], ok: Callable[[float], bool],
            what: str) -> float:
    """``text`` parsed, if it is a finite number for which ``ok`` holds; else a usage error
    that says it is not ``what``."""
    try:
        value = parse(text)
        usable = math.isfinite(value) and ok(value)
    except (ValueError, OverflowError):  # not a number; a whole number too large for a float
        usable = False
    if not usable:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (a batch size, a number of leases)."""
    return int(_number(text, int, lambda v: v >= 1, "a whole number of at least 1"))


def records_per_read(text: str) -> int:
    """A whole number from 1 to 10,000: the records one Kinesis GetRecords call may return
    (its ``Limit``; AWS refuses more)."""
    return int(_number(text, int, lambda v: 1 <= v <= 10_000,
                       "a whole number from 1 to 10000 (Kinesis's GetRecords limit)"))


def non_negative_int(text: str) -> int:
    """A whole number of at least 0 (a count)."""
    return int(_number(text, int, lambda v: v >= 0, "a whole number of at least 0"))


def positive_float(text: str) -> float:
    """A number above 0 (a rate, a lease's length)."""
    return _number(text, float, lambda v: v > 0, "a number above 0")


def share(text: str) -> float:
    """A number from 0 to 1 (a share of events)."""
    return _number(text, float, lambda v: 0 <= v <= 1, "a share from 0 to 1")


def non_negative_float(text: str) -> float:
    """A number of at least 0 (seconds, MiB)."""
    return _number(text, float, lambda v: v >= 0, "a number of at least 0")


def landable_source(file_sources: tuple[str, ...], tables: tuple[str, ...],
                    streamed: tuple[str, ...]) -> Callable[[str], str]:
    """The type of ``complaints land``'s source: a file source or a DynamoDB table."""

    def source(text: str) -> str:
        if text in file_sources or text in tables:
            return text
        if text in streamed:
            raise argparse.ArgumentTypeError(
                f"{text} is streamed, not landed: run `complaints consume --source {text}`")
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot be landed; choose a file source ({', '.join(file_sources)}) or a "
            f"DynamoDB table ({', '.join(tables)})"
            + did_you_mean(text, (*file_sources, *tables)))

    return source


def dag_ids(folder: Path) -> list[str]:
    """The DAG ids declared in ``folder``'s Python files, read without importing them (no
    Airflow): ``dag_id="..."`` arguments, ``DAG("...")`` and ``@dag`` functions without one."""
    found: set[str] = set()
    for path in sorted(folder.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            found.update(_declared_dag_ids(node))
    return sorted(found)


def _text_constant(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _callee(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _declared_dag_ids(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Call):
        named = [_text_constant(k.value) for k in node.keywords if k.arg == "dag_id"]
        if _callee(node) == "DAG" and node.args:
            named.append(_text_constant(node.args[0]))
        return [n for n in named if n]
    if isinstance(node, ast.FunctionDef):
        for decorator in node.decorator_list:
            bare = not isinstance(decorator, ast.Call) or not any(
                k.arg == "dag_id" for k in decorator.keywords)
            if _callee(decorator) == "dag" and bare:
                return [node.name]
    return []


def known_dag(folder: Path) -> Callable[[str], str]:
    """The type of ``complaints run-dag``'s DAG id: one declared in ``folder`` (anything goes
    when none could be read, and Airflow has the last word)."""

    def dag_id(text: str) -> str:
        known = dag_ids(folder)
        if known and text not in known:
            raise argparse.ArgumentTypeError(
                f"there is no DAG {text!r} in {folder}; the DAGs are: {', '.join(known)}"
                + did_you_mean(text, known))
        return text

    return dag_id

