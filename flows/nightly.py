"""The nightly rescoring flow and the backfill flow: wiring only.

Each task is a thin wrapper: it reads from the warehouse, calls the pure functions of its stage
module in `tasks/`, and hands frames on. Tasks are called directly, never submitted, so a failed
task fails the flow. Retries sit on the steps that touch the warehouse.
"""
from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

import sql
from leadscore import warehouse
from leadscore.crash import crash_point
from leadscore.contract import EVENT_TABLES, SOURCE_COLUMNS
from leadscore.errors import LeadscoreError, ValidationFailed
from leadscore.settings import Settings, load_settings
from tasks import extract, features, publish, report, route, score, train, validate

# Frames are large and runs are not replayed from cache: no input hashing, no result caching.
STEP = {"cache_policy": NO_CACHE}
WAREHOUSE_STEP = {**STEP, "retries": 2, "retry_delay_seconds": 10,
                  "retry_condition_fn": lambda _task, _run, state: not _is_user_error(state)}


def _is_user_error(state: Any) -> bool:
    try:
        state.result()
    except LeadscoreError:
        return True
    except Exception:
        return False
    return False


@dataclass
class Inputs:
    """The night's source frames, typed and cut at the run date."""

    tables: dict[str, pl.DataFrame]
    activity: extract.Activity
    validation: validate.Report
    profiles: pl.DataFrame
    users: pl.DataFrame


@task(name="extract", **WAREHOUSE_STEP)
def extract_night(settings: Settings, run_date: dt.date, runner: validate.Runner) -> Inputs:
    engine = warehouse.connect(settings.warehouse_url)
    with engine.connect() as conn:
        raw = extract.read_sources(conn)
        columns = {t: warehouse.table_columns(conn, t) for t in EVENT_TABLES}
        enforced = {t for t in EVENT_TABLES if warehouse.enforces_unique(conn, t, "event_id")}
    typed = {t: warehouse.coerce(f, SOURCE_COLUMNS[t]) for t, f in raw.tables.items()}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rules = validate.load_rules(settings.validation_path)

    def read(statement: str) -> pl.DataFrame:
        with engine.connect() as conn:
            return warehouse.read_frame(conn, statement)

    checks = validate.check_types(typed, raw.tables)
    checks = checks.merge(validate.validate_frames(typed, now, rules, runner))
    checks = checks.merge(validate.validate_events(columns, run_date, now, rules, runner, settings.late_event_days,
                                                   read, enforced))
    if checks.errors:
        raise ValidationFailed(checks.errors, checks.summary())
    typed = validate.drop_quarantined(typed, checks.quarantined())
    cutoff = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    tables = {t: extract.as_of(f, t, cutoff) for t, f in typed.items()}
    earliest = train.snapshot_days(run_date, dt.date(1900, 1, 1), settings)
    since = (min(earliest) if earliest else run_date) - dt.timedelta(days=features.LOOKBACK_DAYS + 7)
    profiles = features.profile(tables["crm_leads"], tables["crm_accounts"])
    user_leads = features.match_users(tables["product_users"], profiles)
    with engine.connect() as conn:
        activity = extract.read_activity(conn, run_date, since, settings.late_event_days, user_leads)
    return Inputs(tables, activity, checks, profiles, user_leads)


@dataclass
class FeatureSet:
    profiles: pl.DataFrame
    training: pl.DataFrame
    today: pl.DataFrame
    week_ago: pl.DataFrame


@task(name="features", **STEP)
def build_features(settings: Settings, run_date: dt.date, inputs: Inputs) -> FeatureSet:
    t = inputs.tables
    profiles, users = inputs.profiles, inputs.users
    first = profiles["created_at"].min()
    first_day = first.date() if first else run_date
    days = train.snapshot_days(run_date, first_day, settings)

    def rows(on: list[dt.date], horizon: int | None) -> pl.DataFrame:
        return features.build(profiles, t["crm_lead_status_changes"], t["crm_opportunities"],
                              inputs.activity.daily, users, on, horizon)

    return FeatureSet(profiles=profiles, training=rows(days, settings.horizon_days), today=rows([run_date], None),
                      week_ago=rows([run_date - dt.timedelta(days=score.VELOCITY_DAYS)], None))


