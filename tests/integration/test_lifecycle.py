"""lead_lifecycle, v_nurture_audience and funnel_daily, computed in the warehouse (SQLite and
PostgreSQL) from a handful of leads made here, one per default track rule, each with the facts
that rule reads; then from the demo, whose channels differ by construction."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from leadscore import explain, sql, warehouse
from leadscore.contract import LEAD_SOURCES, SOURCE_COLUMNS
from leadscore.demo import LEAD_SOURCE_EFFECT, LEAD_SOURCE_WEIGHTS, DemoSpec, load_demo
from leadscore.settings import load_settings
from leadscore.tasks import extract, features, lifecycle
from leadscore.tasks.publish import SCORE_SCHEMA
from leadscore.warehouse.frames import coerce
from tests.conftest import PRACTICE_TRACKS

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 6, 30)
END = dt.datetime(2026, 7, 1)
TRACKS = lifecycle.load_tracks(load_settings().tracks_path)


def ago(days: float) -> dt.datetime:
    return END - dt.timedelta(days=days)


# lead -> (account, days since created, status changes [(status, days ago)], scored, sdr_ready)
LEADS = {
    "ready": ("A-new", 30, [], True, True),
    "working": (None, 30, [("working", 2)], True, False),
    "deal": (None, 30, [("working", 9), ("qualified", 1)], False, False),
    "disqualified": (None, 40, [("working", 20), ("disqualified", 10)], False, False),
    # An SDR's "maybe" wins over the customer account's upsell.
    "maybe": ("A-old", 50, [("working", 30), ("nurture", 20)], True, False),
    "won": (None, 60, [("working", 45), ("qualified", 40)], False, False),
    "account-new": ("A-new", 40, [], True, False),
    "account-renews": ("A-renew", 40, [], True, False),
    "account-old": ("A-old", 40, [], True, False),
    "lost": (None, 70, [("working", 50), ("qualified", 45)], False, False),
    "new": (None, 3, [], True, False),
    "signed": (None, 20, [], True, False),
    "quiet": (None, 80, [], True, False),
    "active": (None, 80, [], True, False),
    "old": (None, 100, [], True, False),
    # Quarantined tonight: in no table.
    "bad": (None, 30, [("disqualified", 5)], False, False),
}
EXPECTED = {
    "ready": ("none", "sdr-ready", "sdr_ready"),
    "working": ("none", "with-sales", "sdr_working"),
    "deal": ("none", "with-sales", "opportunity"),
    "disqualified": ("none", "disqualified", "disqualified"),
    "maybe": ("lead_nurture", "sdr-maybe", "nurture"),
    "won": ("customer_onboarding", "new-customer", "customer"),
    "account-new": ("customer_onboarding", "new-customer-account", "lead"),
    "account-renews": ("renewal", "renewal", "lead"),
    "account-old": ("upsell", "upsell", "lead"),
    "lost": ("lead_nurture", "lost-deal", "closed_lost"),
    "new": ("welcome", "welcome", "lead"),
    "signed": ("user_onboarding", "user-onboarding", "product_user"),
    "quiet": ("product_engagement", "gone-quiet", "product_user"),
    "active": ("lead_nurture", "below-threshold", "product_user"),
    "old": ("lead_nurture", "below-threshold", "lead"),
}


def source_tables(wh: warehouse.Warehouse) -> None:
    wh.create([*sql.SOURCE_TABLES, *sql.OUTPUT_TABLES])
    accounts = {"A-new": 30, "A-renew": 300, "A-old": 150}  # days since its deal was won
    wh.write(
        "crm_accounts",
        pl.DataFrame(
            {
                "account_id": list(accounts),
                "name": list(accounts),
                "industry": ["Legal", None, "Retail"],
                "is_target_account": [False] * 3,
                "created_at": [ago(900)] * 3,
                "updated_at": [ago(900)] * 3,
            }
        ),
    )
    deals = [
        ("O-new", "A-new", None, "closed_won", ago(40), ago(30)),
        ("O-renew", "A-renew", None, "closed_won", ago(320), ago(300)),
        ("O-old", "A-old", None, "closed_won", ago(160), ago(150)),
        ("O-won", "A-won", "won", "closed_won", ago(40), ago(20)),
        ("O-lost", "A-lost", "lost", "closed_lost", ago(45), ago(10)),
        # Won after the night: an open deal that night.
        ("O-later", "A-x", "deal", "closed_won", ago(1), END + dt.timedelta(days=3)),
    ]
    wh.write(
        "crm_opportunities",
        pl.DataFrame(
            deals,
            schema=["opportunity_id", "account_id", "lead_id", "stage", "created_at", "closed_at"],
            orient="row",
        ),
    )
    titles = {"ready": "CEO", "maybe": "Sales Manager", "account-renews": "VP Sales"}
    wh.write(
        "crm_leads",
        pl.DataFrame(
            [
                {
                    "lead_id": lead,
                    "account_id": account,
                    "email": f"{lead}@example.com",
                    "title": titles.get(lead, "Analyst"),
                    "lead_source": "referral" if i % 2 else "webinar",
                    "status": changes[-1][0] if changes else "open",
                    "created_at": ago(created),
                    "updated_at": ago(created),
                }
                for i, (lead, (account, created, changes, _, _)) in enumerate(LEADS.items())
            ]
        ),
    )
    wh.write(
        "crm_lead_status_changes",
        pl.DataFrame(
            [
                {"lead_id": lead, "status": status, "changed_at": ago(days)}
                for lead, (_, _, changes, _, _) in LEADS.items()
                for status, days in changes
            ]
        ),
    )
    # Matched case- and space-insensitively, as the contract says.
    wh.write(
        "product_users",
        pl.DataFrame(
            {
                "user_id": ["U1", "U2", "U3"],
                "email": [" SIGNED@example.com", "quiet@example.com", "Active@Example.com"],
                "signed_up_at": [ago(5.5), ago(60), ago(60)],
            }
        ),
    )


def local_rows(
    wh: warehouse.Warehouse, day: dt.date, scores: pl.DataFrame, quarantined: set[str]
) -> lifecycle.NightRows:
    """The rows a local night computes from its frames (`lifecycle.rows_of_night`), the frames
    made from this warehouse's tables by the local path's own functions."""
    end = features.snapshot_cutoff(day)
    tables = {
        t: extract.as_of(coerce(wh.read_table(t), SOURCE_COLUMNS[t]), t, end)
        for t in (
            "crm_leads",
            "crm_accounts",
            "crm_lead_status_changes",
            "crm_opportunities",
            "product_users",
        )
    }
    tables["crm_leads"] = tables["crm_leads"].filter(~pl.col("lead_id").is_in(sorted(quarantined)))
    users = extract.match_users(tables["product_users"], tables["crm_leads"])
    after = (day + dt.timedelta(days=1)).isoformat()
    daily = wh.read(
        "select_lead_activity_daily",
        {"from_day": "1900-01-01", "to_day": after},
        extract.ACTIVITY_SCHEMA,
    )
    return lifecycle.rows_of_night(
        lifecycle.read_history(wh, day, day + dt.timedelta(days=1), TRACKS),
        features.profile(tables["crm_leads"], tables["crm_accounts"]),
        lifecycle.lead_activity(users, daily, day),
        tables,
        scores,
        pl.DataFrame(schema=lifecycle.ROUTING_SCHEMA),
        daily.clear(),
        day,
        TRACKS,
        90,
    )


def night(
    wh: warehouse.Warehouse,
    day: dt.date,
    ready: set[str],
    quarantined: set[str],
    compute: str = "warehouse",
) -> None:
    """What publishing writes before lead_lifecycle: scores, activity, quarantine; then the
    lifecycle and funnel rows, in one transaction: computed by the statements (`warehouse`), or
    from the night's frames and staged (`local`)."""
    scored = [lead for lead, spec in LEADS.items() if spec[3]]
    scores = pl.DataFrame(
        {
            "lead_id": scored,
            "score_date": [day] * len(scored),
            "close_probability": [0.1] * len(scored),
            "score": [140.0 if lead in ready else 42.4 for lead in scored],
            "fit_score": [40.0] * len(scored),
            "engagement_score": [100.0 if lead in ready else 2.4 for lead in scored],
            "velocity": [0.0] * len(scored),
            "priority": [0.0] * len(scored),
            "sdr_ready": [lead in ready for lead in scored],
            "sdr_ready_since": [day if lead in ready else None for lead in scored],
            "team": [None] * len(scored),
            "top_reasons": [""] * len(scored),
            "model_version": ["m"] * len(scored),
            "run_id": ["r"] * len(scored),
        },
        schema={k: v for k, v in SCORE_SCHEMA.items() if k != "days_to_sdr_ready"},
    )
    staged = local_rows(wh, day, scores, quarantined) if compute == "local" else None
    with wh.session() as s:
        if staged is not None:
            with s.transaction():
                s.stage("lifecycle", "lead_lifecycle", staged.lifecycle)
                s.stage("funnel", "funnel_daily", staged.funnel)
        with s.transaction():
            publish_night_rows(s, day, scores, quarantined, staged is not None)


