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
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

MISSING = "(missing)"
OTHER = "(other)"
FORMAT_VERSION = 1


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
    kind : "scorecard", "boosting", or "auto": the scorecard unless boosting's log loss on an
        internal 25% validation split is lower by more than ``auto_margin`` (relative).
    max_bins : bins per numeric column (scorecard).
    C : inverse L2 strength of the scorecard's logistic regression.
    min_level_share : text values rarer than this share of rows are pooled into "(other)".
    monotone : {column: +1 or -1}; the column's effect never falls (+1) or rises (-1) with it.
    calibration_folds : folds for the out-of-fold logits the calibration is fitted on.
    random_state : seed for the folds and the boosting.
    """

    def __init__(
        self,
        kind: str = "auto",
        max_bins: int = 12,
        C: float = 0.3,
        min_level_share: float = 0.002,
        monotone: dict[str, int] | None = None,
        calibration_folds: int = 3,
        random_state: int = 0,
        auto_margin: float = 0.01,
    ):
        self.kind = kind
        self.auto_margin = auto_margin
        self.max_bins = max_bins
        self.C = C
        self.min_level_share = min_level_share
        self.monotone = monotone
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    # ---- fitting
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CloseProbabilityModel:
        """Fit on rows `X` and two-class labels `y` (the second of the sorted classes closes)."""
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
        self.kind_ = self.kind if self.kind != "auto" else self._choose_kind(frame, target, weight)
        self.classes_ = classes

        # Out-of-fold logits for the calibration map; the folds never see their own rows.
        folds = StratifiedKFold(
            self.calibration_folds, shuffle=True, random_state=self.random_state
        )
        oof = np.zeros_like(target)
        for train_idx, test_idx in folds.split(np.zeros(target.size), target):
            part = (
                clone(self)
                .set_params(kind=self.kind_)
                ._fit_base(frame[train_idx], target[train_idx], weight[train_idx])
            )
            oof[test_idx] = part._logit(frame[test_idx])
        calibrator = LogisticRegression(C=1e6).fit(oof.reshape(-1, 1), target, sample_weight=weight)
        self.calibration_ = (float(calibrator.coef_[0, 0]), float(calibrator.intercept_[0]))
        self._fit_base(frame, target, weight)
        return self

    def _choose_kind(self, frame: pl.DataFrame, y: np.ndarray, weight: np.ndarray) -> str:
        """Scorecard unless boosting is clearly better on held-out rows (exact points are worth a
        lot)."""
        from sklearn.metrics import log_loss
        from sklearn.model_selection import train_test_split

        train, valid = train_test_split(
            np.arange(y.size), test_size=0.25, stratify=y, random_state=self.random_state
        )
        losses = {}
        for kind in ("scorecard", "boosting"):
            model = clone(self).set_params(kind=kind).fit(frame[train], y[train], weight[train])
            losses[kind] = log_loss(
                y[valid], model.predict_proba(frame[valid])[:, 1], sample_weight=weight[valid]
            )
        self.kind_losses_ = losses
        return (
            "boosting"
            if losses["boosting"] < losses["scorecard"] * (1 - self.auto_margin)
            else "scorecard"
        )

    def _fit_base(
        self, frame: pl.DataFrame, y: np.ndarray, weight: np.ndarray
    ) -> CloseProbabilityModel:
        self.feature_names_in_ = np.array(frame.columns, dtype=object)
        self.n_features_in_ = len(frame.columns)
        self.kind_ = self.kind if self.kind != "auto" else getattr(self, "kind_", "scorecard")
        if self.kind_ == "scorecard":
            self.bins_ = [
                _fit_bins(frame[c], self.max_bins, self.min_level_share) for c in frame.columns
            ]
            design = self._design(frame)
            lr = LogisticRegression(C=self.C, max_iter=2000)
            lr.fit(design, y, sample_weight=weight)
            coef = lr.coef_.ravel()
            self.weights_ = []
            for spec, (start, stop) in zip(self.bins_, self._slices(), strict=True):
                w = coef[start:stop].copy()
                direction = (self.monotone or {}).get(spec["name"], 0)
                if direction and spec["kind"] == "numeric":
                    counts = np.asarray(
                        design[:, start:stop].multiply(weight[:, None]).sum(axis=0)
                    ).ravel()
                    w = _monotone_weights(w, counts, direction)
                self.weights_.append(w)
            self.intercept_ = float(lr.intercept_[0])
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

    # ---- prediction
    def decision_function(self, X: Any) -> np.ndarray:
        """The calibrated logit."""
        frame = self._frame(X)
        a, b = self.calibration_
        return a * self._logit(frame) + b

    def predict_proba(self, X: Any) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

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
            return self.intercept_ + self.contributions(frame).sum(axis=1)
        return self.booster_.decision_function(self._boost_matrix(frame))

    def contributions(self, X: Any) -> np.ndarray:
        """Per-column share of the base logit (scorecard): row sums + intercept = logit."""
        if self.kind_ != "scorecard":
            raise ValueError("only a scorecard decomposes exactly into per-column contributions")
        frame = self._frame(X)
        out = np.empty((frame.height, len(self.bins_)))
        for j, (spec, w) in enumerate(zip(self.bins_, self.weights_, strict=True)):
            out[:, j] = w[_bin_index(frame[spec["name"]], spec)]
        return out

    def bin_indices(self, X: Any) -> dict[str, np.ndarray]:
        """The bin each row falls in, per column (scorecard): an index into its `labels`."""
        frame = to_polars(X)
        return {spec["name"]: _bin_index(frame[spec["name"]], spec) for spec in self.bins_}

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
        n = frame.height
        cols, offset = [], 0
        for spec in self.bins_:
            cols.append(_bin_index(frame[spec["name"]], spec) + offset)
            offset += len(spec["labels"])
        indices = np.column_stack(cols).ravel()
        indptr = np.arange(0, n * len(cols) + 1, len(cols))
        return sparse.csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, offset))

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
        if data.get("format") != FORMAT_VERSION:
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
