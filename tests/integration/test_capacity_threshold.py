"""The SDR-ready threshold follows SDR capacity: a week of nights on the 20,000-lead demo, whose
reps cannot follow up every SDR-ready lead, with the capacity threshold on and off."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from leadscore import warehouse
from leadscore.cli import main
from tests.conftest import DEMO_END

pytestmark = pytest.mark.integration

NIGHTS = 7


DEMO = ["demo-data", "--leads", "20000", "--days", "270", "--end-date", DEMO_END.isoformat()]
# Training and its yardsticks on smaller weighted samples (every close kept), so the nights stay
# short: the threshold follows the calibrated curve, which these samples still fit.
QUICK = {
    "LEADSCORE_BASELINE_ROWS": "2000",
    "LEADSCORE_MAX_TRAINING_ROWS": "12000",
    "LEADSCORE_MAX_HOLDOUT_ROWS": "8000",
}


def nights_short_of_reps(
    url: str, monkeypatch: pytest.MonkeyPatch, capacity_threshold: bool
) -> None:
    assert main([*DEMO, "--url", url]) == 0
    for name, value in QUICK.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LEADSCORE_CAPACITY_THRESHOLD", str(capacity_threshold).lower())
    start = DEMO_END - dt.timedelta(days=NIGHTS - 1)
    command = ["backfill", "--start", start.isoformat(), "--end", DEMO_END.isoformat()]
    assert main([*command, "--url", url]) == 0


def nights(url: str) -> pl.DataFrame:
    return (
        warehouse.connect(url)
        .query(
            "select run_date, capacity_threshold, close_rate, wanted_close_rate, "
            "threshold_points, capacity_48h, demand_48h, overflow, reason from threshold_daily"
        )
        .sort("run_date")
    )


@pytest.fixture(scope="module")
def off(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> pl.DataFrame:
    """The same nights with the capacity threshold off (once, on SQLite: the comparison)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('off') / 'off.db'}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        nights_short_of_reps(url, monkeypatch, capacity_threshold=False)
    return nights(url)


def test_nights_short_of_reps_raise_the_threshold_and_shrink_the_overflow(
    warehouse_url, monkeypatch, off
):
    nights_short_of_reps(warehouse_url, monkeypatch, capacity_threshold=True)
    on = nights(warehouse_url)

    assert on.height == off.height == NIGHTS
    # Off: the model's threshold every night.
    assert set(off["close_rate"]) == {0.125} and set(off["threshold_points"]) == {100.0}
    assert set(off["reason"]) == {"capacity threshold off"}
    # On: the reps cannot keep up, so the rate rises, 2.5 points a night at most, toward 20%.
    rates = on["close_rate"].to_list()
    assert max(rates) > 0.125 and on["wanted_close_rate"].max() > 0.125
    steps = [abs(b - a) for a, b in zip([0.125, *rates], rates, strict=False)]
    assert max(steps) <= 0.025 + 1e-9
    assert (on["demand_48h"] > on["capacity_48h"]).any()
    assert on["threshold_points"].max() > 100
    # After a week fewer SDR-ready leads wait for a rep than with the threshold off.
    assert on["overflow"][-1] < off["overflow"][-1], (on, off)

    runs = warehouse.connect(warehouse_url).query(
        f"select message from pipeline_runs where run_date = '{DEMO_END}'"
    )
    assert f"SDR-ready at {on['threshold_points'][-1]:g} points" in runs["message"][0]