def publish_night_rows(
    s: warehouse.Session, day: dt.date, scores: pl.DataFrame, quarantined: set[str], staged: bool
) -> None:
    """Inside the publishing transaction: the scores, the quarantined keys, then the lifecycle."""
    s.append("lead_score_history", scores)
    s.append(
        "quarantine_rows",
        pl.DataFrame(
            {
                "run_id": "r",
                "run_date": [day] * len(quarantined),
                "source_table": "crm_leads",
                "row_key": sorted(quarantined),
                "rule": "test",
                "row_data": "{}",
            }
        ),
    )
    lifecycle.replace_night(s, day, TRACKS, 90, staged=staged)
    s.ensure_views()


def rows(wh: warehouse.Warehouse, day: dt.date) -> pl.DataFrame:
    return wh.query(
        f"select * from lead_lifecycle where score_date = {wh.sql_date(day)} order by lead_id"
    )


@pytest.mark.parametrize("compute", ["warehouse", "local"])
def test_each_default_rule_gives_its_track_with_its_reason(warehouse_url, compute):
    wh = warehouse.connect(warehouse_url)
    source_tables(wh)
    wh.write(
        "lead_activity_daily",
        pl.DataFrame(
            {
                "lead_id": ["quiet", "quiet", "active"],
                "activity_date": [DAY - dt.timedelta(days=40), DAY - dt.timedelta(days=20), DAY],
                "event": ["document_created", "login", "document_created"],
                "events": [2, 1, 1],
            }
        ),
    )
    night(wh, DAY, ready={"ready"}, quarantined={"bad"}, compute=compute)
    got = rows(wh, DAY)
    found = {
        r["lead_id"]: (r["nurture_track"], r["track_rule"], r["lifecycle_stage"])
        for r in got.iter_rows(named=True)
    }
    assert found == EXPECTED
    reason = dict(zip(got["lead_id"], got["reason"], strict=True))
    # Whole days to the end of the night: signed up 5.5 days before it.
    assert reason["signed"] == "Signed up 5 days ago, no document yet → user onboarding"
    assert reason["quiet"] == "Used the product, quiet for 20 days → product engagement"
    # 365 - 300 days since the deal.
    assert reason["account-renews"] == "Their company's contract renews in 65 days → renewal"
    assert reason["old"] == "Below the SDR-ready threshold (42 points) → lead nurture"
    assert reason["ready"] == "SDR-ready tonight: an SDR follows up → no drip track"
    segment = dict(zip(got["lead_id"], got["segment"], strict=True))
    # CEO: a decision maker; a missing industry is "unknown"; industries are lower case.
    assert segment["ready"] == "decision_maker/legal"
    assert segment["account-renews"] == "decision_maker/unknown"
    assert segment["maybe"] == "influencer/retail"
    assert segment["old"] == "user/unknown"
    assert set(got["entered_on"].cast(pl.String).str.slice(0, 10)) == {DAY.isoformat()}
    assert set(got["track_change"]) == {"joined", "unchanged"}

    # The next night: "ready" is no longer SDR-ready and "signed" is. Tracks kept keep the date
    # they were entered; the sync tool sees who joined, moved and left.
    nxt = DAY + dt.timedelta(days=1)
    night(wh, nxt, ready={"signed"}, quarantined={"bad"}, compute=compute)
    after = {r["lead_id"]: r for r in rows(wh, nxt).iter_rows(named=True)}
    assert after["ready"]["nurture_track"] == "customer_onboarding"
    assert after["ready"]["track_change"] == "joined"
    assert after["signed"]["nurture_track"] == "none"
    assert after["signed"]["track_change"] == "left"
    assert after["signed"]["previous_track"] == "user_onboarding"
    assert after["new"]["track_change"] == "unchanged"
    assert str(after["new"]["entered_on"])[:10] == DAY.isoformat()
    assert str(after["ready"]["entered_on"])[:10] == nxt.isoformat()
    audience = wh.query("select * from v_nurture_audience")
    assert set(audience["score_date"].cast(pl.String).str.slice(0, 10)) == {nxt.isoformat()}
    left = audience.filter(pl.col("lead_id") == "signed").row(0, named=True)
    assert left["nurture_track"] == "user_onboarding" and not left["in_audience"]
    members = audience.filter(pl.col("in_audience").cast(pl.Boolean))
    assert set(members["lead_id"]) == {
        lead for lead, r in after.items() if r["nurture_track"] != "none"
    }
    changed = audience.filter(pl.col("changed").cast(pl.Boolean))
    assert set(changed["lead_id"]) == {"ready", "signed"}

    # A rerun of the night replaces its rows with the same rows (computed by the statements: after
    # a local night, the same rows as the frames gave).
    before = rows(wh, nxt)
    with wh.session() as s, s.transaction():
        lifecycle.replace_night(s, nxt, TRACKS, 90)
    assert rows(wh, nxt).equals(before)


