"""The ``complaints`` command: one entry point for every step of the pipeline.

Settings are resolved here, once, from the environment (see ``common.settings``) and passed
down. Heavy modules (Spark, Airflow, DuckDB) are imported only by the subcommand that needs them.
Commands check what a user can get wrong before starting work (a lake that is missing or cannot
be written, nothing to transform, no emulator) and raise ``CliError``; ``main`` turns that and the
stages' own errors into one line on stderr (``complaints.errors``). Progress and timings go to
stderr (``complaints.progress``), results to stdout.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import socket
import sys
import textwrap
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from common.lake import Lake
from common.settings import REPO_ROOT, Settings
from complaints.arguments import (
    HelpFormatter,
    Parser,
    dag_ids,
    iso_date,
    iso_day,
    iso_moment,
    known_dag,
    landable_source,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    records_per_read,
    share,
)
from complaints.errors import USAGE, CliError, exit_code, explain
from complaints.progress import timed
from schemas.sources import COMPLAINT_SOURCES, DYNAMODB_TABLES, FILE_SOURCES
from schemas.streaming import STREAM_SOURCES

DESCRIPTION = """\
Complaint analytics pipeline: each step on its own (generate, land, transform, check, refresh),
SQL on the warehouse, the Kinesis producer and consumer, and the DAGs through Airflow.
`complaints COMMAND --help` describes a command and its options."""

EPILOG = """\
Settings come from the environment: COMPLAINTS_LAKE (default ./lake), COMPLAINTS_AWS_ENDPOINT_URL
(the local emulator; unset means real AWS), COMPLAINTS_RULES, ... (README, "Settings").
Progress and timings are printed on stderr, results on stdout.
A mistake ends with one line on stderr saying what is wrong and what to do, and a non-zero exit
status (2 for usage errors). Set COMPLAINTS_DEBUG=1 to see the Python traceback as well."""

# The last "SomeError: message" line of a log: why a DAG run failed, most of the time.
_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception|Failed)\w*: .+$")


def _airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or REPO_ROOT / ".airflow").resolve()


# ------------------------------------------------------------------------------------------------
# Checks before work starts
# ------------------------------------------------------------------------------------------------


def require_lake(settings: Settings) -> None:
    """Readers and transforms never create a lake: a mistyped COMPLAINTS_LAKE is an error."""
    if not settings.lake.is_dir():
        raise CliError(f"there is no lake at {settings.lake}: check COMPLAINTS_LAKE, or build one "
                       "with `make demo` (or `complaints generate` and `complaints land ...`)")


def require_writable(*paths: Path) -> None:
    """Raise ``PermissionError`` (``NotADirectoryError``) for the first path this process cannot
    write: the path itself if it exists, else the folder it would be created in."""
    for path in paths:
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing != path and not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
        mode = os.W_OK | (os.X_OK if existing.is_dir() else 0)
        if not os.access(existing, mode, effective_ids=os.access in os.supports_effective_ids):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(existing))


def _reachable(settings: Settings) -> None:
    """Fail fast, before any work, when AWS (or the emulator) cannot be used."""
    from common.aws import check_reachable

    check_reachable(settings)
    if not settings.aws_endpoint_url:
        import boto3
        from botocore.exceptions import NoCredentialsError

        if boto3.session.Session().get_credentials() is None:
            raise NoCredentialsError()


def _has_files(folder: Path) -> bool:
    """Whether ``folder`` holds a file landing would take (a regular, not hidden file)."""
    if not folder.is_dir():
        return False
    with os.scandir(folder) as entries:
        return any(not e.name.startswith(".") and e.is_file(follow_symlinks=False)
                   for e in entries)


# ------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------


def cmd_generate(settings: Settings, args: argparse.Namespace) -> int:
    from samples.generate import generate

    if not args.no_dynamodb:
        if not settings.aws_endpoint_url:
            raise CliError("the DynamoDB tables are written to the local AWS emulator only: start "
                           "it with `complaints emulator start` and set COMPLAINTS_AWS_ENDPOINT_URL"
                           " to the URL it prints, or pass --no-dynamodb", USAGE)
        _reachable(settings)
    require_writable(settings.zones.inbox)
    tables = "" if args.no_dynamodb else " and the DynamoDB tables"
    with timed("generate", f"{args.days} days from {args.start} into {settings.zones.inbox}"
               f"{tables}") as step:
        summary = generate(settings, seed=args.seed, days=args.days, start=args.start,
                           load_dynamodb=not args.no_dynamodb)
        step.outcome = (f"{sum(summary.records.values())} inbox records, "
                        f"{sum(summary.dynamodb_items.values())} DynamoDB items")
    print(json.dumps(summary.to_dict(), indent=2, default=str))
    return 0


def cmd_land(settings: Settings, args: argparse.Namespace) -> int:
    require_writable(settings.zones.raw)
    if args.source in FILE_SOURCES:
        return _land_inbox(settings, args.source)
    return _land_table(settings, args.source, args.label or date.today().isoformat())


def _land_inbox(settings: Settings, source: str) -> int:
    from jobs.landing import land_files

    inbox = settings.zones.inbox / source
    if not _has_files(inbox):
        state = "holds no files" if inbox.is_dir() else "does not exist"
        raise CliError(f"nothing to land: {inbox} {state}; drop {source} exports there (or "
                       "write sample ones with `complaints generate --no-dynamodb`)")
    with timed(f"land {source}", f"files of {inbox}") as step:
        landing = land_files(settings, source)
        step.outcome = f"landed {len(landing.landed)}, already landed {len(landing.skipped)}"
    print(f"{source}: landed {len(landing.landed)}, already landed {len(landing.skipped)}")
    return 0


def _land_table(settings: Settings, table: str, label: str) -> int:
    from jobs.landing import land_dynamodb_export

    _reachable(settings)
    with timed(f"land {table}", f"export of DynamoDB table {settings.tables[table]} "
               f"(snapshot {label})") as step:
        export = land_dynamodb_export(settings, table, snapshot_label=label)
        step.outcome = f"{export.items} items" + (" (already landed)" if export.skipped else "")
    print(f"{table}: {export.items} items in {export.data_files} files -> "
          f"{export.folder}{' (already landed)' if export.skipped else ''}")
    return 0


def cmd_transform(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.raw_zone import raw_files_of
    from jobs.transform import run_transform

    require_lake(settings)
    sources = args.sources or COMPLAINT_SOURCES
    files = {source: len(raw_files_of(settings, source)) for source in sources}
    if not any(files.values()):
        raise CliError(f"nothing to transform: no raw files for {', '.join(sources)} under "
                       f"{settings.zones.raw}; land them first with `complaints land SOURCE` "
                       "(sms and social: `complaints consume`)")
    zones = settings.zones
    require_writable(zones.clean, zones.quarantine, zones.runs)
    present = {source: n for source, n in files.items() if n}
    dates = _event_dates(args)
    how = (f"backfill of event dates {dates[0]}..{dates[1]} from the files processed so far"
           if dates else "full recompute" if args.full else "new raw files only")
    if args.retry_quarantined and not (dates or args.full):
        how += ", and the files quarantined as unreadable again"
    with timed("transform", f"{len(present)} sources, {sum(present.values())} raw files in the "
               f"lake ({', '.join(present)}); {how}") as step:
        result = run_transform(settings, sources=sources, full=args.full, event_dates=dates,
                               retry_quarantined=args.retry_quarantined)
        counts = result.counts
        step.outcome = (f"{sum(c.raw_files for c in counts)} files read, "
                        f"{sum(c.records_in for c in counts)} records in, "
                        f"{sum(c.clean for c in counts)} clean, "
                        f"{sum(c.quarantined for c in counts)} quarantined, "
                        f"{sum(c.duplicates for c in counts)} duplicates")
    _print_file_notes(result.file_notes)
    print(json.dumps(result.to_dict(), indent=2))
    return 0


FILE_NOTES_SHOWN = 20


def _print_file_notes(notes: Sequence[tuple[str, str]]) -> None:
    """What inspecting the files noticed (schema drift, ...), a line each on stderr."""
    for raw_file, note in notes[:FILE_NOTES_SHOWN]:
        print(f"transform: note: {raw_file}: {note}", file=sys.stderr)
    if len(notes) > FILE_NOTES_SHOWN:
        print(f"transform: note: and {len(notes) - FILE_NOTES_SHOWN} more (the run_files view, "
              "column notes)", file=sys.stderr)


def _event_dates(args: argparse.Namespace) -> tuple[date, date] | None:
    """``--from``/``--to`` as an inclusive range (one alone: that single day)."""
    if args.date_from is None and args.date_to is None:
        return None
    first = args.date_from or args.date_to
    last = args.date_to or args.date_from
    if first > last:
        raise CliError(f"--from {first} is after --to {last}; give the earlier date first")
    return first, last


def _release(settings: Settings, names: list[str]) -> int:
    """``complaints check --release DATE/SOURCE``: serve held partitions again, as they are."""
    from quality.held_partitions import read_held, release_partitions
    from warehouse.duckdb_warehouse import refresh_warehouse

    require_lake(settings)
    wanted = []
    for name in names:
        day, _, source = name.partition("/")
        if not day or not source:
            raise CliError(f"--release {name!r}: give a partition as EVENT_DATE/SOURCE, e.g. "
                           "2026-11-03/web_form")
        wanted.append((day, source))
    try:
        released = release_partitions(settings.zones, wanted)
    except KeyError as missing:
        held = ", ".join(f"{d}/{s}" for d, s in read_held(settings.zones)) or "none"
        raise CliError(f"not held: {missing.args[0]}; held partitions: {held}") from None
    require_writable(settings.zones.warehouse)
    refresh_warehouse(settings)
    print("released (served again, now the last good version): "
          + ", ".join(f"{d}/{s}" for d, s in released))
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from quality.clean_slices import check_slices, clean_partitions, slice_partitions
    from quality.held_partitions import read_held

    if args.release:
        return _release(settings, args.release)
    require_lake(settings)
    root = settings.zones.clean_complaints
    slices = slice_partitions(root, clean_partitions(root), args.slice_rows)
    if not slices:
        raise CliError(f"no clean complaints yet in {root}: run "
                       "`complaints transform` first (after `complaints land SOURCE`)")
    project = None if args.no_docs else settings.zones.gx_project
    if project is not None:
        require_writable(settings.zones.quality)
    rows = sum(s.rows for s in slices)
    in_slices = f" in {len(slices)} slices" if len(slices) > 1 else ""
    with timed("check", f"quality suite on {rows} clean complaints{in_slices}") as step:
        report = check_slices(root, slices, project_dir=project, run_name="complaints_check")
        step.outcome = "passed" if report.success else (
            "FAILED" if report.critical else "passed with warnings")
    print(report.summary())
    held = read_held(settings.zones)
    if held:
        print("held out of the warehouse (critical failure of a run): "
              + ", ".join(f"{h.event_date}/{h.source} ({h.run_id})" for h in held.values()))
    if project is not None:
        print(f"data docs: {settings.zones.data_docs}")
    return 1 if report.critical else 0


def require_clean_complaints(zones: Lake, what: str) -> None:
    """A one-line error when there is nothing clean yet to work on."""
    if not any(zones.clean_complaints.glob("event_date=*/source=*/*.parquet")):
        raise CliError(f"{what}: no clean complaints under {zones.clean_complaints}; "
                       "run `complaints transform` first")


def kept_note(skipped: bool, run_id: str) -> str:
    """How an output kept from an earlier run (same inputs, ``jobs.built_from``) is announced."""
    return f"kept from {run_id} (inputs unchanged): " if skipped else ""


def cmd_link_customers(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.customer_links import CUSTOMERS_TABLE, run_customer_links

    require_lake(settings)
    zones = settings.zones
    require_clean_complaints(zones, "nothing to link")
    if not any((zones.clean / CUSTOMERS_TABLE).glob("*.parquet")):
        raise CliError(f"no customer master: {zones.clean / CUSTOMERS_TABLE} is empty; land "
                       f"the {CUSTOMERS_TABLE} table and transform it first (`complaints land "
                       f"{CUSTOMERS_TABLE}`, then the batch DAG's operational transform)")
    require_writable(zones.clean)
    with timed("link-customers", "clean complaints against the customer master") as step:
        result = run_customer_links(settings)
        step.outcome = kept_note(result.skipped, result.link_run_id) + \
            f"{result.links} links; linked / complaints: " + ", ".join(
                f"{c.source} {c.linked}/{c.complaints}" for c in result.counts)
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def cmd_cases(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.complaint_cases import LINKS_FOLDER, run_complaint_cases

    require_lake(settings)
    zones = settings.zones
    require_clean_complaints(zones, "no cases to make")
    if not any((zones.clean / LINKS_FOLDER).glob("source=*/*.parquet")):
        print(f"note: no customer links under {zones.clean / LINKS_FOLDER}: only complaints "
              "with the same customer id join (run `complaints link-customers` first)")
    require_writable(zones.clean)
    with timed("cases", "the same complaint across channels, one case") as step:
        result = run_complaint_cases(settings)
        step.outcome = kept_note(result.skipped, result.case_run_id) + (
            f"{result.cases} cases of {result.complaints} complaints; "
            f"{result.joined} complaints joined to others")
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def cmd_refresh(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.duckdb_warehouse import refresh_warehouse

    require_lake(settings)
    require_writable(settings.zones.warehouse)
    with timed("refresh", f"views of {settings.zones.warehouse}"):
        counts = refresh_warehouse(settings)
    print(json.dumps(counts, indent=2))
    return 0


def cmd_sql(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.duckdb_warehouse import (
        WarehouseError,
        export_format,
        export_query,
        format_result,
        run_query,
    )

    if args.out is not None:
        try:
            export_format(args.out)
        except WarehouseError as exc:
            raise CliError(f"--out: {exc}", USAGE) from exc
        require_writable(args.out.parent)
        with timed("sql", f"result to {args.out}") as step:
            rows = export_query(settings, args.query, args.out, role=args.role)
            step.outcome = f"{rows} rows"
        print(args.out)
        return 0
    text = format_result(run_query(settings, args.query, role=args.role), args.format)
    # CSV already ends with a newline; print() would add a blank last line.
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.duckdb_warehouse import WarehouseMissing
    from warehouse.report import write_report

    if not settings.zones.warehouse.is_file():  # before any progress line
        raise WarehouseMissing(settings.zones.warehouse)
    target = args.out if args.out is not None else settings.zones.report
    require_writable(target)
    with timed("report", f"static HTML report to {target}") as step:
        path, data = write_report(settings, target)
        step.outcome = f"{len(data.open_alerts)} open alerts"
    print(path)
    return 0


def cmd_surges(settings: Settings, args: argparse.Namespace) -> int:
    from quality.surges import SurgeOptions, run_surge_detection, surge_alerts

    require_lake(settings)
    if args.since and args.as_of and args.since >= args.as_of:
        raise CliError(f"--since {args.since:%Y-%m-%dT%H:%M} is not before --as-of "
                       f"{args.as_of:%Y-%m-%dT%H:%M}; give an earlier --since")
    options = SurgeOptions(as_of=args.as_of, since=args.since)
    with timed("surges", "hourly counts per category, region and source against their "
               "baseline (DuckDB over the clean complaints)") as step:
        run, changed = run_surge_detection(settings.zones, settings.alert_webhook_url, options)
        step.outcome = (f"{run.surge_hours} surge hours, {len(run.alerts)} alerts "
                        f"({len(changed)} new or updated)")
    if run.window is None:
        raise CliError(f"no clean complaints in {settings.zones.clean_complaints}: run "
                       "`complaints transform` first")
    shown = surge_alerts(settings.zones, since=run.window.since)
    if args.format == "json":
        print(json.dumps([a.payload() for a in shown], indent=2))
        return 0
    print(f"Surges from {run.window.since:%Y-%m-%d %H:%M} to {run.window.end:%Y-%m-%d %H:%M} UTC: "
          f"{len(shown)} alert{'' if len(shown) == 1 else 's'}")
    for alert in shown:
        print(f"{alert.alert_id}  {alert.summary()}")
    return 0


def cmd_freshness(settings: Settings, args: argparse.Namespace) -> int:
    from quality.freshness import run_source_health

    require_lake(settings)
    with timed("freshness", "newest landing of every source against its target; each day's "
               "file and export against the one before") as step:
        health, changed = run_source_health(settings, args.now)
        step.outcome = f"{len(health.alerts)} alerts ({len(changed)} new or updated)"
    print(f"{'source':<22} {'newest landing (UTC)':<20} {'age h':>8} {'target h':>8}  state")
    for check in health.freshness:
        newest = "never" if check.newest is None else f"{check.newest:%Y-%m-%d %H:%M}"
        age = "-" if check.age_hours is None else f"{check.age_hours:.1f}"
        state = "LATE" if check.late else ("not in use" if check.newest is None else "ok")
        print(f"{check.source:<22} {newest:<20} {age:>8} {check.target_hours:>8g}  {state}")
    volume = [a for a in health.alerts if a.kind == "volume"]
    for alert in volume:
        print(f"{alert.alert_id}  {alert.summary()}")
    late = [c for c in health.freshness if c.late]
    return 1 if late or volume else 0


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    from schemas.complaint import COMPLAINT

    print(COMPLAINT.markdown_table())
    return 0


def _last_error(log_file: Path) -> str:
    """The last ``SomeError: message`` line of a log, also inside an error's repr (Airflow puts a
    DAG file's import traceback in one string, newlines escaped)."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return ""
    lines = text.replace("\\n", "\n").replace("\\'", "'").splitlines()
    found = [line.strip() for line in lines if _ERROR_LINE.match(line)]
    return found[-1][:300] if found else ""


