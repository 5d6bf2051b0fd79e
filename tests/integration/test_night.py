"""A whole night against a real warehouse, SQLite and PostgreSQL, through the CLI users run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from leadscore import warehouse
from leadscore.cli import main
from tests.conftest import DEMO_END

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

OUTPUT_TABLES = [
    "lead_scores",
    "lead_score_history",
    "lead_routing",
    "account_scores",
    "model_registry",
    "pipeline_runs",
    "lead_lifecycle",
    "funnel_daily",
]


def demo(url: str, leads: int = 3000, days: int = 240) -> None:
    assert (
        main(
            [
                "demo-data",
                "--leads",
                str(leads),
                "--days",
                str(days),
                "--seed",
                "7",
                "--end-date",
                DEMO_END.isoformat(),
                "--url",
                url,
            ]
        )
        == 0
    )


def query(url: str, statement: str) -> pl.DataFrame:
    return warehouse.connect(url).query(statement)


def night_artifact(run_id: str) -> str:
    """The markdown summary the night left on its Prefect flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["leadscore-night"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
        )
    assert len(artifacts) == 1
    return str(artifacts[0].data)


def count(url: str, table: str) -> int:
    return int(query(url, f"select count(*) as n from {table}")["n"][0])


def test_night_fills_every_table_and_a_rerun_changes_nothing(baseline):
    # The baseline holds the demo and its night before DEMO_END; this is the next night.
    url = baseline()
    assert main(["run", "--date", DEMO_END.isoformat(), "--url", url]) == 0
    for table in OUTPUT_TABLES:
        assert count(url, table) > 0, table

    scores = query(url, "select * from lead_scores")
    # The parts add up to the score, and probabilities are probabilities.
    assert (scores["fit_score"] + scores["engagement_score"] - scores["score"]).abs().max() < 1e-6
    assert scores["close_probability"].is_between(0, 1).all()
    assert (scores["score"] >= 0).all()
    ready_share = scores["sdr_ready"].cast(pl.Boolean).mean()
    assert 0.02 <= ready_share <= 0.15, ready_share
    queue = query(url, "select * from v_sdr_queue")
    assert queue.height == scores["sdr_ready"].cast(pl.Boolean).sum()
    routed = query(url, "select * from lead_routing")
    assert routed["lead_id"].is_unique().all()

    # A clean night passes validation, and says what it checked.
    run = query(url, f"select run_id, validation from pipeline_runs where run_date = '{DEMO_END}'")
    summary = json.loads(run["validation"][0])
    assert (
        summary["errors"] == 0 and summary["expectations"] > 50 and summary["quarantined_rows"] == 0
    )
    artifact = night_artifact(run["run_id"][0])
    assert (
        f"validation: {summary['expectations']} expectations, 0 errors, 0 warnings, 0 rows "
        "quarantined" in artifact
    )
    assert summary["data_docs"] in artifact
    # Where each channel loses its leads, from tonight's funnel_daily.
    assert "## Funnel by channel" in artifact and "organic_search: " in artifact
    assert "loses most between" in artifact
    # One Data Docs site per night, with the input suites and the output suite in it.
    index = Path(summary["data_docs"])
    assert index.parent.name == DEMO_END.isoformat()
    pages = index.read_text()
    assert all(
        f"validations/{suite}" in pages
        for suite in ("crm_leads", "product_events_night", "lead_scores_output")
    )

    history = query(url, "select * from lead_score_history order by lead_id, score_date")
    stages = query(url, "select * from lead_lifecycle order by lead_id, score_date")
    funnel = query(url, "select * from funnel_daily order by run_date, lead_source, cohort_month")
    assert main(["run", "--date", DEMO_END.isoformat(), "--url", url]) == 0
    again = query(url, "select * from lead_score_history order by lead_id, score_date")
    assert history.equals(again), "a rerun of the same date must leave identical history rows"
    assert stages.equals(query(url, "select * from lead_lifecycle order by lead_id, score_date"))
    assert funnel.equals(
        query(url, "select * from funnel_daily order by run_date, lead_source, cohort_month")
    )
    assert query(url, "select * from lead_routing").height == routed.height, "no lead routed twice"
    runs = query(
        url,
        f"select status, scores_changed from pipeline_runs where run_date = '{DEMO_END}' "
        "order by started_at",
    )
    assert runs["status"].to_list() == ["succeeded", "succeeded"]
    assert not bool(runs["scores_changed"][1])


