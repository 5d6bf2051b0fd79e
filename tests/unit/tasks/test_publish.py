"""When a rerun's scores count as the same night (so the stored run id is kept)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from leadscore.tasks import publish


def scores(run_id: str, score_b: float = 80.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "lead_id": ["a", "b"],
            "score_date": [dt.date(2026, 6, 30)] * 2,
            "close_probability": [0.2, 0.1],
            "score": [120.0, score_b],
            "fit_score": [60.0, 40.0],
            "engagement_score": [60.0, score_b - 40],
            "velocity": [1.0, 0.0],
            "priority": [127.0, score_b],
            "sdr_ready": [True, False],
            "sdr_ready_since": [dt.date(2026, 6, 29), None],
            "days_to_sdr_ready": [3, None],
            "team": ["EMEA"] * 2,
            "top_reasons": ["+40 Signed a document", "Close to an average lead"],
            "model_version": ["m1"] * 2,
            "run_id": [run_id] * 2,
        },
        schema=publish.SCORE_SCHEMA,
    )


def test_same_scores_ignore_the_run_id_and_the_row_order():
    stored = scores("yesterday's run").reverse()
    assert publish.same_scores(scores("tonight's run"), stored)


def test_a_changed_score_or_a_missing_lead_is_a_new_night():
    assert not publish.same_scores(scores("r2", score_b=81.0), scores("r1"))
    assert not publish.same_scores(scores("r2"), scores("r1").head(1))
