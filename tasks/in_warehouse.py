"""The per-lead work of a night inside the warehouse (`LEADSCORE_COMPUTE=warehouse`).

Feature rows, scores, reasons, teams, the account roll-up and the night's fresh activity are
computed by SQL generated from the local path's own specification (`leadscore.sqlgen`) into work
tables (`work_*`, replaced each night, never read by users: the published tables change only in
publish's one transaction, which inserts from them). Python holds the training sample, the
distinct values the reasons put into words, and the newly SDR-ready leads routing assigns.

Entry points: `prepare_night` (after validation), `training_sample`, `score_night` and
`route_night`, in that order; `NightSql` names the work tables.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from leadscore.settings import Settings
from leadscore.sqlgen import (
    FeatureSql,
    ScorecardSql,
    keeps,
    points_select,
    rounded,
    teams_select,
    text,
)
from leadscore.tasks import extract, features, route, score, threshold
from leadscore.tasks.features import FEATURES, VELOCITY_DAYS, WINDOWS
from leadscore.tasks.threshold import Threshold
from leadscore.tasks.train import ModelChoice, Scorer
from leadscore.warehouse import Warehouse, cutoff

QUARANTINE_SCHEMA = {"source_table": pl.String, "row_key": pl.String}
# The night's daily activity: a view of the roll-up and the fresh days (`prepare_night`).
ACTIVITY_VIEW = "work_activity"
# The feature rows' columns, typed as the local path types them.
ROW_SCHEMA: dict[str, pl.DataType] = {
    "lead_id": pl.String,
    "snapshot": pl.Date,
    "cutoff": pl.Datetime,
    "label": pl.Int8,
    "weight": pl.Float64,
    "account_id": pl.String,
    "owner_id": pl.String,
    "created_at": pl.Datetime,
    "country_code": pl.String,
    "seniority": pl.String,
    "email_type": pl.String,
    "employee_count": pl.Float64,
    "sales_team_size": pl.Float64,
    "industry": pl.String,
    "region": pl.String,
    "is_target_account": pl.Int8,
    "lead_source": pl.String,
    "has_account": pl.Int8,
    **{w.name: pl.Int32 if w.is_count else pl.Int64 for w in WINDOWS},
    "signed_up": pl.Int8,
    "status": pl.String,
    "lead_age_days": pl.Float64,
    "days_in_status": pl.Float64,
    "lifecycle": pl.String,
}


def replace_table(wh: Warehouse, name: str, select: str, index: list[str] | None = None) -> None:
    """(Re)create work table `name` from a SELECT, in one transaction."""
    with wh.session() as s, s.transaction():
        wh.before_work(s.conn)
        s.conn.exec_driver_sql(f"drop table if exists {name}")
        s.conn.exec_driver_sql(f"create table {name} as {wh.sql_generated(select)}")
        if index:
            s.conn.exec_driver_sql(f"create index {name}_key on {name} ({', '.join(index)})")
        wh.written(s.conn, name)


def replace_view(wh: Warehouse, name: str, select: str) -> None:
    """(Re)create work view `name` of a SELECT."""
    drop_view(wh, name)
    with wh.session() as s, s.transaction():
        s.conn.exec_driver_sql(f"create view {name} as {wh.sql_generated(select)}")


def drop_view(wh: Warehouse, name: str) -> None:
    """Drop work view `name` (or the table of that name earlier versions left): PostgreSQL
    refuses to drop a table a view reads, so the night drops its views once read."""
    with wh.session() as s, s.transaction():
        kind = "view" if name in sa.inspect(s.conn).get_view_names() else "table"
        s.conn.exec_driver_sql(f"drop {kind} if exists {name}")


def write_table(wh: Warehouse, name: str, frame: pl.DataFrame) -> None:
    """(Re)create work table `name` holding `frame`, its columns typed as the frame's."""
    with wh.session() as s, s.transaction():
        s.conn.exec_driver_sql(f"drop table if exists {name}")
        columns = ", ".join(f"{c} {_sql_type(t, wh.dialect)}" for c, t in frame.schema.items())
        s.conn.exec_driver_sql(f"create table {name} ({columns})")
        if frame.height:
            s.append(name, frame)


def _sql_type(kind: pl.DataType, dialect: str) -> str:
    if kind == pl.String or isinstance(kind, pl.Categorical | pl.Enum):
        return "text"
    if kind == pl.Date:
        return "date"
    if isinstance(kind, pl.Datetime):
        return "timestamptz" if dialect == "postgresql" else "timestamp"
    if kind == pl.Boolean:
        return "boolean"
    if kind.is_integer():
        return "bigint"
    return "double precision"


