"""A calibrated close-probability estimator for any tabular lead data.

Two kinds share one interface (``auto``, the default, picks one by out-of-sample log loss):

- ``scorecard`` (the default): every column is cut into bins (numbers at quantiles, text into
  its frequent values), each bin gets one logistic-regression weight, and the logit is the sum
  of one weight per column. That sum *is* the explanation: each column's points are exact, and
  columns declared monotone (more documents signed is never worse) are made so.
- ``boosting``: scikit-learn's HistGradientBoostingClassifier, for comparison. It captures
  interactions but has no exact per-column decomposition.

Both are calibrated the same way: a sigmoid fitted on out-of-fold logits (Platt scaling), so the
final model is one base model plus one monotone map, and scores keep their order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

MISSING = "(missing)"
OTHER = "(other)"
# 2: numeric columns may carry a linear term ("linear" in their bin spec). Format 1 still loads.
FORMAT_VERSION = 2
NUMERIC_MODES = ("bins", "linear", "both")
# A linear term is fitted on its column clipped to these quantiles (outliers do not tilt it), and
# extrapolates beyond them by at most the width between them: far enough to follow a drift, not
# so far that one absurd value outweighs every other column.
LINEAR_QUANTILES = (0.005, 0.995)
# What fit() chooses among when left to the data, and what it keeps unless the data say otherwise.
C_GRID = (0.03, 0.3, 3.0)
DEFAULT_NUMERIC, DEFAULT_C = "both", 0.3


def to_polars(X: Any) -> pl.DataFrame:
    """Accept a polars or pandas frame, or a 2-D array of rows, without copying twice."""
    if isinstance(X, pl.DataFrame):
        return X
    if sparse.issparse(X):
        raise TypeError("CloseProbabilityModel does not support sparse input: pass a dense frame")
    try:
        return pl.from_pandas(X)
    except (TypeError, ValueError, ImportError):
        pass
    # An array, or anything array-like: rows of columns, checked as scikit-learn checks them.
    rows = check_array(X, dtype=None, ensure_all_finite="allow-nan")
    if rows.dtype.kind == "c":
        raise ValueError("complex data not supported")
    if rows.dtype == object:
        # Column by column: numbers where every value is one, else text.
        return pl.DataFrame(
            [_object_column(f"column_{j}", rows[:, j]) for j in range(rows.shape[1])]
        )
    return pl.from_numpy(rows, orient="row")


def _object_column(name: str, values: np.ndarray) -> pl.Series:
    try:
        return pl.Series(name, values.astype(float))
    except (TypeError, ValueError):
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


class CloseProbabilityModel(ClassifierMixin, BaseEstimator):
    """Calibrated P(close) from a frame of numeric and text columns; missing values allowed.

    Parameters
    ----------
    kind : "scorecard", "boosting", or "auto": the scorecard unless boosting's validation log
        loss is lower by more than ``auto_margin`` (relative).
    numeric : how numeric columns enter the scorecard: "bins" (a weight per quantile bin),
        "linear" (a weight for the lowest value, often zero events, and a slope), "both" (bins
        plus a slope, so the effect extrapolates past the bins), or "auto": chosen on validation.
        A slope is fitted on the column clipped to its 0.5%-99.5% quantiles and extrapolates by
        at most their distance beyond them (never below 0 for a column that is never negative).
    max_bins : bins per numeric column (scorecard).
    C : inverse L2 strength of the scorecard's logistic regression, or "auto": chosen on
        validation among ``C_GRID``.
    min_level_share : text values rarer than this share of rows are pooled into "(other)".
    monotone : {column: +1 or -1}; the column's effect never falls (+1) or rises (-1) with it.
    calibration_folds : folds for the out-of-fold logits the calibration is fitted on.
    random_state : seed for the folds and the boosting.
    selection_folds : validation folds for the choices left to the data (see ``_choose``).
    max_selection_rows : the choices are made on at most this many rows (a random sample).

    ``fit(X, y, time=...)`` validates every choice forward in time; without ``time`` on random
    folds. ``choice_`` records the candidates' validation log loss and what was chosen.
    """

    def __init__(
        self,
        kind: str = "auto",
        numeric: str = "auto",
        max_bins: int = 12,
        C: float | str = "auto",
        min_level_share: float = 0.002,
        monotone: dict[str, int] | None = None,
        calibration_folds: int = 3,
        random_state: int = 0,
        auto_margin: float = 0.01,
        selection_folds: int = 3,
        max_selection_rows: int = 100_000,
    ):
        self.kind = kind
        self.numeric = numeric
        self.auto_margin = auto_margin
        self.max_bins = max_bins
        self.C = C
        self.min_level_share = min_level_share
        self.monotone = monotone
        self.calibration_folds = calibration_folds
        self.random_state = random_state
        self.selection_folds = selection_folds
        self.max_selection_rows = max_selection_rows

    # ---- fitting
    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, time: Any = None
    ) -> CloseProbabilityModel:
        """Fit on rows `X` and two-class labels `y` (the second of the sorted classes closes).

        `time`: when each row was observed (dates, numbers: anything that sorts), if known. The
        choices the model makes from the data are then validated forward in time, never on
        a random split.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        frame = to_polars(X)
        labels = column_or_1d(y, warn=True)
        check_classification_targets(labels)
        if frame.height != labels.size:
            raise ValueError(f"X has {frame.height} rows but y has {labels.size}")
        if frame.width == 0:
            raise ValueError(
                f"0 feature(s) (shape=({frame.height}, 0)) while a minimum of 1 is required"
            )
        classes = np.unique(labels)
        if classes.size < 2:
            raise ValueError("y has a single class: one class cannot give a close probability")
        if classes.size > 2:
            raise ValueError(
                f"Only binary classification is supported: y has {classes.size} classes, "
                "a close probability needs two"
            )
        target = (labels == classes[1]).astype(float)
        weight = (
            np.ones_like(target)
            if sample_weight is None
            else np.asarray(sample_weight, dtype=float).ravel()
        )
        if weight.shape != target.shape:
            raise ValueError(f"sample_weight has shape {weight.shape}, expected {target.shape}")
        if weight[target == 1].sum() <= 0 or weight[target == 0].sum() <= 0:
            raise ValueError("sample weights are zero for every row of a class: cannot learn")
        if self.kind not in {"scorecard", "boosting", "auto"}:
            raise ValueError(f"kind must be 'scorecard', 'boosting' or 'auto', not {self.kind!r}")
        if self.numeric not in (*NUMERIC_MODES, "auto"):
            raise ValueError(
                f"numeric must be one of {', '.join(NUMERIC_MODES)} or 'auto', not {self.numeric!r}"
            )
        self.classes_ = classes
        self._choose(frame, target, weight, time)

        # Out-of-fold logits for the calibration map; the folds never see their own rows.
        folds = StratifiedKFold(
            self.calibration_folds, shuffle=True, random_state=self.random_state
        )
        oof = np.zeros_like(target)
        for train_idx, test_idx in folds.split(np.zeros(target.size), target):
            part = self._settled()._fit_base(frame[train_idx], target[train_idx], weight[train_idx])
            oof[test_idx] = part._logit(frame[test_idx])
        calibrator = LogisticRegression(C=1e6).fit(oof.reshape(-1, 1), target, sample_weight=weight)
        self.calibration_ = (float(calibrator.coef_[0, 0]), float(calibrator.intercept_[0]))
        self._fit_base(frame, target, weight)
        return self

    def _settled(self, **choice: Any) -> CloseProbabilityModel:
        """An unfitted copy with every choice made (the ones made so far, or `choice`)."""
        made = {"kind": self.kind_, "numeric": self.numeric_, "C": self.C_}
        return clone(self).set_params(**{**made, **choice})

    def _choose(self, frame: pl.DataFrame, y: np.ndarray, weight: np.ndarray, time: Any) -> None:
        """Make the choices left to the data (numeric terms, C, kind) on validation folds.

        With `time`, the folds run forward: each validates on a later block of time than the
        rows it was fitted on, as the model will be used. Without it, they are random
        (stratified). A candidate replaces the default (numeric "both", C 0.3) only when its
        validation log loss is lower by more than the standard error of the difference over the
        folds: folds that cannot tell candidates apart leave the default, which extrapolates.
        The scorecards are compared by their logistic regressions' own probabilities (a
        logistic regression is calibrated on its training rows); boosting is not, so the kind
        ("auto") is chosen apart, by `_choose_kind`.
        """
        numerics = NUMERIC_MODES if self.numeric == "auto" else (self.numeric,)
        Cs = C_GRID if self.C == "auto" else (float(self.C),)
        default = (
            DEFAULT_NUMERIC if DEFAULT_NUMERIC in numerics else numerics[0],
            DEFAULT_C if DEFAULT_C in Cs else Cs[0],
        )
        self.kind_ = "scorecard" if self.kind == "auto" else self.kind
        self.numeric_, self.C_ = default
        self.choice_ = {"folds": "none", "candidates": {}}
        candidates = [(n, c) for n in numerics for c in Cs]
        if (len(candidates) > 1 or self.kind == "auto") and y.size > self.max_selection_rows:
            # The choices are made on a random sample of the rows (in their order): their cost
            # stays bounded however many rows the model is fitted on.
            keep = np.sort(
                np.random.default_rng(self.random_state).choice(
                    y.size, self.max_selection_rows, replace=False
                )
            )
            frame, y, weight = frame[keep], y[keep], weight[keep]
            time = None if time is None else pl.Series("time", time)[keep]
        if self.kind != "boosting" and len(candidates) > 1:
            self._choose_scorecard(frame, y, weight, time, candidates, default)
        if self.kind == "auto":
            self._choose_kind(frame, y, weight, time)
        self.choice_["chosen"] = (
            "boosting"
            if self.kind_ == "boosting"
            else f"scorecard numeric={self.numeric_} C={self.C_:g}"
        )

    def _choose_scorecard(
        self,
        frame: pl.DataFrame,
        y: np.ndarray,
        weight: np.ndarray,
        time: Any,
        candidates: list[tuple[str, float]],
        default: tuple[str, float],
    ) -> None:
        folds = list(_validation_folds(y, time, self.selection_folds, self.random_state))
        if not folds:
            self.choice_["folds"] = "none (too few rows or times to validate)"
            return
        self.choice_["folds"] = "forward in time" if time is not None else "random"

        def losses(numeric: str, C: float) -> np.ndarray:
            out = []
            for train_idx, valid_idx in folds:
                part = self._settled(kind="scorecard", numeric=numeric, C=C)._fit_base(
                    frame[train_idx], y[train_idx], weight[train_idx]
                )
                p = 1.0 / (1.0 + np.exp(-part._logit(frame[valid_idx])))
                out.append(
                    log_loss(y[valid_idx], p, labels=[0, 1], sample_weight=weight[valid_idx])
                )
            return np.asarray(out)

        table = {c: losses(*c) for c in candidates}
        best = min(candidates, key=lambda c: table[c].mean())
        diff = table[best] - table[default]
        se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
        if diff.mean() < -se:
            self.numeric_, self.C_ = best
        self.choice_["candidates"] = {
            f"scorecard numeric={n} C={c:g}": float(v.mean()) for (n, c), v in table.items()
        }

    def _choose_kind(
        self, frame: pl.DataFrame, y: np.ndarray, weight: np.ndarray, time: Any
    ) -> None:
        """Scorecard unless boosting is clearly better (by ``auto_margin`` of log loss, relative:
        exact points are worth a lot). Both are fitted whole, calibration included, on 75% of the
        rows and measured on the rest: the latest quarter in time when `time` is given, else a
        stratified random quarter."""
        if time is not None:
            order = pl.Series("time", time).rank("dense").to_numpy()
            cut = np.quantile(order, 0.75)
            train, valid = np.flatnonzero(order <= cut), np.flatnonzero(order > cut)
        else:
            train, valid = train_test_split(
                np.arange(y.size), test_size=0.25, stratify=y, random_state=self.random_state
            )
        if min(np.unique(y[train]).size, np.unique(y[valid]).size) < 2:
            self.choice_["kind"] = "scorecard: too few rows of each class to compare kinds"
            return
        losses = {}
        for kind in ("scorecard", "boosting"):
            model = self._settled(kind=kind).fit(frame[train], y[train], weight[train])
            p = model.predict_proba(frame[valid])[:, 1]
            losses[kind] = log_loss(y[valid], p, labels=[0, 1], sample_weight=weight[valid])
        self.choice_["kind_losses"] = losses
        if losses["boosting"] < losses["scorecard"] * (1 - self.auto_margin):
            self.kind_ = "boosting"

    def _fit_base(
        self, frame: pl.DataFrame, y: np.ndarray, weight: np.ndarray
    ) -> CloseProbabilityModel:
        self.feature_names_in_ = np.array(frame.columns, dtype=object)
        self.n_features_in_ = len(frame.columns)
        # A copy made by `_settled` has its choices as parameters; the model itself, once
        # `_choose` has made them, as attributes.
        for name in ("kind", "numeric", "C"):
            if getattr(self, name) != "auto":
                setattr(self, f"{name}_", getattr(self, name))
            elif not hasattr(self, f"{name}_"):
                raise ValueError(f"{name} is still 'auto': fit() chooses it before fitting")
        if self.kind_ == "scorecard":
            self._fit_scorecard(frame, y, weight)
        else:
            self.encoders_ = _fit_categories(frame, self.min_level_share)
            cst = [
                (self.monotone or {}).get(c, 0) if c not in self.encoders_ else 0
                for c in frame.columns
            ]
            self.booster_ = HistGradientBoostingClassifier(
                max_iter=300,
                learning_rate=0.05,
                max_leaf_nodes=15,
                l2_regularization=1.0,
                categorical_features=[c in self.encoders_ for c in frame.columns],
                monotonic_cst=cst,
                early_stopping=False,
                random_state=self.random_state,
            )
            self.booster_.fit(self._boost_matrix(frame), y, sample_weight=weight)
        return self

    def _fit_scorecard(self, frame: pl.DataFrame, y: np.ndarray, weight: np.ndarray) -> None:
        """One logistic regression over every column's bins (and, for numbers, a linear term);
        then the declared monotone columns are made so."""
        numeric = self.numeric_
        max_bins = 0 if numeric == "linear" else self.max_bins
        self.bins_ = [_fit_bins(frame[c], max_bins, self.min_level_share) for c in frame.columns]
        if numeric != "bins":
            for spec in self.bins_:
                numeric_column = spec["kind"] == "numeric"
                line = _fit_linear(frame[spec["name"]], weight) if numeric_column else None
                if line is not None:
                    spec["linear"] = line
        monotone = self.monotone or {}
        design = self._design(frame)
        bins_end = sum(len(spec["labels"]) for spec in self.bins_)
        slopes = self._linear_specs()
        # A declared-monotone column's linear term may not run against its direction: the
        # constraint is a bound of the fit (one fit), and a slope held at 0 is dropped.
        bounds = [(None, None)] * bins_end + [
            (0.0, None) if d > 0 else (None, 0.0) if d < 0 else (None, None)
            for d in (monotone.get(spec["name"], 0) for spec in slopes)
        ]
        coef, intercept = _fit_logistic(design, y, weight, self.C_, bounds)
        for k, spec in enumerate(slopes):
            if coef[bins_end + k] == 0.0 and monotone.get(spec["name"], 0):
                del spec["linear"]
            else:
                spec["linear"]["slope"] = float(coef[bins_end + k]) / spec["linear"]["scale"]
        # The weighted rows in each bin: one product with the transposed design sums them row by
        # row, as a column slice's own sum did (the same numbers), without the slices (~2 s at
        # 300,000 rows) or a copy of the design's values.
        counts = design.T @ weight
        self.weights_ = []
        for spec, (start, stop) in zip(self.bins_, self._slices(), strict=True):
            w = coef[start:stop].copy()
            direction = monotone.get(spec["name"], 0)
            if direction and spec["kind"] == "numeric":
                w = _monotone_weights(w, counts[start:stop], direction)
            self.weights_.append(w)
        self.intercept_ = intercept

    def _linear_specs(self) -> list[dict[str, Any]]:
        return [spec for spec in self.bins_ if "linear" in spec]

    def contribution_range(self) -> list[tuple[float, float]]:
        """The lowest and highest contribution each column can make (scorecard)."""
        out = []
        for spec, w in zip(self.bins_, self.weights_, strict=True):
            low, high = float(np.min(w)), float(np.max(w))
            line = spec.get("linear")
            if line:
                ends = [line["slope"] * (line[end] - line["center"]) for end in ("low", "high")]
                # Missing values (the last bin) take no linear term.
                ordered = w[:-1]
                low = min(float(w[-1]), float(np.min(ordered)) + min(ends))
                high = max(float(w[-1]), float(np.max(ordered)) + max(ends))
            out.append((low, high))
        return out

    # ---- prediction
    def decision_function(self, X: Any) -> np.ndarray:
        """The calibrated logit."""
        frame = self._frame(X)
        a, b = self.calibration_
        return a * self._logit(frame) + b

    def predict_proba(self, X: Any) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def probability_of(self, contributions: np.ndarray) -> np.ndarray:
        """`predict_proba(X)[:, 1]` from `contributions(X)` (scorecard), the same numbers."""
        a, b = self.calibration_
        return 1.0 / (1.0 + np.exp(-(a * self._logit_of(contributions) + b)))

    def predict(self, X: Any) -> np.ndarray:
        closes = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[closes.astype(int)]

    def _frame(self, X: Any) -> pl.DataFrame:
        """`X` as a frame of the columns the model was fitted on; refuses other shapes."""
        check_is_fitted(self)
        frame = to_polars(X)
        if not isinstance(X, pl.DataFrame) and frame.width != self.n_features_in_:
            raise ValueError(
                f"X has {frame.width} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        if frame.columns != list(self.feature_names_in_) and not isinstance(X, pl.DataFrame):
            # An array gives its columns in the fitted order.
            frame = frame.rename(dict(zip(frame.columns, self.feature_names_in_, strict=True)))
        return frame

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # Missing values have a bin of their own (scorecard) or go where boosting sends them.
        tags.input_tags.allow_nan = True
        # Text columns are binned by value.
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.classifier_tags.multi_class = False
        return tags

    def _logit(self, frame: pl.DataFrame) -> np.ndarray:
        if self.kind_ == "scorecard":
            return self._logit_of(self.contributions(frame))
        return self.booster_.decision_function(self._boost_matrix(frame))

    def _logit_of(self, contributions: np.ndarray) -> np.ndarray:
        return self.intercept_ + contributions.sum(axis=1)

    def contributions(self, X: Any) -> np.ndarray:
        """Per-column share of the base logit (scorecard): row sums + intercept = logit."""
        if self.kind_ != "scorecard":
            raise ValueError("only a scorecard decomposes exactly into per-column contributions")
        frame = self._frame(X)
        out = np.empty((frame.height, len(self.bins_)))
        for j, (spec, w) in enumerate(zip(self.bins_, self.weights_, strict=True)):
            out[:, j] = w[_bin_index(frame[spec["name"]], spec)]
            if "linear" in spec:
                out[:, j] += spec["linear"]["slope"] * _linear_value(frame[spec["name"]], spec)
        return out

    def bin_indices(self, X: Any) -> dict[str, np.ndarray]:
        """The bin each row falls in, per column (scorecard): an index into its `labels`."""
        frame = to_polars(X)
        return {spec["name"]: _bin_index(frame[spec["name"]], spec) for spec in self.bins_}

    def bin_counts(self, X: Any, weight: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The rows in each bin, per column (scorecard), weighted by `weight` when given: one
        column's bins at a time (`bin_indices` holds every column's: a million rows, 0.4 GB)."""
        frame = to_polars(X)
        return {
            spec["name"]: np.bincount(
                _bin_index(frame[spec["name"]], spec), weights=weight, minlength=len(spec["labels"])
            )
            for spec in self.bins_
        }

    def bin_labels(self, X: Any) -> dict[str, list[str]]:
        """The readable bin each row falls in, per column (scorecard)."""
        frame = to_polars(X)
        return {
            spec["name"]: [spec["labels"][i] for i in _bin_index(frame[spec["name"]], spec)]
            for spec in self.bins_
        }

    # ---- internals
    def _slices(self) -> list[tuple[int, int]]:
        out, start = [], 0
        for spec in self.bins_:
            out.append((start, start + len(spec["labels"])))
            start += len(spec["labels"])
        return out

    def _design(self, frame: pl.DataFrame) -> sparse.csr_matrix:
        n, k = frame.height, len(self.bins_)
        # Each row's bins, one column at a time into the matrix's own index array (32-bit, as
        # scipy keeps it): stacked as 64-bit columns, they were held twice more (the nightly
        # fit's 200,000 rows of 48 columns: its arrays' peak 264 -> 230 MB).
        # Linear terms enter standardized, so one C regularizes them as it does the bins: each is
        # a column after the bins', held in every row (a zero too). Written into the matrix's
        # own arrays, not stacked onto the bins' matrix: `sparse.hstack` went through a COO copy
        # of both, the peak of the training step (+0.2 GB at 100,000 rows).
        lines = self._linear_specs()
        width = k + len(lines)
        indices = np.empty((n, width), dtype=np.int32)
        values = np.ones((n, width))
        offset = 0
        for j, spec in enumerate(self.bins_):
            indices[:, j] = _bin_index(frame[spec["name"]], spec) + offset
            offset += len(spec["labels"])
        for i, spec in enumerate(lines):
            indices[:, k + i] = offset + i
            line = _linear_value(frame[spec["name"]], spec, fitting=True)
            values[:, k + i] = line / spec["linear"]["scale"]
        size = n * width
        indptr = np.arange(0, size + 1, width, dtype=np.int64 if size > 2**31 - 1 else np.int32)
        return sparse.csr_matrix(
            (values.reshape(-1), indices.reshape(-1), indptr),
            shape=(n, offset + len(lines)),
            copy=False,
        )

    def _boost_matrix(self, frame: pl.DataFrame) -> np.ndarray:
        columns = []
        for c in frame.columns:
            if c in self.encoders_:
                levels = self.encoders_[c]
                codes = (
                    frame[c]
                    .cast(pl.String)
                    .replace_strict(
                        levels, list(range(len(levels))), default=None, return_dtype=pl.Float64
                    )
                )
                columns.append(codes.fill_null(np.nan).to_numpy())
            else:
                columns.append(frame[c].cast(pl.Float64).to_numpy())
        return np.column_stack(columns)

    @classmethod
    def from_points(
        cls,
        columns: dict[str, bool],
        counts: dict[str, tuple[float, int]],
        levels: dict[str, dict[str, float]],
        calibration: tuple[float, float],
    ) -> CloseProbabilityModel:
        """A scorecard whose weights are given instead of fitted: a points rule.

        `columns`: every column, True where it is numeric. `counts`: {column: (weight per unit,
        cap)}: a count column's weight is the weight per unit times the count, up to `cap` units.
        `levels`: {column: {value: weight}} for text columns (other values and missing: 0).
        Every other column weighs nothing. `calibration`: (a, b) of p = sigmoid(a * logit + b).
        """
        bins, weights = [], []
        for name, numeric in columns.items():
            if name in counts:
                per_unit, cap = counts[name]
                edges = [float(k) for k in range(cap)]
                labels = _numeric_labels(edges, np.zeros(1))
                w = [per_unit * min(k, cap) for k in range(cap + 1)]
                bins.append({"name": name, "kind": "numeric", "edges": edges, "labels": labels})
            elif name in levels:
                kept = sorted(levels[name])
                labels = [*kept, OTHER]
                w = [levels[name][v] for v in kept] + [0.0]
                bins.append({"name": name, "kind": "categorical", "levels": kept, "labels": labels})
            elif numeric:
                labels, w = ["any"], [0.0]
                bins.append({"name": name, "kind": "numeric", "edges": [], "labels": labels})
            else:
                labels, w = [OTHER], [0.0]
                bins.append({"name": name, "kind": "categorical", "levels": [], "labels": labels})
            bins[-1]["labels"] = [*labels, MISSING]
            weights.append([*w, 0.0])
        return cls.from_dict(
            {
                "format": FORMAT_VERSION,
                "params": cls(kind="scorecard").get_params(),
                "bins": bins,
                "weights": weights,
                "intercept": 0.0,
                "calibration": [float(calibration[0]), float(calibration[1])],
            }
        )

    # ---- persistence: plain data, so loading a model can never run code
    def to_dict(self) -> dict[str, Any]:
        if self.kind_ != "scorecard":
            raise ValueError("only a scorecard is stored as data")
        return {
            "format": FORMAT_VERSION,
            "params": self.get_params(),
            "bins": self.bins_,
            "weights": [w.tolist() for w in self.weights_],
            "intercept": self.intercept_,
            "calibration": list(self.calibration_),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CloseProbabilityModel:
        if data.get("format") not in (1, FORMAT_VERSION):
            raise ValueError(f"unknown model format {data.get('format')!r}")
        model = cls(**data["params"])
        model.bins_ = data["bins"]
        model.weights_ = [np.asarray(w, dtype=float) for w in data["weights"]]
        model.intercept_ = float(data["intercept"])
        model.calibration_ = tuple(data["calibration"])
        model.kind_ = "scorecard"
        model.classes_ = np.array([0, 1])
        model.feature_names_in_ = np.array([b["name"] for b in model.bins_], dtype=object)
        model.n_features_in_ = len(model.bins_)
        return model


def _fit_bins(column: pl.Series, max_bins: int, min_share: float) -> dict[str, Any]:
    """Bin edges (numbers) or kept values (text) for one column, with readable labels."""
    name = column.name
    if is_numeric(column.dtype):
        values = column.cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
        edges: list[float] = []
        if values.size:
            low = float(values.min())
            # The minimum is often a mass point (zero events): give it a bin of its own.
            rest = values[values > low]
            qs = (
                np.quantile(rest, np.linspace(0, 1, max_bins + 1)[1:-1])
                if rest.size
                else np.array([])
            )
            edges = sorted({low, *[float(q) for q in qs]})
            edges = [e for e in edges if e < values.max()]
        labels = _numeric_labels(edges, values)
        return {"name": name, "kind": "numeric", "edges": edges, "labels": [*labels, MISSING]}
    text = column.cast(pl.String)
    counts = text.drop_nulls().value_counts(sort=True)
    floor = max(10, int(min_share * column.len()))
    kept = sorted(v for v, n in counts.iter_rows() if n >= floor)
    return {"name": name, "kind": "categorical", "levels": kept, "labels": [*kept, OTHER, MISSING]}


def _validation_folds(
    y: np.ndarray, time: Any, folds: int, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, validation rows) pairs. With `time`: forward chaining over `folds` + 1 blocks
    of consecutive times (a time is never split between blocks), each block validated on a model
    of every earlier one; a pair whose rows hold one class only is skipped. Without: stratified
    random folds."""
    if time is None:
        if np.bincount(y.astype(int), minlength=2).min() < folds:
            return
        yield from StratifiedKFold(folds, shuffle=True, random_state=seed).split(
            np.zeros(y.size), y
        )
        return
    times = pl.Series("time", time)
    if times.len() != y.size:
        raise ValueError(f"time has {times.len()} values but y has {y.size}")
    if times.null_count():
        raise ValueError("time has missing values: every row needs one to order the folds")
    rank = times.rank("dense").to_numpy() - 1
    distinct = int(rank.max()) + 1
    if distinct < 2:
        return
    # Each block ends where the cumulative row count passes its share of the rows.
    per_time = np.bincount(rank)
    cumulative = np.cumsum(per_time) / y.size
    blocks = np.minimum(
        np.searchsorted(np.linspace(0, 1, folds + 2)[1:-1], cumulative, side="left"), folds
    )
    block_of_row = blocks[rank]
    for b in range(1, int(block_of_row.max()) + 1):
        fit_rows = np.flatnonzero(block_of_row < b)
        valid_rows = np.flatnonzero(block_of_row == b)
        if min(np.unique(y[fit_rows]).size, np.unique(y[valid_rows]).size) < 2:
            continue
        yield fit_rows, valid_rows


def _fit_logistic(
    design: sparse.csr_matrix,
    y: np.ndarray,
    weight: np.ndarray,
    C: float,
    bounds: list[tuple[float | None, float | None]],
) -> tuple[np.ndarray, float]:
    """Weighted L2-regularized logistic regression, scikit-learn's objective (C times the
    weighted log loss plus half the squared coefficients; the intercept not penalized), with
    bounds on the coefficients: L-BFGS-B. Returns the coefficients and the intercept."""
    total = float(weight.sum())
    # The transposed product through the design's own arrays (a CSC view): a transposed copy
    # doubled the fit's largest array (the nightly fit's arrays' peak 230 -> 120 MB) and was
    # no faster (200,000 rows: 11 ms a product against 15).
    X, Xt = design, design.T

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta, b = theta[:-1], theta[-1]
        z = X @ beta + b
        loss = float(weight @ (np.logaddexp(0.0, z) - y * z)) / total
        residual = weight * (expit(z) - y) / total
        penalty = 1.0 / (C * total)
        grad = np.empty_like(theta)
        grad[:-1] = Xt @ residual + penalty * beta
        grad[-1] = residual.sum()
        return loss + 0.5 * penalty * float(beta @ beta), grad

    result = minimize(
        objective,
        np.zeros(X.shape[1] + 1),
        jac=True,
        method="L-BFGS-B",
        bounds=[*bounds, (None, None)],
        options={"maxiter": 2000, "gtol": 1e-4, "ftol": 64 * np.finfo(float).eps},
    )
    return result.x[:-1], float(result.x[-1])


def _fit_linear(column: pl.Series, weight: np.ndarray) -> dict[str, float] | None:
    """Where a numeric column's linear term is centred, its scale, and the range it extrapolates
    over; None for a column without spread."""
    values = column.cast(pl.Float64).to_numpy()
    present = ~np.isnan(values)
    if present.sum() < 2:
        return None
    x, w = values[present], weight[present]
    q_low, q_high = (float(q) for q in np.quantile(x, LINEAR_QUANTILES))
    clipped = np.clip(x, q_low, q_high)
    center = float(np.average(clipped, weights=w)) if w.sum() > 0 else float(clipped.mean())
    scale = float(np.sqrt(np.average((clipped - center) ** 2, weights=w))) if w.sum() > 0 else 0.0
    if not scale > 1e-12:
        return None
    span = q_high - q_low
    low = q_low - span
    if x.min() >= 0:
        low = max(low, 0.0)  # a count stays a count
    return {
        "center": center,
        "scale": scale,
        "q_low": q_low,
        "q_high": q_high,
        "low": low,
        "high": q_high + span,
        "slope": 0.0,
    }


def _linear_value(column: pl.Series, spec: dict[str, Any], fitting: bool = False) -> np.ndarray:
    """The column's value less its centre, clipped to the range its linear term covers; 0 where
    missing (a missing value is its bin's alone)."""
    line = spec["linear"]
    low, high = (line["q_low"], line["q_high"]) if fitting else (line["low"], line["high"])
    values = column.cast(pl.Float64).to_numpy()
    return np.where(np.isnan(values), 0.0, np.clip(values, low, high) - line["center"])


def _numeric_labels(edges: list[float], values: np.ndarray) -> list[str]:
    integral = values.size == 0 or bool(np.all(np.mod(values, 1) == 0))

    def fmt(v: float) -> str:
        return f"{v:.0f}" if integral else f"{v:.3g}"

    labels = []
    bounds = [None, *edges, None]
    for lo, hi in itertools.pairwise(bounds):
        if lo is None and hi is None:
            labels.append("any")
        elif lo is None:
            labels.append(f"<= {fmt(hi)}")
        elif hi is None:
            labels.append(f"> {fmt(lo)}" if not integral else f">= {fmt(np.floor(lo) + 1)}")
        elif integral and np.floor(hi) == np.floor(lo) + 1:
            labels.append(fmt(hi))
        elif integral:
            labels.append(f"{fmt(np.floor(lo) + 1)}-{fmt(hi)}")
        else:
            labels.append(f"{fmt(lo)}-{fmt(hi)}")
    return labels


def _bin_index(column: pl.Series, spec: dict[str, Any]) -> np.ndarray:
    if spec["kind"] == "numeric":
        values = column.cast(pl.Float64).to_numpy()
        idx = np.searchsorted(np.asarray(spec["edges"], dtype=float), values, side="left")
        return np.where(np.isnan(values), len(spec["labels"]) - 1, idx)
    other, missing = len(spec["levels"]), len(spec["levels"]) + 1
    text = column.cast(pl.String)
    index = text.replace_strict(
        spec["levels"], list(range(other)), default=other, return_dtype=pl.Int64
    )
    if text.null_count():
        # replace_strict sends a null to its default: a missing value has a bin of its own.
        index = pl.select(
            pl.when(text.is_null()).then(pl.lit(missing, pl.Int64)).otherwise(index)
        ).to_series()
    return index.to_numpy()


def _monotone_weights(w: np.ndarray, counts: np.ndarray, direction: int) -> np.ndarray:
    """Make the ordered bins' weights monotone (pool-adjacent-violators), missing bin apart."""
    out = w.copy()
    ordered = w[:-1]
    if ordered.size > 1:
        iso = IsotonicRegression(increasing=direction > 0)
        out[:-1] = iso.fit_transform(
            np.arange(ordered.size), ordered, sample_weight=np.maximum(counts[:-1], 1e-9)
        )
    return out


def _fit_categories(frame: pl.DataFrame, min_share: float) -> dict[str, list[str]]:
    encoders = {}
    for c in frame.columns:
        if not is_numeric(frame.schema[c]):
            spec = _fit_bins(frame[c], 0, min_share)
            encoders[c] = spec["levels"]
    return encoders
