"""The `leadscore` command. A user's mistake gets one clear line and exit code 2; a failed
night (validation, a crash) exits 1 after saying why."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence

from leadscore.errors import LeadscoreError, ValidationFailed
from leadscore.orchestration import OrchestrationError
from leadscore.settings import COMPUTE, load_settings


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return number


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="leadscore", description=__doc__.split(".")[0])
    url = argparse.ArgumentParser(add_help=False)
    url.add_argument(
        "--url",
        help="warehouse URL (default: $LEADSCORE_WAREHOUSE_URL, else sqlite:///leadscore.db)",
    )
    sub = root.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", parents=[url], help="create the output tables and views (idempotent)")
    demo_data = sub.add_parser(
        "demo-data", parents=[url], help="write realistic demo source tables"
    )
    demo_data.add_argument("--leads", type=_positive, default=20_000)
    demo_data.add_argument("--days", type=_positive, default=270)
    demo_data.add_argument("--seed", type=int, default=7)
    demo_data.add_argument(
        "--end-date", type=_date, default=None, help="last day of data (default: yesterday UTC)"
    )
    demo_data.add_argument(
        "--replace", action="store_true", help="overwrite source tables that hold data"
    )
    sub.add_parser(
        "demo",
        parents=[url],
        help="load demo data if the warehouse has none, run the latest "
        "night, print the morning queue",
    )
    compute = argparse.ArgumentParser(add_help=False)
    compute.add_argument(
        "--compute",
        choices=COMPUTE,
        default=None,
        help="where the per-lead work runs: local (this process) or warehouse (SQL in the "
        "warehouse); default LEADSCORE_COMPUTE, else local",
    )
    run = sub.add_parser("run", parents=[url, compute], help="run one night")
    run.add_argument("--date", type=_date, default=None, help="run date (default: yesterday UTC)")
    backfill = sub.add_parser(
        "backfill",
        parents=[url, compute],
        help="run each date from --start to --end, in order",
    )
    backfill.add_argument("--start", type=_date, required=True)
    backfill.add_argument("--end", type=_date, required=True)
    backfill.add_argument(
        "--force",
        action="store_true",
        help="rerun dates an earlier attempt of this backfill already published",
    )
    queue = sub.add_parser("queue", parents=[url], help="print the SDR queue (v_sdr_queue)")
    queue.add_argument("--team")
    queue.add_argument("--limit", type=_positive, default=20)
    explain = sub.add_parser(
        "explain", parents=[url], help="a lead's score, its parts, reasons and last 30 nights"
    )
    explain.add_argument("lead_id")
    return root


class _UserErrorsWithoutTraceback(logging.Filter):
    """Prefect logs a failed run with its traceback; for a user's mistake the one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, LeadscoreError):
            record.exc_info, record.exc_text = None, None
            record.msg, record.args = f"{type(error).__name__}: {str(error).splitlines()[0]}", ()
        return True


def _quiet_user_errors() -> None:
    for name in (
        "prefect.flow_runs",
        "prefect.task_runs",
        "prefect.flow_engine",
        "prefect.task_engine",
    ):
        logging.getLogger(name).addFilter(_UserErrorsWithoutTraceback())


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The nightly job phones nobody: no telemetry from the temporary Prefect server.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    _quiet_user_errors()
    try:
        settings = load_settings(warehouse_url=args.url, compute=getattr(args, "compute", None))
        if args.command not in RUNS_FLOWS:
            return COMMANDS[args.command](args, settings)
        from leadscore.orchestration import prefect_api

        with prefect_api():
            return COMMANDS[args.command](args, settings)
    except OrchestrationError as exc:
        print(f"leadscore: {exc}", file=sys.stderr)
        return 1
    except ValidationFailed as exc:
        print(
            "leadscore: night refused, nothing was published "
            f"({len(exc.failures)} validation errors):",
            file=sys.stderr,
        )
        for failure in exc.failures:
            print(f"  {failure.line()}", file=sys.stderr)
        return 1
    except LeadscoreError as exc:
        print(f"leadscore: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "leadscore: interrupted; nothing half-written (each night commits once)",
            file=sys.stderr,
        )
        return 130


def cmd_init_db(args: argparse.Namespace, settings) -> int:
    from leadscore import warehouse

    warehouse.connect(settings.warehouse_url).init_db()
    print(f"output tables and views ready in {settings.public()['warehouse_url']}")
    return 0


