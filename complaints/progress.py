"""Progress of the long steps (landing, transforms, DAG runs, the demo): what is being done, then
how long it took, one line each on stderr.

stdout stays the command's result (JSON, CSV, a table), so it can be piped or parsed; stderr is for
people. A step that fails prints no "done" line: the error line says what went wrong instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Step:
    """A running step; set ``outcome`` to say what it achieved in its "done" line."""

    name: str
    outcome: str = ""


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def timed(name: str, doing: str = "") -> Iterator[Step]:
    """``<name>: <doing> ...`` now, ``<name>: done in 8.2 s (<outcome>)`` when the block ends."""
    say(f"{name}: {doing} ..." if doing else f"{name} ...")
    step = Step(name)
    began = time.monotonic()
    yield step
    took = f"done in {time.monotonic() - began:.1f} s"
    say(f"{name}: {took}" + (f": {step.outcome}" if step.outcome else ""))
