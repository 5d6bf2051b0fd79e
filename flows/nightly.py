"""The nightly rescoring flow and the backfill flow: wiring only.

Each step is a stage module's entry point run as a Prefect task, called directly (never
submitted), so a failed task fails the flow. Retries sit on the steps that touch the warehouse.
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.runtime import flow_run

from leadscore import memory, orchestration, warehouse
from leadscore.crash import crash_point
from leadscore.prefetch import Prefetch
from leadscore.run import (
    BackfillProgress,
    RunLog,
    backfill_key,
    date_range,
    night_to_score,
    resolve_date,
    retry_unless_user_error,
)
from leadscore.settings import Settings, load_settings
from leadscore.tasks import (
    extract,
    features,
    in_warehouse,
    lifecycle,
    monitor,
    publish,
    report,
    route,
    score,
    train,
    validate,
)

# Frames are large and runs are not replayed from cache: no input hashing, no result caching.
STEP: dict[str, Any] = {"cache_policy": NO_CACHE}


WAREHOUSE_STEP = {
    **STEP,
    "retries": 2,
    "retry_delay_seconds": 10,
    "retry_condition_fn": retry_unless_user_error,
}

read_sources = task(extract.read_sources, name="extract", **WAREHOUSE_STEP)
check_sources = task(validate.check_sources, name="validate", **WAREHOUSE_STEP)
read_inputs = task(extract.read_inputs, name="read-inputs", **WAREHOUSE_STEP)
build_features = task(features.build_night, name="features", **STEP)
train_model = task(train.train_night, name="train", **WAREHOUSE_STEP)
score_leads = task(score.score_leads, name="score", **WAREHOUSE_STEP)
route_leads = task(route.route_leads, name="route", **WAREHOUSE_STEP)
check_output = task(validate.check_output, name="validate-output", **STEP)
publish_night = task(publish.publish_night, name="publish", **WAREHOUSE_STEP)
report_night = task(report.report_night, name="report", **WAREHOUSE_STEP)
drift_locally = task(monitor.drift_local, name="drift", **STEP)
lifecycle_locally = task(lifecycle.rows_of_night, name="lifecycle", **WAREHOUSE_STEP)
# The same steps with the per-lead work inside the warehouse (LEADSCORE_COMPUTE=warehouse).
prepare_in_warehouse = task(in_warehouse.prepare_night, name="activity", **WAREHOUSE_STEP)
sample_in_warehouse = task(in_warehouse.training_sample, name="features", **WAREHOUSE_STEP)
score_in_warehouse = task(in_warehouse.score_night, name="score", **WAREHOUSE_STEP)
route_in_warehouse = task(in_warehouse.route_night, name="route", **WAREHOUSE_STEP)
drift_in_warehouse = task(monitor.drift_in_warehouse, name="drift", **WAREHOUSE_STEP)


@flow(name="nightly-rescore")
def nightly_rescore(
    run_date: str | None = None,
    warehouse_url: str | None = None,
    horizon_days: int | None = None,
    routing_file: str | None = None,
    compute: str | None = None,
    backfill: str | None = None,
) -> dict[str, Any]:
    """Rescore every open lead as of the end of `run_date` (by default the day before the run's
    scheduled start, UTC) and route the newly SDR-ready ones. `backfill`: set by the backfill
    flow, the key of the backfill this night belongs to."""
    settings = load_settings(
        warehouse_url=warehouse_url,
        horizon_days=horizon_days,
        routing_file=routing_file,
        compute=compute,
    )
    day = night_to_score(run_date, flow_run.scheduled_start_time)
    # One night at a time across deployments: a backfill waits for the nightly run, and the
    # other way round. Without that limit (a CLI run, or not created yet) this waits for nothing;
    # the warehouse lock is the last line of defence.
    shared = settings.concurrency_limit and not orchestration.on_temporary_server()
    with concurrency(settings.concurrency_limit, strict=False) if shared else nullcontext():
        return run_night(settings, day, backfill)


def run_night(settings: Settings, day: dt.date, backfill: str | None = None) -> dict[str, Any]:
    wh = warehouse.connect(settings.warehouse_url)
    tracks = lifecycle.load_tracks(settings.tracks_path)  # a bad file fails before any work
    run = RunLog.start(day, settings, flow_run.get_id(), backfill=backfill)
    checks = validate.Runner(settings.docs_dir(day))
    # What the process holds before the first step (Prefect, GX, this night's engine) is left out
    # of the collections that free each step's frames (`memory.release`), so that they take
    # milliseconds; after the night it is collected as anything else (a backfill's engines).
    with memory.settled():
        return night_steps(wh, run, checks, tracks, day, settings)


def night_steps(
    wh: warehouse.Warehouse,
    run: RunLog,
    checks: validate.Runner,
    tracks: lifecycle.Tracks,
    day: dt.date,
    settings: Settings,
) -> dict[str, Any]:
    """The night's steps, under the run lock; a failure is recorded and reported."""
    with (
        wh.lock(),
        report.on_failure(run, checks, settings),
        publish.recording_failure(wh, run, checks),
    ):
        sources = run.timed("extract", read_sources, wh)
        # A local night's daily activity needs no validated table: it is read while validation
        # checks the CRM tables (on the second core).
        since = features.first_activity_day(day, settings)
        daily = (
            None
            if settings.compute == "warehouse"
            else Prefetch(extract.read_daily_counts, wh, day, since, settings.late_event_days)
        )
        # In the warehouse, only what the report reads stays in this process.
        keep = report.TABLES if settings.compute == "warehouse" else None
        tables = run.timed("validate", check_sources, wh, sources, day, settings, checks, keep)
        if settings.compute == "warehouse":
            end = features.snapshot_cutoff(day)
            report_tables = {t: extract.as_of(f, t, end) for t, f in tables.items()}
            del tables
            scored = score_in_warehouse_night(wh, run, report_tables, day, settings, checks, tracks)
        else:
            inputs = run.timed("activity", read_inputs, wh, tables, day, since, settings, daily)
            del tables  # the tables as of the night (`inputs.tables`) are what the night reads
            feats = run.timed("features", build_features, inputs, day, settings)
            # What tonight's lifecycle and funnel read of the sign-ups and the recent activity,
            # taken before the daily counts go.
            activity = lifecycle.lead_activity(inputs.users, inputs.activity.daily, day)
            # The daily counts (a million leads' last 97 days: 6M rows) are in the feature rows
            # now, and the leads, accounts and product users in the profiles: `inputs` held the
            # only reference left to them, so they go here, before training. The report reads
            # the rest.
            rollup = inputs.activity.without_daily()
            night_tables = {t: inputs.tables[t] for t in report.TABLES}
            del inputs
            scored = score_locally(
                wh, run, feats, activity, rollup, night_tables, day, settings, checks, tracks
            )
            del feats  # publishing reads only the night's rows (`scored.night`)
        run.timed("data_docs", checks.build_docs)
        counts = run.timed("publish", publish_night, wh, scored.night, run)
    return run.timed(
        "report", report_night, wh, scored.night, scored.candidate, scored.tables, counts, settings
    )


