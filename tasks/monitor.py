"""Monitor: does the model still see the world it was trained on, and do its scores come true?

- **Drift**: the population stability index (PSI) of every model feature, and of the score, between
  the training window (tonight's labelled snapshot rows, weighted as sampled) and tonight's scored
  leads. A feature is binned as the scoring model bins it (its numeric edges, its levels, "other"
  and "missing"); the score by the deciles of the training window's scores. PSI = sum over bins of
  (tonight's share - training share) * ln(tonight's share / training share), shares floored at
  0.0001. Usual reading: below 0.1 stable, 0.1-0.25 moving, above 0.25 shifted (a warning).
- **Live calibration**: for the nights whose outcome window has closed (scored at least the sales
  cycle before tonight; the last 28 such nights), predicted against observed close rate by decile
  of the predicted probability and for the SDR-ready band; a warning when the SDR-ready band closes
  outside 10-15% or the calibration error over those scores exceeds 0.03.

Entry points: `drift_local` / `drift_in_warehouse` (after scoring; the rows go to `drift_daily`),
and `replace_calibration` (inside the publishing transaction, into `calibration_daily`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from leadscore.sqlgen import ScorecardSql
from leadscore.tasks.features import FEATURES
from leadscore.tasks.score import chunks
from leadscore.tasks.train import Scorer
from leadscore.warehouse import Session, Warehouse

PSI_WARNING = 0.25
SHARE_FLOOR = 1e-4
SCORE_BINS = 10
# Live calibration: the matured nights it looks at, and when it warns.
CALIBRATION_NIGHTS = 28
CALIBRATION_ECE_WARNING = 0.03
READY_CLOSE_RATE = (0.10, 0.15)

DRIFT_SCHEMA = {
    "run_date": pl.Date,
    "feature": pl.String,
    "psi": pl.Float64,
    "moved_bin": pl.String,
    "training_share": pl.Float64,
    "night_share": pl.Float64,
    "training_rows": pl.Int64,
    "night_rows": pl.Int64,
}


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two distributions over the same bins (counts or weights)."""
    e = np.maximum(expected / max(expected.sum(), 1e-12), SHARE_FLOOR)
    a = np.maximum(actual / max(actual.sum(), 1e-12), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def score_edges(reference_scores: np.ndarray, weights: np.ndarray) -> list[float]:
    """The inner edges of the training window's score deciles (weighted), distinct."""
    if reference_scores.size == 0:
        return []
    order = np.argsort(reference_scores)
    cum = np.cumsum(weights[order]) / weights.sum()
    at = [
        min(int(np.searchsorted(cum, q / SCORE_BINS)), order.size - 1) for q in range(1, SCORE_BINS)
    ]
    return sorted({round(float(reference_scores[order[i]]), 1) for i in at})


def _row(
    day: dt.date,
    name: str,
    labels: list[str],
    reference: np.ndarray,
    night: np.ndarray,
    training_rows: int,
) -> dict[str, Any]:
    ref_share = reference / max(reference.sum(), 1e-12)
    night_share = night / max(night.sum(), 1e-12)
    moved = int(np.argmax(np.abs(night_share - ref_share)))
    return {
        "run_date": day,
        "feature": name,
        "psi": round(psi(reference, night), 6),
        "moved_bin": labels[moved],
        "training_share": round(float(ref_share[moved]), 6),
        "night_share": round(float(night_share[moved]), 6),
        "training_rows": training_rows,
        "night_rows": int(night.sum()),
    }


@dataclass(frozen=True)
class Reference:
    """The training window as drift compares against it: per feature, its weight in each of the
    scoring model's bins; the inner edges of its score deciles and its weight between them."""

    features: dict[str, np.ndarray]
    score: np.ndarray
    edges: list[float]
    rows: int


def reference(scorer: Scorer, training: pl.DataFrame) -> Reference:
    """The training window (labelled snapshot rows, weighted as sampled) binned by `scorer`."""
    weights = (
        training["weight"].to_numpy() if "weight" in training.columns else np.ones(training.height)
    )
    per_feature = scorer.model.bin_counts(training.select(FEATURES), weights)
    # The points a slice of rows at a time: 300,000 rows' at once are 115 MB.
    scores = np.concatenate(
        [np.round(scorer.points(part).sum(axis=1), 1) for part in chunks(training)]
    )
    edges = score_edges(scores, weights)
    score = np.bincount(
        np.searchsorted(edges, scores, side="left"), weights=weights, minlength=len(edges) + 1
    )
    return Reference(per_feature, score, edges, training.height)


def _score_labels(edges: list[float]) -> list[str]:
    bounds = ["", *[f"{e:g}" for e in edges], ""]
    return [
        f"<= {bounds[i + 1]}"
        if i == 0
        else f"> {bounds[i]}"
        if i == len(edges)
        else f"{bounds[i]}-{bounds[i + 1]}"
        for i in range(len(edges) + 1)
    ]


def drift_local(
    ref: Reference, scorer: Scorer, today: pl.DataFrame, scores: pl.DataFrame, day: dt.date
) -> pl.DataFrame:
    """Drift rows of tonight (`today`: tonight's feature rows; `scores`: tonight's scores)."""
    night = scorer.model.bin_counts(today.select(FEATURES))
    scores_at = np.searchsorted(ref.edges, scores["score"].to_numpy(), side="left")
    night["score"] = np.bincount(scores_at, minlength=len(ref.edges) + 1)
    return _rows(ref, scorer, night, day)


def drift_in_warehouse(
    wh: Warehouse,
    ref: Reference,
    scorer: Scorer,
    features_table: str,
    scores_table: str,
    day: dt.date,
) -> pl.DataFrame:
    """`drift_local`, tonight's bin counts taken in the warehouse (feature rows in work table
    `features_table`, scores in `scores_table`): one small group-by per feature."""
    if ref.rows == 0:
        return _rows(ref, scorer, {}, day)
    card = ScorecardSql(wh, scorer.model, scorer.scale)
    parts = []
    for spec in scorer.model.bins_:
        b = card.bin_index(spec["name"])
        parts.append(
            f"select '{spec['name']}' as feature, {b} as bin, count(*) as n "
            f"from {features_table} row group by {b}"
        )
    whens = " ".join(f"when score <= {wh.sql_float(e)} then {i}" for i, e in enumerate(ref.edges))
    # One score bin (a training window of equal scores) is no GROUP BY: `group by 0` would
    # name a column to SQLite.
    by = f"(case {whens} else {len(ref.edges)} end)" if ref.edges else None
    parts.append(
        f"select 'score' as feature, {by or 0} as bin, count(*) as n from {scores_table}"
        + (f" group by {by}" if by else "")
    )
    found: dict[str, dict[int, int]] = {}
    for feature, at, n in wh.query(" union all ".join(parts)).iter_rows():
        found.setdefault(feature, {})[int(at)] = int(n)
    sizes = {spec["name"]: len(spec["labels"]) for spec in scorer.model.bins_}
    sizes["score"] = len(ref.edges) + 1
    night = {
        name: np.array([found.get(name, {}).get(i, 0) for i in range(size)])
        for name, size in sizes.items()
    }
    return _rows(ref, scorer, night, day)


def _rows(
    ref: Reference, scorer: Scorer, night: dict[str, np.ndarray], day: dt.date
) -> pl.DataFrame:
    if ref.rows == 0:  # no training window (too little history): nothing to drift from
        return pl.DataFrame(schema=DRIFT_SCHEMA)
    rows = [
        _row(
            day,
            spec["name"],
            spec["labels"],
            ref.features[spec["name"]],
            night[spec["name"]],
            ref.rows,
        )
        for spec in scorer.model.bins_
    ]
    rows.append(_row(day, "score", _score_labels(ref.edges), ref.score, night["score"], ref.rows))
    return pl.DataFrame(rows, schema=DRIFT_SCHEMA)


def drift_warnings(drift: pl.DataFrame) -> list[str]:
    shifted = drift.filter(pl.col("psi") > PSI_WARNING).sort("psi", descending=True)
    if shifted.is_empty():
        return []
    named = ", ".join(
        f"{r['feature']} (PSI {r['psi']:.2f}; {r['moved_bin']}: "
        f"{r['training_share']:.0%} -> {r['night_share']:.0%})"
        for r in shifted.iter_rows(named=True)
    )
    return [f"drift above PSI {PSI_WARNING} against the training window: {named}"]


# ---- live calibration


def calibration_statement(wh: Warehouse, day: dt.date, horizon_days: int) -> str:
    """The calibration_daily rows of night `day`: the matured nights' scores by band."""
    last = day - dt.timedelta(days=horizon_days)
    first = last - dt.timedelta(days=CALIBRATION_NIGHTS - 1)
    days = wh.sql_days_between(wh.sql_day("o.closed_at"), "h.score_date")
    return f"""
with matured as (
    select h.lead_id, h.score_date, h.close_probability, h.sdr_ready,
        max(case when o.lead_id is not null and {days} between 1 and {horizon_days}
            then 1 else 0 end) as won
    from lead_score_history h
    left join crm_opportunities o
        on o.lead_id = h.lead_id and o.stage = 'closed_won' and o.closed_at is not null
    where h.score_date between {wh.sql_date(first)} and {wh.sql_date(last)}
    group by h.lead_id, h.score_date, h.close_probability, h.sdr_ready
),
banded as (
    select close_probability, won, sdr_ready,
        ntile(10) over (order by close_probability, lead_id, score_date) as decile
    from matured
),
bands as (
    select 'decile ' || cast(decile as varchar(2)) as band, decile as band_order,
        close_probability, won
    from banded
    union all
    select 'sdr_ready', 11, close_probability, won from banded where sdr_ready = {wh.sql_bool(True)}
    union all
    select 'all', 12, close_probability, won from banded
)
select {wh.sql_date(day)} as run_date, band, band_order,
    {wh.sql_date(first)} as first_night, {wh.sql_date(last)} as last_night,
    count(*) as scores, avg(close_probability) as predicted,
    avg(cast(won as double precision)) as observed
from bands
group by band, band_order
"""


def replace_calibration(s: Session, day: dt.date, horizon_days: int) -> int:
    """Inside the publishing transaction: tonight's calibration_daily rows."""
    s.execute("delete_calibration_daily", run_date=day.isoformat())
    statement = calibration_statement(s.warehouse, day, horizon_days)
    result = s.conn.exec_driver_sql(
        "insert into calibration_daily (run_date, band, band_order, first_night, last_night, "
        f"scores, predicted, observed) {statement}"
    )
    return int(result.rowcount or 0)


def calibration_warnings(rows: pl.DataFrame) -> list[str]:
    """Warnings on tonight's calibration_daily rows (none while no night has matured)."""
    if rows.is_empty():
        return []
    out = []
    deciles = rows.filter(pl.col("band").str.starts_with("decile"))
    total = deciles["scores"].sum()
    if total:
        ece = float(
            ((deciles["predicted"] - deciles["observed"]).abs() * deciles["scores"]).sum() / total
        )
        if ece > CALIBRATION_ECE_WARNING:
            out.append(
                f"matured scores are off by {ece:.3f} on average (calibration error over {total:,} "
                f"scores; warning above {CALIBRATION_ECE_WARNING})"
            )
    ready = rows.filter(pl.col("band") == "sdr_ready")
    if ready.height and ready["scores"][0]:
        rate = float(ready["observed"][0])
        low, high = READY_CLOSE_RATE
        if not low <= rate <= high:
            out.append(
                f"SDR-ready leads of the matured nights closed at {rate:.1%} "
                f"(predicted {float(ready['predicted'][0]):.1%}; target {low:.0%}-{high:.0%})"
            )
    return out
