"""The Great Expectations side of the quality stage: one file-backed GX project in the lake, where
every suite (clean complaints, each raw source) runs as a Checkpoint whose action rebuilds the
HTML data docs.

::

    <lake>/quality/gx/                       great_expectations.yml, expectations/, checkpoints/,
                                             validation_definitions/
    <lake>/quality/gx/uncommitted/validations/            GX's own validation results
    <lake>/quality/gx/uncommitted/data_docs/local_site/   the data docs (index.html)

``run_suite`` adds (or updates) the suite, a pandas dataframe asset named after it, a validation
definition and a checkpoint with ``UpdateDataDocsAction``, then runs the checkpoint on the frame.
Without a project it runs the same suite through a throw-away in-memory context (no files), which
is what ``complaints check --no-docs`` and the unit tests use.

Severity lives in each expectation's ``meta`` (``{"severity": "critical"}`` or ``"warning"``):
GX stores it with the suite and shows it in the data docs. No severity means critical.

Great Expectations is imported inside the functions (importing it takes seconds; the DAG files
import this stage's modules at parse time).
"""

from __future__ import annotations

import fcntl
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas
    from great_expectations.core import ExpectationSuite

__all__ = ["CRITICAL", "DATASOURCE", "RESULTS_KEPT", "WARNING", "critical", "prune_results",
           "run_suite", "severity", "warning"]

# GX results (and their data docs pages) kept per suite: the docs index is rebuilt from all of
# them on every run, which slows as they pile up (measured: 0.9 s per run after 10 runs, 2.4 s
# after 300); each run's outcome is also kept, small, in <lake>/quality/validations/.
RESULTS_KEPT = 100
CRITICAL = "critical"
WARNING = "warning"
DATASOURCE = "complaints_lake"
_BATCH = "run_increment"


def critical(expectation: Any) -> Any:
    """Mark an expectation critical: its failure keeps the run's partitions out of the
    warehouse."""
    expectation.meta = {**(expectation.meta or {}), "severity": CRITICAL}
    return expectation


def warning(expectation: Any) -> Any:
    """Mark an expectation a warning: its failure is reported, the data is published."""
    expectation.meta = {**(expectation.meta or {}), "severity": WARNING}
    return expectation


def severity(meta: Any) -> str:
    """The severity recorded in an expectation's meta (critical when none is)."""
    value = meta.get("severity") if isinstance(meta, dict) else None
    return WARNING if value == WARNING else CRITICAL


def _quiet(context: Any) -> Any:
    """No progress bars in task logs, no analytics calls home."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False,
                                                         metric_calculations=False)
    return context


def ephemeral_context() -> Any:
    """A throw-away in-memory GX context: no files, no analytics, no progress bars."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def project_context(project_dir: Path) -> Any:
    """The file-backed GX project at ``project_dir`` (``<lake>/quality/gx``), created on first
    use. GX names the folder ``gx`` inside the root it is given, so the root is its parent."""
    import great_expectations as gx

    if project_dir.name != "gx":
        raise ValueError(f"a GX project folder is named gx, not {project_dir.name!r}")
    project_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GX warns about analytics / its own deprecations
        context = gx.get_context(mode="file", project_root_dir=str(project_dir.parent))
    if context.config.analytics_enabled is not False:
        context.enable_analytics(False)  # saved in great_expectations.yml: off from then on
    return _quiet(context)


def _batch_definition(context: Any, asset_name: str) -> Any:
    source = context.data_sources.add_or_update_pandas(name=DATASOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
    try:
        return asset.get_batch_definition(_BATCH)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(_BATCH)


def run_suite(frame: pandas.DataFrame, suite: ExpectationSuite, *,
              project_dir: Path | None = None, run_name: str | None = None,
              result_format: dict[str, Any] | None = None) -> Any:
    """Validate ``frame`` with ``suite``; returns GX's ``ExpectationSuiteValidationResult``.

    With ``project_dir``: as the checkpoint ``<suite name>`` of that file-backed project (the
    result is stored and the data docs updated); ``run_name`` (e.g. the Airflow run id) names
    the run in the docs. Without: through an ephemeral context, nothing written.
    """
    if project_dir is None:
        return _validate(ephemeral_context(), frame, suite, None, result_format,
                         checkpoint=False)
    with _project_lock(project_dir):
        prune_results(project_dir, suite.name, RESULTS_KEPT - 1)
        return _validate(project_context(project_dir), frame, suite, run_name, result_format,
                         checkpoint=True)


def prune_results(project_dir: Path, suite: str, keep: int) -> int:
    """Delete all but the newest ``keep`` GX results of ``suite`` and their data docs pages
    (``<run name>/<run time>/`` folders; run times sort as text); returns how many went."""
    stores = [project_dir / "uncommitted" / "validations" / suite,
              project_dir / "uncommitted" / "data_docs" / "local_site" / "validations" / suite]
    runs = sorted((p for p in stores[0].glob("*/*") if p.is_dir()),
                  key=lambda p: (p.name, p.parent.name))
    old = runs[:max(len(runs) - keep, 0)]
    for folder in old:
        for store in stores:
            target = store / folder.parent.name / folder.name
            shutil.rmtree(target, ignore_errors=True)
            if target.parent.is_dir() and not any(target.parent.iterdir()):
                target.parent.rmdir()
    return len(old)


@contextmanager
def _project_lock(project_dir: Path) -> Iterator[None]:
    """One writer of the project at a time: the batch and stream DAGs' gates may overlap, and
    GX rewrites great_expectations.yml and the docs index on every run."""
    project_dir.parent.mkdir(parents=True, exist_ok=True)
    with (project_dir.parent / "gx.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _validate(context: Any, frame: pandas.DataFrame, suite: ExpectationSuite,
              run_name: str | None, result_format: dict[str, Any] | None, *,
              checkpoint: bool) -> Any:
    """The suite, its validation definition and (``checkpoint``) its checkpoint, run."""
    import great_expectations as gx

    stored = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(
        name=suite.name, data=_batch_definition(context, suite.name), suite=stored))
    fmt = result_format or {"result_format": "SUMMARY"}
    if not checkpoint:
        return definition.run(batch_parameters={"dataframe": frame}, result_format=fmt)
    return _run_checkpoint(context, definition, frame, fmt, run_name)


def _run_checkpoint(context: Any, definition: Any, frame: pandas.DataFrame,
                    fmt: dict[str, Any], run_name: str | None) -> Any:
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=definition.name, validation_definitions=[definition],
        actions=[UpdateDataDocsAction(name="update_data_docs")], result_format=fmt))
    run_id = RunIdentifier(run_name=run_name) if run_name else None
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    return next(iter(result.run_results.values()))
