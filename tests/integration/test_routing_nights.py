"""Thirty nights of routing against a real warehouse: what routing keeps between nights (earlier
routings, round-robin pointers, reps) is read from and written to SQLite and PostgreSQL exactly as
the nightly flow does, with scores made up per night so every night has a known set of leads."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

from leadscore import sql, warehouse
from leadscore.run import RunLog
from leadscore.settings import load_settings
from leadscore.tasks import extract, lifecycle, publish, route, validate
from leadscore.tasks.score import SCORE_COLUMNS

pytestmark = pytest.mark.integration

FIRST = dt.date(2026, 6, 1)
NIGHTS = 30
# EMEA: four active reps with room for 3 leads a night each, one inactive rep. NA-ENT: one rep who
# owns account A-OWN; its leads match EMEA's rule but follow their owner.
REPS = pl.DataFrame(
    {
        "rep_id": ["E0", "E1", "E2", "E3", "E4", "N0"],
        "name": ["Ana", "Ben", "Cem", "Dia", "Eve", "Noa"],
        "team": ["EMEA"] * 5 + ["NA-ENT"],
        "daily_capacity": [3, 3, 3, 3, 3, 2],
        "active": [True, True, True, True, False, True],
    }
)
RULES = route.Rules(
    rules=[{"team": "EMEA"}], segments={}, regions={}, sla=route.Sla(48), reroute_after_days=30
)


def leads_until(night: int) -> pl.DataFrame:
    """Every lead that became SDR-ready on or before `night`: between 0 and 16 a night."""
    rng = random.Random(11)
    rows = []
    for n in range(night + 1):
        for i in range(rng.randint(0, 16)):
            owned = rng.random() < 0.12
            rows.append(
                {
                    "lead_id": f"L{n:02d}-{i:02d}",
                    "since": FIRST + dt.timedelta(days=n),
                    "account_id": "A-OWN" if owned else f"A{n:02d}{i:02d}",
                    "owner_id": "N0" if owned else None,
                    "priority": rng.uniform(100, 200),
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "lead_id": pl.String,
            "since": pl.Date,
            "account_id": pl.String,
            "owner_id": pl.String,
            "priority": pl.Float64,
        },
    )


def night_scores(leads: pl.DataFrame, day: dt.date, run_id: str) -> pl.DataFrame:
    return (
        leads.select(
            "lead_id",
            pl.lit(day).alias("score_date"),
            pl.lit(0.2).alias("close_probability"),
            pl.col("priority").alias("score"),
            pl.lit(60.0).alias("fit_score"),
            (pl.col("priority") - 60).alias("engagement_score"),
            pl.lit(5.0).alias("velocity"),
            "priority",
            pl.lit(True).alias("sdr_ready"),
            pl.col("since").alias("sdr_ready_since"),
            (pl.lit(day) - pl.col("since"))
            .dt.total_days()
            .cast(pl.Int32)
            .alias("days_to_sdr_ready"),
            pl.lit("EMEA").alias("team"),
            pl.lit("Signed a document").alias("top_reasons"),
            pl.lit("m1").alias("model_version"),
            pl.lit(run_id).alias("run_id"),
        )
        .select(SCORE_COLUMNS)
        .cast(publish.SCORE_SCHEMA)
    )


def run_night(url: str, night: int, run_id: str) -> dict:
    """One night's routing and publishing, as the flow does them."""
    day = FIRST + dt.timedelta(days=night)
    leads = leads_until(night)
    scores = night_scores(leads, day, run_id)
    wh = warehouse.connect(url)
    routing, pointers, overflow = route.route_night(
        scores,
        leads.select("lead_id", "account_id", "owner_id", pl.lit("emea").alias("rule")),
        route.read_state(wh),
        RULES,
        day,
        run_id,
    )
    empty = pl.DataFrame()
    activity = extract.Activity(daily=empty, fresh=empty, fresh_from=day, rolled_through=day)
    night_rows = publish.Night(
        day,
        run_id,
        "m1",
        route.Routed(scores, routing, pointers, overflow),
        empty,
        None,
        activity,
        validate.Report(),
        lifecycle.load_tracks(load_settings().tracks_path),
        90,
    )
    run = RunLog(run_id, day, load_settings().public(), dt.datetime(2026, 7, 1))
    return publish.publish_night(wh, night_rows, run)


def read(url: str, statement: str) -> pl.DataFrame:
    return warehouse.connect(url).query(statement)


def test_thirty_nights_of_routing_are_fair_within_capacity_and_follow_owners(warehouse_url):
    wh = warehouse.connect(warehouse_url)
    # Every source table (empty but the reps): publishing reads them for lead_lifecycle.
    wh.create(sql.SOURCE_TABLES)
    wh.write("sdr_reps", REPS)
    for night in range(NIGHTS):
        run_night(warehouse_url, night, f"run-{night}")

    routing = read(
        warehouse_url,
        "select lead_id, score_date, rep_id, team, rule, account_id from lead_routing",
    )
    routing = routing.with_columns(
        pl.col("score_date").cast(pl.String).str.slice(0, 10).str.to_date()
    )
    assert routing["lead_id"].is_unique().all(), "a lead was routed twice in one SDR-ready episode"
    per_rep_night = routing.group_by("rep_id", "score_date").len().join(REPS, on="rep_id")
    assert (per_rep_night["len"] <= per_rep_night["daily_capacity"]).all(), (
        "a rep got more than a day's capacity"
    )
    assert "E4" not in routing["rep_id"].to_list(), "a lead went to an inactive rep"

    # Round robin over 30 nights: the active EMEA reps' counts are within one of each other.
    round_robin = (
        routing.filter(pl.col("rule").str.starts_with("round_robin")).group_by("rep_id").len()
    )
    assert sorted(round_robin["rep_id"]) == ["E0", "E1", "E2", "E3"]
    assert round_robin["len"].max() - round_robin["len"].min() <= 1, round_robin
    # Some nights had more ready leads than places: they waited, and were routed on a later night.
    waited = routing.join(leads_until(NIGHTS - 1), on="lead_id").filter(
        pl.col("score_date") > pl.col("since")
    )
    assert waited.height > 0

    # Leads of an owned account go to its owner whenever the owner has room that night.
    owned = routing.filter(pl.col("account_id") == "A-OWN")
    owner_full = set(
        per_rep_night.filter((pl.col("rep_id") == "N0") & (pl.col("len") >= 2))["score_date"]
    )
    assert owned.height > 0
    for lead in owned.iter_rows(named=True):
        assert lead["rep_id"] == "N0" or lead["score_date"] in owner_full, lead
    assert set(owned.filter(pl.col("rep_id") == "N0")["team"]) == {"NA-ENT"}, (
        "the lead follows its owner's team"
    )

    # Rerunning the last night changes nothing: no lead reassigned, the same pointers and scores.
    tables = ["lead_routing", "routing_state", "lead_scores", "lead_score_history"]
    before = {t: read(warehouse_url, f"select * from {t}").sort(pl.all()) for t in tables}
    counts = run_night(warehouse_url, NIGHTS - 1, "rerun")
    assert counts["lead_routing"] == 0 and not counts["scores_changed"]
    for table in tables:
        assert read(warehouse_url, f"select * from {table}").sort(pl.all()).equals(before[table]), (
            table
        )
