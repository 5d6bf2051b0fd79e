"""`LEADSCORE_COMPUTE=warehouse` publishes the rows `local` publishes, on both dialects: a first
night (no activity roll-up yet) and the night after (roll-up, SDR-ready episodes and routings
carried over), with the training sample drawn (caps below the rows), then a rerun that changes
nothing."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from leadscore import sql, warehouse
from leadscore.cli import main
from tests.conftest import DEMO_END

NIGHTS = [DEMO_END - dt.timedelta(days=1), DEMO_END]
# Every column but those naming the run; rows in key order.
COMPARED = {
    "lead_score_history": ["score_date", "lead_id"],
    "lead_scores": ["lead_id"],
    "lead_routing": ["score_date", "lead_id"],
    "routing_state": ["team"],
    "lead_activity_daily": ["lead_id", "activity_date", "event"],
    "activity_rollup_state": ["rolled_through"],
    "drift_daily": ["run_date", "feature"],
    "threshold_daily": ["run_date"],
    # Computed from the night's frames in polars (local) and by the statements (warehouse).
    "lead_lifecycle": ["score_date", "lead_id"],
    "funnel_daily": ["run_date", "lead_source", "cohort_month"],
}


def read(url: str, table: str, keep_run: bool = False) -> pl.DataFrame:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        frame = pl.read_database(f"select * from {table}", conn, infer_schema_length=None)
    engine.dispose()
    return frame if keep_run else frame.drop(c for c in ("run_id", "routed_at") if c in frame)


def without_outputs(url: str) -> str:
    """The warehouse as before its first night: source tables only."""
    wh = warehouse.connect(url)
    with wh.session() as s, s.transaction():
        for view in reversed(sql.VIEWS):
            s.execute(f"drop_{view}")
        for table in sql.OUTPUT_TABLES:
            s.conn.exec_driver_sql(f"drop table if exists {table}")
    wh.dispose()
    return url


def run(url: str, day: dt.date, compute: str) -> None:
    assert main(["run", "--date", day.isoformat(), "--url", url, "--compute", compute]) == 0


@pytest.fixture
def sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Well below the demo's snapshot rows: the sample, not every row, is what trains.
    monkeypatch.setenv("LEADSCORE_MAX_TRAINING_ROWS", "2500")
    monkeypatch.setenv("LEADSCORE_MAX_HOLDOUT_ROWS", "1200")


def test_warehouse_compute_publishes_the_local_rows(baseline, sampled):
    local, inside = without_outputs(baseline()), without_outputs(baseline())
    for day in NIGHTS:
        run(local, day, "local")
        run(inside, day, "warehouse")

    history = read(local, "lead_score_history")
    assert history["score_date"].n_unique() == 2 and history["sdr_ready"].sum() > 20
    # The second night carries SDR-ready episodes over from the first.
    assert (history["sdr_ready_since"].cast(pl.String) < str(DEMO_END)).sum() > 5
    for table, key in COMPARED.items():
        expected, got = read(local, table).sort(key), read(inside, table).sort(key)
        assert expected.height, table
        assert_frame_equal(got.select(expected.columns), expected, check_dtypes=False), table
    # The roll-up of accounts sums in another order: equal to the published rounding.
    expected, got = (
        read(u, "account_scores").sort("score_date", "account_id") for u in (local, inside)
    )
    assert_frame_equal(got.select(expected.columns), expected, check_dtypes=False, abs_tol=1.5e-6)
    models = [
        read(u, "model_registry").sort("model_version")["model_version"] for u in (local, inside)
    ]
    assert models[0].equals(models[1])


def test_a_warehouse_rerun_changes_nothing(baseline):
    url = baseline()
    run(url, DEMO_END, "warehouse")
    before = read(url, "lead_score_history", keep_run=True).sort("score_date", "lead_id")
    run(url, DEMO_END, "warehouse")
    after = read(url, "lead_score_history", keep_run=True).sort("score_date", "lead_id")
    assert after.filter(pl.col("score_date").cast(pl.String) == str(DEMO_END)).height
    assert_frame_equal(after, before)
    runs = read(url, "pipeline_runs").sort("started_at")
    assert runs["scores_changed"].cast(pl.Boolean).to_list()[-2:] == [True, False]