@pytest.mark.parametrize("compute", ["warehouse", "local"])
def test_the_funnel_counts_each_lead_at_every_step_up_to_the_furthest(warehouse_url, compute):
    wh = warehouse.connect(warehouse_url)
    source_tables(wh)
    wh.write(
        "lead_activity_daily",
        pl.DataFrame(
            {
                "lead_id": ["active", "quiet"],
                "activity_date": [DAY - dt.timedelta(days=50), DAY - dt.timedelta(days=40)],
                "event": ["document_created", "email_open"],
                "events": [1, 3],
            }
        ),
    )
    night(wh, DAY, ready={"ready"}, quarantined={"bad"}, compute=compute)
    funnel = wh.query("select * from funnel_daily")
    totals = funnel.select(pl.col(s).sum() for s in lifecycle.STEPS).row(0, named=True)
    # Furthest steps: "won" won; "deal" and "lost" have deals (qualified before them); "ready" is
    # SDR-ready tonight; "active" engaged (a document: "quiet" only opened an email); "signed" and
    # "quiet" signed up; the rest are leads only, and the quarantined lead is out. Each lead
    # counts at every step up to its furthest, so a deal without a routing counts as routed.
    assert totals == {
        "leads": 15,
        "signed_up": 7,
        "engaged": 5,
        "sdr_ready": 4,
        "routed": 3,
        "qualified": 3,
        "opportunity": 3,
        "won": 1,
    }
    # The won deal: opened 40 days before the night's end, won 20 days later; the step's median
    # over that cohort and channel (of one lead) is those 20 days.
    won = funnel.filter(pl.col("won") > 0).row(0, named=True)
    assert won["days_to_won"] == 20.0
    assert won["won_rate"] == won["won"] / won["opportunity"]