def inlined(wh: Warehouse, name: str, params: dict[str, str]) -> str:
    """Statement `name` with its `:param`s as string literals (DDL takes no bound parameters)."""
    return re.sub(
        r":(\w+)\b", lambda m: text(params[m[1]]) if m[1] in params else m[0], wh.statement(name)
    )


class NightSql:
    """One night's statements and work tables."""

    def __init__(self, wh: Warehouse, run_date: dt.date, activity: str = ACTIVITY_VIEW):
        self.wh = wh
        self.run_date = run_date
        self.features = FeatureSql(
            wh,
            run_date,
            "work_quarantine",
            activity,
            "work_user_leads",
            "work_profiles",
            "work_status_spans",
        )

    def prepare(self, quarantined: pl.DataFrame) -> None:
        """The rows validation set aside, product users matched to leads, every lead's profile
        and status spans."""
        write_table(
            self.wh,
            "work_quarantine",
            quarantined.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA),
        )
        replace_table(self.wh, "work_user_leads", self.features.user_leads_statement(), ["lead_id"])
        replace_table(self.wh, "work_profiles", self.features.profiles_statement(), ["lead_id"])
        replace_table(
            self.wh, "work_status_spans", self.features.status_spans_statement(), ["lead_id"]
        )

    def scorable(self, name: str, days: list[dt.date], horizon_days: int | None = None) -> None:
        """Work table `name`: the scorable leads at each of `days` (`features.snapshot_frame`)."""
        label = ", label" if horizon_days is not None else ""
        select = f"""
with {self.features.base(days, horizon_days).strip()}
select lead_id, snapshot, cutoff, status, lead_age_days, days_in_status{label} from scorable"""
        replace_table(self.wh, name, select, ["lead_id"])

    def feature_rows(
        self, name: str, keys: str, days: list[dt.date], carry: list[str] | None = None
    ) -> None:
        """Work table `name`: the feature rows of the snapshot rows in work table `keys`, whose
        snapshots are among `days`."""
        replace_table(self.wh, name, self.features.rows(keys, days, carry or []), ["lead_id"])

    def read_features(self, name: str, order: bool = False) -> pl.DataFrame:
        """A work table of feature rows, as a frame (the training sample; tests), in snapshot
        and lead_id order if `order`."""
        by = f" order by snapshot, {self.wh.sql_binary('lead_id')}" if order else ""
        # In the reader's parts: read once into the fit, not copied into one chunk.
        return self.wh.read_sql(f"select * from {name}{by}", ROW_SCHEMA, whole=False)

    def points(self, scorer: Scorer, name: str) -> pl.DataFrame:
        """lead_id, fit_score, engagement_score, close_probability of work table `name`."""
        card = ScorecardSql(self.wh, scorer.model, scorer.scale)
        return self.wh.read_sql(self.wh.sql_generated(points_select(card, name))).drop("score")


# ---- after validation: the night's inputs as work tables


def prepare_night(
    wh: Warehouse, quarantined: pl.DataFrame, run_date: dt.date, settings: Settings
) -> tuple[NightSql, extract.Activity]:
    """Work tables of the night's inputs: quarantined keys, product users matched to leads,
    every lead's profile, daily activity since the earliest snapshot's lookback (`work_activity`,
    a view of the roll-up's stored days and of the fresh days aggregated from the raw events,
    `work_activity_fresh`, as `extract.read_daily_counts` reads them). Returns the night and what
    publish writes of the roll-up."""
    night = NightSql(wh, run_date)
    drop_view(wh, ACTIVITY_VIEW)  # left by a night that failed before it was read
    night.prepare(quarantined)
    since = features.first_activity_day(run_date, settings)
    rolled = extract.rollup_state(wh)
    fresh_from = extract.fresh_window(rolled, run_date, settings.late_event_days)
    end = run_date + dt.timedelta(days=1)
    stored_to = min(fresh_from, end) if fresh_from else end
    window = {"from_cutoff": cutoff(fresh_from or end), "to_cutoff": cutoff(end)}
    product = inlined(wh, "select_daily_product_activity", window)
    marketing = inlined(wh, "select_daily_marketing_activity", window)
    fresh = f"""
select u.lead_id, p.activity_date, p.event, cast(sum(p.events) as bigint) as events
from ({product}) p join work_user_leads u on u.user_id = p.user_id
group by u.lead_id, p.activity_date, p.event
union all
select lead_id, activity_date, event, cast(events as bigint) as events from ({marketing}) m"""
    if fresh_from is None:
        fresh += " limit 0"
    replace_table(wh, "work_activity_fresh", fresh)
    stored = (
        inlined(
            wh,
            "select_lead_activity_daily",
            {"from_day": since.isoformat(), "to_day": stored_to.isoformat()},
        )
        if rolled is not None
        else "select * from work_activity_fresh limit 0"
    )
    # A view, not a copy: the feature statements bound the days they read, and each reads the
    # roll-up's own key (activity_date first) for that range.
    replace_view(
        wh,
        ACTIVITY_VIEW,
        f"""
select lead_id, activity_date, event, events from ({stored}) s
union all
select lead_id, activity_date, event, events from work_activity_fresh
where activity_date >= {wh.sql_date(since)}""",
    )
    activity = extract.Activity(
        daily=pl.DataFrame(schema=extract.ACTIVITY_SCHEMA),
        fresh="work_activity_fresh",
        fresh_from=fresh_from or end,
        rolled_through=max(d for d in (rolled, run_date) if d is not None),
    )
    return night, activity