@dataclass(frozen=True)
class ScoredNight:
    """What a night publishes, the challenger it trained, and the CRM tables as of the night
    (for the report)."""

    night: publish.Night
    candidate: train.Candidate
    tables: dict[str, Any]


def score_locally(
    wh: warehouse.Warehouse,
    run: RunLog,
    feats: features.FeatureSet,
    activity: lifecycle.LeadActivity,
    rollup: extract.Activity,
    tables: dict[str, Any],
    day: dt.date,
    settings: Settings,
    checks: validate.Runner,
    tracks: lifecycle.Tracks,
) -> ScoredNight:
    """Training, scoring and routing of the night's feature rows in this process (polars);
    `activity` what the lifecycle reads of the sign-ups and recent activity, `rollup` the roll-up's
    fresh days to publish, `tables` the CRM tables as of the night."""
    model = run.timed("train", train_model, wh, feats.training, day, settings)
    # The earlier nights' tracks and routings, read while the night scores: not while the model
    # trains, which is when the night holds the most (a million leads' tracks are ~0.2 GB).
    history = Prefetch(lifecycle.read_history, wh, day, rollup.fresh_from, tracks)
    reference = monitor.reference(model.scorer, feats.training)
    # What the later steps read of the rows is in their outputs: each set goes when read.
    feats.let_go("training")
    scored = run.timed("score", score_leads, wh, feats, model, day, run.run_id, settings)
    feats.let_go("week_ago")
    routed = run.timed(
        "route", route_leads, wh, scored.scores, feats.profiles, day, settings, run.run_id
    )
    drift = run.timed(
        "monitor", drift_locally, reference, model.scorer, feats.today, routed.scores, day
    )
    scorable = feats.today.height
    feats.let_go("today")
    run.timed(
        "validate_output",
        check_output,
        routed.scores,
        routed.routing,
        scorable,
        settings,
        checks,
    )
    rows = run.timed(
        "lifecycle",
        lifecycle_locally,
        history,
        feats.profiles,
        activity,
        tables,
        routed.scores,
        routed.routing,
        rollup.fresh,
        day,
        tracks,
        settings.horizon_days,
    )
    night = published(
        run, day, settings, checks, tracks, model, scored, routed, rollup, drift, rows
    )
    return ScoredNight(night, model.candidate, tables)


