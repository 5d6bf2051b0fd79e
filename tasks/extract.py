"""Extract: read what the night needs from the warehouse, as polars frames.

The CRM tables are read whole (they are small next to the events) so that validation sees the
rows a backfill would otherwise filter away. Events are never pulled into Python: they are
aggregated per lead and day in the warehouse, and only the days not yet in the job's roll-up
(`lead_activity_daily`), plus a few trailing days for late arrivals, are aggregated each night.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Connection

import sql
from leadscore import warehouse
from leadscore.contract import FRAME_TABLES, TIME_COLUMNS
from leadscore.errors import LeadscoreError

ACTIVITY_SCHEMA = {"lead_id": pl.String, "activity_date": pl.Date, "event": pl.String, "events": pl.Int64}
ACTIVITY_COLUMNS = [pl.col(c).cast(t) for c, t in ACTIVITY_SCHEMA.items()]
BEGINNING = dt.date(1900, 1, 1)


@dataclass
class Sources:
    """The night's source frames, as read (before validation and point-in-time filtering)."""

    tables: dict[str, pl.DataFrame]


@dataclass
class Activity:
    """Daily activity counts for the features, and the part of the roll-up to (re)write."""

    daily: pl.DataFrame
    fresh: pl.DataFrame
    fresh_from: dt.date
    rolled_through: dt.date


def require_tables(conn: Connection, tables: list[str]) -> None:
    missing = [t for t in tables if not warehouse.has_table(conn, t)]
    if missing:
        raise LeadscoreError(f"warehouse has no table {', '.join(missing)} (see CONTRACT.md); "
                             "load your CRM sync there, or run `leadscore demo-data` for a demo")


def read_sources(conn: Connection) -> Sources:
    """Every column of the CRM tables, as stored: validation compares them with their typed form."""
    require_tables(conn, FRAME_TABLES + ["product_events", "marketing_events"])
    tables = {}
    for table in FRAME_TABLES:
        tables[table] = warehouse.read_frame(conn, f"select * from {table}")
    return Sources(tables)


def rollup_state(conn: Connection) -> dt.date | None:
    if not warehouse.has_table(conn, "activity_rollup_state"):
        return None  # a first night: publish creates the job's tables
    value = conn.execute(warehouse.sa.text(sql.load("select_activity_rollup_state"))).scalar()
    if value is None:
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def fresh_window(rolled_through: dt.date | None, run_date: dt.date, late_days: int) -> dt.date | None:
    """First day to re-aggregate from the raw events for this run (None: nothing new)."""
    if rolled_through is None:
        return BEGINNING
    start = rolled_through - dt.timedelta(days=late_days - 1)
    return start if start <= run_date else None


def read_activity(conn: Connection, run_date: dt.date, since: dt.date, late_days: int,
                  user_leads: pl.DataFrame) -> Activity:
    """Daily counts per lead and event for days since..run_date: roll-up plus fresh aggregates.

    `user_leads` (user_id, lead_id) maps product users to leads; the warehouse only groups.
    """
    rolled = rollup_state(conn)
    fresh_from = fresh_window(rolled, run_date, late_days)
    end = run_date + dt.timedelta(days=1)
    stored_to = min(fresh_from, end) if fresh_from else end
    stored = warehouse.read_frame(conn, sql.load("select_lead_activity_daily"),
                                  {"from_day": since.isoformat(), "to_day": stored_to.isoformat()},
                                  ACTIVITY_SCHEMA) if rolled is not None else pl.DataFrame(schema=ACTIVITY_SCHEMA)
    if fresh_from is not None:
        window = {"from_cutoff": warehouse.cutoff(fresh_from), "to_cutoff": warehouse.cutoff(end)}
        d = warehouse.dialect(conn)
        product = warehouse.read_frame(conn, sql.load("select_daily_product_activity", d), window,
                                       ACTIVITY_SCHEMA | {"user_id": pl.String})
        marketing = warehouse.read_frame(conn, sql.load("select_daily_marketing_activity", d), window,
                                         ACTIVITY_SCHEMA)
        by_lead = (product.join(user_leads.select("user_id", "lead_id"), on="user_id", how="inner")
                   .group_by("lead_id", "activity_date", "event").agg(pl.col("events").sum()))
        fresh = pl.concat([by_lead.select(ACTIVITY_COLUMNS), marketing.select(ACTIVITY_COLUMNS)])
    else:
        fresh = pl.DataFrame(schema=ACTIVITY_SCHEMA)
        fresh_from = end
    daily = pl.concat([stored.select(ACTIVITY_COLUMNS), fresh.select(ACTIVITY_COLUMNS)]).filter(
        pl.col("activity_date") >= since)
    return Activity(daily=daily, fresh=fresh.select(ACTIVITY_COLUMNS), fresh_from=fresh_from,
                    rolled_through=max(d for d in (rolled, run_date) if d is not None))


def as_of(frame: pl.DataFrame, table: str, cutoff: dt.datetime) -> pl.DataFrame:
    """The table as the run date saw it: rows timed before the cutoff (the contract's time column),
    and opportunities in the stage they had then (closed only if `closed_at` is before the cutoff)."""
    time_col = TIME_COLUMNS.get(table)
    if time_col and time_col in frame.columns:
        frame = frame.filter(pl.col(time_col) < cutoff)
    if table == "crm_opportunities":
        closed = pl.col("closed_at").is_not_null() & (pl.col("closed_at") < cutoff)
        frame = frame.with_columns(
            pl.when(closed).then(pl.col("stage")).otherwise(pl.lit("open")).alias("stage"),
            pl.when(closed).then(pl.col("closed_at")).otherwise(None).alias("closed_at"))
    return frame