def cmd_classify_eval(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.classify import load_rules
    from jobs.classify_eval import check_categories, classify_eval, format_table, read_labels
    from jobs.spark import spark_session

    rules = load_rules(args.taxonomy)
    # Labels are checked before Spark starts: a typo in a category costs no JVM start-up.
    check_categories(read_labels(args.labels, args.split), rules.category_names, args.labels)
    with timed("classify-eval", f"taxonomy {rules.taxonomy} {rules.version} on {args.labels}"):
        result = classify_eval(spark_session(settings.spark_master), rules, args.labels,
                               args.split)
    print(json.dumps(result.to_dict(), indent=2) if args.format == "json"
          else format_table(result))
    return 0


def cmd_reclassify(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.classify import load_rules
    from jobs.reclassify import partitions_to_reclassify, run_reclassify
    from jobs.spark import spark_session

    dates = _event_dates(args)
    # The rules file is read and checked before Spark starts: a typo costs no JVM start-up.
    rules = load_rules(args.taxonomy)
    require_lake(settings)
    zones = settings.zones
    partitions = partitions_to_reclassify(zones, dates)
    span = f"event dates {dates[0]}..{dates[1]}" if dates else "every event date"
    if not partitions:
        raise CliError(f"nothing to reclassify: no clean complaints for {span} under "
                       f"{zones.clean_complaints}; run `complaints transform` first, or widen "
                       "--from/--to")
    require_writable(zones.clean, zones.stream_by_id.parent, zones.runs)
    with timed("reclassify", f"taxonomy {rules.taxonomy} {rules.version} over {len(partitions)} "
               f"partitions ({span})") as step:
        done = run_reclassify(settings, rules, spark_session(settings.spark_master), dates)
        step.outcome = (f"{sum(c.clean for c in done.result.counts)} complaints classified "
                        f"again in {len(done.clean)} partitions")
    print(json.dumps(done.result.to_dict(), indent=2))
    return 0


def cmd_run_dag(settings: Settings, args: argparse.Namespace) -> int:
    from complaints.airflow_local import run_dag

    home = _airflow_home()
    log_file = home / "dag-runs" / f"{args.dag_id}-{args.date}.log"
    require_writable(settings.lake, log_file.parent)
    with timed("run-dag", f"{args.dag_id} for {args.date} through Airflow (log: {log_file})"):
        state = run_dag(settings, args.dag_id, args.date, home, log_file=log_file)
        if state != "success":
            reason = _last_error(log_file)
            raise CliError(f"{args.dag_id} {args.date} ended {state}"
                           + (f" ({reason})" if reason else "") + f"; the whole log: {log_file}")
    print(f"{args.dag_id} {args.date}: {state}")
    return 0


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from samples.producer import EventPlan, SendOptions, produce

    if args.count is None and args.duration is None and not args.replay:
        raise CliError("give --count or --duration (or --replay for the whole sample)", USAGE)
    _reachable(settings)
    plan = EventPlan(rate_per_s=args.rate, duration_s=args.duration, count=args.count,
                     seed=args.seed, replay=args.replay, surge=args.surge,
                     bad_fraction=args.bad_fraction)
    with timed("produce", f"{args.source} events to stream {settings.stream_of(args.source)}"
               ) as step:
        stats = produce(settings, args.source, plan,
                        SendOptions(ids_path=args.ids_file, keep_ids=False))
        step.outcome = f"{stats.sent} sent, {stats.failed_permanently} failed"
    print(json.dumps(stats.to_dict(), indent=2), flush=True)
    return 0 if stats.failed_permanently == 0 else 1


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from complaints.demo import run_demo

    require_writable(settings.lake, _airflow_home())
    return run_demo(settings, _airflow_home(), seed=args.seed, days=args.days, start=args.start)


def cmd_airflow(settings: Settings, args: argparse.Namespace) -> int:
    from complaints.airflow_local import LauncherError, serve

    try:
        return serve(settings, _airflow_home(), port=args.port, seed_days=args.seed_days)
    except LauncherError as exc:
        print(f"airflow: {exc}", file=sys.stderr)
        return 1


def cmd_emulator(settings: Settings, args: argparse.Namespace) -> int:
    from complaints.emulator import (
        EmulatorError,
        emulator_status,
        start_detached,
        stop_detached,
    )

    home = _airflow_home()
    try:
        if args.action == "start":
            state, started = start_detached(home, args.port)
            verb = "started" if started else "already running"
            print(f"emulator {verb} on {state.url} (pid {state.pid}); "
                  f"export COMPLAINTS_AWS_ENDPOINT_URL={state.url}")
        elif args.action == "status":
            state = emulator_status(home)
            print(f"emulator running on {state.url} (pid {state.pid}, since {state.started_at})")
        else:
            state = stop_detached(home)
            print(f"emulator stopped (was {state.url}, pid {state.pid})")
    except EmulatorError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_consume(settings: Settings, args: argparse.Namespace) -> int:
    import signal
    import threading

    from streaming.consumer import ConsumerOptions, consume

    _reachable(settings)
    require_writable(settings.zones.raw_source(args.source), settings.zones.runs)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    stream = args.stream or settings.stream_of(args.source)
    with timed("consume", f"stream {stream} into raw/{args.source}/ as worker "
               f"{args.worker_id}") as step:
        options = ConsumerOptions(
            batch_limit=args.batch_limit, buffer_bytes=max(1, int(args.buffer_mb * 2**20)),
            buffer_seconds=args.buffer_seconds, lease_duration_s=args.lease_seconds,
            max_leases=args.max_leases, stream=args.stream, lease_table=args.lease_table,
            max_seconds=args.max_seconds, idle_exit_s=args.idle_exit_seconds)
        stats = consume(settings, args.source, worker_id=args.worker_id, options=options,
                        stop=stop)
        step.outcome = f"{stats.records_landed} records in {stats.files_written} files"
    print(json.dumps(stats.to_dict(), indent=2), flush=True)
    return 0


# ------------------------------------------------------------------------------------------------
# The parser, one small function per group of commands
# ------------------------------------------------------------------------------------------------

def _command(sub: argparse._SubParsersAction[Parser], name: str, summary: str, func: object,
             details: str = "") -> Parser:
    """A subcommand: ``summary`` in the command list, ``details`` below it in its own help."""
    paragraphs = [summary[0].upper() + summary[1:] + ".", *details.split("\n")]
    parser = sub.add_parser(name, help=summary, formatter_class=HelpFormatter,
                            description="\n\n".join(textwrap.fill(p, 79) for p in paragraphs if p))
    parser.set_defaults(func=func)
    return parser


def _generation_args(parser: Parser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="random seed of the sample data")
    parser.add_argument("--days", type=positive_int, default=5, help="days of sample data")
    parser.add_argument("--start", type=iso_day, default=date(2026, 11, 2),
                        help="first day of the sample data, YYYY-MM-DD")


def _add_batch_commands(sub: argparse._SubParsersAction[Parser]) -> None:
    from quality.clean_slices import DEFAULT_SLICE_ROWS

    p = _command(sub, "generate", "write sample sources (inbox files, DynamoDB tables)",
                 cmd_generate, "The DynamoDB tables need the local emulator "
                 "(COMPLAINTS_AWS_ENDPOINT_URL); --no-dynamodb writes only the inbox files.")
    _generation_args(p)
    p.add_argument("--no-dynamodb", action="store_true",
                   help="write only the inbox files (call_center, web_form)")

    tables = tuple(DYNAMODB_TABLES)
    p = _command(sub, "land", "land one source into the raw zone", cmd_land,
                 "File sources are copied from the inbox (COMPLAINTS_INBOX, default "
                 "<lake>/inbox/<source>/); DynamoDB tables are exported to S3 and copied.\n"
                 "sms and social are landed by `complaints consume`.")
    p.add_argument("source", metavar="SOURCE",
                   type=landable_source(FILE_SOURCES, tables, tuple(STREAM_SOURCES)),
                   help=f"a file source ({', '.join(FILE_SOURCES)}) or a DynamoDB table "
                        f"({', '.join(tables)})")
    p.add_argument("--label", help="snapshot label of a DynamoDB export (default: today's date)")

    p = _command(sub, "transform", "raw -> clean complaints (Spark)", cmd_transform,
                 "Reads only the raw files no run has processed yet (runs/ledger/) and merges "
                 "them into the partitions they touch; nothing new: nothing is read.")
    p.add_argument("--sources", nargs="+", choices=COMPLAINT_SOURCES, metavar="SOURCE",
                   help=f"only these sources (default: all: {', '.join(COMPLAINT_SOURCES)})")
    p.add_argument("--full", action="store_true",
                   help="recompute the sources from all their raw files (default: off)")
    p.add_argument("--from", dest="date_from", type=iso_day, metavar="YYYY-MM-DD",
                   help="recompute only the partitions of these event dates, from the raw files "
                        "processed so far (the backfill after a change; with --to; default: none)")
    p.add_argument("--to", dest="date_to", type=iso_day, metavar="YYYY-MM-DD",
                   help="last event date of the backfill (default: the --from date; alone: "
                        "that one day)")
    p.add_argument("--retry-quarantined", action="store_true",
                   help="read again raw files quarantined as unreadable (default: off)")

    p = _command(sub, "reclassify", "classify the clean complaints again with a rules file "
                 "(Spark)", cmd_reclassify,
                 "A backfill of the classification only: category, subcategory, severity, "
                 "sentiment, rule_id, classification_score and taxonomy_version are decided "
                 "again (hints and the source's own severity read from each row's raw copy); "
                 "every other column stays as it is. The partitions of the date range (and the "
                 "stream sources' dedupe state) are rewritten whole and swapped in; the run is "
                 "recorded in runs/ with mode reclassify. Running it twice is running it once.")
    p.add_argument("--taxonomy", type=Path, required=True, metavar="FILE",
                   help="rules file, e.g. rules/telecom.yaml")
    p.add_argument("--from", dest="date_from", type=iso_day, metavar="YYYY-MM-DD",
                   help="first event date to classify again (default: every date)")
    p.add_argument("--to", dest="date_to", type=iso_day, metavar="YYYY-MM-DD",
                   help="last event date to classify again (default: the --from date)")

    p = _command(sub, "check", "run the quality suite on the clean complaints", cmd_check,
                 "Runs as a checkpoint of the lake's Great Expectations project and rebuilds "
                 "its HTML data docs (the path is printed). Exits 1 when a critical "
                 "expectation fails; warnings are printed and exit 0.")
    p.add_argument("--no-docs", action="store_true",
                   help="run in memory: keep no result, build no data docs")
    p.add_argument("--slice-rows", type=positive_int, default=DEFAULT_SLICE_ROWS,
                   help="check at most this many rows at a time (memory: about 3 KB a row); "
                        "duplicates between slices are found too")
    p.add_argument("--release", action="append", metavar="EVENT_DATE/SOURCE",
                   help="serve a partition held by a critical failure again, as it is now "
                        "(repeatable); refreshes the warehouse, runs no suite (default: the suite "
                        "runs and nothing is released)")
    _command(sub, "link-customers", "link clean complaints to customers, with evidence (Spark)",
             cmd_link_customers,
             "Every link carries its evidence (customer id, complaint-system case, phone, "
             "e-mail, social handle) and a fixed confidence; ambiguous and unmatched complaints "
             "are counted. Recomputes all links (clean/customer_links/).")
    _command(sub, "cases", "one case per complaint sent by several channels (Spark)", cmd_cases,
             "Complaints of one customer (customer links, or the same customer id) within a "
             "week whose texts are near-duplicates become one case, whatever the channel. "
             "Recomputes all cases (clean/complaint_cases/); run after link-customers.")
    _command(sub, "refresh", "(re)create the warehouse views over the lake", cmd_refresh)


def _add_query_commands(sub: argparse._SubParsersAction[Parser]) -> None:
    p = _command(sub, "sql", "run SQL on the DuckDB warehouse (read-only)", cmd_sql,
                 "Views: complaints, daily_complaints, runs, quarantine, one per DynamoDB "
                 "table, and the marts hourly_complaints, channel_mix, time_to_resolution, "
                 "customer_complaints, repeat_complainers, taxonomy_versions, "
                 "complaint_case_channels (README, "
                 "\"Querying\").")
    p.add_argument("query", help="the SQL (DuckDB dialect); several statements: the last one's "
                                 "result is printed")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table for people, csv or json for programs")
    p.add_argument("--role", choices=("analyst", "cx"), default=None,
                   help="query as a role: analyst (masked PII, hashed customer keys, no "
                        "quarantine) or cx (customer links); default: every view")
    p.add_argument("--out", type=Path, metavar="FILE", default=None,
                   help="write the result to FILE, as .csv, .json or .parquet by its "
                        "extension (default: print it)")
    _command(sub, "schema", "print the unified complaint record as a Markdown table", cmd_schema)
    p = _command(sub, "report", "write the static HTML report (charts, open alerts, runs, "
                 "quality) from the warehouse", cmd_report,
                 "One self-contained file (inline SVG, nothing fetched from the network); "
                 "its path is printed.")
    p.add_argument("--out", type=Path, metavar="FILE", default=None,
                   help="where to write it (default: <lake>/reports/complaints.html)")

    p = _command(sub, "freshness", "is every source still arriving, in its usual amounts?",
                 cmd_freshness, "Freshness targets per source: COMPLAINTS_FRESHNESS_<SOURCE>_HOURS "
                 "(default 30 h for daily exports, 1 h for sms and social). A day's file or a "
                 "DynamoDB export smaller than COMPLAINTS_VOLUME_DROP (default 0.5) times the one "
                 "before is an alert. Exits 1 when a source is late or shrank.")
    p.add_argument("--now", type=iso_moment, metavar="TIME",
                   help="judge as of this moment (default: now)")

    p = _command(sub, "surges", "detect complaint surges and print the alerts", cmd_surges,
                 "Hourly counts per category x region x source against a baseline that knows the "
                 "hour of day and the day of week (README, \"Alerts and surges\"). Alerts are "
                 "kept in <lake>/alerts/current.parquet (the warehouse's alerts view) and new or "
                 "updated ones are POSTed to COMPLAINTS_ALERT_WEBHOOK_URL when it is set.")
    p.add_argument("--since", type=iso_moment, metavar="TIME",
                   help="first hour to evaluate, YYYY-MM-DD[THH:MM] UTC (default: the 72 hours "
                        "before the newest complaint)")
    p.add_argument("--as-of", type=iso_moment, metavar="TIME",
                   help="the moment the run stands for; later complaints are not seen "
                        "(default: now)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table for people, json for programs")

    p = _command(sub, "classify-eval", "measure a taxonomy on hand-labelled texts (Spark)",
                 cmd_classify_eval, "Classifies the texts of a labels CSV (header with text,"
                 "category; other columns ignored) with the transform's expressions and prints "
                 "precision, recall, F1 and support per category, macro-F1, accuracy, the "
                 "confusion matrix and each category's predicted share.")
    p.add_argument("--taxonomy", type=Path, required=True, metavar="FILE",
                   help="rules file, e.g. rules/telecom.yaml")
    p.add_argument("--labels", type=Path, required=True, metavar="FILE",
                   help="labels CSV, e.g. rules/labels/telecom.csv")
    p.add_argument("--split", help="only rows whose split column has this value (tune, test; "
                                   "default: all rows)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table for people, json for programs")


def _add_streaming_commands(sub: argparse._SubParsersAction[Parser]) -> None:
    streamed = tuple(STREAM_SOURCES)
    p = _command(sub, "produce", "send SMS or social events to their Kinesis stream",
                 cmd_produce, "Creates the stream when it is missing.")
    p.add_argument("--source", choices=streamed, required=True, help="which stream")
    p.add_argument("--rate", type=positive_float, default=200.0, help="events per second")
    p.add_argument("--duration", type=non_negative_float,
                   help="seconds of events to send (default: --count decides)")
    p.add_argument("--count", type=non_negative_int,
                   help="number of (valid) events to send (default: --duration decides)")
    p.add_argument("--replay", action="store_true",
                   help="replay the real sample in ../shared/data instead of synthetic events")
    p.add_argument("--surge", action="store_true", help="network surge in the South, mid-run")
    p.add_argument("--bad-fraction", type=share, default=0.0,
                   help="share of bad events added (0 to 1)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the synthetic events")
    p.add_argument("--ids-file", type=Path,
                   help="write the sent event ids here, one a line (default: not written)")

    p = _command(sub, "consume", "read a Kinesis stream (sms, social) into the raw zone",
                 cmd_consume, "A long-running service: run it under a supervisor; several "
                 "workers share the shards by lease, each about its fair share. Each shard's "
                 "records are buffered and land as one file per --buffer-mb or "
                 "--buffer-seconds, whichever comes first. SIGTERM lands the buffers and stops.")
    p.add_argument("--source", choices=streamed, required=True, help="which stream")
    p.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}",
                   help="this worker's name in the lease table (default: host-pid)")
    p.add_argument("--max-seconds", type=non_negative_float,
                   help="stop after this long (default: never)")
    p.add_argument("--idle-exit-seconds", type=non_negative_float,
                   help="stop once nothing was landed for this long (default: never)")
    p.add_argument("--batch-limit", type=records_per_read, default=500,
                   help="records per get_records")
    p.add_argument("--buffer-mb", type=positive_float, default=5.0,
                   help="land a shard's buffer once it holds this many MiB")
    p.add_argument("--buffer-seconds", type=non_negative_float, default=60.0,
                   help="... or once its first record has waited this long (0: a file per read)")
    p.add_argument("--max-leases", type=positive_int,
                   help="hold at most this many shards (default: a fair share of them)")
    p.add_argument("--lease-table", help="default: complaints-consumer-leases-<source>")
    p.add_argument("--lease-seconds", type=positive_float, default=10.0,
                   help="seconds a shard's lease lasts without renewal")
    p.add_argument("--stream", help="default: the source's stream (COMPLAINTS_STREAM_<SOURCE>)")


