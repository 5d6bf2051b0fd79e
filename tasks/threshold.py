"""The night's SDR-ready threshold: where the scores are cut so that SDRs can follow up what
becomes SDR-ready.

Practice: SDR-ready leads should close at 10-15% within the sales cycle; raise the threshold
toward 15-20% when SDRs cannot follow up every SDR-ready lead within 48 hours, lower it toward
8-10% when they have room. Each night (`LEADSCORE_CAPACITY_THRESHOLD`, on by default):

- the **curve**: for close rates 8.0%, 8.5% ... 20.0%, the score at or above which tonight's
  holdout leads close at that rate (`train.precision_threshold`), anchored so the target close
  rate (12.5%) is the model's own threshold (100 points) and never falling as the rate rises;
- the **demand** at each rate: the leads that would have become SDR-ready over the last 7 days
  at its threshold (score at or above it tonight, below it or not yet a lead a week ago), per
  day, times the follow-up window (`sla_hours`, 48 h), plus the leads waiting at it: at or
  above it a week ago and tonight, and never routed (the overflow as it would stand);
- the **capacity**: the active reps' `daily_capacity`, summed, times the follow-up window;
- the lowest rate whose demand fits the capacity (else the highest), moved at most 2.5 points of
  close rate from last night's, so the queue does not jump.

Off, the threshold is the model's (12.5%). Either way the choice, its numbers and its reason are
one `threshold_daily` row per night.

Entry points: `curve`, `read_capacity`, `demand_local` / `demand_sql` and `choose`, called by
`score.night_threshold` on both compute paths.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from leadscore.settings import Settings
from leadscore.tasks.features import VELOCITY_DAYS
from leadscore.tasks.train import Scorer, precision_threshold
from leadscore.warehouse import Warehouse

# The close rates the threshold may aim at, and how far it moves in a night.
RATES = [r / 1000 for r in range(80, 201, 5)]
MAX_STEP = 0.025


@dataclass(frozen=True)
class Curve:
    """Tonight's SDR-ready threshold (points) at each close rate the holdout can reach."""

    rates: list[float]
    points: list[float]


def curve(points: np.ndarray, rows: pl.DataFrame, settings: Settings) -> Curve | None:
    """The threshold at each of RATES on labelled snapshot rows `rows` (tonight's holdout) whose
    scores are `points`; None when they hold no close or the target rate is out of their
    reach."""
    if rows.is_empty() or rows["label"].sum() == 0:
        return None
    y, w = rows["label"].to_numpy(), rows["weight"].to_numpy()
    top = float(points.max())
    anchor = precision_threshold(points, y, w, settings.target_close_rate)
    if anchor > top:
        return None
    rates, out = [], []
    for rate in RATES:
        at = precision_threshold(points, y, w, rate)
        if at > top:  # no score closes this often, nor at any higher rate
            break
        rates.append(rate)
        out.append(at - anchor + settings.threshold_points)
    cut = np.round(np.maximum.accumulate(np.asarray(out)), 1)
    return Curve(rates, [float(c) for c in cut])


@dataclass(frozen=True)
class Capacity:
    """What the SDRs can take, and last night's close rate."""

    active_reps: int
    per_day: int
    last_rate: float | None


def read_capacity(wh: Warehouse, run_date: dt.date) -> Capacity:
    reps = wh.read("select_active_capacity", schema={"reps": pl.Int64, "per_day": pl.Int64})
    last = wh.read_if_exists(
        "threshold_daily",
        "select_last_threshold",
        {"run_date": run_date.isoformat()},
        {"close_rate": pl.Float64},
    )
    return Capacity(
        active_reps=int(reps["reps"][0] or 0),
        per_day=int(reps["per_day"][0] or 0),
        last_rate=float(last["close_rate"][0]) if last.height else None,
    )


@dataclass(frozen=True)
class Threshold:
    """Tonight's SDR-ready threshold and why (a threshold_daily row, but its overflow)."""

    run_date: dt.date
    model_version: str
    capacity_threshold: bool
    close_rate: float
    threshold_points: float
    wanted_close_rate: float
    active_reps: int
    capacity_48h: float
    waiting: int
    new_per_day: float
    demand_48h: float
    reason: str

    @property
    def summary(self) -> str:
        """The choice in a line, for pipeline_runs and the log."""
        return (
            f"SDR-ready at {self.threshold_points:g} points (close rate {self.close_rate:.1%}): "
            f"{self.reason}"
        )

    def frame(self, overflow: int) -> pl.DataFrame:
        """The threshold_daily row, with the overflow tonight's routing left."""
        return pl.DataFrame([asdict(self) | {"overflow": overflow}], schema=SCHEMA)


SCHEMA = {
    "run_date": pl.Date,
    "model_version": pl.String,
    "capacity_threshold": pl.Boolean,
    "close_rate": pl.Float64,
    "threshold_points": pl.Float64,
    "wanted_close_rate": pl.Float64,
    "active_reps": pl.Int64,
    "capacity_48h": pl.Float64,
    "waiting": pl.Int64,
    "new_per_day": pl.Float64,
    "demand_48h": pl.Float64,
    "reason": pl.String,
    "overflow": pl.Int64,
}


@dataclass(frozen=True)
class Demand:
    """Per threshold of a curve: the leads that became SDR-ready at it over the last
    VELOCITY_DAYS days (`new`), and those already at or above it a week ago that were never
    routed (`waiting`)."""

    new: list[int]
    waiting: list[int]


