"""Drift and live calibration: the index and the warnings."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from leadscore.tasks import monitor


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift():
    same = np.array([10.0, 20.0, 70.0])
    assert monitor.psi(same, same * 3) == 0.0
    # Two bins, 50/50 -> 20/80: (0.2-0.5) ln(0.2/0.5) + (0.8-0.5) ln(0.8/0.5).
    expected = -0.3 * math.log(0.4) + 0.3 * math.log(1.6)
    assert monitor.psi(np.array([5.0, 5.0]), np.array([2.0, 8.0])) == pytest_approx(expected)
    assert monitor.psi(np.array([5.0, 5.0]), np.array([1.0, 9.0])) > expected
    # An empty bin on one side is floored, not infinite.
    assert math.isfinite(monitor.psi(np.array([1.0, 0.0]), np.array([0.0, 1.0])))


def pytest_approx(value: float):
    import pytest

    return pytest.approx(value, rel=1e-12)


def test_score_edges_are_the_weighted_deciles():
    scores = np.arange(100, dtype=float)
    assert monitor.score_edges(scores, np.ones(100)) == [float(x) for x in range(9, 99, 10)]
    # Weighting the top half ten times moves the edges up.
    weights = np.where(scores >= 50, 10.0, 1.0)
    assert monitor.score_edges(scores, weights)[0] > 9


def test_drift_warns_above_025_and_names_the_features():
    drift = pl.DataFrame(
        {
            "feature": ["signed_up", "region", "score"],
            "psi": [0.6, 0.1, 0.3],
            "moved_bin": ["1", "EMEA", "<= 40"],
            "training_share": [0.2, 0.3, 0.1],
            "night_share": [0.6, 0.35, 0.3],
        }
    )
    (warning,) = monitor.drift_warnings(drift)
    assert warning.index("signed_up (PSI 0.60; 1: 20% -> 60%)") < warning.index("score (PSI 0.30")
    assert "region" not in warning
    assert monitor.drift_warnings(drift.filter(pl.col("psi") < 0.25)) == []


def test_live_calibration_warns_on_the_ready_band_and_the_error():
    def bands(ready_observed: float, gap: float) -> pl.DataFrame:
        rows = [(f"decile {i}", 100, 0.01 * i, 0.01 * i + gap) for i in range(1, 11)]
        rows += [("sdr_ready", 50, 0.12, ready_observed), ("all", 1000, 0.05, 0.05)]
        return pl.DataFrame(rows, schema=["band", "scores", "predicted", "observed"], orient="row")

    assert monitor.calibration_warnings(bands(0.12, 0.0)) == []
    (low,) = monitor.calibration_warnings(bands(0.06, 0.0))
    assert "closed at 6.0%" in low and "10%-15%" in low
    (off,) = monitor.calibration_warnings(bands(0.12, 0.05))
    assert "off by 0.050" in off
    assert monitor.calibration_warnings(pl.DataFrame()) == []
