"""Account roll-up and SDR feedback on tiny frames."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tasks import report

D = dt.date(2026, 6, 30)


def test_account_probability_is_at_least_one_lead_closing():
    scores = pl.DataFrame({"lead_id": ["a", "b", "c"], "score_date": [D] * 3, "close_probability": [0.5, 0.5, 0.2],
                           "score": [120.0, 90.0, 50.0], "sdr_ready": [True, False, False],
                           "engagement_score": [30.0, 20.0, 5.0]})
    profiles = pl.DataFrame({"lead_id": ["a", "b", "c"], "account_id": ["X", "X", None]})
    week_ago = pl.DataFrame({"lead_id": ["a", "b"], "engagement_score": [10.0, 15.0]})
    row = report.account_scores(scores, profiles, week_ago, "run").row(0, named=True)
    # Two independent 50% leads: 1 - 0.5 * 0.5; lead c has no account and is not rolled up.
    assert row["close_probability"] == pytest.approx(0.75)
    assert (row["best_lead_id"], row["scored_leads"], row["sdr_ready_leads"]) == ("a", 2, 1)
    assert row["engagement_trend"] == pytest.approx(50 - 25)


def test_feedback_counts_statuses_close_rate_and_weak_disqualified_leads():
    routed = pl.DataFrame({"lead_id": ["a", "b", "c", "d"], "score_date": [D - dt.timedelta(days=100)] * 2 + [D] * 2,
                           "fit_score": [80.0, 20.0, 60.0, 10.0], "engagement_score": [50.0, 10.0, 70.0, 5.0]})
    changes = pl.DataFrame({"lead_id": ["a", "b", "d"], "status": ["qualified", "disqualified", "disqualified"],
                            "changed_at": [dt.datetime(2026, 4, 1)] * 3})
    opps = pl.DataFrame({"lead_id": ["a"], "stage": ["closed_won"], "closed_at": [dt.datetime(2026, 5, 1)]})
    fb = report.feedback(routed, routed, changes, opps, D, 90)
    assert fb["status_shares"]["disqualified"] == 0.5
    # a and b were routed 100 days ago: a closed within 90 days of it, b did not.
    assert fb["close_rate_in_cycle"] == 0.5
    # b and d are below the median fit and engagement of routed leads, and both were disqualified: 2 of 4.
    assert fb["disqualified_poor_fit_low_engagement"] == 0.5
    assert any("retuning" in w for w in fb["warnings"])
