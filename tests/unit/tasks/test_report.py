"""SDR feedback on tiny frames."""

from __future__ import annotations

import datetime as dt

import polars as pl

from leadscore.tasks import report

D = dt.date(2026, 6, 30)


def test_feedback_counts_statuses_close_rate_and_weak_disqualified_leads():
    routed = pl.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "score_date": [D - dt.timedelta(days=100)] * 2 + [D] * 2,
            "fit_score": [80.0, 20.0, 60.0, 10.0],
            "engagement_score": [50.0, 10.0, 70.0, 5.0],
        }
    )
    changes = pl.DataFrame(
        {
            "lead_id": ["a", "b", "d"],
            "status": ["qualified", "disqualified", "disqualified"],
            "changed_at": [dt.datetime(2026, 4, 1)] * 3,
        }
    )
    opps = pl.DataFrame(
        {"lead_id": ["a"], "stage": ["closed_won"], "closed_at": [dt.datetime(2026, 5, 1)]}
    )
    fb = report.feedback(routed, routed, changes, opps, D, 90)
    assert fb["status_shares"]["disqualified"] == 0.5
    # a and b were routed 100 days ago: a closed within 90 days of it, b did not.
    assert fb["close_rate_in_cycle"] == 0.5
    # b and d are below the median fit and engagement of routed leads, and both were
    # disqualified: 2 of 4.
    assert fb["disqualified_poor_fit_low_engagement"] == 0.5
    assert any("retuning" in w for w in fb["warnings"])