# ---- training: a bounded sample drawn in the warehouse, its feature rows read into Python


def training_sample(night: NightSql, settings: Settings) -> pl.DataFrame:
    """The labelled snapshot rows the night trains on, as `features.build_night` samples them:
    training and holdout snapshots each a weighted systematic sample (`features.downsample`)."""
    wh = night.wh
    created = wh.query("select min(created_at) as first from crm_leads")["first"][0]
    first = _as_date(created) or night.run_date
    days = features.snapshot_days(night.run_date, first, settings)
    train_days, holdout_days = features.split_snapshots(days, settings.holdout_share)
    parts = []
    for part, on, max_rows in (
        ("train", train_days, settings.max_training_rows),
        ("holdout", holdout_days, settings.max_holdout_rows),
    ):
        # A part without snapshots (too little history) is an empty table of the same columns.
        night.scorable(f"work_keys_{part}_all", on or [night.run_date], settings.horizon_days)
        sample = _sample(night, f"work_keys_{part}_all", max_rows, settings.seed)
        parts.append(sample if on else f"select * from ({sample}) no_snapshot where 1 = 0")
    replace_table(wh, "work_keys_training", " union all ".join(parts), ["lead_id"])
    night.feature_rows(
        "work_training", "work_keys_training", days or [night.run_date], ["label", "weight"]
    )
    return night.read_features("work_training", order=True)


def _as_date(value: object) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.date() if isinstance(value, dt.datetime) else value


def _sample(night: NightSql, keys: str, max_rows: int | None, seed: int) -> str:
    """SELECT of the rows of `keys` the systematic sample keeps, with their weights."""
    wh = night.wh
    columns = "lead_id, snapshot, cutoff, status, lead_age_days, days_in_status, label"
    sizes = dict(wh.query(f"select label, count(*) as n from {keys} group by label").iter_rows())
    plan = (
        features.sample_plan(int(sizes.get(1, 0)), int(sizes.get(0, 0)), max_rows)
        if max_rows is not None
        else None
    )
    if plan is None:
        return f"select {columns}, 1.0 as weight from {keys}"
    parts = []
    order = f"snapshot, {wh.sql_binary('lead_id')}"
    for label, (size, keep) in plan.items():
        if not size:
            continue
        weight = wh.sql_float(1.0 / (keep / size))
        parts.append(f"""
select {columns}, {weight} as weight from (
    select k.*, row_number() over (order by {order}) - 1 as i from {keys} k where label = {label}
) numbered where {keeps("i", size, keep, seed)}""")
    return " union all ".join(parts) or f"select {columns}, 1.0 as weight from {keys} where 1 = 0"


# ---- scoring


def created_engagement(scorer: Scorer) -> float:
    """The engagement points of a lead as it stood when created (`score.at_creation`): the same
    for every lead, computed by the local path's own function."""
    row = pl.DataFrame(
        {c: [None] for c in FEATURES}, schema={c: ROW_SCHEMA.get(c, pl.String) for c in FEATURES}
    ).with_columns(pl.lit("x").alias("lead_id"))
    return float(score.points_frame(scorer, score.at_creation(row))["engagement_score"][0])


def tonight_points(card: ScorecardSql, today: str) -> str:
    """SELECT of the points of the feature rows of `today`, with what the scores need of them."""
    return points_select(card, today, ", created_at, lead_age_days")


