"""The SQL the warehouse compute path generates gives the local path's feature rows and points,
on both dialects: the scorable leads of a night and of a week before, labelled training
snapshots, and a fitted scorecard's fit / engagement points and close probability."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from leadscore import warehouse
from leadscore.cli import main
from leadscore.contract import SOURCE_COLUMNS
from leadscore.settings import load_settings
from leadscore.sqlgen import ScorecardSql, points_select
from leadscore.tasks import extract, features, publish, score, train
from leadscore.tasks.in_warehouse import (
    QUARANTINE_SCHEMA,
    NightSql,
    previous_scores,
    reasons_table,
    replace_table,
    scores_statement,
    write_table,
)
from leadscore.warehouse import coerce

RUN_DATE = dt.date(2026, 6, 29)


@pytest.fixture
def night(warehouse_url: str):
    """A demo warehouse, its tables and activity read as the local path reads them, and the
    warehouse path's work tables prepared for the same night."""
    assert (
        main(
            [
                "demo-data",
                "--leads",
                "1500",
                "--days",
                "200",
                "--end-date",
                "2026-06-30",
                "--url",
                warehouse_url,
            ]
        )
        == 0
    )
    settings = load_settings(warehouse_url=warehouse_url)
    wh = warehouse.connect(warehouse_url)
    sources = extract.read_sources(wh)
    tables = {t: coerce(sources.read(t), SOURCE_COLUMNS[t]) for t in sources.tables}
    since = features.first_activity_day(RUN_DATE, settings)
    inputs = extract.read_inputs(wh, tables, RUN_DATE, since, settings)
    sql = NightSql(wh, RUN_DATE, "work_activity")
    write_table(wh, "work_activity", inputs.activity.daily)
    sql.prepare(pl.DataFrame(schema=QUARANTINE_SCHEMA))
    t, profiles = inputs.tables, inputs.profiles

    def local(days: list[dt.date], horizon: int | None = None) -> pl.DataFrame:
        return features.build(
            profiles,
            t["crm_lead_status_changes"],
            t["crm_opportunities"],
            inputs.activity.daily,
            inputs.users,
            days,
            horizon,
        )

    yield sql, local, settings
    wh.dispose()


def in_warehouse(sql: NightSql, days: list[dt.date], horizon: int | None = None) -> pl.DataFrame:
    sql.scorable("work_keys", days, horizon)
    sql.feature_rows("work_rows", "work_keys", days, ["label"] if horizon else [])
    return sql.read_features("work_rows")


@pytest.mark.parametrize(
    ("days", "horizon"),
    [
        ([RUN_DATE], None),
        ([RUN_DATE - dt.timedelta(days=features.VELOCITY_DAYS)], None),
        ([dt.date(2026, 2, 1) + dt.timedelta(days=7 * i) for i in range(6)], 90),
    ],
    ids=["tonight", "week-ago", "training-snapshots"],
)
def test_feature_rows_are_the_local_paths(night, days, horizon):
    sql, local, _ = night
    columns = ["lead_id", "snapshot", *features.FEATURES, *(["label"] if horizon else [])]
    expected = local(days, horizon).select(columns).sort("lead_id", "snapshot")
    got = in_warehouse(sql, days, horizon).select(columns).sort("lead_id", "snapshot")
    assert expected.height > 500
    assert_frame_equal(got, expected, check_dtypes=False, rel_tol=0, abs_tol=0)


def test_scorecard_points_and_probability_are_the_local_paths(night):
    sql, local, settings = night
    history = local([dt.date(2026, 2, 1) + dt.timedelta(days=7 * i) for i in range(8)], 90)
    scorer = train.fit_candidate(
        history.with_columns(pl.lit(1.0).alias("weight")), RUN_DATE, settings
    ).scorer
    tonight = local([RUN_DATE])
    expected = (
        score.points_frame(scorer, tonight)
        .with_columns(pl.Series("close_probability", np.round(scorer.probability(tonight), 6)))
        .select("lead_id", "fit_score", "engagement_score", "close_probability")
        .sort("lead_id")
    )
    in_warehouse(sql, [RUN_DATE])
    got = sql.points(scorer, "work_rows").sort("lead_id")
    assert_frame_equal(got, expected, check_dtypes=False, rel_tol=0, abs_tol=0)


def test_scores_velocity_and_sdr_ready_episodes_are_the_local_paths(night):
    sql, local, settings = night
    wh = sql.wh
    wh.init_db()
    history = local([dt.date(2026, 2, 1) + dt.timedelta(days=7 * i) for i in range(8)], 90)
    scorer = train.fit_candidate(
        history.with_columns(pl.lit(1.0).alias("weight")), RUN_DATE, settings
    ).scorer
    week = features.VELOCITY_DAYS

    def night_of(day: dt.date, previous: pl.DataFrame) -> pl.DataFrame:
        ago = day - dt.timedelta(days=week)
        return score.score_night(scorer, local([day]), local([ago]), previous, day, "r")

    # Last night as the local path published it: tonight carries its SDR-ready episodes over.
    yesterday = RUN_DATE - dt.timedelta(days=1)
    last_night = night_of(yesterday, pl.DataFrame(schema=score.PREVIOUS_SCHEMA))
    assert last_night["sdr_ready"].sum() > 10
    wh.write("lead_score_history", last_night.with_columns(pl.lit(None, pl.String).alias("team")))
    previous = wh.read(
        "select_previous_scores", {"score_date": yesterday.isoformat()}, score.PREVIOUS_SCHEMA
    )
    expected = night_of(RUN_DATE, previous).sort("lead_id")

    in_warehouse(sql, [RUN_DATE])
    replace_table(wh, "work_today", "select * from work_rows")
    in_warehouse(sql, [RUN_DATE - dt.timedelta(days=week)])
    card = ScorecardSql(wh, scorer.model, scorer.scale)
    replace_table(wh, "work_points_week", points_select(card, "work_rows"))
    previous_scores(wh, RUN_DATE, "work_previous")
    statement = scores_statement(
        wh, scorer, "work_today", "work_points_week", "work_previous", RUN_DATE, "r"
    )
    reasons_table(wh, scorer, "work_today", "work_reasons")
    got = (
        wh.read_sql(statement, publish.SCORE_SCHEMA)
        .join(wh.read_sql("select * from work_reasons"), on="lead_id", how="left")
        .with_columns(pl.col("top_reasons").fill_null(score.AVERAGE_LEAD))
        .select(expected.columns)
        .sort("lead_id")
    )
    assert (got["sdr_ready_since"] < RUN_DATE).sum() > 5  # episodes carried over
    assert got["top_reasons"].str.contains("target account").sum() > 0
    assert_frame_equal(got, expected, check_dtypes=False, rel_tol=0, abs_tol=0)
