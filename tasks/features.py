"""Point-in-time lead features: data in, data out, no database.

A snapshot "as of day s" sees only rows timed before s + 1 day, 00:00 UTC. Fit features come
from who the lead is (profile, account); engagement features from what it did in the windows
before the snapshot (daily activity counts) and where it stands (status, age).

Entry point: `build_night`, the feature rows of one night: labelled training snapshots, the
leads as of the run date, and as of a week before (for velocity).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from leadscore.contract import (
    COUNTRY_REGION,
    EMAIL_RE,
    MARKETING_EVENTS,
    PRODUCT_EVENTS,
    SCORABLE_STATUSES,
    email_key,
)
from leadscore.prefetch import Prefetch
from leadscore.settings import Settings

if TYPE_CHECKING:  # extract builds the profiles with `profile`, from this module
    from leadscore.tasks.extract import Inputs

# How far back the engagement features look; the activity read must cover it.
LOOKBACK_DAYS = 90
# Velocity compares a lead's score with the score it had this many days before.
VELOCITY_DAYS = 7
# Ages are seconds times this (a multiplication, as polars divides by a constant): the warehouse
# path multiplies by the same double, so both give the same bits.
DAYS_PER_SECOND = 1 / 86_400

FIT_FEATURES = [
    "seniority",
    "email_type",
    "employee_count",
    "sales_team_size",
    "industry",
    "region",
    "is_target_account",
    "lead_source",
    "has_account",
]
ENGAGEMENT_FEATURES = (
    ["signed_up", "active_days_7d", "active_days_30d", "active_days_90d"]
    + [f"{e}_7d" for e in PRODUCT_EVENTS if e != "login"]
    + [f"{e}_30d" for e in PRODUCT_EVENTS if e != "login"]
    + [f"{e}_90d" for e in PRODUCT_EVENTS if e != "login"]
    + ["product_days_ago"]
    + [f"{e}_30d" for e in MARKETING_EVENTS]
    + ["lead_age_days", "lifecycle", "status", "days_in_status"]
)
FEATURES = FIT_FEATURES + ENGAGEMENT_FEATURES
# The features whose values are text: who the lead is, its status and where it is in its life.
TEXT_FEATURES = [
    "seniority",
    "email_type",
    "industry",
    "region",
    "lead_source",
    "lifecycle",
    "status",
]
# More of an action never lowers the score: these columns are constrained to be monotone.
MONOTONE = {
    c: 1
    for c in ENGAGEMENT_FEATURES
    if c not in {"lead_age_days", "lifecycle", "status", "days_in_status", "product_days_ago"}
} | {
    # The more recent the last product activity, the better (never active: its own bin).
    "product_days_ago": -1
}

PERSONAL_DOMAINS = {
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
    "126.com",
    "naver.com",
}

# Title keywords by seniority, most senior first; titles in Arabic and Chinese script included.
SENIORITY_PATTERNS = [
    (
        "c_level",
        [
            r"\bchief\b",
            r"\bc[eoft]o\b",
            r"\bfounder\b",
            r"\bpresident\b",
            r"\bowner\b",
            r"general counsel",
            r"الرئيس التنفيذي",
            r"المؤسس",
            r"首席",
            r"总裁",
            r"创始人",
            r"董事长",
        ],
    ),
    ("vp", [r"\bvp\b", r"\bsvp\b", r"\bevp\b", r"vice president", r"نائب الرئيس", r"副总裁"]),
    ("director", [r"\bdirector\b", r"\bhead of\b", r"مدير العمليات", r"مدير عام", r"总监"]),
    ("manager", [r"\bmanager\b", r"\blead\b", r"\bsupervisor\b", r"مدير", r"经理", r"主管"]),
    (
        "intern",
        [r"\bintern\b", r"\btrainee\b", r"\bstudent\b", r"summer analyst", r"متدرب", r"实习"],
    ),
]


def seniority(title: pl.Expr) -> pl.Expr:
    """Seniority level from a free-text title; blank titles are unknown, others individual."""
    lowered = title.str.to_lowercase().str.strip_chars()
    expr = pl.when(lowered.is_null() | (lowered == "")).then(pl.lit("unknown"))
    for level, patterns in SENIORITY_PATTERNS:
        expr = expr.when(lowered.str.contains("|".join(f"(?:{p})" for p in patterns))).then(
            pl.lit(level)
        )
    return expr.otherwise(pl.lit("individual"))


def email_type(email: pl.Expr) -> pl.Expr:
    key = email_key(email)
    domain = key.str.split("@").list.last()
    return (
        pl.when(~key.str.contains(EMAIL_RE))
        .then(pl.lit("malformed"))
        .when(domain.is_in(sorted(PERSONAL_DOMAINS)))
        .then(pl.lit("personal"))
        .otherwise(pl.lit("corporate"))
    )


def profile(leads: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """One row per lead with its fit features (who they are); no time dependence."""
    acc = accounts.select(
        "account_id",
        pl.col("employee_count").cast(pl.Float64),
        pl.col("sales_team_size").cast(pl.Float64),
        "industry",
        pl.col("country").alias("account_country"),
        pl.col("is_target_account").cast(pl.Boolean),
        pl.col("owner_id"),
    )
    country = (
        pl.coalesce(pl.col("country"), pl.col("account_country"))
        .str.to_uppercase()
        .str.strip_chars()
    )
    return (
        leads.join(acc, on="account_id", how="left")
        .with_columns(
            seniority(pl.col("title")).alias("seniority"),
            email_type(pl.col("email")).alias("email_type"),
            country.alias("country_code"),
            # replace_strict sends a null to its default: no country is "unknown", not "other".
            pl.when(country.is_null())
            .then(pl.lit("unknown"))
            .otherwise(country.replace_strict(COUNTRY_REGION, default="other"))
            .alias("region"),
            pl.col("is_target_account").fill_null(False).cast(pl.Int8).alias("is_target_account"),
            pl.col("account_id").is_not_null().cast(pl.Int8).alias("has_account"),
            pl.col("industry").str.to_lowercase(),
        )
        .select(
            "lead_id",
            "account_id",
            "owner_id",
            "created_at",
            "country_code",
            *FIT_FEATURES,
        )
    )


def snapshot_cutoff(day: dt.date) -> dt.datetime:
    """A snapshot as of `day` sees the rows timed before this moment: the next midnight, UTC."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def _cutoffs(days: list[dt.date]) -> pl.DataFrame:
    return pl.DataFrame(
        {"snapshot": days, "cutoff": [snapshot_cutoff(d) for d in days]},
        schema={"snapshot": pl.Date, "cutoff": pl.Datetime("us")},
    )