@dataclass
class ModelChoice:
    scorer: train.Scorer
    registry: dict[str, Any] | None
    candidate: train.Candidate


@task(name="train", **STEP)
def train_model(settings: Settings, run_date: dt.date, feats: FeatureSet) -> ModelChoice:
    logger = get_run_logger()
    candidate = train.fit_candidate(feats.training, run_date, settings)
    engine = warehouse.connect(settings.warehouse_url)
    champion = None
    with engine.connect() as conn:
        if warehouse.has_table(conn, "model_registry"):
            row = conn.execute(warehouse.sa.text(sql.load("select_champion")), {"run_date": run_date.isoformat()}).first()
            if row:
                champion = train.Scorer.from_artifact(row.artifact, row.artifact_sha256, row.model_version)
    holdout = feats.training.filter(pl.col("snapshot").is_in(candidate.holdout_days))
    status, reason = train.decide(candidate, champion, holdout, settings)
    logger.info("model %s: %s (%s)", candidate.scorer.version, status, reason)
    for warning in train.warnings(candidate):
        logger.warning(warning)
    now = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    registry = train.registry_row(candidate, run_date, status, reason, settings, now)
    if status == "champion" or champion is None:
        if status == "rejected":
            raise LeadscoreError(f"no model to score with: the first model was rejected ({reason})")
        return ModelChoice(candidate.scorer, registry, candidate)
    return ModelChoice(champion, registry, candidate)


@task(name="score-and-route", **STEP)
def score_and_route(settings: Settings, run_date: dt.date, feats: FeatureSet, choice: ModelChoice,
                    activity: extract.Activity, run_id: str, runner: validate.Runner) -> publish.Night:
    rules = route.load_rules(settings.routing_path, settings.sla_hours)
    teams = route.assign_teams(feats.profiles, rules)
    engine = warehouse.connect(settings.warehouse_url)
    with engine.connect() as conn:
        previous = warehouse.read_optional(conn, "lead_score_history", sql.load("select_previous_scores"),
                                           {"score_date": (run_date - dt.timedelta(days=1)).isoformat()},
                                           {"lead_id": pl.String, "sdr_ready": pl.Boolean, "sdr_ready_since": pl.Date})
        history, reps, pointers = read_routing_state(conn)
    scores = score.score_night(choice.scorer, feats.today, feats.week_ago, previous, run_date,
                               teams.select("lead_id", "team"), run_id)
    routed, pointers, overflow = route.route_night(scores, feats.profiles, teams, history, reps, pointers, run_date,
                                                   rules.sla, settings.reroute_after_days, run_id)
    output = validate.validate_output(scores, feats.today.height, routed, validate.load_rules(settings.validation_path),
                                      runner)
    if output.errors:
        raise ValidationFailed(output.errors, output.summary())
    accounts = report.account_scores(scores, feats.profiles, score.points_frame(choice.scorer, feats.week_ago)
                                     if feats.week_ago.height else None, run_id)
    return publish.Night(run_id=run_id, run_date=run_date, scores=scores, accounts=accounts, routing=routed,
                         overflow=overflow, pointers=pointers, registry=choice.registry,
                         model_version=choice.scorer.version, activity=activity.fresh, output_checks=output,
                         activity_from=activity.fresh_from, rolled_through=activity.rolled_through)


def read_routing_state(conn: Any) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, str]]:
    """What routing remembers between nights: earlier routings, the reps, the round-robin pointers."""
    history = warehouse.read_optional(conn, "lead_routing", sql.load("select_routing_history"), {}, {
        "lead_id": pl.String, "account_id": pl.String, "rep_id": pl.String, "team": pl.String,
        "score_date": pl.Date, "routed_at": pl.Datetime})
    state = warehouse.read_optional(conn, "routing_state", sql.load("select_routing_state"), {},
                                    {"team": pl.String, "last_rep_id": pl.String})
    reps = warehouse.read_frame(conn, "select rep_id, team, daily_capacity, active from sdr_reps",
                                schema=SOURCE_COLUMNS["sdr_reps"])
    return history, reps, dict(state.iter_rows())


@task(name="publish", **WAREHOUSE_STEP)
def publish_night(settings: Settings, night: publish.Night) -> dict[str, Any]:
    return publish.publish(warehouse.connect(settings.warehouse_url), night)