@pytest.mark.usefixtures("prefect_harness")
def test_a_demo_night_puts_every_scored_lead_in_its_stage_and_track(baseline):
    url = baseline()  # the demo with its night before DEMO_END published
    wh = warehouse.connect(url)
    day = wh.query("select max(score_date) as d from lead_score_history")["d"][0]
    on = f"score_date = '{str(day)[:10]}'"
    scores = wh.query(f"select lead_id, sdr_ready from lead_score_history where {on}")
    life = wh.query(f"select * from lead_lifecycle where {on}")
    assert life["lead_id"].is_unique().all()
    assert set(scores["lead_id"]) <= set(life["lead_id"]), "a scored lead has no lifecycle row"
    # Every default track is in use on the demo (its accounts include customers from before it).
    tracks = {r.track for r in TRACKS.rules}
    assert tracks == PRACTICE_TRACKS
    assert set(life["nurture_track"]) == tracks
    assert set(life["lifecycle_stage"]) <= set(lifecycle.STAGES)
    assert life["reason"].str.contains(" → ").all()
    ready = scores.filter(pl.col("sdr_ready").cast(pl.Boolean))["lead_id"]
    assert ready.len() > 0
    ready_rows = life.filter(pl.col("lead_id").is_in(ready.implode()))
    assert (ready_rows["nurture_track"] == "none").all(), "an SDR-ready lead is in a drip track"
    # An SDR's "maybe": back in lead nurture, unless the lead is SDR-ready again or has a deal.
    night_end = dt.datetime.fromisoformat(str(day)[:10]) + dt.timedelta(days=1)
    latest = (
        wh.query(
            "select lead_id, status, changed_at from crm_lead_status_changes "
            f"where changed_at < {wh.sql_timestamp(night_end)}"
        )
        .sort("changed_at")
        .group_by("lead_id")
        .agg(pl.col("status").last())
    )
    maybe = life.join(latest, on="lead_id").filter(
        (pl.col("status") == "nurture")
        & ~pl.col("lead_id").is_in(ready.implode())
        & ~pl.col("lifecycle_stage").is_in(["opportunity", "customer"])
    )
    assert maybe.height > 0
    assert (maybe["nurture_track"] == "lead_nurture").all()
    # `leadscore explain` says where the lead stands.
    lead = maybe["lead_id"][0]
    assert f"nurture track lead_nurture ({maybe['segment'][0]}) since" in explain.render(wh, lead)

    funnel = wh.query(f"select * from funnel_daily where run_date = '{str(day)[:10]}'")
    assert funnel.height > 0
    for before, step in zip(lifecycle.STEPS, lifecycle.STEPS[1:], strict=False):
        assert (funnel[step] <= funnel[before]).all(), f"{step} above {before}"
        rate = funnel[f"{step}_rate"].drop_nulls()
        assert rate.is_between(0, 1).all()
    # Each cohort's lead count is the CRM's: leads of that channel created that month.
    crm = (
        wh.query(
            "select lead_source, created_at from crm_leads "
            f"where created_at < {wh.sql_timestamp(night_end)}"
        )
        .with_columns(pl.col("created_at").cast(pl.String).str.slice(0, 7).alias("month"))
        .group_by("lead_source", "month")
        .agg(pl.len().alias("crm_leads"))
    )
    got = funnel.with_columns(pl.col("cohort_month").cast(pl.String).str.slice(0, 7).alias("month"))
    both = got.join(crm, on=["lead_source", "month"], how="full", coalesce=True)
    assert both.height == got.height == crm.height
    assert (both["leads"] == both["crm_leads"]).all()


