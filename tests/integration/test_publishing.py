"""Morning tables that survive crashes and concurrent readers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import polars as pl
import pytest

from leadscore import warehouse
from leadscore.cli import main
from tests.conftest import DEMO_END

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
NIGHT = DEMO_END.isoformat()
# What a night writes; run ids and wall-clock times differ between two runs by nature.
OUTPUTS = {
    "lead_scores": ["run_id"],
    "lead_score_history": ["run_id"],
    "lead_routing": ["run_id"],
    "routing_state": [],
    "account_scores": ["run_id"],
    "model_registry": [],
    "lead_activity_daily": [],
    "activity_rollup_state": [],
    "quarantine_rows": ["run_id"],
}


def tables(url: str) -> dict[str, pl.DataFrame]:
    wh = warehouse.connect(url)
    return {
        t: wh.query(f"select * from {t}").drop(drop).sort(pl.all()) for t, drop in OUTPUTS.items()
    }


def run_in_subprocess(url: str, crash_at: str | None) -> int:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or ""}
    env.pop("LEADSCORE_CRASH_AT", None)
    if crash_at:
        env["LEADSCORE_CRASH_AT"] = crash_at
    done = subprocess.run(
        [sys.executable, "-m", "leadscore.cli", "run", "--date", NIGHT, "--url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode


@pytest.fixture(scope="session")
def uninterrupted(baseline) -> dict[str, pl.DataFrame]:
    """The tables of the night run once, without interruption (per dialect)."""
    reference = baseline()
    assert main(["run", "--date", NIGHT, "--url", reference]) == 0
    return tables(reference)


# Mid-computation, with the rows staged, at the start of the publishing transaction, and just
# before its commit.
KILL_POINTS = ["train", "publish:staged", "publish:started", "publish:before-commit"]


def test_kill_and_rerun_gives_the_tables_of_an_uninterrupted_run(baseline, uninterrupted):
    # One warehouse killed at each point in turn, as a night retried after crash upon crash
    # would be.
    crashed = baseline()
    before = tables(crashed)
    for point in KILL_POINTS:
        assert run_in_subprocess(crashed, point) == -9, point  # SIGKILL: no handler ran
        after_kill = tables(crashed)
        for name, frame in before.items():
            assert after_kill[name].equals(frame), f"{name} changed by a night killed at {point}"
    assert run_in_subprocess(crashed, None) == 0
    got = tables(crashed)
    for name in OUTPUTS:
        assert got[name].equals(uninterrupted[name]), (
            f"{name} differs from the uninterrupted night's after the kills"
        )


def test_a_reader_sees_one_whole_night_never_a_mix_or_nothing(baseline):
    url = baseline()
    engine = warehouse.connect(url).engine
    seen: list[tuple] = []
    problems: list[Exception] = []
    stop = threading.Event()
    # One statement reads one snapshot, on both dialects.
    probe = (
        "select (select count(*) from lead_scores) as n, "
        "(select min(score_date) from lead_scores) as lo, "
        "(select max(score_date) from lead_scores) as hi, "
        "(select max(score_date) from v_sdr_queue) as queue"
    )

    def read() -> None:
        try:
            with engine.connect() as conn:
                while not stop.is_set():
                    seen.append(tuple(conn.exec_driver_sql(probe).one()))
                    conn.rollback()
        except Exception as exc:  # noqa: BLE001 (handed to the test thread, which fails on it)
            problems.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert main(["run", "--date", NIGHT, "--url", url]) == 0
    finally:
        stop.set()
        reader.join()
    assert not problems, problems
    dates = {str(lo)[:10] for _, lo, _, _ in seen}
    assert len(seen) > 10
    assert all(n > 0 for n, *_ in seen), "a reader saw an empty lead_scores"
    assert all(str(lo) == str(hi) == str(queue) for _, lo, hi, queue in seen), (
        "a reader saw two nights at once"
    )
    assert dates <= {str(DEMO_END), str(DEMO_END.fromordinal(DEMO_END.toordinal() - 1))}


def test_staged_rows_are_written_a_chunk_at_a_time_and_categories_as_their_text(
    warehouse_url, monkeypatch
):
    # A first night stages ~15M daily rows whose lead is a category: the writers make the
    # warehouse's values (text, CSV) for one chunk at a time, and write a category as its text.
    import datetime as dt

    from leadscore.tasks.extract import ACTIVITY_SCHEMA
    from leadscore.warehouse import base

    monkeypatch.setattr(base, "WRITE_CHUNK_ROWS", 3)
    for module in ("sqlite", "postgresql"):
        monkeypatch.setattr(f"leadscore.warehouse.{module}.WRITE_CHUNK_ROWS", 3)
    rows = pl.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(8)],
            "activity_date": [dt.date(2026, 6, 1 + i) for i in range(8)],
            "event": ["login", "email_open"] * 4,
            "events": list(range(8)),
        }
    ).with_columns(pl.col("lead_id").cast(pl.Categorical))
    wh = warehouse.connect(warehouse_url)
    with wh.session() as s:
        with s.transaction():  # as publishing does: staged before the transaction that inserts
            s.create_outputs()
            s.stage("activity", "lead_activity_daily", rows)
        with s.transaction():
            assert s.insert_staged("lead_activity_daily", "activity") == 8
    stored = wh.query(
        "select lead_id, activity_date, event, events from lead_activity_daily",
        schema=ACTIVITY_SCHEMA,
    )
    assert stored.sort("events").equals(rows.cast(ACTIVITY_SCHEMA))