def score_in_warehouse_night(
    wh: warehouse.Warehouse,
    run: RunLog,
    report_tables: dict[str, Any],
    day: dt.date,
    settings: Settings,
    checks: validate.Runner,
    tracks: lifecycle.Tracks,
) -> ScoredNight:
    """The same steps with the per-lead work in SQL inside the warehouse (work tables); this
    process holds the training sample and the newly SDR-ready leads. `report_tables`: the CRM
    tables the report reads, as of the night."""
    quarantined = checks.report.quarantined()
    night_sql, activity = run.timed(
        "activity", prepare_in_warehouse, wh, quarantined, day, settings
    )
    training = run.timed("features", sample_in_warehouse, night_sql, settings)
    model = run.timed("train", train_model, wh, training, day, settings)
    reference = monitor.reference(model.scorer, training)
    del training
    scored = run.timed("score", score_in_warehouse, night_sql, model, settings, run.run_id)
    routed = run.timed("route", route_in_warehouse, night_sql, scored, settings, run.run_id)
    drift = run.timed(
        "monitor",
        drift_in_warehouse,
        wh,
        reference,
        model.scorer,
        "work_today",
        in_warehouse.SCORE_TABLE,
        day,
    )
    run.timed(
        "validate_output",
        check_output,
        routed.scores,
        routed.routing,
        scored.scorable,
        settings,
        checks,
        wh,
    )
    night = published(run, day, settings, checks, tracks, model, scored, routed, activity, drift)
    return ScoredNight(night, model.candidate, report_tables)


def published(
    run: RunLog,
    day: dt.date,
    settings: Settings,
    checks: validate.Runner,
    tracks: lifecycle.Tracks,
    model: train.ModelChoice,
    scored: score.Scored | in_warehouse.Scored,
    routed: route.Routed,
    activity: extract.Activity,
    drift: pl.DataFrame,
    lifecycle_rows: lifecycle.NightRows | None = None,
) -> publish.Night:
    """What the night publishes, from either path's steps (`lifecycle_rows`: when the night
    computed them; otherwise publishing computes them from what it wrote)."""
    return publish.Night(
        day,
        run.run_id,
        model.scorer.version,
        routed,
        scored.accounts,
        model.registry,
        activity,
        checks.report,
        tracks,
        settings.horizon_days,
        f"{model.message}; {scored.threshold.summary}",
        drift,
        scored.threshold,
        lifecycle_rows,
    )


@flow(name="backfill")
def backfill(
    start: str,
    end: str,
    warehouse_url: str | None = None,
    horizon_days: int | None = None,
    routing_file: str | None = None,
    compute: str | None = None,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Rescore each date from start to end, in order, each as of its own night. Dates an earlier
    attempt of the same backfill (same dates and settings) published are skipped unless `force`,
    so a stopped backfill continues where it stopped. Returns the nights it ran."""
    settings = load_settings(
        warehouse_url=warehouse_url,
        horizon_days=horizon_days,
        routing_file=routing_file,
        compute=compute,
    )
    days = date_range(resolve_date(start), resolve_date(end))
    key = backfill_key(days[0], days[-1], settings)
    done = (
        set() if force else publish.backfilled_dates(warehouse.connect(settings.warehouse_url), key)
    )
    progress = BackfillProgress.start(days, done)
    results = []
    for number, day in enumerate(progress.todo, 1):
        crash_point(f"backfill:{number}")
        results.append(nightly_rescore(day.isoformat(), **settings.flow_parameters(), backfill=key))
        progress.night_done(day)
    return results
