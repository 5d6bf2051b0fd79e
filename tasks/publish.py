"""Publish: write the whole night in one transaction, or nothing.

Readers on other connections see the previous night until the commit, then the new one: on
PostgreSQL by MVCC, on SQLite by WAL. A rerun of a date replaces that date's rows; when the
rerun's scores are the same as the stored ones, the stored run_id is kept, so the rows stay
identical.

Entry points: `publish_night` (a night that succeeded) and `recording_failure` (around a
night: a failure leaves its pipeline_runs row and its Data Docs, and is raised again).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl

from leadscore.crash import crash_point
from leadscore.errors import ValidationFailed
from leadscore.run import RunLog, utc_now
from leadscore.tasks import lifecycle, monitor
from leadscore.tasks.extract import Activity
from leadscore.tasks.route import Routed
from leadscore.tasks.score import SCORE_COLUMNS
from leadscore.tasks.threshold import Threshold
from leadscore.tasks.train import RegistryRow
from leadscore.tasks.validate import Report, Runner
from leadscore.warehouse import Session, Warehouse


@dataclass(frozen=True)
class Night:
    """Everything one night writes."""

    run_date: dt.date
    run_id: str
    model_version: str
    # Tonight's scores with their teams, the new routings, round-robin pointers and overflow.
    # Scores, accounts and fresh activity are frames, or (computed in the warehouse) the names of
    # the work tables holding them.
    routed: Routed
    accounts: pl.DataFrame | str
    # The challenger's registry row (None when a night trains no model).
    registry: RegistryRow | None
    # The days of the activity roll-up to rewrite.
    activity: Activity
    # What validation found; its quarantined rows are written with the night.
    validation: Report
    # The nurture track rules and the sales cycle, for lead_lifecycle and funnel_daily.
    tracks: lifecycle.Tracks
    horizon_days: int
    message: str = ""
    # Drift of tonight's features and score against the training window (drift_daily rows).
    drift: pl.DataFrame | None = None
    # Tonight's SDR-ready threshold and why (its threshold_daily row).
    threshold: Threshold | None = None
    # Tonight's lead_lifecycle and funnel_daily rows when the night computed them (compute
    # local); otherwise publishing computes them from what it has written.
    lifecycle_rows: lifecycle.NightRows | None = None


SCORE_SCHEMA = {
    "lead_id": pl.String,
    "score_date": pl.Date,
    "close_probability": pl.Float64,
    "score": pl.Float64,
    "fit_score": pl.Float64,
    "engagement_score": pl.Float64,
    "velocity": pl.Float64,
    "priority": pl.Float64,
    "sdr_ready": pl.Boolean,
    "sdr_ready_since": pl.Date,
    "days_to_sdr_ready": pl.Int32,
    "team": pl.String,
    "top_reasons": pl.String,
    "model_version": pl.String,
    "run_id": pl.String,
}
RUN_SCHEMA = {
    "run_id": pl.String,
    "run_date": pl.Date,
    "status": pl.String,
    "started_at": pl.Datetime("us"),
    "finished_at": pl.Datetime("us"),
    "model_version": pl.String,
    "scores_changed": pl.Boolean,
    "timings": pl.String,
    "row_counts": pl.String,
    "validation": pl.String,
    "message": pl.String,
    "settings": pl.String,
}


def same_scores(new: pl.DataFrame, old: pl.DataFrame) -> bool:
    """Whether two nights' score rows are the same, run ids aside."""
    if new.height != old.height:
        return False
    columns = [c for c in SCORE_COLUMNS if c != "run_id"]
    return (
        new.select(columns)
        .sort("lead_id")
        .equals(old.select(columns).cast(new.select(columns).schema).sort("lead_id"))
    )


def same_stored_scores(s: Session, table: str, day: dt.date) -> bool:
    """`same_scores` for tonight's scores in work table `table`, in the warehouse."""
    columns = ", ".join(c for c in SCORE_COLUMNS if c != "run_id")
    stored = (
        f"select {columns} from lead_score_history where score_date = {s.warehouse.sql_date(day)}"
    )

    def count(select: str) -> int:
        return int(s.conn.exec_driver_sql(f"select count(*) from ({select}) q").scalar_one())

    return count(f"select lead_id from {table}") == count(stored) and not count(
        f"select {columns} from {table} except {stored}"
    )


