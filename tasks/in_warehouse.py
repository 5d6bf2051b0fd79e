"""The per-lead work of a night inside the warehouse (`LEADSCORE_COMPUTE=warehouse`).

Feature rows are computed by SQL generated from the local path's own specification
(`leadscore.sqlgen`) into work tables (`work_*`, replaced each night, never read by users: the
published tables change only in publish's one transaction).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from leadscore.sqlgen import FeatureSql, ScorecardSql, points_select, rounded, text
from leadscore.tasks import score
from leadscore.tasks.features import FEATURES, VELOCITY_DAYS, WINDOWS
from leadscore.tasks.train import Scorer
from leadscore.warehouse import Warehouse

QUARANTINE_SCHEMA = {"source_table": pl.String, "row_key": pl.String}
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
        s.conn.exec_driver_sql(f"drop table if exists {name}")
        s.conn.exec_driver_sql(f"create table {name} as {select}")
        if index:
            s.conn.exec_driver_sql(f"create index {name}_key on {name} ({', '.join(index)})")


def write_table(wh: Warehouse, name: str, frame: pl.DataFrame) -> None:
    """(Re)create work table `name` holding `frame`, its columns typed as the frame's."""
    with wh.session() as s, s.transaction():
        s.conn.exec_driver_sql(f"drop table if exists {name}")
        columns = ", ".join(f"{c} {_sql_type(t, wh.dialect)}" for c, t in frame.schema.items())
        s.conn.exec_driver_sql(f"create table {name} ({columns})")
        if frame.height:
            s.append(name, frame)


def _sql_type(kind: pl.DataType, dialect: str) -> str:
    if kind == pl.String:
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


class NightSql:
    """One night's statements and work tables."""

    def __init__(self, wh: Warehouse, run_date: dt.date, activity: str):
        self.wh = wh
        self.features = FeatureSql(wh, run_date, "work_quarantine", activity, "work_user_leads")

    def prepare(self, quarantined: pl.DataFrame) -> None:
        """The rows validation set aside, and product users matched to leads."""
        write_table(
            self.wh,
            "work_quarantine",
            quarantined.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA),
        )
        replace_table(self.wh, "work_user_leads", self.features.user_leads_statement(), ["lead_id"])

    def scorable(self, name: str, days: list[dt.date], horizon_days: int | None = None) -> None:
        """Work table `name`: the scorable leads at each of `days` (`features.snapshot_frame`)."""
        label = ", label" if horizon_days is not None else ""
        select = f"""
with {self.features.base(days, horizon_days).strip()}
select lead_id, snapshot, cutoff, status, lead_age_days, days_in_status{label} from scorable"""
        replace_table(self.wh, name, select, ["lead_id"])

    def feature_rows(self, name: str, keys: str, carry: list[str] | None = None) -> None:
        """Work table `name`: the feature rows of the snapshot rows in work table `keys`."""
        replace_table(self.wh, name, self.features.rows(keys, carry or []), ["lead_id"])

    def read_features(self, name: str) -> pl.DataFrame:
        """A work table of feature rows, as a frame (tests and the training sample)."""
        return self.wh.read_sql(f"select * from {name}", ROW_SCHEMA)

    def points(self, scorer: Scorer, name: str) -> pl.DataFrame:
        """lead_id, fit_score, engagement_score, close_probability of work table `name`."""
        card = ScorecardSql(self.wh, scorer.model, scorer.scale)
        return self.wh.read_sql(points_select(card, name)).drop("score")


def created_engagement(scorer: Scorer) -> float:
    """The engagement points of a lead as it stood when created (`score.at_creation`): the same
    for every lead, computed by the local path's own function."""
    row = pl.DataFrame(
        {c: [None] for c in FEATURES}, schema={c: ROW_SCHEMA.get(c, pl.String) for c in FEATURES}
    ).with_columns(pl.lit("x").alias("lead_id"))
    return float(score.points_frame(scorer, score.at_creation(row))["engagement_score"][0])


def scores_statement(
    wh: Warehouse, scorer: Scorer, today: str, week_ago: str, run_date: dt.date, run_id: str
) -> str:
    """SELECT of the night's lead_scores rows but their team and reasons, from the feature rows
    of work tables `today` and `week_ago`, as `score.score_night` computes them."""
    card = ScorecardSql(wh, scorer.model, scorer.scale)
    lit = wh.sql_float
    previous = wh.sql_date(run_date - dt.timedelta(days=1))
    weekly = rounded(f"(p.score - w.score) / {VELOCITY_DAYS}.0", 2)
    age = wh.sql_greatest("p.lead_age_days", "1.0")
    since_created = rounded(f"(p.score - p.created_score) / {age}", 2)
    velocity = f"case when w.score is not null then {weekly} else {since_created} end"
    ready = f"p.score >= {lit(scorer.scale.threshold_points)}"
    was_ready = "h.sdr_ready = " + wh.sql_bool(True)
    since = (
        f"case when {ready} and {was_ready} and h.sdr_ready_since is not null "
        f"then h.sdr_ready_since when {ready} then {wh.sql_date(run_date)} end"
    )
    return f"""
with tonight as materialized ({points_select(card, today, ", created_at, lead_age_days")}),
p as materialized (
    select tonight.*,
        {rounded(f"fit_score + {lit(created_engagement(scorer))}", 1)} as created_score
    from tonight
),
w as materialized ({points_select(card, week_ago)}),
v as materialized (
    select p.*, {velocity} as velocity, {since} as sdr_ready_since,
        case when {ready} then {wh.sql_bool(True)} else {wh.sql_bool(False)} end as sdr_ready
    from p
    left join w on w.lead_id = p.lead_id
    left join lead_score_history h on h.lead_id = p.lead_id and h.score_date = {previous}
)
select lead_id, {wh.sql_date(run_date)} as score_date, close_probability, score, fit_score,
    engagement_score, velocity,
    {rounded(f"score + {VELOCITY_DAYS} * (case when velocity > 0 then velocity else 0 end)", 1)}
        as priority,
    sdr_ready, sdr_ready_since,
    {wh.sql_days_between("sdr_ready_since", wh.sql_day("created_at"))} as days_to_sdr_ready,
    {text(scorer.version)} as model_version, {text(run_id)} as run_id
from v"""