def scores_statement(
    wh: Warehouse,
    scorer: Scorer,
    today: str,
    week_ago: str,
    previous: str,
    run_date: dt.date,
    run_id: str,
    threshold_points: float | None = None,
    points: str | None = None,
) -> str:
    """SELECT of the night's lead_scores rows but their team and reasons, from the feature rows
    of work table `today`, the points of work table `week_ago` (`points_select`) and last
    night's SDR-ready episodes in work table `previous` (`previous_scores`), cut at
    `threshold_points` (default: the model's), as `score.score_night` computes them. `points`:
    a work table of tonight's points where the caller made one (`tonight_points`)."""
    card = ScorecardSql(wh, scorer.model, scorer.scale)
    lit = wh.sql_float
    weekly = rounded(f"(p.score - w.score) * {lit(1 / VELOCITY_DAYS)}", 2)
    age = wh.sql_greatest("p.lead_age_days", "1.0")
    since_created = rounded(f"(p.score - p.created_score) / {age}", 2)
    velocity = f"case when w.score is not null then {weekly} else {since_created} end"
    cut = scorer.scale.threshold_points if threshold_points is None else threshold_points
    ready = f"p.score >= {lit(cut)}"
    was_ready = "h.sdr_ready = " + wh.sql_bool(True)
    since = (
        f"case when {ready} and {was_ready} and h.sdr_ready_since is not null "
        f"then h.sdr_ready_since when {ready} then {wh.sql_date(run_date)} end"
    )
    tonight = f"select * from {points}" if points else tonight_points(card, today)
    return f"""
with tonight as materialized ({tonight}),
p as materialized (
    select tonight.*,
        {rounded(f"fit_score + {lit(created_engagement(scorer))}", 1)} as created_score
    from tonight
),
v as materialized (
    select p.*, {velocity} as velocity, {since} as sdr_ready_since,
        case when {ready} then {wh.sql_bool(True)} else {wh.sql_bool(False)} end as sdr_ready
    from p
    left join {week_ago} w on w.lead_id = p.lead_id
    left join {previous} h on h.lead_id = p.lead_id
)
select lead_id, {wh.sql_date(run_date)} as score_date, close_probability, score, fit_score,
    engagement_score, velocity,
    {rounded(f"score + {VELOCITY_DAYS} * (case when velocity > 0 then velocity else 0 end)", 1)}
        as priority,
    sdr_ready, sdr_ready_since,
    {wh.sql_days_between("sdr_ready_since", wh.sql_day("created_at"))} as days_to_sdr_ready,
    {text(scorer.version)} as model_version, {text(run_id)} as run_id
from v"""


def previous_scores(wh: Warehouse, run_date: dt.date, name: str) -> None:
    """Work table `name`: last night's lead_id, sdr_ready, sdr_ready_since (none before a first
    night)."""
    if wh.has_table("lead_score_history"):
        replace_table(
            wh,
            name,
            inlined(
                wh,
                "select_previous_scores",
                {"score_date": (run_date - dt.timedelta(days=1)).isoformat()},
            ),
            ["lead_id"],
        )
    else:
        write_table(wh, name, pl.DataFrame(schema=score.PREVIOUS_SCHEMA))


