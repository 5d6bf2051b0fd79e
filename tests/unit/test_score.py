"""Velocity and reasons on tiny frames."""
from __future__ import annotations

import polars as pl

from tasks import score


def test_velocity_over_seven_days_else_per_day_of_age():
    today = pl.DataFrame({"lead_id": ["old", "young"], "score": [100.0, 60.0], "lead_age_days": [40.0, 2.0]})
    week_ago = pl.DataFrame({"lead_id": ["old"], "score": [30.0]})
    created = pl.DataFrame({"lead_id": ["old", "young"], "score": [10.0, 20.0]})
    v = dict(score.velocity(today, week_ago, created).iter_rows())
    # old: (100 - 30) / 7 days; young (2 days old): (60 - 20) points gained / 2 days.
    assert v == {"old": 10.0, "young": 20.0}


def test_phrases_read_like_a_sales_rep_talks():
    row = {"seniority": "vp", "is_target_account": 1, "document_signed_7d": 1, "document_signed_days_ago": 2,
           "document_created_7d": 3, "document_created_days_ago": 0, "email_type": "personal",
           "active_days_30d": 0, "lead_age_days": 1.2}
    assert score.phrase("seniority", row) == "VP at a target account"
    assert score.phrase("document_signed_7d", row) == "Signed a document 2 days ago"
    assert score.phrase("document_created_7d", row) == "Created 3 documents this week (last today)"
    assert score.phrase("email_type", row) == "Personal email address"
    assert score.phrase("active_days_30d", row) == "No product activity in the last 30 days"
    assert score.phrase("lead_age_days", row) == "New lead, a day old"
