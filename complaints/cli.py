"""The ``complaints`` command: one entry point for every step of the pipeline.

Settings are resolved here, once, from the environment (see ``complaints.settings``) and passed
down. Heavy modules (Spark, Airflow, DuckDB) are imported only by the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from complaints.settings import REPO_ROOT, Settings


def _airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or REPO_ROOT / ".airflow").resolve()


def cmd_generate(settings: Settings, args: argparse.Namespace) -> int:
    from complaints.generate import generate

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
              f"{export.raw_dir}{' (already landed)' if export.skipped else ''}")
    return 0


def cmd_transform(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.transform import run_transform
    from schemas.sources import COMPLAINT_SOURCES

    result = run_transform(settings, sources=args.sources or COMPLAINT_SOURCES)
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from quality.complaint_checks import check_clean_complaints, load_clean_complaints

    report = check_clean_complaints(load_clean_complaints(settings.clean_complaints_dir))
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


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from complaints.demo import run_demo

    return run_demo(settings, _airflow_home(), seed=args.seed, days=args.days, start=args.start)


def cmd_airflow(settings: Settings, args: argparse.Namespace) -> int:
    from complaints.airflow_local import standalone

    return standalone(settings, _airflow_home(), args.port)


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

    p = sub.add_parser("demo", help="the whole pipeline end to end on the local default")
    generation_args(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("airflow", help="start the Airflow UI (airflow standalone) on 127.0.0.1")
    p.add_argument("--port", type=int, default=8793)
    p.set_defaults(func=cmd_airflow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(Settings.from_env(), args))


if __name__ == "__main__":
    sys.exit(main())
