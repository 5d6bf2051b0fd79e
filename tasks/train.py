"""Train: a calibrated scorecard on past snapshots, its points scale, its evaluation, and the
champion/challenger decision. The registry row is written by publish.

Entry point: `train_night`, which fits tonight's challenger, reads the champion from the
warehouse it is handed, and says which model scores tonight.

The holdout is the latest snapshots (time-ordered), never used to fit. The model that scores is
the one fitted on the training snapshots only, so the next night's champion comparison is made
on snapshots it has not seen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from leadscore import code_version
from leadscore.errors import LeadscoreError
from leadscore.models import CloseProbabilityModel
from leadscore.models.close_probability import DEFAULT_C, DEFAULT_NUMERIC, is_numeric
from leadscore.run import logger
from leadscore.settings import Settings
from leadscore.tasks.features import (
    FEATURES,
    FIT_FEATURES,
    MONOTONE,
    downsample,
    split_snapshots,
)
from leadscore.warehouse import Warehouse

# A points rule as commonly set by hand in marketing automation tools: the baseline to beat.
HAND_RULE = {
    "demo_request_30d": 20,
    "pricing_page_view_30d": 10,
    "webinar_attended_30d": 8,
    "whitepaper_download_30d": 5,
    "email_click_30d": 3,
    "email_open_30d": 1,
    "website_visit_30d": 1,
    "signed_up": 15,
    "document_created_30d": 5,
}
HAND_RULE_PROFILE = {"c_level": 20, "vp": 15, "director": 10, "manager": 5}


@dataclass
class Scale:
    """Points = factor * (logit contribution - that column's lowest contribution)."""

    factor: float
    floor: list[float]
    threshold_points: float
    threshold_logit: float
    reference: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "floor": self.floor,
            "threshold_points": self.threshold_points,
            "threshold_logit": self.threshold_logit,
            "reference": self.reference,
        }


@dataclass
class Scorer:
    """A trained model with its points scale: everything needed to score a night."""

    model: CloseProbabilityModel
    scale: Scale
    version: str = ""

    def points(self, X: pl.DataFrame) -> np.ndarray:
        # Scaled in place: the contributions are this call's own (300,000 training rows of 48
        # columns are 115 MB, held once instead of three times).
        return self._points_of(self.model.contributions(X.select(FEATURES)), in_place=True)

    def _points_of(self, contributions: np.ndarray, in_place: bool = False) -> np.ndarray:
        out = np.subtract(
            contributions, np.asarray(self.scale.floor), out=contributions if in_place else None
        )
        out *= self.scale.factor
        return out

    def probability(self, X: pl.DataFrame) -> np.ndarray:
        return self.model.predict_proba(X.select(FEATURES))[:, 1]

    def score(self, X: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """`points` and `probability` of `X` (the same numbers), its contributions computed
        once for both."""
        contributions = self.model.contributions(X.select(FEATURES))
        return self._points_of(contributions), self.model.probability_of(contributions)

    def artifact(self) -> str:
        return json.dumps(
            {
                "model": self.model.to_dict(),
                "scale": self.scale.to_dict(),
                "features": FEATURES,
                "fit_features": FIT_FEATURES,
            },
            sort_keys=True,
        )

    @classmethod
    def from_artifact(cls, text: str, sha256: str, version: str) -> Scorer:
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest != sha256:
            raise LeadscoreError(
                f"model_registry.artifact of {version}: checksum mismatch, refusing to load"
            )
        data = json.loads(text)
        if data["features"] != FEATURES:
            raise LeadscoreError(f"model {version} was trained on other features; retrain it")
        return cls(CloseProbabilityModel.from_dict(data["model"]), Scale(**data["scale"]), version)


def fit_scale(model: CloseProbabilityModel, holdout: pl.DataFrame, settings: Settings) -> Scale:
    """Scale points so the SDR-ready threshold is a round number of points.

    The threshold is the lowest base logit at which holdout leads at or above it close at the
    target rate within the horizon.
    """
    floor = [low for low, _ in model.contribution_range()]
    base_min = model.intercept_ + sum(floor)
    X = holdout.select(FEATURES)
    logit = model.intercept_ + model.contributions(X).sum(axis=1)
    threshold = precision_threshold(
        logit, holdout["label"].to_numpy(), holdout["weight"].to_numpy(), settings.target_close_rate
    )
    if threshold <= base_min:
        raise LeadscoreError(
            "degenerate model: the SDR-ready threshold is at the lowest possible score"
        )
    factor = settings.threshold_points / (threshold - base_min)
    points = factor * (model.contributions(X) - np.asarray(floor))
    reference = np.average(points, axis=0, weights=holdout["weight"].to_numpy())
    return Scale(
        factor=float(factor),
        floor=floor,
        threshold_points=settings.threshold_points,
        threshold_logit=float(threshold),
        reference=[float(r) for r in reference],
    )


def precision_threshold(
    score: np.ndarray, label: np.ndarray, weight: np.ndarray, target: float
) -> float:
    """The lowest score s such that rows scoring >= s have a (weighted) positive rate >= target."""
    order = np.argsort(-score, kind="stable")
    s, y, w = score[order], label[order], weight[order]
    # Only cut between distinct scores: tied rows are all in or all out.
    last_of_value = np.r_[s[1:] != s[:-1], True]
    precision = np.cumsum(y * w) / np.cumsum(w)
    ok = np.flatnonzero((precision >= target) & last_of_value)
    if ok.size == 0:
        return float(s[0]) + 1e-9  # nobody reaches the target: the threshold sits above everyone
    return float(s[ok[-1]])


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10, weight: np.ndarray | None = None) -> float:
    """Expected calibration error over equal-count bins of the predicted probability (rows
    weighted by `weight`, where the holdout is a weighted sample)."""
    w = np.ones_like(p) if weight is None else weight
    order = np.argsort(p)
    total = 0.0
    for part in np.array_split(order, bins):
        if part.size:
            gap = np.average(p[part], weights=w[part]) - np.average(y[part], weights=w[part])
            total += abs(gap) * w[part].sum() / w.sum()
    return float(total)