def reasons_table(wh: Warehouse, scorer: Scorer, rows: str, name: str) -> None:
    """Work table `name` (lead_id, top_reasons) of the feature rows of `rows`, as
    `score.reasons` words them: the strongest and weakest factors are ranked in SQL; the values
    they read (a few thousand distinct ones, not one per lead) are put into words by
    `score.phrase` itself, and the sentences joined in SQL."""
    card = ScorecardSql(wh, scorer.model, scorer.scale)
    columns = sorted({c for f in FEATURES for c in score.phrase_columns(f)})
    deviations = ",\n        ".join(f"{card.deviation(f)} as d_{j}" for j, f in enumerate(FEATURES))
    picks = []
    for j, feature in enumerate(FEATURES):
        keys = [_key(wh, c) for c in score.phrase_columns(feature)] + ["'n'"]
        picks.append(
            f"select lead_id, {j} as j, d_{j} as d, {keys[0]} as k0, {keys[1]} as k1 from dev "
            f"where d_{j} >= {score.MIN_POINTS} or d_{j} <= -{score.MIN_POINTS}"
        )
    strong = "d > 0"
    union = "\n    union all ".join(picks)
    replace_table(
        wh,
        "work_reason_picks",
        f"""
with dev as materialized (
    select row.lead_id, {", ".join(f"row.{c}" for c in columns)},
        {deviations}
    from {rows} row
),
picks as materialized (
    {union}
),
ranked as materialized (
    select picks.*, row_number() over (
        partition by lead_id, case when {strong} then 1 else 0 end
        order by case when {strong} then -d else d end, case when {strong} then j else -j end
    ) as rn
    from picks
)
select lead_id, j, k0, k1,
    case when {strong} then rn else {score.STRONGEST} + rn end as rank,
    case when d >= 0 then '+' else '' end
        || cast(cast({rounded("d", 0)} as bigint) as text) as points
from ranked
where rn <= case when {strong} then {score.STRONGEST} else {score.WEAKEST} end""",
        ["lead_id"],
    )
    keys = wh.read_sql(
        "select distinct j, k0, k1 from work_reason_picks",
        {"j": pl.Int64, "k0": pl.String, "k1": pl.String},
    )
    write_table(wh, "work_phrases", score.phrases(keys, ROW_SCHEMA))
    parts = score.STRONGEST + score.WEAKEST
    joined = "max(case when pos = 1 then part end)" + "".join(
        f" || coalesce('; ' || max(case when pos = {i} then part end), '')"
        for i in range(2, parts + 1)
    )
    replace_table(
        wh,
        name,
        f"""
with said as materialized (
    select p.lead_id, p.j, p.rank, p.points || ' ' || f.said as part, f.silences
    from work_reason_picks p join work_phrases f on f.j = p.j and f.k0 = p.k0 and f.k1 = p.k1
),
kept as materialized (
    select s.lead_id, s.part, row_number() over (partition by s.lead_id order by s.rank) as pos
    from said s
    where not exists (select 1 from said t where t.lead_id = s.lead_id and t.silences = s.j)
)
select lead_id, {joined} as top_reasons from kept group by lead_id""",
        ["lead_id"],
    )


def _key(wh: Warehouse, column: str) -> str:
    """A feature row's value as `phrase` reads it, as text: 'n' for null, else 'v' and the value
    (numbers truncated to integers: `phrase` says them as int())."""
    value = f"dev.{column}"
    if ROW_SCHEMA[column] != pl.String:
        value = wh.sql_integer(value)
    return f"case when dev.{column} is null then 'n' else 'v' || cast({value} as text) end"


def account_select(wh: Warehouse, scores: str, rows: str, week_ago: str, run_id: str) -> str:
    """SELECT of the night's account_scores rows (`score.account_scores`): leads as independent,
    P(at least one closes) = 1 - exp(sum(ln(1 - p)))."""
    order = f"s.score desc, {wh.sql_binary('s.lead_id')}"
    best = f"row_number() over (partition by r.account_id order by {order})"
    return f"""
with leads as materialized (
    select r.account_id, s.lead_id, s.score, s.close_probability, s.sdr_ready,
        s.engagement_score, s.score_date, {best} as position
    from {scores} s join {rows} r on r.lead_id = s.lead_id
    where r.account_id is not null
),
accounts as materialized (
    select account_id, max(score_date) as score_date,
        case when max(close_probability) >= 1 then 1.0
            else 1.0 - exp(sum(ln(1.0 - close_probability))) end as p,
        max(case when position = 1 then lead_id end) as best_lead_id,
        max(case when position = 1 then score end) as best_lead_score,
        count(*) as scored_leads,
        sum(case when sdr_ready = {wh.sql_bool(True)} then 1 else 0 end) as sdr_ready_leads,
        sum(engagement_score) as engagement
    from leads group by account_id
),
past as materialized (
    select account_id, sum(engagement_score) as engagement_then
    from {week_ago} where account_id is not null group by account_id
)
select a.account_id, a.score_date, {rounded("a.p", 6)} as close_probability, a.best_lead_id,
    a.best_lead_score, a.scored_leads, a.sdr_ready_leads,
    {rounded("a.engagement", 1)} as engagement_score,
    {rounded(f"{rounded('a.engagement', 1)} - coalesce(p.engagement_then, 0.0)", 1)}
        as engagement_trend,
    {text(run_id)} as run_id
from accounts a left join past p on p.account_id = a.account_id"""


SCORE_TABLE = "work_scores"
ACCOUNT_TABLE = "work_accounts"