@task(name="report", **STEP)
def report_night(settings: Settings, night: publish.Night, choice: ModelChoice, inputs: Inputs,
                 checks: validate.Report, counts: dict[str, Any]) -> dict[str, Any]:
    with warehouse.connect(settings.warehouse_url).connect() as conn:
        routed = warehouse.read_frame(conn, sql.load("select_routed_at_routing"),
                                      {"run_date": night.run_date.isoformat()},
                                      {"lead_id": pl.String, "score_date": pl.Date, "fit_score": pl.Float64,
                                       "engagement_score": pl.Float64})
    fb = report.feedback(routed, routed, inputs.tables["crm_lead_status_changes"], inputs.tables["crm_opportunities"],
                         night.run_date, settings.horizon_days)
    return report.publish_artifacts(night, choice.candidate, choice.registry, checks, counts, fb)


def resolve_date(value: str | dt.date | None) -> dt.date:
    """The run date: a date or YYYY-MM-DD; by default yesterday (UTC)."""
    if value is None or value == "":
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise LeadscoreError(f"run date {value!r} is not a date (YYYY-MM-DD)") from None


def current_run_id() -> str:
    return flow_run.get_id() or uuid.uuid4().hex


@flow(name="nightly-rescore")
def nightly_rescore(run_date: str | None = None, warehouse_url: str | None = None,
                    horizon_days: int | None = None, routing_file: str | None = None) -> dict[str, Any]:
    """Rescore every open lead as of the end of `run_date` and route the newly SDR-ready ones."""
    settings = load_settings(warehouse_url=warehouse_url, horizon_days=horizon_days, routing_file=routing_file)
    return run_night(settings, resolve_date(run_date))


def run_night(settings: Settings, day: dt.date) -> dict[str, Any]:
    engine = warehouse.connect(settings.warehouse_url)
    run = {"run_id": current_run_id(), "run_date": day, "settings": settings.public(), "timings": {},
           "started_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
    with warehouse.run_lock(engine, settings.warehouse_url):
        runner = validate.Runner(settings.docs_dir(day))
        try:
            inputs = timed(run, "extract_validate", extract_night, settings, day, runner)
            run["validation"] = inputs.validation.summary()
            feats = timed(run, "features", build_features, settings, day, inputs)
            choice = timed(run, "train", train_model, settings, day, feats)
            night = timed(run, "score_route", score_and_route, settings, day, feats, choice, inputs.activity,
                          run["run_id"], runner)
            timed(run, "data_docs", runner.build_docs)
            night.quarantine = inputs.validation.quarantined()
            # The whole night's validation, inputs and output: in pipeline_runs and in the artifact.
            checks = inputs.validation.merge(night.output_checks)
            run["validation"] = checks.summary()
            night.run = run | {"message": f"challenger {choice.candidate.scorer.version} {choice.registry['status']}: "
                                             f"{choice.registry['status_reason']}; scored with {choice.scorer.version}"}
            counts = timed(run, "publish", publish_night, settings, night)
        except Exception as exc:
            run["message"] = str(exc)
            if isinstance(exc, ValidationFailed):
                run["validation"] = exc.summary
            runner.build_docs()
            publish.record_failure(engine, run)
            raise
    return report_night(settings, night, choice, inputs, checks, counts)


def timed(run: dict[str, Any], name: str, step: Any, *args: Any) -> Any:
    crash_point(name)
    start = time.perf_counter()
    try:
        return step(*args)
    finally:
        run["timings"][name] = round(time.perf_counter() - start, 2)


@flow(name="backfill")
def backfill(start: str, end: str, warehouse_url: str | None = None, horizon_days: int | None = None,
             routing_file: str | None = None) -> list[dict[str, Any]]:
    """Rescore each date from start to end, in order, each as of its own night."""
    settings = load_settings(warehouse_url=warehouse_url, horizon_days=horizon_days, routing_file=routing_file)
    first, last = resolve_date(start), resolve_date(end)
    if last < first:
        raise LeadscoreError(f"backfill: end {last} is before start {first}")
    results = []
    day = first
    while day <= last:
        results.append(nightly_rescore(day.isoformat(), settings.warehouse_url, settings.horizon_days,
                                       settings.routing_file or None))
        day += dt.timedelta(days=1)
    return results