# The shares of the leads (best-scored first) at which the gain curve is measured.
GAIN_SHARES = np.linspace(0.05, 1.0, 20)


def evaluate(
    p: np.ndarray,
    y: np.ndarray,
    sdr_ready: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> dict[str, Any]:
    """Holdout metrics: ranking, calibration, lift and capture; `weight` undoes a sample."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    w = np.ones_like(p) if weight is None else weight
    sampled = None if weight is None or bool(np.all(weight == 1)) else weight  # as sklearn takes it

    def share(rows: np.ndarray) -> float:
        return float(np.average(y[rows], weights=w[rows]))

    base = float(np.average(y, weights=w))
    order = np.argsort(-p)
    # The top tenth of the leads (by weight), best first.
    top = order[: max(1, int(np.searchsorted(np.cumsum(w[order]), 0.1 * w.sum(), side="right")))]
    deciles = [
        {
            "predicted": round(float(np.average(p[part], weights=w[part])), 4),
            "observed": round(share(part), 4),
            "rows": int(part.size),
        }
        for part in np.array_split(np.argsort(p), 10)
        if part.size
    ]
    won = float((y * w).sum())
    # Cumulative gain: the share of the closes found by calling the best-scored x% of the leads.
    leads_cum, won_cum = np.cumsum(w[order]), np.cumsum((y * w)[order])
    at = [min(int(np.searchsorted(leads_cum, x * w.sum())), p.size - 1) for x in GAIN_SHARES]
    gain = [
        {"leads": round(float(x), 2), "closes": round(float(won_cum[i]) / won, 4) if won else 0.0}
        for x, i in zip(GAIN_SHARES, at, strict=True)
    ]
    out = {
        "rows": int(y.size),
        "positives": int(y.sum()),
        "base_rate": base,
        "roc_auc": float(roc_auc_score(y, p, sample_weight=sampled)),
        "pr_auc": float(average_precision_score(y, p, sample_weight=sampled)),
        "brier": float(brier_score_loss(y, p, sample_weight=sampled)),
        "log_loss": float(log_loss(y, p, labels=[0, 1], sample_weight=sampled)),
        "ece": ece(p, y, weight=w),
        "calibration_by_decile": deciles,
        "gain_curve": gain,
        "top_decile_lift": share(top) / base if base else None,
        "top_decile_capture": float((y[top] * w[top]).sum() / won) if won else None,
    }
    if sdr_ready is not None and sdr_ready.any():
        out["sdr_ready_share"] = float(np.average(sdr_ready, weights=w))
        out["sdr_ready_close_rate"] = share(sdr_ready)
        out["sdr_ready_lift"] = share(sdr_ready) / base if base else None
        out["sdr_ready_capture"] = float((y[sdr_ready] * w[sdr_ready]).sum() / won) if won else None
    return out


def sample_weight(rows: pl.DataFrame) -> np.ndarray | None:
    """The rows' weights where they are a weighted sample; None where each row stands for itself."""
    if "weight" not in rows.columns or bool((rows["weight"] == 1.0).all()):
        return None
    return rows["weight"].to_numpy()


def hand_rule_points(X: pl.DataFrame) -> np.ndarray:
    expr = sum(pl.col(c).cast(pl.Float64) * w for c, w in HAND_RULE.items())
    expr = expr + pl.col("seniority").replace_strict(
        HAND_RULE_PROFILE, default=0, return_dtype=pl.Float64
    )
    expr = expr + pl.col("is_target_account").cast(pl.Float64) * 10
    expr = expr - (pl.col("email_type") == "personal").cast(pl.Float64) * 10
    return X.select(expr.alias("points"))["points"].to_numpy()


@dataclass
class Candidate:
    """Tonight's challenger, with everything the registry records about it. `kind`: "scorecard"
    (fitted) or "points_rule" (the fallback of a night with too little history)."""

    scorer: Scorer
    train_days: list[dt.date]
    holdout_days: list[dt.date]
    train_rows: int
    holdout_rows: int
    metrics: dict[str, Any]
    points_table: list[dict[str, Any]]
    artifact: str
    sha256: str
    kind: str = "scorecard"


@dataclass(frozen=True)
class Choices:
    """The estimator's choice and the yardsticks a recent night made (`recent_choices`), which
    tonight reuses instead of making them again."""

    model_version: str
    trained_for_date: dt.date
    numeric: str
    estimator_choice: dict[str, Any]
    baselines: dict[str, Any]

    def source(self) -> dict[str, str]:
        return {"model_version": self.model_version, "trained_for": str(self.trained_for_date)}


def fit_candidate(
    rows: pl.DataFrame, run_date: dt.date, settings: Settings, choices: Choices | None = None
) -> Candidate:
    """Fit tonight's challenger on labelled snapshot rows, evaluate it on the latest snapshots,
    on at most `settings.train_threads` threads. With `choices` (a recent night's), the scorecard
    takes their way of entering numbers and the metrics their yardsticks; else both are made."""
    with threadpool_limits(settings.train_threads or None):
        return _fit_candidate(rows, run_date, settings, choices)


def _fit_candidate(
    rows: pl.DataFrame, run_date: dt.date, settings: Settings, choices: Choices | None
) -> Candidate:
    days = sorted(rows["snapshot"].unique().to_list())
    train_days, holdout_days = split_snapshots(days, settings.holdout_share)
    train = downsample(
        rows.filter(pl.col("snapshot").is_in(train_days)), settings.max_training_rows, settings.seed
    )
    # A holdout sampled by the features stage keeps its weights.
    holdout = downsample(
        rows.filter(pl.col("snapshot").is_in(holdout_days)),
        settings.max_holdout_rows,
        settings.seed,
    )
    if train["label"].n_unique() < 2 or holdout["label"].sum() == 0:
        raise LeadscoreError(
            f"not enough closed deals to train: {int(train['label'].sum())} in training snapshots, "
            f"{int(holdout['label'].sum())} in the holdout"
        )
    y_train, w_train = train["label"].to_numpy(), train["weight"].to_numpy()
    # The choice the estimator makes (how numbers enter: bins, slope, both) is validated forward
    # in time, snapshot after snapshot, as the holdout is. C stays at the estimator's default:
    # three candidates a night instead of nine keep the nightly fit's cost down.
    model = CloseProbabilityModel(
        kind="scorecard",
        numeric=choices.numeric if choices else "auto",
        C=DEFAULT_C,
        monotone=MONOTONE,
        random_state=settings.seed,
    )
    model.fit(train.select(FEATURES), y_train, sample_weight=w_train, time=train["snapshot"])
    scale = fit_scale(model, holdout, settings)
    scorer = Scorer(model, scale)
    y_hold = holdout["label"].to_numpy()
    p_hold = scorer.probability(holdout)
    points = scorer.points(holdout)
    sdr_ready = points.sum(axis=1) >= settings.threshold_points
    w_hold = holdout["weight"].to_numpy()
    metrics = evaluate(p_hold, y_hold, sdr_ready, w_hold)
    metrics["fit_only_ready_share"] = ready_on_fit_alone(points, w_hold, settings)
    metrics["threshold_probability"] = threshold_probability(scorer)
    if choices:
        metrics["baselines"] = choices.baselines
        metrics["estimator_choice"] = choices.estimator_choice
        metrics["choices_from"] = choices.source()
    else:
        metrics["baselines"] = baselines(train, holdout, settings)
        metrics["estimator_choice"] = model.choice_
    metrics["numeric"] = model.numeric_
    metrics["kind_choice"] = kind_choice(metrics)
    artifact, sha = stamp(scorer, run_date)
    return Candidate(
        scorer,
        train_days,
        holdout_days,
        train.height,
        holdout.height,
        metrics,
        points_table(scorer, holdout),
        artifact,
        sha,
    )


# With too little history to fit a model (`too_little_history`), a night scores with a points
# rule anyone can read: the hand rule above, each action counted at most RULE_CAP times, and
# RULE_THRESHOLD of its points make a lead SDR-ready. A profile alone reaches 40 at most
# (C-level, target account, corporate e-mail), so nobody is SDR-ready on profile alone.
RULE_CAP = 3
RULE_THRESHOLD = 50.0
RULE_COUNTS = {c: (float(w), 1 if c == "signed_up" else RULE_CAP) for c, w in HAND_RULE.items()}
RULE_LEVELS = {
    "seniority": {k: float(v) for k, v in HAND_RULE_PROFILE.items()},
    "email_type": {"corporate": 10.0},
}
# Its close probability: fitted (Platt) on the labelled snapshots where they hold at least
# RULE_CALIBRATION_ROWS closes and as many non-closes; else a prior: the target close rate at the
# threshold, the odds doubling every RULE_DOUBLING points.
RULE_CALIBRATION_ROWS = 10
RULE_DOUBLING = 10.0


def too_little_history(
    training: pl.DataFrame, train_days: list[dt.date], holdout_days: list[dt.date], s: Settings
) -> str | None:
    """Why tonight's snapshots are too few to fit a model on, or None when they are enough."""
    train = training.filter(pl.col("snapshot").is_in(train_days))
    won = train.filter(pl.col("label") == 1)["lead_id"].n_unique()
    leads = train["lead_id"].n_unique()
    short = []
    if won < s.min_won_deals:
        short.append(f"{won:,} won deals (minimum {s.min_won_deals:,})")
    if leads < s.min_training_leads:
        short.append(f"{leads:,} leads (minimum {s.min_training_leads:,})")
    if short:
        return " and ".join(short) + f" in {len(train_days)} training snapshot(s)"
    holdout = training.filter(pl.col("snapshot").is_in(holdout_days))
    if holdout.is_empty() or holdout["label"].sum() == 0:
        return "no won deal in the holdout snapshots to evaluate a model on"
    return None


def points_rule(rows: pl.DataFrame, settings: Settings) -> Scorer:
    """The points rule as a scorer: points = the rule's points scaled so that RULE_THRESHOLD of
    them are the SDR-ready threshold; close probability calibrated on `rows` where they allow."""
    columns = {c: is_numeric(rows.schema[c]) for c in FEATURES}
    counts = RULE_COUNTS | {"is_target_account": (10.0, 1)}
    slope = math.log(2) / RULE_DOUBLING
    target = settings.target_close_rate
    prior = (slope, math.log(target / (1 - target)) - slope * RULE_THRESHOLD)
    model = CloseProbabilityModel.from_points(columns, counts, RULE_LEVELS, prior)
    contributions = model.contributions(rows.select(FEATURES))
    points = contributions.sum(axis=1)
    y, w = rows["label"].to_numpy(), rows["weight"].to_numpy()
    if min(int(y.sum()), int((1 - y).sum())) >= RULE_CALIBRATION_ROWS:
        fitted = LogisticRegression().fit((points / RULE_DOUBLING).reshape(-1, 1), y, w)
        a, b = float(fitted.coef_[0, 0]) / RULE_DOUBLING, float(fitted.intercept_[0])
        if a > 0:  # a rule that ranks backwards on this data keeps the prior
            model.calibration_ = (a, b)
    factor = settings.threshold_points / RULE_THRESHOLD
    reference = (
        np.average(factor * contributions, axis=0, weights=w)
        if rows.height
        else np.zeros(len(FEATURES))
    )
    scale = Scale(
        factor=factor,
        floor=[0.0] * len(FEATURES),
        threshold_points=settings.threshold_points,
        threshold_logit=RULE_THRESHOLD,
        reference=[float(r) for r in reference],
    )
    return Scorer(model, scale)


def rule_candidate(
    training: pl.DataFrame, run_date: dt.date, settings: Settings, short: str
) -> Candidate:
    """Tonight's challenger when there is too little history: the points rule, measured on every
    labelled snapshot row there is (it learnt only its calibration from them)."""
    days = sorted(training["snapshot"].unique().to_list()) or [run_date]
    scorer = points_rule(training, settings)
    metrics: dict[str, Any] = {
        "rows": training.height,
        "positives": int(training["label"].sum()) if training.height else 0,
        "kind_choice": f"points rule: too little history to fit a model ({short})",
        "fallback": short,
    }
    if training.height:
        points = scorer.points(training)
        w = training["weight"].to_numpy()
        sdr_ready = points.sum(axis=1) >= settings.threshold_points
        y = training["label"].to_numpy()
        if 0 < y.sum() < y.size:
            metrics |= evaluate(scorer.probability(training), y, sdr_ready, w)
        metrics["fit_only_ready_share"] = ready_on_fit_alone(points, w, settings)
    metrics["threshold_probability"] = threshold_probability(scorer)
    artifact, sha = stamp(scorer, run_date)
    return Candidate(
        scorer,
        days,
        days,
        training.height,
        training.height,
        metrics,
        points_table(scorer, training),
        artifact,
        sha,
        kind="points_rule",
    )


def ready_on_fit_alone(points: np.ndarray, weight: np.ndarray, settings: Settings) -> float:
    """The share of rows (weighted) whose fit points alone reach the SDR-ready threshold."""
    fit_idx = [FEATURES.index(c) for c in FIT_FEATURES]
    fit = points[:, fit_idx].sum(axis=1)
    return float(np.average(fit >= settings.threshold_points, weights=weight))


def threshold_probability(scorer: Scorer) -> float:
    """The close probability of a lead that sits exactly at the SDR-ready threshold."""
    a, b = scorer.model.calibration_
    return float(1 / (1 + np.exp(-(a * scorer.scale.threshold_logit + b))))


def stamp(scorer: Scorer, run_date: dt.date) -> tuple[str, str]:
    """The scorer's artifact and its SHA-256; names the scorer's version after both."""
    artifact = scorer.artifact()
    sha = hashlib.sha256(artifact.encode()).hexdigest()
    scorer.version = f"{run_date:%Y%m%d}-{sha[:10]}"
    return artifact, sha


def baselines(train: pl.DataFrame, holdout: pl.DataFrame, settings: Settings) -> dict[str, Any]:
    """The base rate, a fit-only model, a hand-weighted points rule, and gradient boosting.

    The fitted baselines learn from a smaller weighted sample of the training rows (every
    positive kept, `baseline_rows` in all): they are yardsticks, and gradient boosting on the
    whole training set cost more than the scorecard itself.
    """
    base_rate = float(np.average(train["label"].to_numpy(), weights=train["weight"].to_numpy()))
    train = downsample(train, settings.baseline_rows, settings.seed)
    y, w = train["label"].to_numpy(), train["weight"].to_numpy()
    y_hold, w_hold = holdout["label"].to_numpy(), sample_weight(holdout)
    out: dict[str, Any] = {
        "base_rate": {
            "roc_auc": 0.5,
            "log_loss": float(
                log_loss(
                    y_hold, np.full(y_hold.size, base_rate), labels=[0, 1], sample_weight=w_hold
                )
            ),
        }
    }
    # Yardsticks: the estimator's defaults, no choices made, calibrated on two folds (not three:
    # they are measured, never used to score).
    fit_only = CloseProbabilityModel(
        kind="scorecard",
        numeric=DEFAULT_NUMERIC,
        C=DEFAULT_C,
        calibration_folds=2,
        random_state=settings.seed,
    ).fit(train.select(FIT_FEATURES), y, sample_weight=w)
    p_fit = fit_only.predict_proba(holdout.select(FIT_FEATURES))[:, 1]
    out["fit_only"] = {
        "roc_auc": float(roc_auc_score(y_hold, p_fit, sample_weight=w_hold)),
        "log_loss": float(log_loss(y_hold, p_fit, sample_weight=w_hold)),
    }
    hand = hand_rule_points(holdout)
    out["hand_rule"] = {"roc_auc": float(roc_auc_score(y_hold, hand, sample_weight=w_hold))}
    boost = CloseProbabilityModel(
        kind="boosting", monotone=MONOTONE, calibration_folds=2, random_state=settings.seed
    ).fit(train.select(FEATURES), y, sample_weight=w)
    p_boost = boost.predict_proba(holdout.select(FEATURES))[:, 1]
    out["boosting"] = {
        "roc_auc": float(roc_auc_score(y_hold, p_boost, sample_weight=w_hold)),
        "log_loss": float(log_loss(y_hold, p_boost, sample_weight=w_hold)),
    }
    return out


def kind_choice(metrics: dict[str, Any]) -> str:
    gap = metrics["baselines"]["boosting"]["roc_auc"] - metrics["roc_auc"]
    if gap > 0.02:
        return (
            f"scorecard kept for its exact points, but boosting ranks better by {gap:.3f} AUC: "
            "look for an interaction worth a feature"
        )
    return f"scorecard: within {max(gap, 0):.3f} AUC of boosting, and its points add up exactly"


def points_table(scorer: Scorer, holdout: pl.DataFrame) -> list[dict[str, Any]]:
    """For every column and bin: its points and its lift in close probability over the column's
    floor."""
    model, scale = scorer.model, scorer.scale
    base_logit = scale.threshold_logit
    a, b = model.calibration_
    rows: list[dict[str, Any]] = []

    def row(feature: str, value: str, above_floor: float, seen: int) -> dict[str, Any]:
        # Lift at the threshold: how far this bin moves a lead that sits at the threshold.
        p_floor = 1 / (1 + np.exp(-(a * (base_logit - above_floor) + b)))
        p_here = 1 / (1 + np.exp(-(a * base_logit + b)))
        lift = float(p_here - p_floor)
        return {
            "feature": feature,
            "group": "fit" if feature in FIT_FEATURES else "engagement",
            "value": value,
            "points": round(float(scale.factor * above_floor), 1),
            "lift_pp": round(100 * lift, 2),
            "worth_scoring": bool(abs(lift) >= 0.05),
            "holdout_rows": seen,
        }

    X = holdout.select(FEATURES)
    index = model.bin_indices(X)
    contributions = model.contributions(X)
    for j, (spec, w, floor) in enumerate(
        zip(model.bins_, model.weights_, scale.floor, strict=True)
    ):
        line = spec.get("linear")
        at = index[spec["name"]]
        share = np.bincount(at, minlength=len(spec["labels"]))
        for k, (label, weight) in enumerate(zip(spec["labels"], w, strict=True)):
            if line and share[k]:
                # With a linear term a bin's points vary within it: say them at its average lead.
                weight = float(contributions[at == k, j].mean())
            rows.append(row(spec["name"], label, weight - floor, int(share[k])))
        if line:
            rows.append(
                row(
                    spec["name"],
                    f"each 1 more (from {line['low']:g} to {line['high']:g})",
                    line["slope"],
                    int(share[:-1].sum()),
                )
            )
    return rows


def decide(
    candidate: Candidate, champion: Scorer | None, holdout: pl.DataFrame, settings: Settings
) -> tuple[str, str]:
    """Promote the challenger, keep it as a challenger, or reject it; and say why."""
    m = candidate.metrics
    p = candidate.scorer.probability(holdout)
    if m["roc_auc"] >= 0.99:
        return "rejected", f"holdout ROC AUC {m['roc_auc']:.3f} >= 0.99 signals a leak"
    if float(np.std(p)) < 1e-6 or candidate.scorer.model.calibration_[0] <= 0:
        return "rejected", "the model predicts a constant: it collapsed"
    if champion is None:
        return "champion", "first model"
    y = holdout["label"].to_numpy()
    try:
        p_champion = champion.probability(holdout)
        champion_loss = float(
            log_loss(y, p_champion, labels=[0, 1], sample_weight=sample_weight(holdout))
        )
    except Exception as exc:  # noqa: BLE001 (a champion that cannot score tonight's rows cannot stay)
        return "champion", f"champion {champion.version} cannot score tonight's holdout ({exc})"
    if champion.version == candidate.scorer.version:
        return "champion", f"same model as champion (holdout log loss {champion_loss:.4f})"
    if m["log_loss"] <= champion_loss + settings.promotion_tolerance:
        return "champion", (
            f"holdout log loss {m['log_loss']:.4f} vs champion {champion.version} "
            f"{champion_loss:.4f} (tolerance {settings.promotion_tolerance})"
        )
    return "challenger", (
        f"kept champion {champion.version}: challenger holdout log loss {m['log_loss']:.4f} "
        f"is worse than the champion's {champion_loss:.4f} beyond tolerance "
        f"{settings.promotion_tolerance}"
    )


# Practice: about 5% of leads should be SDR-ready on profile alone; twice that means fit is
# overweighted.
FIT_ONLY_WARNING_SHARE = 0.10


def warnings(candidate: Candidate) -> list[str]:
    """What the on-call data engineer should look at in tonight's model."""
    m = candidate.metrics
    out = []
    if m.get("fallback"):
        out.append(
            f"too little history to fit a model ({m['fallback']}): a points rule is in use, "
            "not a model learnt from this warehouse's deals"
        )
    if m.get("fit_only_ready_share", 0) > FIT_ONLY_WARNING_SHARE:
        out.append(
            f"{m['fit_only_ready_share']:.1%} of holdout leads reach the SDR-ready threshold on "
            "fit alone (practice: about 5%): profile points may be overweighted"
        )
    if m.get("sdr_ready_close_rate") is not None and not 0.10 <= m["sdr_ready_close_rate"] <= 0.15:
        out.append(
            f"SDR-ready leads close at {m['sdr_ready_close_rate']:.1%} on the holdout, outside "
            "10-15%"
        )
    return out


@dataclass(frozen=True)
class RegistryRow:
    """One model_registry row: what was trained, on what, how it did, and what became of it."""

    model_version: str
    trained_for_date: dt.date
    created_at: dt.datetime
    kind: str
    status: str
    status_reason: str
    train_start: dt.date
    train_end: dt.date
    holdout_start: dt.date
    holdout_end: dt.date
    train_rows: int
    holdout_rows: int
    horizon_days: int
    threshold_points: float
    threshold_probability: float
    metrics: str
    points_table: str
    artifact: str
    artifact_sha256: str
    code_version: str
    seed: int


def registry_row(
    candidate: Candidate,
    run_date: dt.date,
    status: str,
    reason: str,
    settings: Settings,
    now: dt.datetime,
) -> RegistryRow:
    return RegistryRow(
        model_version=candidate.scorer.version,
        trained_for_date=run_date,
        created_at=now,
        kind=candidate.kind,
        status=status,
        status_reason=reason,
        train_start=candidate.train_days[0],
        train_end=candidate.train_days[-1],
        holdout_start=candidate.holdout_days[0],
        holdout_end=candidate.holdout_days[-1],
        train_rows=candidate.train_rows,
        holdout_rows=candidate.holdout_rows,
        horizon_days=settings.horizon_days,
        threshold_points=candidate.scorer.scale.threshold_points,
        threshold_probability=candidate.metrics["threshold_probability"],
        metrics=json.dumps(candidate.metrics, sort_keys=True),
        points_table=json.dumps(candidate.points_table),
        artifact=candidate.artifact,
        artifact_sha256=candidate.sha256,
        code_version=code_version(),
        seed=settings.seed,
    )


@dataclass(frozen=True)
class ModelChoice:
    """Tonight's challenger and its registry row, the model that scores tonight, and the
    labelled rows tonight's SDR-ready threshold is set on (`threshold.curve`): the holdout, or
    every labelled row when no model was fitted."""

    scorer: Scorer
    candidate: Candidate
    registry: RegistryRow
    holdout: pl.DataFrame

    @property
    def message(self) -> str:
        """The decision in one line, for pipeline_runs."""
        return (
            f"challenger {self.candidate.scorer.version} {self.registry.status}: "
            f"{self.registry.status_reason}; "
            f"scored with {self.scorer.version}"
        )


def train_night(
    wh: Warehouse, training: pl.DataFrame, run_date: dt.date, settings: Settings
) -> ModelChoice:
    """Fit tonight's challenger on the labelled snapshots; promote it, keep the champion, or reject
    it."""
    champion = read_champion(wh, run_date)
    days = sorted(training["snapshot"].unique().to_list())
    short = too_little_history(training, *split_snapshots(days, settings.holdout_share), settings)
    if short:
        return fallback(training, champion, run_date, settings, short)
    choices = recent_choices(wh, run_date, settings)
    candidate = fit_candidate(training, run_date, settings, choices)
    holdout = training.filter(pl.col("snapshot").is_in(candidate.holdout_days))
    status, reason = decide(candidate, champion, holdout, settings)
    log = logger()
    log.info("model %s: %s (%s)", candidate.scorer.version, status, reason)
    for warning in warnings(candidate):
        log.warning(warning)
    # Created "at" the end of the run date, so a backfill writes the same row as the night did.
    end_of_night = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    registry = registry_row(candidate, run_date, status, reason, settings, end_of_night)
    if status == "champion" or champion is None:
        if status == "rejected":
            raise LeadscoreError(f"no model to score with: the first model was rejected ({reason})")
        return ModelChoice(candidate.scorer, candidate, registry, holdout)
    return ModelChoice(champion, candidate, registry, holdout)


def fallback(
    training: pl.DataFrame,
    champion: Scorer | None,
    run_date: dt.date,
    settings: Settings,
    short: str,
) -> ModelChoice:
    """A night with too little history: no model is fitted; the champion scores if there is one,
    else the points rule, which becomes the champion until a fitted model beats it."""
    candidate = rule_candidate(training, run_date, settings, short)
    why = f"too little history to fit a model ({short})"
    if champion:
        status, reason = "challenger", f"{why}: kept champion {champion.version}"
    else:
        status, reason = "champion", f"{why}: scored with the points rule"
    logger().warning("model %s: %s (%s)", candidate.scorer.version, status, reason)
    end_of_night = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    registry = registry_row(candidate, run_date, status, reason, settings, end_of_night)
    return ModelChoice(champion or candidate.scorer, candidate, registry, training)


def recent_choices(wh: Warehouse, run_date: dt.date, settings: Settings) -> Choices | None:
    """The choices of the latest night fewer than `settings.choices_every_days` days before
    `run_date` that made them itself (not reused), with this code, horizon and seed; None when
    tonight must make them."""
    if settings.choices_every_days == 0:
        return None
    first = run_date - dt.timedelta(days=settings.choices_every_days - 1)
    rows = wh.read_if_exists(
        "model_registry",
        "select_recent_fits",
        {"run_date": run_date.isoformat(), "from_date": first.isoformat()},
        {
            "model_version": pl.String,
            "trained_for_date": pl.Date,
            "horizon_days": pl.Int64,
            "seed": pl.Int64,
            "code_version": pl.String,
            "metrics": pl.String,
        },
    )
    for row in rows.iter_rows(named=True):
        metrics = json.loads(row["metrics"])
        made_here = "baselines" in metrics and "numeric" in metrics
        if not made_here or "choices_from" in metrics:
            continue
        same = (row["horizon_days"], row["seed"], row["code_version"]) == (
            settings.horizon_days,
            settings.seed,
            code_version(),
        )
        if same:
            return Choices(
                row["model_version"],
                row["trained_for_date"],
                metrics["numeric"],
                metrics["estimator_choice"],
                metrics["baselines"],
            )
    return None


def read_champion(wh: Warehouse, run_date: dt.date) -> Scorer | None:
    """The champion of the nights before `run_date`, checked against its hash; None on a first
    night."""
    rows = wh.read_if_exists(
        "model_registry",
        "select_champion",
        {"run_date": run_date.isoformat()},
        {"model_version": pl.String, "artifact": pl.String, "artifact_sha256": pl.String},
    )
    if rows.is_empty():
        return None
    row = rows.row(0, named=True)
    return Scorer.from_artifact(row["artifact"], row["artifact_sha256"], row["model_version"])
