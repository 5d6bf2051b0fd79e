"""CloseProbabilityModel follows scikit-learn's conventions and works on other lead data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from leadscore.models import CloseProbabilityModel
from leadscore.tasks.train import ece

DATASET = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "x_education_leads.csv"


def toy(n: int = 2000, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    cat = rng.choice(["a", "b", "c"], size=n)
    logit = -1 + 1.5 * x + (cat == "a") * 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    x_missing = np.where(rng.random(n) < 0.1, np.nan, x)
    return pl.DataFrame({"x": x_missing, "cat": cat}), y


def test_sklearn_conventions():
    model = CloseProbabilityModel(kind="scorecard", C=0.5)
    assert clone(model).get_params()["C"] == 0.5
    X, y = toy()
    assert model.fit(X, y) is model  # fit returns self
    assert not hasattr(CloseProbabilityModel(), "weights_")  # __init__ stores parameters only
    p = model.predict_proba(X)
    assert p.shape == (len(y), 2) and np.allclose(p.sum(axis=1), 1)


def test_pandas_and_polars_give_the_same_model():
    X, y = toy()
    a = CloseProbabilityModel(kind="scorecard").fit(X, y).predict_proba(X)
    b = (
        CloseProbabilityModel(kind="scorecard")
        .fit(X.to_pandas(), y)
        .predict_proba(pd.DataFrame(X.to_pandas()))
    )
    assert np.allclose(a, b)


def test_contributions_add_up_to_the_logit():
    X, y = toy()
    model = CloseProbabilityModel(kind="scorecard").fit(X, y)
    a, b = model.calibration_
    logit = a * (model.intercept_ + model.contributions(X).sum(axis=1)) + b
    assert np.allclose(logit, model.decision_function(X))


def test_monotone_columns_never_fall():
    rng = np.random.default_rng(1)
    n = 3000
    count = rng.poisson(1.5, size=n)
    # A noisy, mostly rising effect: unconstrained bins could dip; constrained ones must not.
    y = (rng.random(n) < 0.1 + 0.05 * np.minimum(count, 4) + rng.normal(0, 0.05, n)).astype(int)
    model = CloseProbabilityModel(kind="scorecard", monotone={"count": 1}).fit(
        pl.DataFrame({"count": count}), y
    )
    weights = model.weights_[0][:-1]  # the last bin is "missing"
    assert np.all(np.diff(weights) >= -1e-12)


def test_a_stored_model_is_plain_data_and_predicts_the_same():
    X, y = toy()
    model = CloseProbabilityModel(kind="scorecard").fit(X, y)
    again = CloseProbabilityModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.allclose(model.predict_proba(X), again.predict_proba(X))


def test_a_points_rule_is_a_scorecard_with_the_given_weights():
    model = CloseProbabilityModel.from_points(
        {"demos": True, "title": False, "size": True},
        counts={"demos": (20.0, 3)},
        levels={"title": {"vp": 15.0}},
        calibration=(0.1, -5.0),
    )
    X = pl.DataFrame(
        {"demos": [0, 1, 2, 3, 9, None], "title": ["vp", "cto", None, "vp", "vp", "vp"]}
    ).with_columns(pl.lit(100.0).alias("size"))
    points = model.contributions(X)
    # Counted up to the cap; other titles, missing values and unlisted columns weigh nothing.
    assert points.tolist() == [
        [0, 15, 0],
        [20, 0, 0],
        [40, 0, 0],
        [60, 15, 0],
        [60, 15, 0],
        [0, 15, 0],
    ]
    expected = 1 / (1 + np.exp(-(0.1 * points.sum(axis=1) - 5.0)))
    assert np.allclose(model.predict_proba(X)[:, 1], expected)
    again = CloseProbabilityModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(again.contributions(X), points)


def test_single_class_is_refused():
    X, _ = toy(100)
    with pytest.raises(ValueError, match="single class"):
        CloseProbabilityModel().fit(X, np.zeros(100))


@pytest.mark.skipif(not DATASET.exists(), reason="shared/datasets is not beside the repository")
def test_x_education_holdout_quality():
    df = pl.read_csv(DATASET, infer_schema_length=None, null_values=["Select"])
    y = df["Converted"].to_numpy()
    # Tags and Lead Quality are filled in after contact (they leak); the ids are not features.
    X = df.drop("Converted", "Tags", "Lead Quality", "Prospect ID", "Lead Number")
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=100)
    model = CloseProbabilityModel().fit(X[train], y[train])
    p = model.predict_proba(X[test])[:, 1]
    assert roc_auc_score(y[test], p) >= 0.92
    assert ece(p, y[test]) <= 0.03


def drifting(n: int, low: float, high: float, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * x - 2)))).astype(int)
    return pl.DataFrame({"x": x}), y


def test_a_linear_term_extrapolates_where_bins_cannot():
    X, y = drifting(4000, 0, 1, 0)
    later, y_later = drifting(4000, 1, 3, 1)  # every later value is beyond the training range
    auc = {}
    for numeric in ("bins", "linear", "both"):
        model = CloseProbabilityModel(kind="scorecard", numeric=numeric, C=0.3).fit(X, y)
        auc[numeric] = roc_auc_score(y_later, model.predict_proba(later)[:, 1])
    assert auc["bins"] == pytest.approx(0.5, abs=0.01)  # one top bin: no order among them
    assert auc["linear"] > 0.6 and auc["both"] > 0.6


def test_points_never_fall_below_the_floor_nor_against_a_declared_direction():
    X, y = drifting(4000, 0, 1, 0)
    model = CloseProbabilityModel(kind="scorecard", numeric="both", C=0.3, monotone={"x": 1}).fit(
        X, y
    )
    grid = pl.DataFrame({"x": np.linspace(-5, 10, 301)})  # far outside the training range
    contribution = model.contributions(grid)[:, 0]
    low, high = model.contribution_range()[0]
    assert np.all(np.diff(contribution) >= -1e-12)
    assert low - 1e-9 <= contribution.min() and contribution.max() <= high + 1e-9
    assert model.bins_[0]["linear"]["slope"] > 0


def test_a_slope_against_the_declared_direction_is_dropped():
    X, y = drifting(4000, 0, 1, 0)
    model = CloseProbabilityModel(
        kind="scorecard", numeric="linear", C=0.3, monotone={"x": -1}
    ).fit(X, y)
    assert "linear" not in model.bins_[0]


def test_with_time_every_choice_is_validated_forward():
    from leadscore.models.close_probability import _validation_folds

    rng = np.random.default_rng(0)
    time = np.repeat(np.arange(12), 100)
    y = (rng.random(time.size) < 0.3).astype(float)
    folds = list(_validation_folds(y, time, 3, 0))
    assert len(folds) == 3
    for fit_rows, valid_rows in folds:
        assert time[fit_rows].max() < time[valid_rows].min()  # later, and a time never split
    X, labels = drifting(1200, 0, 1, 2)
    model = CloseProbabilityModel(kind="scorecard").fit(X, labels, time=time)
    assert model.choice_["folds"] == "forward in time"
    assert len(model.choice_["candidates"]) == 9


def test_a_model_stored_before_linear_terms_still_loads():
    X, y = toy()
    model = CloseProbabilityModel(kind="scorecard", numeric="bins", C=0.3).fit(X, y)
    stored = model.to_dict() | {"format": 1}
    for key in ("numeric", "selection_folds", "max_selection_rows"):
        stored["params"].pop(key)
    again = CloseProbabilityModel.from_dict(json.loads(json.dumps(stored)))
    assert np.allclose(model.predict_proba(X), again.predict_proba(X))