@dataclass(frozen=True)
class Scored:
    """Tonight's scores and account roll-up, as work tables."""

    scores: str
    accounts: str
    scorable: int
    sdr_ready: int
    threshold: Threshold


def score_night(night: NightSql, model: ModelChoice, settings: Settings, run_id: str) -> Scored:
    """Work tables of tonight's lead_scores rows (with team and reasons) and account roll-up, cut
    at tonight's SDR-ready threshold (`score.night_threshold`)."""
    wh, day, scorer = night.wh, night.run_date, model.scorer
    card = ScorecardSql(wh, scorer.model, scorer.scale)
    week = day - dt.timedelta(days=VELOCITY_DAYS)
    night.scorable("work_keys_today", [day])
    night.feature_rows("work_today", "work_keys_today", [day])
    night.scorable("work_keys_week", [week])
    night.feature_rows("work_week", "work_keys_week", [week])
    drop_view(wh, ACTIVITY_VIEW)
    replace_table(
        wh, "work_points_week", points_select(card, "work_week", ", account_id"), ["lead_id"]
    )
    previous_scores(wh, day, "work_previous")
    # Tonight's points, once: for the demand at each threshold and for the scores.
    replace_table(wh, "work_points_today", tonight_points(card, "work_today"), ["lead_id"])
    cut = score.night_threshold(
        wh,
        model,
        settings,
        day,
        lambda at: threshold.demand_sql(
            wh,
            "select lead_id, score from work_points_today",
            "select lead_id, score from work_points_week",
            at,
        ),
    )
    replace_table(
        wh,
        "work_scored",
        scores_statement(
            wh,
            scorer,
            "work_today",
            "work_points_week",
            "work_previous",
            day,
            run_id,
            cut.threshold_points,
            "work_points_today",
        ),
        ["lead_id"],
    )
    reasons_table(wh, scorer, "work_today", "work_reasons")
    rules = route.load_rules(settings.routing_path, settings.sla_hours, settings.reroute_after_days)
    replace_table(wh, "work_teams", teams_select(wh, rules, "work_today"), ["lead_id"])
    columns = ", ".join(
        f"coalesce(r.top_reasons, {text(score.AVERAGE_LEAD)}) as top_reasons"
        if c == "top_reasons"
        else f"t.{c}"
        if c == "team"
        else f"s.{c}"
        for c in score.SCORE_COLUMNS
    )
    replace_table(
        wh,
        SCORE_TABLE,
        f"""select {columns} from work_scored s
left join work_teams t on t.lead_id = s.lead_id
left join work_reasons r on r.lead_id = s.lead_id""",
        ["lead_id"],
    )
    replace_table(
        wh,
        ACCOUNT_TABLE,
        account_select(wh, SCORE_TABLE, "work_today", "work_points_week", run_id),
    )
    counts = wh.query(
        f"select count(*) as n, sum(case when sdr_ready = {wh.sql_bool(True)} then 1 else 0 end)"
        f" as ready from {SCORE_TABLE}"
    )
    return Scored(
        SCORE_TABLE, ACCOUNT_TABLE, int(counts["n"][0]), int(counts["ready"][0] or 0), cut
    )


READY_SCHEMA = {
    "lead_id": pl.String,
    "team": pl.String,
    "sdr_ready": pl.Boolean,
    "sdr_ready_since": pl.Date,
    "priority": pl.Float64,
    "score": pl.Float64,
    "account_id": pl.String,
    "owner_id": pl.String,
    "rule": pl.String,
}


def route_night(night: NightSql, scored: Scored, settings: Settings, run_id: str) -> route.Routed:
    """Route tonight's due SDR-ready leads (`route.route_night`): only they are read."""
    wh = night.wh
    rules = route.load_rules(settings.routing_path, settings.sla_hours, settings.reroute_after_days)
    ready = wh.read_sql(
        f"""select s.lead_id, s.team, s.sdr_ready, s.sdr_ready_since, s.priority, s.score,
    r.account_id, r.owner_id, t.rule
from {scored.scores} s join work_today r on r.lead_id = s.lead_id
left join work_teams t on t.lead_id = s.lead_id
where s.sdr_ready = {wh.sql_bool(True)}""",
        READY_SCHEMA,
    )
    leads = ready.select("lead_id", "account_id", "owner_id", "rule")
    routing, pointers, overflow = route.route_night(
        ready.drop("account_id", "owner_id", "rule"),
        leads,
        route.read_state(wh),
        rules,
        night.run_date,
        run_id,
    )
    return route.Routed(scored.scores, routing, pointers, overflow)