def keep_stored_run_ids(s: Session, table: str, day: dt.date) -> None:
    """Give the scores of work table `table` the run ids stored for the same rows."""
    s.conn.exec_driver_sql(
        f"update {table} set run_id = (select h.run_id from lead_score_history h "
        f"where h.score_date = {s.warehouse.sql_date(day)} and h.lead_id = {table}.lead_id)"
    )


def compared_with_stored(
    s: Session, scores: pl.DataFrame | str, day: dt.date
) -> tuple[pl.DataFrame | str, bool]:
    """Tonight's scores (a frame, or the work table holding them) against the stored scores of
    the same date: the scores to write and whether they changed. Unchanged, they take the stored
    run ids, so that a rerun leaves the rows identical."""
    if isinstance(scores, str):
        with s.transaction():
            changed = not same_stored_scores(s, scores, day)
            if not changed:
                keep_stored_run_ids(s, scores, day)
        return scores, changed
    # Read outside a transaction, so in bulk (a rerun compares ~1M stored rows).
    old = s.read("select_lead_score_history", {"score_date": day.isoformat()}, SCORE_SCHEMA)
    if not same_scores(scores, old):
        return scores, True
    stored = scores.drop("run_id").join(old.select("lead_id", "run_id"), on="lead_id")
    return stored.select(SCORE_COLUMNS), False


def publish_night(wh: Warehouse, night: Night, run: RunLog) -> dict[str, Any]:
    """Write the night atomically; returns row counts and whether the scores changed.

    Runs under the run lock, so nothing else writes the output tables meanwhile: the stored
    scores are compared and the rows staged before the one transaction that replaces the night.
    """
    start = time.perf_counter()
    with wh.session() as s:
        with s.transaction():
            s.create_outputs()
        scores, changed = compared_with_stored(s, night.routed.scores, night.run_date)
        with s.transaction():
            s.stage("scores", "lead_score_history", scores)
            s.stage("accounts", "account_scores", night.accounts)
            s.stage("routing", "lead_routing", night.routed.routing)
            s.stage("registry", "model_registry", registry_frame(night.registry))
            s.stage("activity", "lead_activity_daily", night.activity.fresh)
            s.stage("quarantine", "quarantine_rows", quarantine_rows(night))
            s.stage(
                "drift", "drift_daily", night.drift if night.drift is not None else pl.DataFrame()
            )
            s.stage(
                "threshold",
                "threshold_daily",
                night.threshold.frame(night.routed.overflow.height)
                if night.threshold
                else pl.DataFrame(),
            )
            if night.lifecycle_rows is not None:
                s.stage("lifecycle", "lead_lifecycle", night.lifecycle_rows.lifecycle)
                s.stage("funnel", "funnel_daily", night.lifecycle_rows.funnel)
        crash_point("publish:staged")
        with s.transaction():
            counts = replace_night(s, night)
            timings = {**run.timings, "publish": round(time.perf_counter() - start, 2)}
            s.append(
                "pipeline_runs",
                run_row(
                    run,
                    "succeeded",
                    night.validation,
                    night.message,
                    model_version=night.model_version,
                    scores_changed=changed,
                    row_counts=counts,
                    timings=timings,
                ),
            )
            s.ensure_views()
            crash_point("publish:before-commit")
    return {"scores_changed": changed, **counts}