def snapshot_frame(
    profiles: pl.DataFrame,
    status_changes: pl.DataFrame,
    opportunities: pl.DataFrame,
    days: list[dt.date],
    horizon_days: int | None = None,
    max_rows: int | None = None,
    seed: int = 0,
) -> pl.DataFrame:
    """Leads that exist and are scorable at each snapshot, with status, age and (optionally) label.

    Scorable: status open, working or nurture as of the snapshot (from the status history), and
    no opportunity created yet. The label, when `horizon_days` is given: an opportunity of the
    lead is won in the `horizon_days` days after the snapshot. With `max_rows` (and labels), the
    rows are a weighted sample of at most that many (`downsample`'s rule), drawn one snapshot at
    a time before the profile columns are joined: a night at a million leads never holds every
    snapshot row (26 snapshots of up to a million leads), only one snapshot's.
    """
    at = _Snapshots(profiles, status_changes, opportunities, horizon_days)
    cutoffs = list(_cutoffs(days).iter_rows())
    sampled = horizon_days is not None and max_rows is not None
    if not cutoffs:  # the same columns, no rows
        base = at.rows(dt.date(1970, 1, 1), dt.datetime(1970, 1, 1)).clear()
        base = _draw(base, None, {}, seed) if sampled else base
    elif not sampled:
        base = pl.concat([at.rows(day, cutoff) for day, cutoff in cutoffs])
    else:
        # Two passes: the labels' counts over every snapshot fix the plan, then each snapshot's
        # rows are drawn by their place in (snapshot, lead_id) order among the rows of their label.
        counts = [at.label_counts(d, c) for d, c in cutoffs]
        plan = sample_plan(
            sum(n.get(1, 0) for n in counts), sum(n.get(0, 0) for n in counts), max_rows
        )
        before = {0: 0, 1: 0}
        parts = []
        for (day, cutoff), n in zip(cutoffs, counts, strict=True):
            parts.append(_draw(at.rows(day, cutoff), plan, before, seed))
            before = {label: before[label] + n.get(label, 0) for label in before}
        base = pl.concat(parts)
    # The fit features only: who the lead is for routing and the account roll-up (account,
    # owner, country, e-mail key) is read from `profiles`, once per lead, not per feature row.
    who = profiles.select("lead_id", *FIT_FEATURES).with_columns(as_categories(FIT_FEATURES))
    return base.join(who, on="lead_id", how="left").sort("snapshot", "lead_id")


