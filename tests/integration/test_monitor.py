"""A demo night stores its drift report and the live calibration of the matured scores, on
SQLite and PostgreSQL, and says so in its artifact."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from leadscore import warehouse
from leadscore.cli import main
from leadscore.tasks.features import FEATURES
from tests.conftest import DEMO_END
from tests.integration.test_night import demo, night_artifact

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def query(url: str, statement: str) -> pl.DataFrame:
    return warehouse.connect(url).query(statement)


def test_a_night_stores_drift_and_the_calibration_of_its_matured_scores(warehouse_url):
    url = warehouse_url
    demo(url, leads=3000, days=240)
    # A night whose 90-day outcome window has closed by DEMO_END.
    matured = DEMO_END - dt.timedelta(days=95)
    assert main(["run", "--date", matured.isoformat(), "--url", url]) == 0
    assert main(["run", "--date", DEMO_END.isoformat(), "--url", url]) == 0

    drift = query(url, f"select * from drift_daily where run_date = '{DEMO_END}'")
    assert sorted(drift["feature"]) == sorted([*FEATURES, "score"])
    scored = query(
        url, f"select count(*) as n from lead_score_history where score_date = '{DEMO_END}'"
    )
    assert (drift["night_rows"] == scored["n"][0]).all()
    assert (drift["psi"] >= 0).all()
    assert (
        drift["training_share"].is_between(0, 1).all()
        and drift["night_share"].is_between(0, 1).all()
    )
    # A feature can only shift by the bin that moved: its share moved, or PSI is near zero.
    moved = (drift["night_share"] - drift["training_share"]).abs()
    assert ((moved > 0) | (drift["psi"] < 1e-3)).all()

    bands = query(url, f"select * from calibration_daily where run_date = '{DEMO_END}'").sort(
        "band_order"
    )
    assert bands["band"].to_list() == [f"decile {i}" for i in range(1, 11)] + ["sdr_ready", "all"]
    history = query(
        url,
        "select lead_id, close_probability, sdr_ready from lead_score_history "
        f"where score_date = '{matured}'",
    )
    everyone = bands.filter(pl.col("band") == "all").row(0, named=True)
    assert everyone["scores"] == history.height
    assert str(everyone["first_night"])[:10] <= str(matured) <= str(everyone["last_night"])[:10]
    # Observed: won within the 90 days after the scored night, as the training label counts it.
    won = query(url, "select lead_id, closed_at from crm_opportunities where stage = 'closed_won'")
    won = won.with_columns(
        pl.col("closed_at").cast(pl.String).str.slice(0, 10).str.to_date().alias("day")
    )
    within = won.filter(
        (pl.col("day") > pl.lit(matured))
        & (pl.col("day") <= pl.lit(matured + dt.timedelta(days=90)))
    )
    closed = history["lead_id"].is_in(within["lead_id"].implode())
    assert everyone["observed"] == pytest.approx(float(closed.mean()))
    assert everyone["predicted"] == pytest.approx(float(history["close_probability"].mean()))
    ready = history["sdr_ready"].cast(pl.Boolean)
    sdr = bands.filter(pl.col("band") == "sdr_ready").row(0, named=True)
    assert sdr["scores"] == int(ready.sum())
    assert sdr["observed"] == pytest.approx(float(closed.filter(ready).mean()))
    # Deciles: equal counts, rising predictions.
    deciles = bands.head(10)
    assert deciles["scores"].max() - deciles["scores"].min() <= 1
    assert deciles["predicted"].is_sorted()

    run_id = query(url, f"select run_id from pipeline_runs where run_date = '{DEMO_END}'")[
        "run_id"
    ][0]
    artifact = night_artifact(run_id)
    assert "## Drift and live calibration" in artifact
    assert "| sdr_ready |" in artifact and "Largest drift against the training window" in artifact

    # A rerun of the night stores the same rows.
    assert main(["run", "--date", DEMO_END.isoformat(), "--url", url]) == 0
    again = query(url, f"select * from drift_daily where run_date = '{DEMO_END}'")
    assert again.sort("feature").equals(drift.sort("feature"))
    assert (
        query(url, f"select * from calibration_daily where run_date = '{DEMO_END}'")
        .sort("band_order")
        .equals(bands)
    )
