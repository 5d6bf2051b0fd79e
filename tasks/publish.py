"""Publish: write the whole night in one transaction, or nothing.

Readers on other connections see the previous night until the commit, then the new one: on
PostgreSQL by MVCC, on SQLite by WAL. A rerun of a date replaces that date's rows; when the
rerun's scores are the same as the stored ones, the stored run_id is kept, so the rows stay
identical.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

import sql
from leadscore import warehouse
from leadscore.crash import crash_point
from tasks.score import SCORE_COLUMNS


@dataclass
class Night:
    """Everything one run writes."""

    run_id: str
    run_date: dt.date
    scores: pl.DataFrame
    accounts: pl.DataFrame
    routing: pl.DataFrame
    overflow: pl.DataFrame
    pointers: dict[str, str]
    registry: dict[str, Any] | None
    model_version: str
    activity: pl.DataFrame
    activity_from: dt.date
    rolled_through: dt.date
    run: dict[str, Any] = field(default_factory=dict)
    output_checks: Any = None
    quarantine: pl.DataFrame | None = None


SCORE_SCHEMA = {"lead_id": pl.String, "score_date": pl.Date, "close_probability": pl.Float64, "score": pl.Float64,
                "fit_score": pl.Float64, "engagement_score": pl.Float64, "velocity": pl.Float64,
                "priority": pl.Float64, "sdr_ready": pl.Boolean, "sdr_ready_since": pl.Date,
                "days_to_sdr_ready": pl.Int32, "team": pl.String, "top_reasons": pl.String,
                "model_version": pl.String, "run_id": pl.String}


def stored_history(conn: Any, day: dt.date) -> pl.DataFrame:
    return warehouse.read_frame(conn, sql.load("select_lead_score_history"), {"score_date": day.isoformat()},
                                SCORE_SCHEMA)


def same_scores(new: pl.DataFrame, old: pl.DataFrame) -> bool:
    if new.height != old.height:
        return False
    columns = [c for c in SCORE_COLUMNS if c != "run_id"]
    return new.select(columns).sort("lead_id").equals(old.select(columns).cast(new.select(columns).schema).sort("lead_id"))


def publish(engine: Engine, night: Night) -> dict[str, Any]:
    """Write the night atomically; returns row counts and whether the scores changed.

    Runs under the run lock, so nothing else writes the output tables meanwhile: the stored
    scores are compared and the rows staged before the one transaction that replaces the night.
    """
    start = time.perf_counter()
    day = night.run_date.isoformat()
    with engine.connect() as conn:
        with conn.begin():
            warehouse.execute_ddl(conn, sql.OUTPUT_TABLES)
            old = stored_history(conn, night.run_date)
        scores = night.scores
        changed = not same_scores(scores, old)
        if not changed:
            scores = scores.drop("run_id").join(old.select("lead_id", "run_id"), on="lead_id").select(SCORE_COLUMNS)
        staging = warehouse.Staging(conn)
        try:
            with conn.begin():
                staging.stage("scores", "lead_score_history", scores)
                staging.stage("accounts", "account_scores", night.accounts)
                staging.stage("routing", "lead_routing", night.routing)
                staging.stage("registry", "model_registry",
                              pl.DataFrame([night.registry]) if night.registry else pl.DataFrame())
                staging.stage("activity", "lead_activity_daily", night.activity)
                staging.stage("quarantine", "quarantine_rows", quarantine_rows(night))
            crash_point("publish:staged")
            with conn.begin():
                counts = replace_night(conn, night, staging, day)
                timings = {**night.run.get("timings", {}), "publish": round(time.perf_counter() - start, 2)}
                record_run(conn, {**night.run, "status": "succeeded", "scores_changed": changed,
                                  "row_counts": counts, "model_version": night.model_version, "timings": timings})
                warehouse.ensure_views(conn)
                crash_point("publish:before-commit")
        finally:
            staging.drop()
    return {"scores_changed": changed, **counts}


def replace_night(conn: Any, night: Night, staging: warehouse.Staging, day: str) -> dict[str, int]:
    """Inside the publishing transaction: replace the run date's rows with the staged ones."""
    crash_point("publish:started")
    latest = conn.exec_driver_sql("select max(score_date) from lead_scores").scalar()
    # A backfill of an older date writes history, not the morning table.
    if latest is None or str(latest)[:10] <= day:
        conn.exec_driver_sql("delete from lead_scores")
        staging.insert("lead_scores", "scores")
    execute(conn, "delete_lead_score_history", score_date=day)
    scored = staging.insert("lead_score_history", "scores")
    execute(conn, "delete_account_scores", score_date=day)
    accounts = staging.insert("account_scores", "accounts")
    routed = staging.insert("lead_routing", "routing")
    for team, rep in night.pointers.items():
        execute(conn, "delete_routing_state", team=team)
        execute(conn, "insert_routing_state", team=team, last_rep_id=rep, score_date=day)
    if night.registry:
        execute(conn, "delete_model_registry", model_version=night.registry["model_version"])
        staging.insert("model_registry", "registry")
    execute(conn, "delete_lead_activity_daily", from_day=night.activity_from.isoformat(), to_day=day)
    activity = staging.insert("lead_activity_daily", "activity")
    # A rerun of the date replaces its own quarantined rows.
    execute(conn, "delete_quarantine_rows", run_date=day)
    quarantined = staging.insert("quarantine_rows", "quarantine")
    execute(conn, "delete_activity_rollup_state")
    execute(conn, "insert_activity_rollup_state", rolled_through=night.rolled_through.isoformat())
    return {"lead_scores": scored, "account_scores": accounts, "lead_routing": routed,
            "overflow": night.overflow.height, "activity_rows": activity, "quarantined": quarantined}


