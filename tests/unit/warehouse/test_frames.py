"""Rows as read, into the job's types."""

from __future__ import annotations

import datetime as dt

import polars as pl

from leadscore.warehouse.frames import coerce

NOON = dt.datetime(2026, 6, 30, 12, 0, 0)


def test_text_times_in_every_stored_form_read_as_naive_utc():
    # The plain form is parsed first; one value in another form sends the column through the
    # full parser, which must read every form (fractions, a "T", an offset, a bare date) and
    # leave text that is no time null (validation then reports it).
    forms = [
        "2026-06-30 12:00:00",
        "2026-06-30 12:00:00.000000",
        "2026-06-30T12:00:00",
        "2026-06-30 12:00:00+00:00",
        "2026-06-30 12:00:00+00",
        "2026-06-30T12:00:00Z",
    ]
    frame = coerce(pl.DataFrame({"at": [*forms, "2026-06-30", "soon", None]}), {"at": pl.Datetime})
    assert frame["at"].to_list() == [NOON] * 6 + [dt.datetime(2026, 6, 30), None, None]
    assert frame.schema["at"] == pl.Datetime("us")


def test_plain_text_times_read_without_the_full_parser():
    # Every value in the plain form: the same values as the full parser gives.
    frame = coerce(
        pl.DataFrame({"at": ["2026-06-30 12:00:00", None, "2026-01-01 00:00:01"]}),
        {"at": pl.Datetime},
    )
    assert frame["at"].to_list() == [NOON, None, dt.datetime(2026, 1, 1, 0, 0, 1)]