def cmd_demo_data(args: argparse.Namespace, settings) -> int:
    from leadscore import warehouse
    from leadscore.demo import DemoSpec, load_demo

    end = args.end_date or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    spec = DemoSpec(leads=args.leads, days=args.days, seed=args.seed, end_date=end)
    wh = warehouse.connect(settings.warehouse_url)
    start = time.perf_counter()
    counts = load_demo(
        wh, spec, replace=args.replace, progress=lambda m: print(f"  writing {m}", flush=True)
    )
    wh.init_db()
    print(
        f"demo data for {spec.days} days ending {end} (seed {spec.seed}) in "
        f"{time.perf_counter() - start:.1f}s:"
    )
    for table, n in counts.items():
        print(f"  {table:<26}{n:>12,}")
    return 0


def cmd_run(args: argparse.Namespace, settings) -> int:
    from leadscore.flows.nightly import nightly_rescore

    result = nightly_rescore(
        args.date.isoformat() if args.date else None,
        settings.warehouse_url,
        compute=settings.compute,
    )
    _print_result(result)
    return 0


def cmd_backfill(args: argparse.Namespace, settings) -> int:
    from leadscore.flows.nightly import backfill

    if args.end < args.start:
        raise LeadscoreError(f"backfill: --end {args.end} is before --start {args.start}")
    with backfill_progress():
        results = backfill(
            args.start.isoformat(),
            args.end.isoformat(),
            settings.warehouse_url,
            compute=settings.compute,
            force=args.force,
        )
    for result in results:
        _print_result(result)
    return 0


@contextlib.contextmanager
def backfill_progress() -> Iterator[None]:
    """Show a backfill's progress on stderr: a live bar on a terminal (nights done / total, the
    last night's seconds, an ETA), else one line per night."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from leadscore.run import PROGRESS_LISTENERS, BackfillProgress

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
        disable=not console.is_terminal,
    )
    task_id = None

    def show(progress: BackfillProgress) -> None:
        nonlocal task_id
        if task_id is None:
            task_id = bar.add_task("backfill", total=progress.total, detail="")
            if progress.skipped:
                console.print(
                    f"backfill: {len(progress.skipped)} of {len(progress.days)} dates already "
                    "published by an earlier attempt, skipped (--force reruns them)"
                )
        bar.update(task_id, completed=progress.done, detail=progress.line())
        if not console.is_terminal and progress.done:
            console.print(f"backfill: {progress.line()}")

    PROGRESS_LISTENERS.append(show)
    try:
        with bar:
            yield
    finally:
        PROGRESS_LISTENERS.remove(show)


def cmd_queue(args: argparse.Namespace, settings) -> int:
    from leadscore import queue, warehouse

    print(queue.render(warehouse.connect(settings.warehouse_url), team=args.team, limit=args.limit))
    return 0


def cmd_explain(args: argparse.Namespace, settings) -> int:
    from leadscore import explain, warehouse

    print(explain.render(warehouse.connect(settings.warehouse_url), args.lead_id))
    return 0


def cmd_demo(args: argparse.Namespace, settings) -> int:
    import polars as pl

    from leadscore import warehouse

    wh = warehouse.connect(settings.warehouse_url)
    has_data = wh.has_table("crm_leads") and wh.scalar("select_lead_count")
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    if not has_data:
        print("no leads in the warehouse: loading demo data (20,000 leads, 270 days)")
        cmd_demo_data(
            argparse.Namespace(leads=20_000, days=270, seed=7, end_date=None, replace=False),
            settings,
        )
        day = yesterday
    else:
        # The day of the newest product event: the last night the data can fill.
        newest = wh.read_if_exists(
            "product_events", "select_newest_product_event", schema={"newest": pl.Date}
        )
        day = (newest["newest"][0] if newest.height else None) or yesterday
    print(f"running the night of {day}")
    cmd_run(argparse.Namespace(date=day), settings)
    return cmd_queue(argparse.Namespace(team=None, limit=15), settings)


def _print_result(result: dict) -> None:
    print(
        f"night {result['run_date']}: scored {result['scored']:,} leads, "
        f"{result['sdr_ready']:,} SDR-ready, "
        f"routed {result['routed']:,} (overflow {result['overflow']:,}); model "
        f"{result['model_version']}; "
        f"challenger {result['challenger']} {result['challenger_status']}; "
        + (
            f"holdout AUC {result['roc_auc_holdout']:.3f}"
            if result["roc_auc_holdout"] is not None
            else f"no model fitted, too little history: {result['fallback']}"
        )
    )


# The commands that run Prefect flows, and so need a Prefect API (see leadscore.orchestration).
RUNS_FLOWS = frozenset({"run", "backfill", "demo"})
COMMANDS = {
    "init-db": cmd_init_db,
    "demo-data": cmd_demo_data,
    "run": cmd_run,
    "backfill": cmd_backfill,
    "queue": cmd_queue,
    "demo": cmd_demo,
    "explain": cmd_explain,
}

if __name__ == "__main__":
    sys.exit(main())
