"""A model trained once per session on in-memory demo data (no warehouse needed)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from leadscore.demo import DemoSpec, generate
from leadscore.settings import load_settings
from leadscore.tasks import extract, features, train

END = dt.date(2026, 6, 30)


def demo_tables(leads: int = 4000, days: int = 240, seed: int = 7) -> dict[str, pl.DataFrame]:
    tables: dict[str, list[pl.DataFrame]] = {}
    for table, frame in generate(DemoSpec(leads=leads, days=days, seed=seed, end_date=END)):
        tables.setdefault(table, []).append(frame)
    return {t: pl.concat(f) for t, f in tables.items()}


def daily_activity(tables: dict[str, pl.DataFrame], user_leads: pl.DataFrame) -> pl.DataFrame:
    """What the warehouse's daily roll-up holds, computed in polars."""
    product = (
        tables["product_events"]
        .join(user_leads, on="user_id")
        .select(
            "lead_id",
            pl.col("occurred_at").dt.date().alias("activity_date"),
            pl.col("event_name").alias("event"),
        )
    )
    marketing = tables["marketing_events"].select(
        "lead_id",
        pl.col("occurred_at").dt.date().alias("activity_date"),
        pl.col("event_type").alias("event"),
    )
    return (
        pl.concat([product, marketing])
        .group_by("lead_id", "activity_date", "event")
        .agg(pl.len().cast(pl.Int64).alias("events"))
    )


class Demo:
    def __init__(self, tables: dict[str, pl.DataFrame]):
        self.tables = tables
        self.profiles = features.profile(tables["crm_leads"], tables["crm_accounts"])
        self.users = extract.match_users(tables["product_users"], tables["crm_leads"])
        self.activity = daily_activity(tables, self.users.select("user_id", "lead_id"))

    def rows(
        self,
        days: list[dt.date],
        horizon: int | None = None,
        activity: pl.DataFrame | None = None,
        profiles: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        return features.build(
            self.profiles if profiles is None else profiles,
            self.tables["crm_lead_status_changes"],
            self.tables["crm_opportunities"],
            self.activity if activity is None else activity,
            self.users,
            days,
            horizon,
        )


@pytest.fixture(scope="session")
def demo() -> Demo:
    return Demo(demo_tables())


@pytest.fixture(scope="session")
def settings():
    return load_settings()


@pytest.fixture(scope="session")
def candidate(demo: Demo, settings) -> train.Candidate:
    days = features.snapshot_days(END, demo.profiles["created_at"].min().date(), settings)
    return train.fit_candidate(demo.rows(days, settings.horizon_days), END, settings)
