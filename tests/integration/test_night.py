"""A whole night against a real warehouse, SQLite and PostgreSQL, through the CLI users run."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from leadscore import warehouse
from leadscore.cli import main
from leadscore.flows import nightly
from leadscore.tasks import html_report
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


def night_artifact(run_id: str, key: str = "leadscore-night") -> str:
    """The markdown summary (or another artifact) the night left on its Prefect flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
        )
    assert len(artifacts) == 1
    return str(artifacts[0].data)


def events(name: str, run_id: str) -> list[dict]:
    """The events of that name about run `run_id` the Prefect API received (the server stores
    events a moment after they arrive: wait up to 30 s for one)."""
    import httpx
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL

    EventsWorker.drain_all(timeout=10, at_exit=False)  # what this process emitted is sent
    deadline = time.monotonic() + 30
    while True:
        # Newest first: what this test just emitted is on the first page.
        found = httpx.post(
            f"{PREFECT_API_URL.value()}/events/filter",
            json={"filter": {"event": {"name": [name]}, "order": "DESC"}, "limit": 50},
            timeout=30,
        )
        found.raise_for_status()
        mine = [e for e in found.json()["events"] if e["payload"].get("run_id") == run_id]
        if mine or time.monotonic() > deadline:
            return mine
        time.sleep(1)


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
    # This small demo's reps could take many more leads: the threshold follows their capacity
    # down, toward 8% close rate, and more leads are SDR-ready than at the model's 12.5%.
    cut = query(url, f"select close_rate from threshold_daily where run_date = '{DEMO_END}'")
    assert cut["close_rate"][0] < 0.125
    assert 0.02 <= ready_share <= 0.25, ready_share
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
    # The night's HTML report beside its Data Docs, linked from the artifact: every chart, as
    # inline SVG, and nothing that would load from the network.
    page = Path(summary["data_docs"]).parent / "report.html"
    assert page.as_uri() in artifact
    text = page.read_text()
    for chart in html_report.CHARTS:
        section = text.split(f'<section id="{chart}">', 1)[1].split("</section>", 1)[0]
        assert "<svg" in section and "</svg>" in section, chart
    assert "<script" not in text and not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    # And an event an automation can alert on (when none came for 26 hours).
    published = events("leadscore.night.published", run["run_id"][0])
    assert len(published) == 1 and published[0]["payload"]["run_date"] == DEMO_END.isoformat()
    assert published[0]["resource"]["prefect.resource.id"].startswith("leadscore.warehouse.")
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


def published_runs(url: str) -> dict[str, list[str]]:
    """The run ids of the published nights, by run date."""
    rows = query(url, "select run_date, run_id from pipeline_runs where status = 'succeeded'")
    out: dict[str, list[str]] = {}
    for day, run_id in rows.sort("run_date").iter_rows():
        out.setdefault(str(day)[:10], []).append(run_id)
    return out


