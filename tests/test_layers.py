"""The floors of ARCHITECTURE.md hold: no package imports one above it, no circle between packages.

The contracts live in pyproject.toml (``[tool.importlinter]``) and ``lint-imports`` checks them on
the real tree; a copy of the tree with one import pointing up shows the check can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from common.settings import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("complaints", "dags", "warehouse", "quality", "jobs", "streaming", "samples",
            "common", "schemas")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"),
                           "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          check=False)


def test_the_tree_keeps_its_floors() -> None:
    done = lint_imports(REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def copy_of_tree(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, target / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_an_import_pointing_up_breaks_the_floors(tmp_path: Path) -> None:
    tree = copy_of_tree(tmp_path)
    with (tree / "jobs" / "transform.py").open("a", encoding="utf-8") as module:
        module.write("\nimport warehouse.duckdb_warehouse  # a stage reaching up\n")
    done = lint_imports(tree)
    assert done.returncode == 1
    assert "jobs.transform -> warehouse.duckdb_warehouse" in done.stdout


def test_a_stage_using_sample_data_is_refused(tmp_path: Path) -> None:
    tree = copy_of_tree(tmp_path)
    with (tree / "streaming" / "consumer.py").open("a", encoding="utf-8") as module:
        module.write("\nimport samples.generate\n")
    done = lint_imports(tree)
    assert done.returncode == 1
    assert "streaming.consumer -> samples.generate" in done.stdout