def choose(
    scorer: Scorer,
    found: Curve | None,
    demand: Demand,
    capacity: Capacity,
    run_date: dt.date,
    settings: Settings,
) -> Threshold:
    """Tonight's threshold, from the curve, the demand at each of its thresholds, and the SDRs'
    capacity."""
    days = settings.sla_hours / 24
    window = f"{settings.sla_hours:g} h"
    can_take = capacity.per_day * days
    model_rate, model_points = settings.target_close_rate, scorer.scale.threshold_points

    def due(i: int) -> tuple[float, float]:
        per_day = demand.new[i] / VELOCITY_DAYS
        return per_day, per_day * days + demand.waiting[i]

    def result(rate: float, points: float, wanted: float, at: int | None, reason: str):
        per_day, total = due(at) if at is not None else (0.0, 0.0)
        return Threshold(
            run_date=run_date,
            model_version=scorer.version,
            capacity_threshold=settings.capacity_threshold,
            close_rate=rate,
            threshold_points=points,
            wanted_close_rate=wanted,
            active_reps=capacity.active_reps,
            capacity_48h=round(can_take, 1),
            waiting=demand.waiting[at] if at is not None else 0,
            new_per_day=round(per_day, 2),
            demand_48h=round(total, 1),
            reason=reason,
        )

    if not settings.capacity_threshold:
        return result(model_rate, model_points, model_rate, None, "capacity threshold off")
    if found is None or not found.rates:
        return result(
            model_rate,
            model_points,
            model_rate,
            None,
            "the model's threshold: tonight's holdout has no closes to set another on",
        )
    fits = [i for i in range(len(found.rates)) if due(i)[1] <= can_take]
    wanted = fits[0] if fits else len(found.rates) - 1
    last = capacity.last_rate if capacity.last_rate is not None else model_rate
    rate = min(max(found.rates[wanted], last - MAX_STEP), last + MAX_STEP)
    at = min(range(len(found.rates)), key=lambda i: abs(found.rates[i] - rate))
    per_day, total = due(wanted)
    team = (
        f"SDRs can take {can_take:,.0f} leads in {window} ({capacity.active_reps} active reps, "
        f"{capacity.per_day:,} a day)"
    )
    need = (
        f"at {found.rates[wanted]:.1%} about {total:,.0f} would be due "
        f"({per_day:,.1f} newly SDR-ready a day over {window}, "
        f"{demand.waiting[wanted]:,} waiting for a rep)"
    )
    verdict = (
        f"{'the lowest rate that fits' if fits else 'none fits, so the highest'}: "
        f"{found.rates[wanted]:.1%}"
    )
    step = (
        f"; tonight {found.rates[at]:.1%}, about {due(at)[1]:,.0f} due (at most "
        f"{100 * MAX_STEP:g} points of close rate from last night's {last:.1%})"
        if at != wanted
        else ""
    )
    reason = f"{team}; {need}; {verdict}{step}"
    return result(found.rates[at], found.points[at], found.rates[wanted], at, reason)


def demand_local(
    tonight: pl.DataFrame, week_ago: pl.DataFrame, routed: pl.Series, thresholds: list[float]
) -> Demand:
    """`Demand` at each of `thresholds`: `tonight` and `week_ago` are (lead_id, score) of
    tonight's scores and of a week before; `routed`: the lead_ids ever routed."""
    if not thresholds:
        return Demand([], [])
    before = week_ago.select("lead_id", pl.col("score").alias("before"))
    joined = (
        tonight.select("lead_id", "score")
        .join(before, on="lead_id", how="left")
        .with_columns(pl.col("lead_id").is_in(routed.implode()).alias("routed"))
    )
    counts = joined.select(
        *[_new(t).sum().alias(f"n{i}") for i, t in enumerate(thresholds)],
        *[_waiting(t).sum().alias(f"w{i}") for i, t in enumerate(thresholds)],
    )
    row = [int(n or 0) for n in counts.row(0)]
    return Demand(row[: len(thresholds)], row[len(thresholds) :])


def _new(t: float) -> pl.Expr:
    return (pl.col("score") >= t) & (pl.col("before").is_null() | (pl.col("before") < t))


def _waiting(t: float) -> pl.Expr:
    return (pl.col("score") >= t) & (pl.col("before") >= t) & ~pl.col("routed")


def demand_sql(wh: Warehouse, tonight: str, week_ago: str, thresholds: list[float]) -> Demand:
    """`demand_local` in the warehouse: `tonight` and `week_ago` are SELECTs of (lead_id,
    score); the routed leads are lead_routing's."""
    if not thresholds:
        return Demand([], [])
    lit = wh.sql_float
    routed = (
        "left join (select distinct lead_id from lead_routing) r on r.lead_id = p.lead_id"
        if wh.has_table("lead_routing")
        else "left join (select null as lead_id) r on 1 = 0"
    )
    news = [
        f"sum(case when p.score >= {lit(t)} and (w.score is null or w.score < {lit(t)}) "
        f"then 1 else 0 end) as n{i}"
        for i, t in enumerate(thresholds)
    ]
    waits = [
        f"sum(case when p.score >= {lit(t)} and w.score >= {lit(t)} and r.lead_id is null "
        f"then 1 else 0 end) as w{i}"
        for i, t in enumerate(thresholds)
    ]
    row = [
        int(n or 0)
        for n in wh.query(
            f"select {', '.join(news + waits)} from ({tonight}) p "
            f"left join ({week_ago}) w on w.lead_id = p.lead_id {routed}"
        ).row(0)
    ]
    return Demand(row[: len(thresholds)], row[len(thresholds) :])