def as_categories(columns: list[str]) -> list[pl.Expr]:
    """The text columns among `columns` as categories: the feature rows of a night at a million
    leads hold ~2M rows of seven text features, 16 bytes a row each as text, 4 as a category.
    Every reader of a feature row's text (the model's bins, the reasons, the drift report)
    compares it with text or casts it to text, which a category does as text does."""
    return [pl.col(c).cast(pl.Categorical) for c in columns if c in TEXT_FEATURES]


class _Snapshots:
    """The scorable leads as of one snapshot at a time (`snapshot_frame`)."""

    def __init__(
        self,
        profiles: pl.DataFrame,
        status_changes: pl.DataFrame,
        opportunities: pl.DataFrame,
        horizon_days: int | None,
    ) -> None:
        self.leads = profiles.select("lead_id", "created_at")
        # In time order per lead: a snapshot's status is its lead's last change before it.
        self.changes = status_changes.select(
            "lead_id", "status", pl.col("changed_at").alias("status_changed_at")
        ).sort("lead_id", "status_changed_at", maintain_order=True)
        self.first_opp = (
            opportunities.filter(pl.col("lead_id").is_not_null())
            .group_by("lead_id")
            .agg(pl.col("created_at").min().alias("first_opp_at"))
        )
        self.horizon_days = horizon_days
        self.won = opportunities.filter(
            (pl.col("stage") == "closed_won")
            & pl.col("lead_id").is_not_null()
            & pl.col("closed_at").is_not_null()
        ).select("lead_id", "closed_at")

    def rows(self, day: dt.date, cutoff: dt.datetime) -> pl.DataFrame:
        """The leads created before `cutoff` and scorable at it, in lead_id order: lead_id,
        created_at, snapshot, cutoff, status, lead_age_days, days_in_status (and label)."""
        return self.query(day, cutoff).sort("lead_id").collect()

    def label_counts(self, day: dt.date, cutoff: dt.datetime) -> dict[int, int]:
        """{label: rows} of the snapshot: the same query, its columns left uncomputed."""
        return dict(self.query(day, cutoff).group_by("label").len().collect().iter_rows())

    def query(self, day: dt.date, cutoff: dt.datetime) -> pl.LazyFrame:
        status = (
            self.changes.lazy()
            .filter(pl.col("status_changed_at") < cutoff)
            .unique(subset="lead_id", keep="last")
        )
        base = (
            self.leads.lazy()
            .filter(pl.col("created_at") < cutoff)
            .with_columns(
                pl.lit(day, dtype=pl.Date).alias("snapshot"),
                pl.lit(cutoff, dtype=pl.Datetime("us")).alias("cutoff"),
            )
            .join(status, on="lead_id", how="left")
            .with_columns(pl.col("status").fill_null("open"))
            .join(self.first_opp.lazy(), on="lead_id", how="left")
            .filter(
                pl.col("status").is_in(SCORABLE_STATUSES)
                & (pl.col("first_opp_at").is_null() | (pl.col("first_opp_at") >= cutoff))
            )
            .with_columns(
                (
                    (pl.col("cutoff") - pl.col("created_at")).dt.total_seconds() * DAYS_PER_SECOND
                ).alias("lead_age_days"),
                # Since the last status change, or since creation for a lead never touched.
                (
                    (
                        pl.col("cutoff") - pl.coalesce("status_changed_at", "created_at")
                    ).dt.total_seconds()
                    * DAYS_PER_SECOND
                ).alias("days_in_status"),
            )
            .drop("first_opp_at", "status_changed_at")
        )
        if self.horizon_days is not None:
            end = cutoff + dt.timedelta(days=self.horizon_days)
            labels = (
                self.won.lazy()
                .filter((pl.col("closed_at") >= cutoff) & (pl.col("closed_at") < end))
                .select("lead_id")
                .unique()
                .with_columns(pl.lit(1, dtype=pl.Int8).alias("label"))
            )
            base = base.join(labels, on="lead_id", how="left").with_columns(
                pl.col("label").fill_null(0)
            )
        return base


