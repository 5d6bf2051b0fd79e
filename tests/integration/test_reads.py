"""A named read gives the same typed frame on every dialect, whichever reader it takes (bulk COPY
on PostgreSQL, row by row on SQLite)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from polars.testing import assert_frame_equal

from leadscore import warehouse

SCHEMA = {"lead_id": pl.String, "sdr_ready": pl.Boolean, "sdr_ready_since": pl.Date}


def test_a_typed_read_keeps_nulls_booleans_dates_and_odd_text(warehouse_url: str):
    wh = warehouse.connect(warehouse_url)
    expected = pl.DataFrame(
        {
            "lead_id": ["a", 'b "quoted", with comma', "", "d\nnewline", "%(x)s", "\\N"],
            "sdr_ready": [True, False, True, False, False, True],
            "sdr_ready_since": [dt.date(2026, 6, 1), None, dt.date(2026, 6, 29), None, None, None],
        },
        schema=SCHEMA,
    )
    numbers = ["close_probability", "score", "fit_score", "engagement_score", "velocity"]
    rows = expected.with_columns(
        pl.lit(dt.date(2026, 6, 29)).alias("score_date"),
        *(pl.lit(0.5).alias(c) for c in [*numbers, "priority"]),
        pl.lit(None, pl.Int32).alias("days_to_sdr_ready"),
        pl.lit(None, pl.String).alias("team"),
        *(pl.lit("x").alias(c) for c in ["top_reasons", "model_version", "run_id"]),
    )
    with wh.session() as s, s.transaction():
        s.create(["lead_score_history"])
        s.append("lead_score_history", rows)
    # A list the statement does not use is left out, as everywhere.
    params = {"score_date": "2026-06-29", "unused": ["a", "b"]}
    got = wh.read("select_previous_scores", params, SCHEMA)
    assert_frame_equal(got.sort("lead_id"), expected.sort("lead_id"))
    # A day with no rows reads as an empty frame of the same columns and types.
    none = wh.read("select_previous_scores", {"score_date": "2026-06-28"}, SCHEMA)
    assert none.height == 0 and none.schema == expected.schema


def test_a_read_of_a_table_that_may_not_exist_takes_the_bulk_reader(warehouse_url, monkeypatch):
    # `read_if_exists` looks the table up first; the look-up must not leave the connection in a
    # transaction, where the bulk reader steps aside (its own connection would not see the
    # transaction's writes) and a million rows are read row by row.
    wh = warehouse.connect(warehouse_url)
    with wh.session() as s, s.transaction():
        s.create(["lead_score_history"])
    outside = []
    bulk = type(wh).read_bulk

    def spy(self, conn, clause, params, schema):  # type: ignore[no-untyped-def]
        outside.append(not conn.in_transaction())
        return bulk(self, conn, clause, params, schema)

    monkeypatch.setattr(type(wh), "read_bulk", spy)
    got = wh.read_if_exists(
        "lead_score_history", "select_previous_scores", {"score_date": "2026-06-29"}, SCHEMA
    )
    assert got.height == 0 and got.schema == pl.Schema(SCHEMA)
    assert outside == [True]