def _add_airflow_commands(sub: argparse._SubParsersAction[Parser]) -> None:
    from complaints.airflow_local import DAGS_FOLDER

    dags = ", ".join(dag_ids(DAGS_FOLDER))
    p = _command(sub, "run-dag", "run a DAG through Airflow (dag.test) and report its state",
                 cmd_run_dag, "Airflow's output goes to a log under $AIRFLOW_HOME/dag-runs/ "
                 "(default AIRFLOW_HOME: ./.airflow); its path is printed.")
    p.add_argument("dag_id", type=known_dag(DAGS_FOLDER),
                   help=f"a DAG of {DAGS_FOLDER.name}/: {dags}")
    p.add_argument("date", type=iso_date, help="the run's logical date, YYYY-MM-DD")

    p = _command(sub, "demo", "the whole pipeline end to end on the local default", cmd_demo)
    _generation_args(p)

    p = _command(sub, "airflow", "Airflow standalone (UI, scheduler) on 127.0.0.1 with these DAGs",
                 cmd_airflow, "The AWS emulator is started and seeded with sample data when empty, "
                 "unless COMPLAINTS_AWS_ENDPOINT_URL points elsewhere. The URL, the login and how "
                 "to trigger a run are printed; Ctrl+C stops everything it started.")
    p.add_argument("--port", type=int, default=None,
                   help="UI / API port (default: 8080, or the next free port; never 8793)")
    p.add_argument("--seed-days", type=positive_int, default=3,
                   help="days of sample data for an empty emulator (default: 3)")

    p = _command(sub, "emulator", "the local AWS emulator (moto server) on its own", cmd_emulator,
                 "start: run it detached and record it in $AIRFLOW_HOME/emulator.json; status: "
                 "check it answers; stop: stop the recorded one.")
    p.add_argument("action", choices=("start", "status", "stop"), help="start, status or stop")
    p.add_argument("--port", type=int, default=None, help="port for `start` (default: a free one)")


def build_parser() -> Parser:
    parser = Parser(prog="complaints", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                title="commands")
    _add_batch_commands(sub)
    _add_query_commands(sub)
    _add_streaming_commands(sub)
    _add_airflow_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return int(args.func(settings, args))
    except BrokenPipeError:
        # Whoever read stdout (`| head`) has stopped reading: nothing is wrong with the command.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (Exception, KeyboardInterrupt) as exc:
        line = explain(exc, settings)
        if line is None or os.environ.get("COMPLAINTS_DEBUG"):
            raise
        print(f"complaints {args.command}: {line}", file=sys.stderr, flush=True)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