def test_the_funnel_shows_the_demos_planted_channel_differences(warehouse_url):
    # The demo plants a close-rate effect per channel (LEAD_SOURCE_EFFECT) and a share of leads
    # per channel (LEAD_SOURCE_WEIGHTS); 20,000 leads are enough for both to show.
    wh = warehouse.connect(warehouse_url)
    load_demo(wh, DemoSpec(leads=20_000, days=270, seed=7))
    wh.init_db()
    with wh.session() as s, s.transaction():
        lifecycle.replace_night(s, DemoSpec().end_date, TRACKS, 90)
    funnel = wh.query("select * from funnel_daily")
    channels = funnel.group_by("lead_source").agg(pl.col("leads", "won").sum())
    planted = pl.DataFrame(
        {"lead_source": LEAD_SOURCES, "effect": LEAD_SOURCE_EFFECT, "weight": LEAD_SOURCE_WEIGHTS}
    )
    channels = channels.join(planted, on="lead_source").with_columns(
        (pl.col("leads") / pl.col("leads").sum()).alias("share"),
        (pl.col("won") / pl.col("leads")).alias("won_rate"),
    )
    assert channels.height == len(LEAD_SOURCES)
    # Shares within 1.5 points of the planted weights (binomial sd at 20,000 leads: < 0.3 points).
    assert ((channels["share"] - channels["weight"]).abs() < 0.015).all()

    def pooled(frame: pl.DataFrame) -> float:
        return frame["won"].sum() / frame["leads"].sum()

    better = pooled(channels.filter(pl.col("effect") > 0))
    worse = pooled(channels.filter(pl.col("effect") < 0))
    assert better > 1.2 * worse, (better, worse)
    best = channels.filter(pl.col("effect") == max(LEAD_SOURCE_EFFECT))["won_rate"][0]
    assert best > channels.filter(pl.col("effect") < 0)["won_rate"].max()