def downsample(rows: pl.DataFrame, max_rows: int, seed: int) -> pl.DataFrame:
    """At most `max_rows` labelled rows, weighted so that sums over them estimate sums over all.

    Every positive is kept while positives fill at most half the sample (beyond that they are
    sampled too); negatives are sampled to fill the rest. A kept row's weight is one over its
    chance of being kept; rows that carry a `weight` already (a sample of a sample) keep it,
    multiplied. The sample is systematic (`sample_plan`, `keeps`), so the warehouse draws the
    same rows in SQL; the same rows and seed give the same sample.
    """
    counts = dict(rows.group_by("label").len().iter_rows())
    plan = sample_plan(counts.get(1, 0), counts.get(0, 0), max_rows)
    # Rows in this order already (a night's training sample, as it is read; the baselines' sample
    # of it) are not sorted again: that copied them whole (~0.1 GB at 300,000 rows).
    ordered = rows if in_sample_order(rows) else rows.sort("snapshot", "lead_id")
    return _draw(ordered, plan, {0: 0, 1: 0}, seed)


def in_sample_order(rows: pl.DataFrame) -> bool:
    """Whether `rows` are in snapshot, then lead_id order (lead_id as text: the order `sort`
    gives it), as `downsample` draws them."""
    if rows.schema["lead_id"] != pl.String:
        return False
    snapshot, lead = pl.col("snapshot"), pl.col("lead_id")
    after = (snapshot > snapshot.shift()) | (
        (snapshot == snapshot.shift()) & (lead >= lead.shift())
    )
    return bool(rows.select(after.fill_null(True).all()).item())


def _draw(
    rows: pl.DataFrame, plan: dict[int, tuple[int, int]] | None, before: dict[int, int], seed: int
) -> pl.DataFrame:
    """The rows of `rows` (in snapshot and lead_id order) that `plan` keeps, weighted; `before`:
    how many rows of each label come before these in the whole sampled set."""
    weight = pl.col("weight") if "weight" in rows.columns else pl.lit(1.0)
    if plan is None:
        return rows.with_columns(weight.alias("weight"))
    # One filter over the rows, in their order: each row's place among the rows of its label,
    # and whether the plan keeps that place (not a copy of each label's rows, then of the kept
    # ones, then sorted back together).
    label = pl.col("label")
    place = pl.int_range(pl.len(), dtype=pl.Int64).over("label")
    kept, weighted = pl.lit(False), pl.lit(None, dtype=pl.Float64)
    for value, (size, keep) in plan.items():
        if size == 0:  # no row of this label at all
            continue
        mine = label == value
        drawn = keeps(place + before[value], size, keep, seed) if keep < size else pl.lit(True)
        kept = pl.when(mine).then(drawn).otherwise(kept)
        weighted = pl.when(mine).then(weight / (keep / size)).otherwise(weighted)
    return rows.filter(kept).with_columns(weighted.alias("weight"))