def test_backfill_writes_one_history_date_per_day_and_keeps_the_latest_morning_table(baseline):
    url = baseline()  # published: the night before DEMO_END
    latest = DEMO_END - dt.timedelta(days=1)
    start, end = latest - dt.timedelta(days=3), latest - dt.timedelta(days=1)
    morning = query(url, "select * from lead_scores order by lead_id")
    assert (
        main(["backfill", "--start", start.isoformat(), "--end", end.isoformat(), "--url", url])
        == 0
    )
    dates = query(url, "select distinct score_date from lead_score_history order by score_date")
    assert [str(d)[:10] for d in dates["score_date"]] == [
        (start + dt.timedelta(days=i)).isoformat() for i in range(4)
    ]
    # Backfilling older dates writes their history, not the morning table, which keeps the
    # latest night.
    assert query(url, "select * from lead_scores order by lead_id").equals(morning)
    # A backfill runs each night as the nightly run would have: the same lifecycle and funnel
    # rows as running those three nights one by one.
    nightly = baseline()
    for i in range(3):
        day = (start + dt.timedelta(days=i)).isoformat()
        assert main(["run", "--date", day, "--url", nightly]) == 0
    for table, order in (
        ("lead_lifecycle", "score_date, lead_id"),
        ("funnel_daily", "run_date, lead_source, cohort_month"),
    ):
        statement = f"select * from {table} order by {order}"
        assert query(url, statement).equals(query(nightly, statement)), table

    routing = query(
        url,
        "select r.lead_id, r.score_date, r.rep_id, r.rule, a.owner_id, reps.daily_capacity "
        "from lead_routing r join sdr_reps reps on reps.rep_id = r.rep_id "
        "left join crm_accounts a on a.account_id = r.account_id",
    )
    per_rep_night = routing.group_by("rep_id", "score_date").agg(
        pl.len(), pl.col("daily_capacity").first()
    )
    assert (per_rep_night["len"] <= per_rep_night["daily_capacity"]).all(), (
        "a rep got more than its capacity"
    )
    reps = query(url, "select rep_id, active from sdr_reps")
    active = set(reps.filter(pl.col("active").cast(pl.Boolean))["rep_id"])
    owned = routing.filter(pl.col("owner_id").is_in(list(active)))
    assert owned.height > 0
    full = {(r, str(d)) for r, d, n, cap in per_rep_night.iter_rows() if n >= cap}
    for lead in owned.iter_rows(named=True):
        # An owned account's lead goes to its owner, unless the owner had no room left that night.
        assert (
            lead["rep_id"] == lead["owner_id"]
            or (lead["owner_id"], str(lead["score_date"])) in full
        ), lead
    assert routing["rep_id"].is_in(list(active)).all(), "a lead went to an inactive rep"


def test_a_second_run_is_refused_while_one_holds_the_lock(warehouse_url, capsys):
    demo(warehouse_url, leads=500, days=200)
    with warehouse.connect(warehouse_url).lock():
        assert main(["run", "--date", DEMO_END.isoformat(), "--url", warehouse_url]) == 2
    assert "another leadscore run holds the lock" in capsys.readouterr().err


def test_a_worse_challenger_keeps_the_champion_and_says_why(baseline, monkeypatch):
    url = baseline()  # its night before DEMO_END trained the champion
    champion = query(url, "select model_version from model_registry")["model_version"][0]
    # A negative tolerance makes any challenger "worse than the champion beyond tolerance".
    monkeypatch.setenv("LEADSCORE_PROMOTION_TOLERANCE", "-1")
    assert main(["run", "--date", DEMO_END.isoformat(), "--url", url]) == 0
    registry = query(
        url, f"select status, status_reason from model_registry where model_version <> '{champion}'"
    )
    assert registry["status"].to_list() == ["challenger"]
    assert f"kept champion {champion}" in registry["status_reason"][0]
    assert set(query(url, "select model_version from lead_scores")["model_version"]) == {champion}
    message = query(url, f"select message from pipeline_runs where run_date = '{DEMO_END}'")[
        "message"
    ][0]
    assert "challenger" in message and f"kept champion {champion}" in message