def quarantine_rows(night: Night) -> pl.DataFrame:
    """Rows set aside by tonight's warnings, as quarantine_rows rows."""
    if night.quarantine is None or night.quarantine.is_empty():
        return pl.DataFrame()
    return night.quarantine.select(pl.lit(night.run_id).alias("run_id"), pl.lit(night.run_date).alias("run_date"),
                                   "source_table", "row_key", "rule", "row_data")


def execute(conn: Any, name: str, **params: Any) -> None:
    conn.execute(warehouse.sa.text(sql.load(name, warehouse.dialect(conn))), params)


def record_run(conn: Any, run: dict[str, Any]) -> None:
    """One pipeline_runs row (JSON columns as text, so both dialects read them alike)."""
    row = {
        "run_id": run["run_id"], "run_date": run["run_date"], "status": run["status"],
        "started_at": run["started_at"], "finished_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "model_version": run.get("model_version"), "scores_changed": run.get("scores_changed"),
        "timings": json.dumps(run.get("timings", {})), "row_counts": json.dumps(run.get("row_counts", {})),
        "validation": json.dumps(run.get("validation", {}), default=str), "message": run.get("message", ""),
        "settings": json.dumps(run.get("settings", {})),
    }
    frame = pl.DataFrame([row], schema={
        "run_id": pl.String, "run_date": pl.Date, "status": pl.String, "started_at": pl.Datetime("us"),
        "finished_at": pl.Datetime("us"), "model_version": pl.String, "scores_changed": pl.Boolean,
        "timings": pl.String, "row_counts": pl.String, "validation": pl.String, "message": pl.String,
        "settings": pl.String})
    warehouse.write_frame(conn, "pipeline_runs", frame)


def record_failure(engine: Engine, run: dict[str, Any]) -> None:
    """The failed night's pipeline_runs row, in a transaction of its own."""
    with engine.begin() as conn:
        warehouse.execute_ddl(conn, ["pipeline_runs"])
        record_run(conn, {**run, "status": "failed"})
