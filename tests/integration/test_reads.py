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


def test_a_bulk_read_expands_a_list_among_other_values(warehouse_url, monkeypatch):
    # `event in :engaged_events` beside two dates: every dialect's bulk reader writes the values
    # in itself, the list as one value each (SQLite too, however small the file).
    from leadscore.warehouse.sqlite import SQLiteWarehouse

    monkeypatch.setattr(SQLiteWarehouse, "BULK_READ_BYTES", 0)
    wh = warehouse.connect(warehouse_url)
    with wh.session() as s, s.transaction():
        s.create(["lead_activity_daily"])
        s.append(
            "lead_activity_daily",
            pl.DataFrame(
                {
                    "lead_id": ["L1", "L1", "L2", "L3"],
                    "activity_date": [dt.date(2026, 6, d) for d in (2, 1, 1, 1)],
                    "event": ["login", "document_created", "email_open", "login"],
                    "events": [1, 1, 1, 1],
                }
            ),
        )
    bulk = type(wh).read_bulk
    taken = []

    def spy(self, conn, clause, params, schema):  # type: ignore[no-untyped-def]
        frame = bulk(self, conn, clause, params, schema)
        taken.append(frame is not None)
        return frame

    monkeypatch.setattr(type(wh), "read_bulk", spy)
    params = {
        "from_day": "2026-06-01",
        "to_day": "2026-06-03",
        "engaged_events": ["login", "document_created"],
    }
    first = wh.read(
        "select_first_engaged", params, {"lead_id": pl.String, "engaged_on": pl.Date}
    ).sort("lead_id")
    assert taken == [True]
    assert first.rows() == [("L1", dt.date(2026, 6, 1)), ("L3", dt.date(2026, 6, 1))]
