"""The SDR-ready threshold that follows SDR capacity, on tiny frames."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from leadscore.settings import Settings
from leadscore.tasks import threshold
from leadscore.tasks.threshold import Capacity, Curve, Demand

D = dt.date(2026, 6, 30)
SCORER = SimpleNamespace(version="m1", scale=SimpleNamespace(threshold_points=100.0))
CURVE = Curve(threshold.RATES, [90.0 + 2 * i for i in range(len(threshold.RATES))])


def demand(new_per_day: float, waiting: int) -> Demand:
    """The same demand at every threshold of CURVE."""
    n = len(CURVE.rates)
    return Demand([round(new_per_day * 7)] * n, [waiting] * n)


def choose(d: Demand, per_day: int = 50, last: float | None = None, **settings):
    return threshold.choose(SCORER, CURVE, d, Capacity(5, per_day, last), D, Settings(**settings))


def test_off_it_is_the_models_threshold():
    cut = choose(demand(1000, 5000), capacity_threshold=False)
    assert (cut.close_rate, cut.threshold_points) == (0.125, 100.0)
    assert cut.reason == "capacity threshold off"


def test_with_room_it_lowers_toward_8_percent_a_step_at_a_time():
    cut = choose(demand(10, 0))  # 20 due in 48 h, 100 can be taken
    assert cut.wanted_close_rate == 0.08
    assert cut.close_rate == 0.10  # 2.5 points below the 12.5% of the first night
    assert cut.threshold_points == CURVE.points[CURVE.rates.index(0.10)]
    assert "the lowest rate that fits: 8.0%" in cut.reason
    assert choose(demand(10, 0), last=0.10).close_rate == 0.08


def test_overloaded_it_raises_toward_20_percent_a_step_at_a_time():
    cut = choose(demand(80, 300))  # 460 due, 100 can be taken
    assert (cut.wanted_close_rate, cut.close_rate) == (0.20, 0.15)
    assert cut.capacity_48h == 100 and cut.demand_48h == 460 and cut.waiting == 300
    assert "none fits, so the highest: 20.0%" in cut.reason
    assert "SDRs can take 100 leads in 48 h (5 active reps, 50 a day)" in cut.reason
    assert choose(demand(80, 300), last=0.2).close_rate == 0.20


def test_the_lowest_rate_whose_demand_fits():
    n = len(CURVE.rates)
    # Demand falls as the rate (and the threshold) rises: 100 can be taken from 13.0% on.
    d = Demand([0] * n, [300 - 20 * i for i in range(n)])
    cut = choose(d, last=0.14)
    assert cut.wanted_close_rate == 0.13 == cut.close_rate
    assert cut.demand_48h <= cut.capacity_48h


def test_without_a_curve_the_models_threshold():
    cut = threshold.choose(SCORER, None, Demand([], []), Capacity(5, 50, None), D, Settings())
    assert (cut.close_rate, cut.threshold_points) == (0.125, 100.0)
    assert "no closes" in cut.reason


def test_the_curve_is_anchored_at_the_models_threshold_and_never_falls():
    rng = np.random.default_rng(0)
    points = np.round(rng.uniform(0, 200, 20_000), 1)
    closes = rng.random(points.size) < 0.3 * (points / 200) ** 3  # 0-30%, rising with score
    rows = pl.DataFrame({"label": closes.astype(int), "weight": np.ones(points.size)})
    found = threshold.curve(points, rows, Settings())
    at = dict(zip(found.rates, found.points, strict=True))
    assert at[0.125] == 100.0
    assert at[0.08] < at[0.10] < at[0.125] < at[0.15] < at[0.20]
    assert found.points == sorted(found.points)
    assert threshold.curve(points, rows.with_columns(label=pl.lit(0)), Settings()) is None


def test_demand_counts_the_new_and_the_waiting():
    tonight = pl.DataFrame(
        {"lead_id": ["new", "crossed", "waiting", "routed", "below"], "score": [120.0] * 4 + [80.0]}
    )
    week_ago = pl.DataFrame(
        {"lead_id": ["crossed", "waiting", "routed", "below"], "score": [90.0, 110.0, 110.0, 95.0]}
    )
    d = threshold.demand_local(tonight, week_ago, pl.Series(["routed"]), [100.0, 115.0])
    # At 100: new and crossed arrived this week; "waiting" was already there and never routed.
    # At 115: all four above it tonight were below it (or not scored) a week ago: none waits.
    assert d == Demand([2, 4], [1, 0])


def test_a_threshold_row_per_night():
    cut = choose(demand(80, 300))
    row = cut.frame(overflow=42).row(0, named=True)
    assert row == dataclasses.asdict(cut) | {"overflow": 42}
    assert "SDR-ready at" in cut.summary and "15.0%" in cut.summary


@pytest.mark.parametrize("value", ["false", "0", "no"])
def test_the_setting_turns_it_off(monkeypatch, value):
    from leadscore.settings import load_settings

    monkeypatch.setenv("LEADSCORE_CAPACITY_THRESHOLD", value)
    assert load_settings().capacity_threshold is False