def test_a_stopped_backfill_reruns_only_the_dates_it_had_not_published(
    baseline, capsys, monkeypatch, tmp_path
):
    from prefect.settings import PREFECT_API_URL

    url = baseline()  # published: the night before DEMO_END
    # The small demo has quiet days that the volume check would refuse; here they pass.
    rules = Path(warehouse.__file__).parents[1] / "validation.toml"
    lenient = tmp_path / "validation.toml"
    lenient.write_text(rules.read_text().replace("volume_drop_max = 0.5", "volume_drop_max = 0.99"))
    monkeypatch.setenv("LEADSCORE_VALIDATION_FILE", str(lenient))
    start = DEMO_END - dt.timedelta(days=7)
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range(6)]
    command = ["backfill", "--start", days[0], "--end", days[-1], "--url", url]
    # Killed (SIGKILL, no handler runs) as its fourth night starts.
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "LEADSCORE_CRASH_AT": "backfill:4",
    }
    killed = subprocess.run(
        [sys.executable, "-m", "leadscore.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    first = published_runs(url)
    assert sorted(d for d in first if d in days) == days[:3]

    assert main(command) == 0
    err = capsys.readouterr().err
    assert "3 of 6 dates already published by an earlier attempt, skipped" in err
    assert "backfill: 3/3 nights" in err  # the progress lines: nights done / total, ETA
    again = published_runs(url)
    # Dates 1-3 kept the first attempt's one run each; dates 4-6 were published by the rerun.
    assert {d: again[d] for d in days[:3]} == {d: first[d] for d in days[:3]}
    assert all(len(again[d]) == 1 for d in days)
    assert not set(first) & set(days[3:])

    # The backfill's Prefect run shows its progress: 3 of 3 nights, 100%.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        latest = client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["leadscore-backfill"]))
        )
    assert latest and float(latest[0].data) == 100.0
    assert "3/3 nights" in latest[0].description

    # Rerun again: nothing left to do; with force, every date again.
    ran: list[str] = []
    monkeypatch.setattr(nightly, "nightly_rescore", lambda day, **_: ran.append(day) or {})
    assert nightly.backfill.fn(days[0], days[-1], url) == []
    nightly.backfill.fn(days[0], days[-1], url, force=True)
    assert ran == days


def test_a_refused_night_leaves_an_artifact_with_its_failures_and_an_event(baseline):
    from tests.data.test_fault_catalog import sql

    url = baseline()
    sql(
        url,
        "update crm_leads set status = 'zombie' "
        "where lead_id = (select min(lead_id) from crm_leads)",
    )
    assert main(["run", "--date", DEMO_END.isoformat(), "--url", url]) == 1
    failed = query(
        url, f"select run_id from pipeline_runs where status = 'failed' and run_date = '{DEMO_END}'"
    )
    run_id = failed["run_id"][0]
    artifact = night_artifact(run_id, key="leadscore-night-failed")
    assert f"# leadscore night {DEMO_END}: refused" in artifact
    assert "Nothing was published" in artifact
    assert "| crm_leads | status | allowed values |" in artifact and "zombie" in artifact
    failures = events("leadscore.night.failed", run_id)
    assert len(failures) == 1 and failures[0]["payload"]["refused"] is True


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


PRODUCTION_MINIMUMS = {"LEADSCORE_MIN_WON_DEALS": "120", "LEADSCORE_MIN_TRAINING_LEADS": "1000"}


def test_too_little_history_publishes_a_night_scored_by_the_points_rule(warehouse_url, monkeypatch):
    demo(warehouse_url, leads=800, days=220)  # 17 won deals in its training snapshots
    for name, value in PRODUCTION_MINIMUMS.items():
        monkeypatch.setenv(name, value)
    assert main(["run", "--date", DEMO_END.isoformat(), "--url", warehouse_url]) == 0

    run = query(warehouse_url, "select status, message from pipeline_runs").row(0, named=True)
    assert run["status"] == "succeeded"
    assert "too little history to fit a model (17 won deals (minimum 120)" in run["message"]
    assert "scored with the points rule" in run["message"]
    registry = query(warehouse_url, "select kind, status, metrics from model_registry")
    assert registry.select("kind", "status").rows() == [("points_rule", "champion")]
    assert "17 won deals" in json.loads(registry["metrics"][0])["fallback"]
    scores = query(
        warehouse_url,
        "select lead_id, score, fit_score, engagement_score, close_probability, sdr_ready, "
        "top_reasons from lead_scores order by lead_id",
    )
    assert scores.height > 500
    assert (scores["fit_score"] + scores["engagement_score"] - scores["score"]).abs().max() < 0.11
    # The rule: 50 of its points (100 of the score) make a lead SDR-ready; profile alone cannot.
    assert 0 < scores["sdr_ready"].sum() < scores.height / 5
    assert (scores["fit_score"] < 100).all()
    assert scores["top_reasons"].is_not_null().all()
    assert scores["close_probability"].is_between(0, 1).all()

    # In the warehouse the same rule gives the same scores.
    assert (
        main(
            [
                "run",
                "--date",
                DEMO_END.isoformat(),
                "--url",
                warehouse_url,
                "--compute",
                "warehouse",
            ]
        )
        == 0
    )
    again = query(
        warehouse_url,
        "select lead_id, score, fit_score, engagement_score, close_probability, sdr_ready, "
        "top_reasons from lead_scores order by lead_id",
    )
    assert again.equals(scores)


def test_too_little_history_keeps_the_champion(baseline, monkeypatch):
    url = baseline()  # its night before DEMO_END fitted the champion (test minimums)
    champion = query(url, "select model_version from model_registry")["model_version"][0]
    for name, value in PRODUCTION_MINIMUMS.items():
        monkeypatch.setenv(name, value)
    assert main(["run", "--date", DEMO_END.isoformat(), "--url", url]) == 0
    registry = query(
        url,
        f"select kind, status, status_reason from model_registry where model_version <> "
        f"'{champion}'",
    ).row(0, named=True)
    assert (registry["kind"], registry["status"]) == ("points_rule", "challenger")
    assert registry["status_reason"].startswith("too little history to fit a model")
    assert registry["status_reason"].endswith(f"kept champion {champion}")
    assert set(query(url, "select model_version from lead_scores")["model_version"]) == {champion}
