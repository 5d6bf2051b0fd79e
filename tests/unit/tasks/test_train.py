"""The SDR-ready threshold and the training sample, on tiny arrays."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl

from leadscore import code_version, warehouse
from leadscore.settings import load_settings
from leadscore.tasks import train
from leadscore.warehouse import Warehouse


def test_threshold_is_the_lowest_score_whose_leads_close_at_the_target_rate():
    score = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    label = np.array([1, 0, 1, 0, 0])
    # Leads at or above 2 close at 2/4 = 50%; at or above 1, 2/5 = 40%: 2 is the lowest that
    # reaches 50%.
    assert train.precision_threshold(score, label, np.ones(5), 0.5) == 2.0
    # At 60%, only the top three (2/3) qualify.
    assert train.precision_threshold(score, label, np.ones(5), 0.6) == 3.0


def test_threshold_counts_weights_and_never_splits_tied_scores():
    # Weighted: the negative at 1 stands for three rows, so above 1 the rate is 1/4 < 50%.
    assert (
        train.precision_threshold(np.array([2.0, 1.0]), np.array([1, 0]), np.array([1.0, 3.0]), 0.5)
        == 2.0
    )
    # Two leads tied at 3 close at 50%, under the 60% target; they are in or out together, so
    # nobody qualifies and the threshold sits just above the best score.
    got = train.precision_threshold(np.array([3.0, 3.0, 1.0]), np.array([1, 0, 0]), np.ones(3), 0.6)
    assert 3.0 < got < 3.0 + 1e-6


def registry(tmp_path, rows: list[tuple[str, str, dict, dict]]) -> Warehouse:
    """A warehouse whose model_registry holds `rows`: (version, trained for, metrics, other
    columns)."""
    wh = warehouse.connect(f"sqlite:///{tmp_path / 'w.db'}")
    wh.init_db()
    frame = pl.DataFrame(
        [
            {
                "model_version": version,
                "trained_for_date": dt.date.fromisoformat(day),
                "created_at": dt.datetime.fromisoformat(day),
                "kind": "scorecard",
                "status": "champion",
                "status_reason": "",
                "train_start": dt.date(2026, 1, 1),
                "train_end": dt.date(2026, 2, 1),
                "holdout_start": dt.date(2026, 2, 8),
                "holdout_end": dt.date(2026, 3, 1),
                "train_rows": 1,
                "holdout_rows": 1,
                "horizon_days": 90,
                "threshold_points": 100.0,
                "threshold_probability": 0.1,
                "metrics": json.dumps(metrics),
                "points_table": "[]",
                "artifact": "",
                "artifact_sha256": "",
                "code_version": code_version(),
                "seed": 7,
                **other,
            }
            for version, day, metrics, other in rows
        ]
    )
    wh.write("model_registry", frame)
    return wh


MADE = {"numeric": "bins", "estimator_choice": {"chosen": "bins"}, "baselines": {"x": 1}}


def test_a_night_reuses_the_latest_choices_made_fewer_than_n_days_before(tmp_path):
    wh = registry(
        tmp_path,
        [
            ("old", "2026-06-20", MADE, {}),
            ("made", "2026-06-25", MADE, {}),
            # Reused choices are never reused again: the week counts from the night that made them.
            ("reused", "2026-06-27", {**MADE, "choices_from": {"model_version": "made"}}, {}),
            ("other-horizon", "2026-06-28", MADE, {"horizon_days": 60}),
            ("other-seed", "2026-06-28", MADE, {"seed": 8}),
            ("other-code", "2026-06-28", MADE, {"code_version": "0.0.1"}),
            ("points-rule", "2026-06-28", {"roc_auc": 0.7}, {}),
            ("tonight", "2026-07-01", MADE, {}),
        ],
    )
    settings = load_settings(choices_every_days=7)
    got = train.recent_choices(wh, dt.date(2026, 7, 1), settings)
    assert got is not None and got.model_version == "made" and got.numeric == "bins"
    assert got.baselines == {"x": 1} and got.trained_for_date == dt.date(2026, 6, 25)
    # The next night reuses tonight's; seven days after the night that made them, a night makes
    # them again.
    assert train.recent_choices(wh, dt.date(2026, 7, 2), settings).model_version == "tonight"
    assert train.recent_choices(wh, dt.date(2026, 7, 8), settings) is None
    every_night = load_settings(choices_every_days=0)
    assert train.recent_choices(wh, dt.date(2026, 7, 1), every_night) is None