def replace_night(s: Session, night: Night) -> dict[str, int]:
    """Inside the publishing transaction: replace the run date's rows with the staged ones."""
    crash_point("publish:started")
    day = night.run_date.isoformat()
    latest = s.read("select_latest_score_date", schema={"score_date": pl.Date})["score_date"][0]
    # A backfill of an older date writes history, not the morning table.
    if latest is None or latest <= night.run_date:
        s.execute("delete_lead_scores")
        s.insert_staged("lead_scores", "scores")
    s.execute("delete_lead_score_history", score_date=day)
    scored = s.insert_staged("lead_score_history", "scores")
    s.execute("delete_account_scores", score_date=day)
    accounts = s.insert_staged("account_scores", "accounts")
    routed = s.insert_staged("lead_routing", "routing")
    for team, rep in night.routed.pointers.items():
        s.execute("delete_routing_state", team=team)
        s.execute("insert_routing_state", team=team, last_rep_id=rep, score_date=day)
    if night.registry:
        s.execute("delete_model_registry", model_version=night.registry.model_version)
        s.insert_staged("model_registry", "registry")
    s.execute(
        "delete_lead_activity_daily", from_day=night.activity.fresh_from.isoformat(), to_day=day
    )
    activity = s.insert_staged("lead_activity_daily", "activity")
    # A rerun of the date replaces its own quarantined rows.
    s.execute("delete_quarantine_rows", run_date=day)
    quarantined = s.insert_staged("quarantine_rows", "quarantine")
    s.execute("delete_activity_rollup_state")
    s.execute(
        "insert_activity_rollup_state", rolled_through=night.activity.rolled_through.isoformat()
    )
    s.execute("delete_drift_daily", run_date=day)
    drift = s.insert_staged("drift_daily", "drift")
    s.execute("delete_threshold_daily", run_date=day)
    threshold = s.insert_staged("threshold_daily", "threshold")
    calibration = monitor.replace_calibration(s, night.run_date, night.horizon_days)
    # Last: it reads the night's scores, routings, activity and quarantined keys written above.
    stages = lifecycle.replace_night(
        s, night.run_date, night.tracks, night.horizon_days, staged=night.lifecycle_rows is not None
    )
    return {
        **stages,
        "lead_scores": scored,
        "account_scores": accounts,
        "lead_routing": routed,
        "overflow": night.routed.overflow.height,
        "activity_rows": activity,
        "quarantined": quarantined,
        "drift_daily": drift,
        "calibration_daily": calibration,
        "threshold_daily": threshold,
    }


def backfilled_dates(wh: Warehouse, key: str) -> set[dt.date]:
    """The dates published by the backfill `key` (see leadscore.run.backfill_key)."""
    rows = wh.read_if_exists(
        "pipeline_runs",
        "select_backfill_nights",
        {"pattern": f"%{key}%"},
        {"run_date": pl.Date, "settings": pl.String},
    )
    return {
        day for day, recorded in rows.iter_rows() if json.loads(recorded).get("backfill") == key
    }


def registry_frame(row: RegistryRow | None) -> pl.DataFrame:
    return pl.DataFrame([dataclasses.asdict(row)]) if row else pl.DataFrame()


def quarantine_rows(night: Night) -> pl.DataFrame:
    """Rows set aside by tonight's warnings, as quarantine_rows rows."""
    quarantined = night.validation.quarantined()
    if quarantined.is_empty():
        return pl.DataFrame()
    return quarantined.select(
        pl.lit(night.run_id).alias("run_id"),
        pl.lit(night.run_date).alias("run_date"),
        "source_table",
        "row_key",
        "rule",
        "row_data",
    )


def run_row(
    run: RunLog,
    status: str,
    validation: dict[str, Any] | Report,
    message: str,
    *,
    model_version: str | None = None,
    scores_changed: bool | None = None,
    row_counts: dict[str, int] | None = None,
    timings: dict[str, float] | None = None,
) -> pl.DataFrame:
    """One pipeline_runs row (JSON columns as text, so both dialects read them alike)."""
    summary = validation.summary() if isinstance(validation, Report) else validation
    row = {
        "run_id": run.run_id,
        "run_date": run.run_date,
        "status": status,
        "started_at": run.started_at,
        "finished_at": utc_now(),
        "model_version": model_version,
        "scores_changed": scores_changed,
        "timings": json.dumps(timings if timings is not None else run.timings),
        "row_counts": json.dumps(row_counts or {}),
        "validation": json.dumps(summary, default=str),
        "message": message,
        "settings": json.dumps(run.settings),
    }
    return pl.DataFrame([row], schema=RUN_SCHEMA)


@contextlib.contextmanager
def recording_failure(wh: Warehouse, run: RunLog, checks: Runner) -> Iterator[None]:
    """Around a night: if it fails, write its Data Docs and its failed pipeline_runs row (in a
    transaction of its own), then let the failure go on."""
    try:
        yield
    except Exception as exc:
        validation = exc.summary if isinstance(exc, ValidationFailed) else checks.report
        checks.build_docs()
        with wh.session() as s, s.transaction():
            s.create(["pipeline_runs"])
            s.append("pipeline_runs", run_row(run, "failed", validation, str(exc)))
        raise