def sample_plan(positives: int, negatives: int, max_rows: int) -> dict[int, tuple[int, int]] | None:
    """How many rows of each label to keep: {label: (rows, kept)}; None when all are kept."""
    if positives + negatives <= max_rows:
        return None
    keep_pos = min(positives, max_rows // 2)
    keep_neg = min(negatives, max(1, max_rows - keep_pos))
    return {1: (positives, keep_pos), 0: (negatives, keep_neg)}


def keeps(i: pl.Expr, size: int, keep: int, seed: int) -> pl.Expr:
    """Whether row `i` (0-based, in snapshot and lead_id order) of `size` rows is among `keep`
    drawn systematically: evenly spaced, rotated by `seed`. `sqlgen.keeps` is the same rule."""
    j = (i + seed % size) % size
    return (j + 1) * keep // size > j * keep // size


@dataclass(frozen=True)
class Window:
    """One engagement measure over the lookback before a snapshot: the events of `events` on
    days fewer than `days` before the snapshot day, measured as a sum of events, a count of
    distinct days, or the fewest days ago. Both the local path (polars) and the warehouse path
    (generated SQL) are built from this list, so they cannot drift apart."""

    name: str
    events: tuple[str, ...]
    days: int
    measure: str  # "events", "active_days" or "days_ago"

    @property
    def is_count(self) -> bool:
        return self.measure != "days_ago"


def _windows() -> list[Window]:
    product = tuple(PRODUCT_EVENTS)
    out = [Window(f"active_days_{w}d", product, w, "active_days") for w in (7, 30, 90)]
    for e in PRODUCT_EVENTS:
        if e != "login":
            out += [Window(f"{e}_{w}d", (e,), w, "events") for w in (7, 30, 90)]
        out.append(Window(f"{e}_days_ago", (e,), LOOKBACK_DAYS, "days_ago"))
    out += [Window(f"{e}_30d", (e,), 30, "events") for e in MARKETING_EVENTS]
    out.append(Window("product_days_ago", product, LOOKBACK_DAYS, "days_ago"))
    return out


WINDOWS = _windows()


def _window_agg(w: Window) -> pl.Expr:
    kept = pl.col("event").is_in(list(w.events))
    if w.days < LOOKBACK_DAYS:
        kept = kept & (pl.col("ago") < w.days)
    if w.measure == "events":
        return pl.col("events").filter(kept).sum().alias(w.name)
    if w.measure == "active_days":
        return pl.col("activity_date").filter(kept).n_unique().alias(w.name)
    return pl.col("ago").filter(kept).min().alias(w.name)


def engagement(
    activity: pl.DataFrame, users: pl.DataFrame, snapshots: pl.DataFrame
) -> pl.DataFrame:
    """Windowed activity counts per (lead, snapshot), from daily counts per lead and event.

    `activity`: lead_id, activity_date, event, events (one row per lead, day and event).
    `users`: lead_id, signed_up_at (product sign-ups matched to leads).
    `snapshots`: lead_id, snapshot, cutoff (the rows to compute).
    """
    out = []
    aggs = [_window_agg(w) for w in WINDOWS]
    # The daily counts may hold the lead as a category (`extract.DAILY_SCHEMA`): matched as one.
    lead = activity.schema["lead_id"]
    for day in snapshots["snapshot"].unique().sort():
        rows = snapshots.filter(pl.col("snapshot") == day).select("lead_id", "snapshot", "cutoff")
        counts = (
            activity.lazy()
            .filter(
                (pl.col("activity_date") <= day)
                & (pl.col("activity_date") > day - dt.timedelta(days=LOOKBACK_DAYS))
            )
            # Days ago fit in 32 bits: the recency columns are Int32 like the counts.
            .with_columns(
                (pl.lit(day) - pl.col("activity_date")).dt.total_days().cast(pl.Int32).alias("ago")
            )
            .join(rows.lazy().select(pl.col("lead_id").cast(lead)), on="lead_id", how="semi")
            .group_by("lead_id")
            .agg(aggs)
            .with_columns(pl.col("lead_id").cast(pl.String))
            .collect(engine="streaming")
        )
        out.append(rows.join(counts, on="lead_id", how="left"))
    frame = (
        pl.concat(out, how="diagonal_relaxed")
        if out
        else snapshots.select("lead_id", "snapshot", "cutoff")
    )
    count_cols = [w.name for w in WINDOWS if w.is_count and w.name in frame.columns]
    signups = users.group_by("lead_id").agg(pl.col("signed_up_at").min())
    return (
        frame.with_columns(pl.col(c).fill_null(0).cast(pl.Int32) for c in count_cols)
        .join(signups, on="lead_id", how="left")
        .with_columns(
            (pl.col("signed_up_at") < pl.col("cutoff"))
            .fill_null(False)
            .cast(pl.Int8)
            .alias("signed_up")
        )
        .drop("signed_up_at", "cutoff")
    )


# Where a lead is in its life, by age in days: (upper bound, label), the last band open-ended.
LIFECYCLE_BANDS = [(3, "0-2 days"), (8, "3-7 days"), (31, "8-30 days"), (None, "31+ days")]


def lifecycle(age_days: pl.Expr, active_days_30d: pl.Expr) -> pl.Expr:
    """Where a lead is in its life: a week-old lead with no product use yet is not a dead one."""
    band = pl.when(age_days < LIFECYCLE_BANDS[0][0]).then(pl.lit(LIFECYCLE_BANDS[0][1]))
    for bound, label in LIFECYCLE_BANDS[1:-1]:
        band = band.when(age_days < bound).then(pl.lit(label))
    band = band.otherwise(pl.lit(LIFECYCLE_BANDS[-1][1]))
    return pl.concat_str(
        [band, pl.when(active_days_30d > 0).then(pl.lit("active")).otherwise(pl.lit("inactive"))],
        separator=", ",
    )


def build(
    profiles: pl.DataFrame,
    status_changes: pl.DataFrame,
    opportunities: pl.DataFrame,
    activity: pl.DataFrame,
    users: pl.DataFrame,
    days: list[dt.date],
    horizon_days: int | None = None,
    max_rows: int | None = None,
    seed: int = 0,
) -> pl.DataFrame:
    """Feature rows for the scorable leads at each of `days` (and labels if `horizon_days`; a
    weighted sample of at most `max_rows` of them if given)."""
    base = snapshot_frame(
        profiles, status_changes, opportunities, days, horizon_days, max_rows, seed
    )
    return with_engagement(base, activity, users)


def with_engagement(
    base: pl.DataFrame, activity: pl.DataFrame, users: pl.DataFrame
) -> pl.DataFrame:
    """`snapshot_frame`'s rows with their engagement features (`engagement`) and lifecycle."""
    counts = engagement(activity, users, base.select("lead_id", "snapshot", "cutoff"))
    return (
        base.join(counts, on=["lead_id", "snapshot"], how="left")
        .with_columns(
            lifecycle(pl.col("lead_age_days"), pl.col("active_days_30d")).alias("lifecycle")
        )
        .with_columns(as_categories(["status", "lifecycle"]))
    )


@dataclass
class FeatureSet:
    """One night's feature rows: `training` (labelled snapshots), `today` and `week_ago` (scorable
    leads as of the run date and VELOCITY_DAYS before; `week_ago`: lead_id and the model's
    features only), and every lead's `profiles`."""

    profiles: pl.DataFrame
    training: pl.DataFrame
    today: pl.DataFrame
    week_ago: pl.DataFrame

    def let_go(self, *names: str) -> None:
        """Empty the named frames (their columns stay): the night lets go of each set of rows
        once the steps that read it are done (at a million leads, 0.1 to 0.3 GB each)."""
        for name in names:
            setattr(self, name, getattr(self, name).clear())


def build_night(inputs: Inputs, run_date: dt.date, settings: Settings) -> FeatureSet:
    """The feature rows of the night of `run_date`."""
    t, profiles = inputs.tables, inputs.profiles
    first = profiles["created_at"].min()
    days = snapshot_days(
        run_date, first.date() if isinstance(first, dt.datetime) else run_date, settings
    )

    def snapshots(
        on: list[dt.date], horizon: int | None = None, max_rows: int | None = None
    ) -> pl.DataFrame:
        # No snapshot (too little history): the rows of the run date, emptied after their
        # features are joined (`features`), so that the frame has every column.
        return snapshot_frame(
            profiles,
            t["crm_lead_status_changes"],
            t["crm_opportunities"],
            on or [run_date],
            horizon,
            max_rows,
            settings.seed,
        )

    def features(base: pl.DataFrame, activity: pl.DataFrame, on: list[dt.date]) -> pl.DataFrame:
        frame = with_engagement(base, activity, inputs.users)
        return frame if on else frame.clear()

    # The training sample's snapshot rows first (a bounded, weighted sample of each part; the
    # latest snapshots are the holdout): the older days of their leads' activity, which the
    # night does not hold for every lead (`extract.Activity.covering`), are read while tonight's
    # and a week ago's rows are built (in the warehouse, or in SQLite's reader process).
    train_days, holdout_days = split_snapshots(days, settings.holdout_share)
    parts = [
        (on, snapshots(on, settings.horizon_days, cap))
        for on, cap in (
            (train_days, settings.max_training_rows),
            (holdout_days, settings.max_holdout_rows),
        )
    ]
    sampled = [base for on, base in parts if on]
    older = Prefetch(
        inputs.activity.covering,
        pl.concat([b["lead_id"] for b in sampled]) if sampled else pl.Series(dtype=pl.String),
        lookback_start(min(days, default=run_date)),
        max(days, default=run_date),
    )
    # Tonight's rows and a week ago's need only the recent days the night holds. Each is built
    # with a transient about twice its size (engagement's lookback of all scorable leads).
    today = features(snapshots([run_date]), inputs.activity.daily, [run_date])
    # A week ago's rows are only scored (velocity): the model's features, not the time columns
    # and the recency of each action that tonight's reasons read.
    week = [run_date - dt.timedelta(days=VELOCITY_DAYS)]
    week_ago = features(snapshots(week), inputs.activity.daily, week).select("lead_id", *FEATURES)
    activity = older.result()
    training = pl.concat([features(base, activity, on) for on, base in parts])
    return FeatureSet(profiles=profiles, training=training, today=today, week_ago=week_ago)


def snapshot_days(run_date: dt.date, first_day: dt.date, settings: Settings) -> list[dt.date]:
    """Training snapshot days whose whole outcome window has ended by the run date, oldest first."""
    last = run_date - dt.timedelta(days=settings.horizon_days)
    days = []
    day = last
    while day >= first_day and len(days) < settings.max_snapshots:
        days.append(day)
        day -= dt.timedelta(days=settings.snapshot_every_days)
    return sorted(days)


def split_snapshots(
    days: list[dt.date], holdout_share: float
) -> tuple[list[dt.date], list[dt.date]]:
    """The training snapshots and the holdout (the latest); with fewer than two snapshots, no
    holdout (and `train.too_little_history` says why no model is fitted)."""
    if len(days) < 2:
        return days, []
    n_hold = min(len(days) - 1, max(1, round(len(days) * holdout_share)))
    return days[:-n_hold], days[-n_hold:]


def lookback_start(day: dt.date) -> dt.date:
    """The first day of activity a snapshot as of `day` looks at (`engagement`'s windows)."""
    return day - dt.timedelta(days=LOOKBACK_DAYS - 1)


def recent_activity_day(run_date: dt.date) -> dt.date:
    """The first day of activity that tonight's and a week ago's rows look at: a local night holds
    every lead's days from here on, and the older ones of the training sample's leads only."""
    return lookback_start(run_date - dt.timedelta(days=VELOCITY_DAYS))


def first_activity_day(run_date: dt.date, settings: Settings) -> dt.date:
    """The first day of activity the night's features can look at (the earliest possible
    snapshot's lookback, with a week's margin)."""
    earliest = snapshot_days(run_date, dt.date(1900, 1, 1), settings)
    return (min(earliest) if earliest else run_date) - dt.timedelta(days=LOOKBACK_DAYS + 7)
