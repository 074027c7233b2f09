"""What an output rebuilt whole was last built from, so that a run with the same inputs skips it.

The operational tables, the customer links and the complaint cases are each rebuilt whole from
their inputs. A batch run that brings nothing new for them (a rerun of a day, a manual trigger
after the scheduled run, a day without a new export of one table) would spend the same minutes to
write the same files. Each build therefore records a **fingerprint** of its inputs: every input
file (path relative to the lake, size, modification time) and the source files of the code that
builds it. A later run with the same fingerprint, whose outputs are still there, keeps them and
says so (``skipped``). Raw files are immutable and clean files are replaced (new files, new
names), never edited in place, so a changed input always changes the fingerprint; a changed rule
of the building code does too.

The records live in ``runs/built_from/<name>.json`` with the summary of the build they describe.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from common.lake import write_atomically

RECORDS = "built_from"


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.is_file())


def fingerprint(root: Path, inputs: Iterable[Path], code: Iterable[ModuleType]) -> str:
    """A hash of every file under ``inputs`` (files or folders; path relative to ``root``, size,
    modification time) and of the source of the ``code`` modules."""
    digest = hashlib.sha256()
    for path in sorted({f for p in inputs for f in _files(p)}):
        stat = path.stat()
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for module in sorted(code, key=lambda m: m.__name__):
        digest.update(module.__name__.encode())
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def record_path(runs: Path, name: str) -> Path:
    return runs / RECORDS / f"{name}.json"


def last_build(record: Path, inputs_fingerprint: str, outputs: Iterable[Path]
               ) -> dict[str, Any] | None:
    """The summary of the last build when it had these inputs and its outputs still exist;
    None when the output must be built."""
    if not all(p.exists() for p in outputs):
        return None
    try:
        known = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(known, dict) or known.get("fingerprint") != inputs_fingerprint:
        return None
    summary = known.get("summary")
    return summary if isinstance(summary, dict) else {}


def remember(record: Path, inputs_fingerprint: str, summary: dict[str, Any]) -> None:
    """Record that the outputs were built from these inputs (after they were written)."""
    record.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(record, json.dumps({"fingerprint": inputs_fingerprint, "summary": summary},
                                        indent=2, default=str))
