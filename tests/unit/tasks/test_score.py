"""Velocity, reasons, the night's scores and the account roll-up on tiny frames."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from leadscore.tasks import score, train
from leadscore.tasks.features import FEATURES


def test_velocity_over_seven_days_else_per_day_of_age():
    today = pl.DataFrame(
        {"lead_id": ["old", "young"], "score": [100.0, 60.0], "lead_age_days": [40.0, 2.0]}
    )
    week_ago = pl.DataFrame({"lead_id": ["old"], "score": [30.0]})
    created = pl.DataFrame({"lead_id": ["old", "young"], "score": [10.0, 20.0]})
    v = dict(score.velocity(today, week_ago, created).iter_rows())
    # old: (100 - 30) / 7 days; young (2 days old): (60 - 20) points gained / 2 days.
    assert v == {"old": 10.0, "young": 20.0}


def test_phrases_read_like_a_sales_rep_talks():
    row = {
        "seniority": "vp",
        "is_target_account": 1,
        "document_signed_7d": 1,
        "document_signed_days_ago": 2,
        "document_created_7d": 3,
        "document_created_days_ago": 0,
        "email_type": "personal",
        "active_days_30d": 0,
        "lead_age_days": 1.2,
    }
    assert score.phrase("seniority", row) == "VP at a target account"
    assert score.phrase("document_signed_7d", row) == "Signed a document 2 days ago"
    assert score.phrase("document_created_7d", row) == "Created 3 documents this week (last today)"
    assert score.phrase("email_type", row) == "Personal email address"
    assert score.phrase("active_days_30d", row) == "No product activity in the last 30 days"
    assert score.phrase("lead_age_days", row) == "New lead, a day old"


D = dt.date(2026, 6, 30)


def test_account_probability_is_at_least_one_lead_closing():
    scores = pl.DataFrame(
        {
            "lead_id": ["a", "b", "c"],
            "score_date": [D] * 3,
            "close_probability": [0.5, 0.5, 0.2],
            "score": [120.0, 90.0, 50.0],
            "sdr_ready": [True, False, False],
            "engagement_score": [30.0, 20.0, 5.0],
        }
    )
    profiles = pl.DataFrame({"lead_id": ["a", "b", "c"], "account_id": ["X", "X", None]})
    week_ago = pl.DataFrame({"lead_id": ["a", "b"], "engagement_score": [10.0, 15.0]})
    row = score.account_scores(scores, profiles, week_ago, "run").row(0, named=True)
    # Two independent 50% leads: 1 - 0.5 * 0.5; lead c has no account and is not rolled up.
    assert row["close_probability"] == pytest.approx(0.75)
    assert (row["best_lead_id"], row["scored_leads"], row["sdr_ready_leads"]) == ("a", 2, 1)
    assert row["engagement_trend"] == pytest.approx(50 - 25)


class PointsRule:
    """A stand-in for a trained scorer: 80 points for signing up, 30 per document signed this
    week, 20 for a VP title; SDR-ready at 100; the average lead (reference) has 0 everywhere."""

    version = "rule-1"
    scale = train.Scale(
        factor=1.0,
        floor=[0.0] * len(FEATURES),
        threshold_points=100.0,
        threshold_logit=0.0,
        reference=[0.0] * len(FEATURES),
    )

    def points(self, rows: pl.DataFrame) -> np.ndarray:
        out = np.zeros((rows.height, len(FEATURES)))
        out[:, FEATURES.index("signed_up")] = 80 * rows["signed_up"].to_numpy()
        out[:, FEATURES.index("document_signed_7d")] = 30 * rows["document_signed_7d"].to_numpy()
        out[:, FEATURES.index("seniority")] = 20 * (rows["seniority"] == "vp").to_numpy()
        return out

    def probability(self, rows: pl.DataFrame) -> np.ndarray:
        return self.points(rows).sum(axis=1) / 1000

    def score(self, rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return self.points(rows), self.probability(rows)


def feature_rows(**leads: dict) -> pl.DataFrame:
    """Feature rows with every model column: a plain lead, changed where `leads` say."""
    plain = dict.fromkeys(FEATURES, 0) | {
        "seniority": "individual",
        "email_type": "corporate",
        "employee_count": 50.0,
        "sales_team_size": 5.0,
        "industry": "legal",
        "region": "NA",
        "lead_source": "referral",
        "product_days_ago": None,
        "lead_age_days": 40.0,
        "lifecycle": "31+ days, inactive",
        "status": "open",
        "days_in_status": 40.0,
        "document_signed_days_ago": None,
        "created_at": dt.datetime(2026, 5, 21),
    }
    return pl.DataFrame([plain | {"lead_id": lead} | values for lead, values in leads.items()])


def test_a_night_of_scores_carries_episodes_velocity_and_priority():
    ready_for_days = {
        "seniority": "vp",
        "signed_up": 1,
        "document_signed_7d": 1,
        "document_signed_days_ago": 2,
    }
    today = feature_rows(
        a=ready_for_days,
        b={"signed_up": 1},
        c=ready_for_days | {"lead_age_days": 2.0, "created_at": dt.datetime(2026, 6, 28, 9)},
    )
    week_ago = feature_rows(a={"seniority": "vp", "signed_up": 1}, b={"signed_up": 1})
    previous = pl.DataFrame(
        {
            "lead_id": ["a", "b"],
            "sdr_ready": [True, False],
            "sdr_ready_since": [dt.date(2026, 6, 25), None],
        }
    )
    got = score.score_night(PointsRule(), today, week_ago, previous, D, "run-1")
    rows = {r["lead_id"]: r for r in got.iter_rows(named=True)}
    assert got.columns == score.SCORED_COLUMNS
    # a: 20 (VP) + 80 + 30 = 130, was 100 a week ago: 30 points in 7 days; still in its episode.
    a = rows["a"]
    assert (a["score"], a["fit_score"], a["engagement_score"]) == (130.0, 20.0, 110.0)
    assert a["velocity"] == pytest.approx(4.29) and a["priority"] == pytest.approx(160.0)
    assert a["sdr_ready"] and a["sdr_ready_since"] == dt.date(2026, 6, 25)
    # b: 80 points, unchanged: below the threshold, no episode, no pace.
    assert (
        not rows["b"]["sdr_ready"]
        and rows["b"]["sdr_ready_since"] is None
        and rows["b"]["velocity"] == 0
    )
    # c: two days old, not scored a week ago: its pace is per day since creation (20 points, a VP
    # with nothing done), and its episode starts tonight, 2 days after it was created.
    c = rows["c"]
    assert c["velocity"] == pytest.approx((130 - 20) / 2) and c["priority"] == pytest.approx(
        130 + 7 * 55
    )
    assert c["sdr_ready_since"] == D and c["days_to_sdr_ready"] == 2
    assert set(got["run_id"]) == {"run-1"} and set(got["model_version"]) == {"rule-1"}


def test_reasons_name_the_factors_that_move_a_lead_most():
    rows = feature_rows(a={"seniority": "vp", "signed_up": 1}, b={})
    a, b = score.reasons(PointsRule(), rows)
    # Strongest first, as a rep would say it; a lead like the average one gets no made-up reason.
    assert a == "+80 Signed up for the product; +20 VP title"
    assert b == "Close to an average lead"


def test_scoring_in_chunks_changes_no_number(monkeypatch):
    """Points, close probabilities and reasons are computed a chunk of rows at a time; chunks
    of any size give the same values as one chunk of every row."""
    rows = pl.concat(
        [
            feature_rows(a={"seniority": "vp", "signed_up": 1}, b={}),
            feature_rows(a={"signed_up": 1}, b={"seniority": "vp"}),
            feature_rows(a={}, b={"signed_up": 1}),
        ]
    ).with_columns(pl.format("L{}", pl.int_range(pl.len())).alias("lead_id"))
    whole = (
        score.points_frame(PointsRule(), rows),
        score.probability(PointsRule(), rows),
        score.reasons(PointsRule(), rows),
    )
    monkeypatch.setattr(score, "CHUNK_ROWS", 4)
    assert len(score.chunks(rows)) == 2
    chunked = (
        score.points_frame(PointsRule(), rows),
        score.probability(PointsRule(), rows),
        score.reasons(PointsRule(), rows),
    )
    assert chunked[0].equals(whole[0])
    assert np.array_equal(chunked[1], whole[1])
    assert chunked[2].equals(whole[2])
    assert score.chunks(rows.clear())[0].height == 0
