"""Extract: read what the night needs from the warehouse, as polars frames.

Two entry points, on either side of validation:

- `read_sources`: the CRM tables to read whole, as stored (they are small next to the events), so
  that validation sees the rows a backfill would otherwise filter away; and what validation needs
  to know of the event tables.
- `read_inputs`: after validation, the tables as the run date saw them, product users matched
  to leads, and daily activity. Events are never pulled into Python: they are aggregated per lead
  and day in the warehouse, and only the days not yet in the job's roll-up
  (`lead_activity_daily`), plus a few trailing days for late arrivals, are aggregated each night.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass

import polars as pl

from leadscore.contract import EVENT_TABLES, FRAME_TABLES, TIME_COLUMNS, email_key
from leadscore.errors import LeadscoreError
from leadscore.prefetch import Prefetch
from leadscore.settings import Settings
from leadscore.tasks.features import profile, recent_activity_day
from leadscore.warehouse import Warehouse, cutoff, empty

# One row per lead, day and event: 15M rows at a million leads over 270 days, so the event name
# is a category (4 bytes a row, not a 16-byte string view) and the day's count an Int32.
ACTIVITY_SCHEMA = {
    "lead_id": pl.String,
    "activity_date": pl.Date,
    "event": pl.Categorical,
    "events": pl.Int32,
}
# The daily counts a night holds keep the lead as a category too: 4 bytes a row instead of a
# 16-byte string view (0.18 GB less at a million leads). The writers write a category as text.
DAILY_SCHEMA = ACTIVITY_SCHEMA | {"lead_id": pl.Categorical}
DAILY_COLUMNS = [pl.col(c).cast(t) for c, t in DAILY_SCHEMA.items()]
BEGINNING = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class Sources:
    """The CRM tables to read (as stored: before validation and point-in-time cuts), and the
    event tables' shape. The tables are read one at a time (`read`), as validation checks them:
    a night that computes in the warehouse never holds every CRM table at once."""

    warehouse: Warehouse
    tables: tuple[str, ...]
    event_columns: dict[str, list[str]]
    # Event tables whose event_id the warehouse itself keeps unique.
    enforced_keys: frozenset[str]

    def read(self, table: str, whole: bool = True) -> pl.DataFrame:
        """Every column of CRM table `table`, as stored (`whole`: as `Warehouse.read_table`
        takes it)."""
        return self.warehouse.read_table(table, whole=whole)


@dataclass(frozen=True)
class OlderCounts:
    """The roll-up's stored days from `from_day` to before `to_day`: the days before the recent
    ones a local night holds for every lead, read only for the leads that need them (the
    training sample's; `Activity.covering`)."""

    warehouse: Warehouse
    from_day: dt.date
    to_day: dt.date

    def read(self, lead_ids: pl.Series, first: dt.date, last: dt.date) -> pl.DataFrame:
        """The stored counts of `lead_ids` on the days from `first` to `last` that these hold."""
        start, end = max(first, self.from_day), min(last + dt.timedelta(days=1), self.to_day)
        if start >= end or lead_ids.is_empty():
            return empty(DAILY_SCHEMA)
        # One parameter, a JSON array, however many leads: a list would bind a value per lead.
        leads = json.dumps(lead_ids.cast(pl.String).unique().sort().to_list())
        return self.warehouse.read(
            "select_lead_activity_daily_of_leads",
            {"from_day": start.isoformat(), "to_day": end.isoformat(), "lead_ids": leads},
            DAILY_SCHEMA,
        ).select(DAILY_COLUMNS)


@dataclass(frozen=True)
class Activity:
    """Daily activity counts for the features, and the part of the roll-up to (re)write (in a
    local night, a frame of `DAILY_SCHEMA`; in the warehouse, the name of a work table).

    In a local night `daily` holds every lead's days since `features.recent_activity_day` (what
    tonight's and a week ago's rows and the lifecycle read) and any fresh days; `older`, when
    set, reads the roll-up's earlier days for the leads of the training sample (`covering`): at
    a million leads the sample's ~0.2M leads, not every lead's 270 days (15M rows)."""

    daily: pl.DataFrame
    fresh: pl.DataFrame
    fresh_from: dt.date
    rolled_through: dt.date
    older: OlderCounts | None = None

    def covering(self, lead_ids: pl.Series, first: dt.date, last: dt.date) -> pl.DataFrame:
        """Daily counts that hold, for each of `lead_ids`, all its days from `first` to `last`
        (and other rows, which the features' joins leave out): `daily`, and the older days
        `daily` does not hold read for those leads."""
        older = self.older.read(lead_ids, first, last) if self.older else None
        if older is None or older.is_empty():  # `daily` holds every day asked for
            return self.daily
        return pl.concat([older, self.daily], rechunk=False)

    def without_daily(self) -> Activity:
        """The same without the daily counts the features read (6M rows at a million leads):
        what publishing the roll-up needs."""
        return dataclasses.replace(self, daily=self.daily.clear(), older=None)


# The CRM tables a night reads after its inputs are read: the status history and the deals
# (features, lifecycle, report). The leads and accounts are read once, into the profiles.
NIGHT_TABLES = ("crm_lead_status_changes", "crm_opportunities")


@dataclass(frozen=True)
class Inputs:
    """The night's inputs, cut at the run date: every lead's profile (`features.profile`: who it
    is), the CRM tables the rest of the night reads (`NIGHT_TABLES`), product users matched to
    leads, activity."""

    profiles: pl.DataFrame
    tables: dict[str, pl.DataFrame]
    users: pl.DataFrame
    activity: Activity


def read_sources(wh: Warehouse) -> Sources:
    """The source tables the night reads, checked to exist; the CRM tables are read whole and as
    stored (`Sources.read`): validation compares them with their typed form."""
    missing = [t for t in [*FRAME_TABLES, *EVENT_TABLES] if not wh.has_table(t)]
    if missing:
        raise LeadscoreError(
            f"warehouse has no table {', '.join(missing)} (see CONTRACT.md); "
            "load your CRM sync there, or run `leadscore demo-data` for a demo"
        )
    return Sources(
        warehouse=wh,
        tables=tuple(FRAME_TABLES),
        event_columns={t: wh.columns(t) for t in EVENT_TABLES},
        enforced_keys=frozenset(t for t in EVENT_TABLES if wh.enforces_unique(t, "event_id")),
    )


def read_inputs(
    wh: Warehouse,
    tables: dict[str, pl.DataFrame],
    run_date: dt.date,
    since: dt.date,
    settings: Settings,
    counts: Prefetch[DailyCounts] | None = None,
) -> Inputs:
    """The validated tables as of the run date, every lead's profile, users matched to leads,
    activity since `since` (its daily counts from `counts` when they were read ahead, see
    `read_daily_counts`). The leads, accounts and product users are not kept: at a million leads
    they are ~0.25 GB that the profiles and the matched users already say."""
    end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    night = {t: as_of(tables[t], t, end) for t in NIGHT_TABLES}
    leads = as_of(tables["crm_leads"], "crm_leads", end)
    users = match_users(as_of(tables["product_users"], "product_users", end), leads)
    profiles = profile(leads, as_of(tables["crm_accounts"], "crm_accounts", end))
    del leads
    daily = (
        counts.result()
        if counts is not None
        else read_daily_counts(wh, run_date, since, settings.late_event_days)
    )
    return Inputs(
        profiles=profiles, tables=night, users=users, activity=activity_of(daily, since, users)
    )


def match_users(users: pl.DataFrame, leads: pl.DataFrame) -> pl.DataFrame:
    """Product users matched to leads by email, case- and space-insensitively (the contract)."""
    keyed = users.with_columns(email_key(pl.col("email")).alias("email_key"))
    lead_keys = leads.select("lead_id", email_key(pl.col("email")).alias("email_key"))
    return keyed.join(lead_keys, on="email_key", how="inner").select(
        "lead_id", "user_id", "signed_up_at"
    )


def rollup_state(wh: Warehouse) -> dt.date | None:
    """The last day the activity roll-up holds; None before a first night."""
    state = wh.read_if_exists(
        "activity_rollup_state", "select_activity_rollup_state", schema={"rolled_through": pl.Date}
    )
    return state["rolled_through"][0] if state.height else None


def fresh_window(
    rolled_through: dt.date | None, run_date: dt.date, late_days: int
) -> dt.date | None:
    """First day to re-aggregate from the raw events for this run (None: nothing new)."""
    if rolled_through is None:
        return BEGINNING
    start = rolled_through - dt.timedelta(days=late_days - 1)
    return start if start <= run_date else None


@dataclass(frozen=True)
class DailyCounts:
    """What the warehouse holds of the night's daily activity, before product users are matched
    to leads: the roll-up's stored days, and the fresh days aggregated from the raw events
    (product events per user)."""

    stored: pl.DataFrame
    product: pl.DataFrame
    marketing: pl.DataFrame
    # The first fresh day (None: nothing new), and the last day the roll-up held before tonight.
    fresh_from: dt.date | None
    rolled: dt.date | None
    run_date: dt.date
    # The stored days before the recent ones, left in the warehouse (None before a first night).
    older: OlderCounts | None = None


def read_daily_counts(
    wh: Warehouse, run_date: dt.date, since: dt.date, late_days: int
) -> DailyCounts:
    """The daily counts for days since..run_date as the warehouse has them: nothing here needs
    a validated table, so a night reads them while validation runs (`Prefetch`). Of the roll-up's
    stored days, those before `features.recent_activity_day` are left in the warehouse
    (`DailyCounts.older`): only the training sample's leads need them, and the sample is drawn
    after validation."""
    rolled = rollup_state(wh)
    fresh_from = fresh_window(rolled, run_date, late_days)
    end = run_date + dt.timedelta(days=1)
    stored_to = min(fresh_from, end) if fresh_from else end
    recent = max(since, recent_activity_day(run_date))
    older = OlderCounts(wh, since, min(recent, stored_to)) if rolled is not None else None
    stored = (
        wh.read(
            "select_lead_activity_daily",
            {"from_day": recent.isoformat(), "to_day": stored_to.isoformat()},
            DAILY_SCHEMA,  # cast a part at a time as it is read
        )
        if rolled is not None and recent < stored_to
        else empty(DAILY_SCHEMA)
    )
    product = empty(ACTIVITY_SCHEMA | {"user_id": pl.String})
    marketing = empty(DAILY_SCHEMA)
    if fresh_from is not None:
        window = {"from_cutoff": cutoff(fresh_from), "to_cutoff": cutoff(end)}
        product = wh.read(
            "select_daily_product_activity", window, ACTIVITY_SCHEMA | {"user_id": pl.String}
        )
        marketing = wh.read("select_daily_marketing_activity", window, DAILY_SCHEMA)
    return DailyCounts(stored, product, marketing, fresh_from, rolled, run_date, older)


def activity_of(counts: DailyCounts, since: dt.date, user_leads: pl.DataFrame) -> Activity:
    """The night's `Activity` from its daily counts, product users matched to leads by
    `user_leads` (user_id, lead_id)."""
    run_date, fresh_from, rolled = counts.run_date, counts.fresh_from, counts.rolled
    end = run_date + dt.timedelta(days=1)
    if fresh_from is not None:
        # One streamed query, the lead a category from the start: on a first night (every day of
        # history fresh) the join of the product events to leads was a whole copy, as text.
        by_lead = (
            counts.product.lazy()
            .join(
                user_leads.lazy().select("user_id", pl.col("lead_id").cast(pl.Categorical)),
                on="user_id",
                how="inner",
            )
            .group_by("lead_id", "activity_date", "event")
            .agg(pl.col("events").sum())
            .collect(engine="streaming")
        )
        fresh = pl.concat(
            [by_lead.select(DAILY_COLUMNS), counts.marketing.select(DAILY_COLUMNS)],
            rechunk=False,
        )
    else:
        fresh = empty(DAILY_SCHEMA)
        fresh_from = end
    # The stored days are read from `since` on; only the fresh ones (all of history on a first
    # night) may reach further back. Neither is copied when no row is cut (no rechunk): the daily
    # counts are the largest frame of a night.
    recent = pl.col("activity_date") >= since
    fresh_since = (
        fresh if fresh.is_empty() or fresh["activity_date"].min() >= since else fresh.filter(recent)
    )
    daily = pl.concat([counts.stored.select(DAILY_COLUMNS), fresh_since], rechunk=False)
    return Activity(
        daily=daily,
        fresh=fresh,
        fresh_from=fresh_from,
        rolled_through=max(d for d in (rolled, run_date) if d is not None),
        older=counts.older,
    )


def as_of(frame: pl.DataFrame, table: str, end: dt.datetime) -> pl.DataFrame:
    """The table as the run date saw it: rows timed before `end` (the contract's time column), and
    opportunities in the stage they had then (closed only if `closed_at` is before `end`)."""
    time_col = TIME_COLUMNS.get(table)
    if time_col and time_col in frame.columns:
        frame = frame.filter(pl.col(time_col) < end)
    if table == "crm_opportunities":
        closed = pl.col("closed_at").is_not_null() & (pl.col("closed_at") < end)
        frame = frame.with_columns(
            pl.when(closed).then(pl.col("stage")).otherwise(pl.lit("open")).alias("stage"),
            pl.when(closed).then(pl.col("closed_at")).otherwise(None).alias("closed_at"),
        )
    return frame
