"""What a night reads: the fresh window of the roll-up, user matching, the run date's cut."""

from __future__ import annotations

import datetime as dt

import polars as pl

from leadscore.tasks import extract

D = dt.date(2026, 6, 30)


def test_fresh_window_reaggregates_the_trailing_days_for_late_events():
    # A first night aggregates everything.
    assert extract.fresh_window(None, D, 3) == extract.BEGINNING
    # Rolled through the 29th with 3 late days: the 27th, 28th and 29th again, then the 30th.
    assert extract.fresh_window(dt.date(2026, 6, 29), D, 3) == dt.date(2026, 6, 27)
    # A backfill of a date older than the roll-up's late window has nothing to re-aggregate.
    assert extract.fresh_window(dt.date(2026, 6, 30), dt.date(2026, 6, 20), 3) is None


def test_product_users_match_leads_whatever_the_case_and_spaces():
    users = pl.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "email": [" Ann@Acme.COM", "zed@else.com"],
            "signed_up_at": [dt.datetime(2026, 6, 1)] * 2,
        }
    )
    leads = pl.DataFrame({"lead_id": ["a", "b"], "email": ["ann@acme.com", "bob@acme.com"]})
    assert extract.match_users(users, leads).select("lead_id", "user_id").rows() == [("a", "u1")]


def test_an_opportunity_closed_after_the_run_date_reads_open():
    opps = pl.DataFrame(
        {
            "opportunity_id": ["o1", "o2"],
            "created_at": [dt.datetime(2026, 6, 1)] * 2,
            "stage": ["closed_won", "closed_won"],
            "closed_at": [dt.datetime(2026, 6, 30, 23), dt.datetime(2026, 7, 1, 0)],
        }
    )
    night = extract.as_of(opps, "crm_opportunities", dt.datetime(2026, 7, 1))
    # o1 closed before midnight: won that night. o2 closed at midnight: still open for the 30th.
    assert night["stage"].to_list() == ["closed_won", "open"]
    assert night["closed_at"][1] is None
