"""The ``complaints`` command: one entry point for every step of the pipeline.

Settings are resolved here, once, from the environment (see ``common.settings``) and passed
down. Heavy modules (Spark, Airflow, DuckDB) are imported only by the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from common.settings import REPO_ROOT, Settings


def _airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or REPO_ROOT / ".airflow").resolve()


def cmd_generate(settings: Settings, args: argparse.Namespace) -> int:
    from samples.generate import generate

    if not args.no_dynamodb and not settings.aws_endpoint_url:
        print("generate: DynamoDB tables need an endpoint (COMPLAINTS_AWS_ENDPOINT_URL), or "
              "pass --no-dynamodb", file=sys.stderr)
        return 2
    summary = generate(settings, seed=args.seed, days=args.days, start=args.start,
                       load_dynamodb=not args.no_dynamodb)
    print(json.dumps(summary.to_dict(), indent=2, default=str))
    return 0


def cmd_land(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.landing import land_dynamodb_export, land_files

    if args.source in ("call_center", "web_form"):
        landing = land_files(settings, args.source)
        print(f"{args.source}: landed {len(landing.landed)}, already landed {len(landing.skipped)}")
    else:
        label = args.label or date.today().isoformat()
        export = land_dynamodb_export(settings, args.source, snapshot_label=label)
        print(f"{args.source}: {export.items} items in {export.data_files} files -> "
              f"{export.folder}{' (already landed)' if export.skipped else ''}")
    return 0


def cmd_transform(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.transform import run_transform
    from schemas.sources import COMPLAINT_SOURCES

    result = run_transform(settings, sources=args.sources or COMPLAINT_SOURCES)
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from quality.complaint_checks import check_clean_complaints, load_clean_complaints

    report = check_clean_complaints(load_clean_complaints(settings.zones.clean_complaints))
    print(report.summary())
    return 0 if report.success else 1


def cmd_refresh(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.duckdb_warehouse import refresh_warehouse

    print(json.dumps(refresh_warehouse(settings), indent=2))
    return 0


def cmd_sql(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.duckdb_warehouse import WarehouseQueryError, format_result, run_query

    try:
        result = run_query(settings, args.query)
    except WarehouseQueryError as exc:
        print(f"sql: {exc}", file=sys.stderr)
        return 1
    text = format_result(result, args.format)
    # CSV already ends with a newline; print() would add a blank last line.
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    from schemas.complaint import COMPLAINT

    print(COMPLAINT.markdown_table())
    return 0


def cmd_run_dag(settings: Settings, args: argparse.Namespace) -> int:
    from complaints.airflow_local import run_dag

    state = run_dag(settings, args.dag_id, args.date, _airflow_home())
    print(f"{args.dag_id} {args.date}: {state}")
    return 0 if state == "success" else 1


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from samples.producer import produce

    if args.count is None and args.duration is None and not args.replay:
        print("produce: give --count or --duration (or --replay for the whole sample)",
              file=sys.stderr)
        return 2
    stats = produce(settings, args.source, rate_per_s=args.rate, duration_s=args.duration,
                    count=args.count, seed=args.seed, replay=args.replay, surge=args.surge,
                    bad_fraction=args.bad_fraction, ids_path=args.ids_file, keep_ids=False)
    print(json.dumps(stats.to_dict(), indent=2), flush=True)
    return 0 if stats.failed_permanently == 0 else 1


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from complaints.demo import run_demo

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

    from streaming.consumer import consume

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    stats = consume(settings, args.source, worker_id=args.worker_id, stop=stop,
                    max_seconds=args.max_seconds, idle_exit_s=args.idle_exit_seconds,
                    batch_limit=args.batch_limit, lease_table=args.lease_table,
                    lease_duration_s=args.lease_seconds, stream=args.stream)
    print(json.dumps(stats.to_dict(), indent=2), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="complaints", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def generation_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--days", type=int, default=5)
        p.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 2))

    p = sub.add_parser("generate", help="write sample sources (inbox files, DynamoDB tables)")
    generation_args(p)
    p.add_argument("--no-dynamodb", action="store_true", help="only the inbox files")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("land", help="land one source into the raw zone")
    p.add_argument("source", help="call_center, web_form, or a DynamoDB table's logical name")
    p.add_argument("--label", help="snapshot label of a DynamoDB export (default: today)")
    p.set_defaults(func=cmd_land)

    p = sub.add_parser("transform", help="raw -> clean complaints (Spark)")
    p.add_argument("--sources", nargs="*", help="only these sources (default: all)")
    p.set_defaults(func=cmd_transform)

    sub.add_parser("check", help="run the quality suite on the clean complaints").set_defaults(
        func=cmd_check)
    sub.add_parser("refresh", help="(re)create the warehouse views").set_defaults(func=cmd_refresh)

    p = sub.add_parser("sql", help="run SQL on the DuckDB warehouse (read-only)")
    p.add_argument("query")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_sql)

    sub.add_parser("schema", help="print the unified complaint record as a Markdown table"
                   ).set_defaults(func=cmd_schema)

    p = sub.add_parser("run-dag", help="run a DAG through Airflow (dag.test) and report its state")
    p.add_argument("dag_id")
    p.add_argument("date", help="logical date, YYYY-MM-DD")
    p.set_defaults(func=cmd_run_dag)

    p = sub.add_parser("produce", help="send SMS or social events to their Kinesis stream")
    p.add_argument("--source", choices=("sms", "social"), required=True)
    p.add_argument("--rate", type=float, default=200.0, help="events per second")
    p.add_argument("--duration", type=float, help="seconds of events to send")
    p.add_argument("--count", type=int, help="number of (valid) events to send")
    p.add_argument("--replay", action="store_true", help="replay the real sample in ../shared")
    p.add_argument("--surge", action="store_true", help="network surge in the South, mid-run")
    p.add_argument("--bad-fraction", type=float, default=0.0, help="share of bad events added")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--ids-file", type=Path, help="write the sent event ids here, one a line")
    p.set_defaults(func=cmd_produce)

    p = sub.add_parser("demo", help="the whole pipeline end to end on the local default")
    generation_args(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("consume", help="read a Kinesis stream (sms, social) into the raw zone")
    p.add_argument("--source", choices=("sms", "social"), required=True)
    p.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}")
    p.add_argument("--max-seconds", type=float, help="stop after this long (default: never)")
    p.add_argument("--idle-exit-seconds", type=float,
                   help="stop once nothing was landed for this long (default: never)")
    p.add_argument("--batch-limit", type=int, default=500, help="records per get_records")
    p.add_argument("--lease-table", help="default: complaints-consumer-leases-<source>")
    p.add_argument("--lease-seconds", type=float, default=10.0, help="lease duration")
    p.add_argument("--stream", help="default: the source's stream (COMPLAINTS_STREAM_<SOURCE>)")
    p.set_defaults(func=cmd_consume)

    p = sub.add_parser(
        "airflow", help="Airflow standalone (UI, scheduler) on 127.0.0.1 with these DAGs, the AWS "
                        "emulator started and seeded unless COMPLAINTS_AWS_ENDPOINT_URL is set")
    p.add_argument("--port", type=int, default=None,
                   help="UI / API port (default: 8080, or the next free port; never 8793)")
    p.add_argument("--seed-days", type=int, default=3,
                   help="days of sample data for an empty emulator (default: 3)")
    p.set_defaults(func=cmd_airflow)

    p = sub.add_parser("emulator", help="the local AWS emulator (moto server) on its own: start it "
                                        "detached, check it answers, stop it")
    p.add_argument("action", choices=("start", "status", "stop"),
                   help="start: run it detached and record it; status: check it answers; stop: "
                        "stop the recorded one")
    p.add_argument("--port", type=int, default=None,
                   help="port for `start` (default: a free one); recorded in "
                        "$AIRFLOW_HOME/emulator.json")
    p.set_defaults(func=cmd_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(Settings.from_env(), args))


if __name__ == "__main__":
    sys.exit(main())
