"""Point-in-time features on tiny frames."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

from leadscore.contract import SCORABLE_STATUSES
from leadscore.tasks import features
from leadscore.tasks.extract import ACTIVITY_SCHEMA

D = dt.date(2026, 6, 30)


def ts(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 6, day, hour)


def tiny() -> dict[str, pl.DataFrame]:
    leads = pl.DataFrame(
        {
            "lead_id": ["a", "b", "c"],
            "account_id": ["x", None, "x"],
            "email": ["Ann@Acme.com", "bob@gmail.com", "bad at acme"],
            "title": ["VP Sales", None, "实习生"],
            "country": ["US", "DE", None],
            "state": [None, None, None],
            "lead_source": ["referral"] * 3,
            "status": ["open"] * 3,
            "created_at": [ts(1), ts(2), ts(29)],
            "updated_at": [ts(1), ts(2), ts(29)],
        }
    )
    accounts = pl.DataFrame(
        {
            "account_id": ["x"],
            "name": ["Acme"],
            "domain": ["acme.com"],
            "industry": ["Legal"],
            "employee_count": [250],
            "sales_team_size": [20],
            "country": ["CA"],
            "is_target_account": [True],
            "owner_id": [None],
            "created_at": [ts(1)],
            "updated_at": [ts(1)],
        }
    )
    return {"leads": leads, "accounts": accounts}


def no_opportunities() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "lead_id": pl.String,
            "created_at": pl.Datetime("us"),
            "stage": pl.String,
            "closed_at": pl.Datetime("us"),
        }
    )


# Titles in several scripts and shapes, read by the local features and by the warehouse SQL.
TITLES = [
    "VP Sales",
    "Chief Executive Officer",
    "نائب الرئيس للمبيعات",
    "销售总监",
    "Marketing Intern",
    "",
    None,
    "Accountant",
    "Head of People",
    "  CTO & Founder ",
]


def test_seniority_reads_titles_in_any_script():
    titles = pl.DataFrame({"t": TITLES})
    got = titles.select(features.seniority(pl.col("t")).alias("s"))["s"].to_list()
    assert got == [
        "vp",
        "c_level",
        "vp",
        "director",
        "intern",
        "unknown",
        "unknown",
        "individual",
        "director",
        "c_level",
    ]


def test_email_type_and_key():
    emails = pl.DataFrame({"e": [" Ann@Acme.COM ", "bob@gmail.com", "bob at acme.com", "x@@y.com"]})
    out = emails.select(
        features.email_type(pl.col("e")).alias("t"), features.email_key(pl.col("e")).alias("k")
    )
    assert out["t"].to_list() == ["corporate", "personal", "malformed", "malformed"]
    # Case and spaces do not matter for matching product users.
    assert out["k"][0] == "ann@acme.com"


def test_profile_falls_back_to_the_account_country():
    p = features.profile(tiny()["leads"], tiny()["accounts"])
    # Lead c has no country of its own: its account's (CA) gives region NA.
    assert p.filter(pl.col("lead_id") == "c")["region"][0] == "NA"
    assert p.filter(pl.col("lead_id") == "b")["has_account"][0] == 0


def test_status_is_read_as_of_the_snapshot_from_its_history():
    p = features.profile(tiny()["leads"], tiny()["accounts"])
    changes = pl.DataFrame(
        {
            "lead_id": ["a", "a"],
            "status": ["working", "disqualified"],
            "changed_at": [ts(10), dt.datetime(2026, 6, 21)],
        }
    )
    opps = no_opportunities()
    snap = features.snapshot_frame(p, changes, opps, [dt.date(2026, 6, 20), dt.date(2026, 6, 21)])
    a = snap.filter(pl.col("lead_id") == "a")
    # On the 20th "a" is being worked; the disqualification at midnight of the 21st counts for
    # the 21st, so "a" is not scorable that day.
    assert a["snapshot"].to_list() == [dt.date(2026, 6, 20)]
    assert a["status"].to_list() == ["working"]
    # Lead c is created on the 29th: it does not exist yet on either snapshot.
    assert "c" not in snap["lead_id"].to_list()


def test_a_snapshots_status_is_its_leads_last_change_before_it_ties_to_the_one_recorded_last():
    # Many leads, changes at random moments on a few days (so that some share a moment): the
    # status each snapshot takes equals the last change before its cutoff, found the plain way.
    rng = random.Random(5)
    statuses = ["open", "working", "nurture", "disqualified", "converted"]
    rows = [
        (f"L{rng.randrange(60)}", rng.choice(statuses), dt.datetime(2026, 6, rng.randrange(1, 9)))
        for _ in range(400)
    ]
    changes = pl.DataFrame(rows, schema=["lead_id", "status", "changed_at"], orient="row")
    leads = pl.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(60)],
            "created_at": [dt.datetime(2026, 5, 1)] * 60,
        }
        | {c: [None] * 60 for c in features.FIT_FEATURES}
    )
    days = [dt.date(2026, 6, d) for d in range(1, 10)]
    snap = features.snapshot_frame(leads, changes, no_opportunities(), days)
    for day in days:
        cutoff = features.snapshot_cutoff(day)
        before = changes.with_row_index().filter(pl.col("changed_at") < cutoff)
        last = before.sort("lead_id", "changed_at", "index").group_by("lead_id").last()
        expected = {
            r["lead_id"]: r["status"]
            for r in leads.join(last, on="lead_id", how="left").iter_rows(named=True)
            if (r["status"] or "open") in SCORABLE_STATUSES
        }
        got = snap.filter(pl.col("snapshot") == day)
        assert dict(zip(got["lead_id"], got["status"], strict=True)) == {
            k: v or "open" for k, v in expected.items()
        }


def test_label_is_a_win_inside_the_horizon_and_opportunity_leads_are_left_out():
    p = features.profile(tiny()["leads"], tiny()["accounts"])
    changes = pl.DataFrame(
        schema={"lead_id": pl.String, "status": pl.String, "changed_at": pl.Datetime("us")}
    )
    opps = pl.DataFrame(
        {
            "lead_id": ["a", "b"],
            "stage": ["closed_won", "closed_won"],
            "created_at": [ts(5), ts(3)],
            "closed_at": [ts(20), ts(4)],
        }
    )
    snap = features.snapshot_frame(
        p, changes, opps, [dt.date(2026, 6, 2), dt.date(2026, 6, 4)], horizon_days=10
    )
    rows = {(r["lead_id"], r["snapshot"]): r["label"] for r in snap.iter_rows(named=True)}
    # a: won on the 20th; from the 2nd that is 18 days later (outside 10 days), so 0.
    assert rows[("a", dt.date(2026, 6, 2))] == 0
    # b: won on the 4th, within 10 days of the 2nd; b exists from the 2nd 12:00, so the
    # snapshot of the 2nd has it.
    assert rows[("b", dt.date(2026, 6, 2))] == 1
    # On the 4th b already has an opportunity (created the 3rd): no longer scorable.
    assert ("b", dt.date(2026, 6, 4)) not in rows


def activity_frame(rows: list[tuple[str, dt.date, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ACTIVITY_SCHEMA, orient="row")


def test_windows_count_only_days_up_to_the_snapshot():
    act = activity_frame(
        [
            ("a", dt.date(2026, 6, 30), "document_signed", 2),
            ("a", dt.date(2026, 6, 20), "document_signed", 1),
            ("a", dt.date(2026, 7, 1), "document_signed", 5),  # after the snapshot
            ("a", dt.date(2026, 6, 30), "email_open", 3),
        ]
    )
    snaps = pl.DataFrame({"lead_id": ["a"], "snapshot": [D], "cutoff": [dt.datetime(2026, 7, 1)]})
    users = pl.DataFrame(schema={"lead_id": pl.String, "signed_up_at": pl.Datetime("us")})
    row = features.engagement(act, users, snaps).row(0, named=True)
    assert row["document_signed_7d"] == 2  # the 30th only; the 20th is 10 days back
    assert row["document_signed_30d"] == 3  # the 20th and the 30th; never the 1st of July
    assert row["active_days_30d"] == 2  # two distinct product days
    assert row["email_open_30d"] == 3
    assert row["document_signed_days_ago"] == 0


@pytest.mark.parametrize("moved", ["event", "status"])
def test_no_leak_moving_a_row_after_the_snapshot_leaves_the_snapshot_alone(moved):
    t = tiny()
    p = features.profile(t["leads"], t["accounts"])
    users = pl.DataFrame(schema={"lead_id": pl.String, "signed_up_at": pl.Datetime("us")})
    opps = no_opportunities()
    day = dt.date(2026, 6, 20)
    base_act = [("a", dt.date(2026, 6, 18), "document_created", 1)]
    base_changes = [("a", "working", ts(15))]
    extra_act, extra_changes = list(base_act), list(base_changes)
    # The same row, once it happened after the snapshot: the snapshot must not see it.
    if moved == "event":
        extra_act.append(("a", dt.date(2026, 6, 21), "document_signed", 4))
    else:
        extra_changes.append(("a", "nurture", dt.datetime(2026, 6, 21, 0, 0)))

    def build(act, changes):
        ch = pl.DataFrame(
            changes,
            schema={"lead_id": pl.String, "status": pl.String, "changed_at": pl.Datetime("us")},
            orient="row",
        )
        return features.build(p, ch, opps, activity_frame(act), users, [day])

    assert build(base_act, base_changes).equals(build(extra_act, extra_changes))


def test_a_night_sees_only_rows_timed_before_its_end():
    from leadscore.tasks.extract import as_of

    cutoff = dt.datetime(2026, 7, 1)
    accounts = pl.DataFrame(
        {"account_id": ["old", "new"], "created_at": [dt.datetime(2026, 1, 1), cutoff]}
    )
    # An account created after the run date did not exist that night (a backfill must not see it).
    assert as_of(accounts, "crm_accounts", cutoff)["account_id"].to_list() == ["old"]
    opps = pl.DataFrame(
        {
            "opportunity_id": ["won-later", "won"],
            "stage": ["closed_won", "closed_won"],
            "created_at": [dt.datetime(2026, 6, 1)] * 2,
            "closed_at": [dt.datetime(2026, 7, 2), dt.datetime(2026, 6, 20)],
        }
    )
    seen = as_of(opps, "crm_opportunities", cutoff)
    # Won after the run date: still open that night.
    assert seen["stage"].to_list() == ["open", "closed_won"] and seen["closed_at"][0] is None
    reps = pl.DataFrame({"rep_id": ["R1"], "team": ["EMEA"]})
    assert as_of(reps, "sdr_reps", cutoff).equals(reps)  # no time column: current state


def rows(positives: int, negatives: int) -> pl.DataFrame:
    n = positives + negatives
    return pl.DataFrame(
        {
            "lead_id": [f"L{i:03d}" for i in range(n)],
            "snapshot": [1] * n,
            "label": [1] * positives + [0] * negatives,
        }
    )


def test_downsample_keeps_every_positive_and_weights_negatives_back_up():
    out = features.downsample(rows(10, 90), max_rows=40, seed=7)
    assert out.height == 40
    positives, negatives = out.filter(pl.col("label") == 1), out.filter(pl.col("label") == 0)
    assert positives.height == 10 and (positives["weight"] == 1.0).all()
    # 30 of 90 negatives kept, each standing for 3: the weighted negatives still count 90.
    assert negatives.height == 30 and negatives["weight"].sum() == pytest.approx(90)
    # The same seed draws the same sample.
    assert out.equals(features.downsample(rows(10, 90), max_rows=40, seed=7))


def test_downsample_leaves_a_small_set_whole():
    out = features.downsample(rows(3, 7), max_rows=40, seed=7)
    assert out.height == 10 and (out["weight"] == 1.0).all()


def test_a_set_kept_whole_comes_out_in_snapshot_and_lead_order():
    # A set in that order already is kept as it is (not sorted again); any other is sorted.
    ordered = rows(3, 7).with_columns(pl.Series("snapshot", [1, 1, 1, 2, 2, 2, 2, 3, 3, 3]))
    assert features.in_sample_order(ordered)
    assert features.downsample(ordered, max_rows=40, seed=7).drop("weight").equals(ordered)
    shuffled = ordered.sample(fraction=1.0, shuffle=True, seed=3)
    assert not features.in_sample_order(shuffled)
    assert features.downsample(shuffled, max_rows=40, seed=7).drop("weight").equals(ordered)
    # Within a snapshot the leads go in text order: "L10" before "L9".
    text = pl.DataFrame({"lead_id": ["L9", "L10"], "snapshot": [1, 1], "label": [0, 1]})
    assert not features.in_sample_order(text)
    assert features.downsample(text, max_rows=40, seed=7)["lead_id"].to_list() == ["L10", "L9"]


def test_a_sample_of_a_sample_keeps_its_weights_multiplied():
    first = features.downsample(rows(10, 90), max_rows=40, seed=7)
    second = features.downsample(first, max_rows=25, seed=7)
    # 15 of the 30 sampled negatives kept, each now standing for 6 of the original 90.
    negatives = second.filter(pl.col("label") == 0)
    assert negatives.height == 15 and negatives["weight"].sum() == pytest.approx(90)
    assert second.filter(pl.col("label") == 1)["weight"].to_list() == [1.0] * 10


def test_when_positives_would_fill_the_sample_they_are_sampled_too():
    # 80 positives, 120 negatives, room for 40: positives take at most half (20 of 80, each
    # standing for 4) and negatives the other half (20 of 120, each standing for 6).
    out = features.downsample(rows(80, 120), max_rows=40, seed=7)
    positives, negatives = out.filter(pl.col("label") == 1), out.filter(pl.col("label") == 0)
    assert (positives.height, negatives.height) == (20, 20)
    assert positives["weight"].sum() == pytest.approx(80) and negatives[
        "weight"
    ].sum() == pytest.approx(120)


def test_training_snapshots_are_sampled_before_their_features_are_built():
    p = features.profile(tiny()["leads"], tiny()["accounts"])
    opps = no_opportunities()
    changes = pl.DataFrame(
        schema={"lead_id": pl.String, "status": pl.String, "changed_at": pl.Datetime("us")}
    )
    days = [dt.date(2026, 6, d) for d in (10, 17, 24)]
    every = features.snapshot_frame(p, changes, opps, days, horizon_days=10)
    sample = features.snapshot_frame(p, changes, opps, days, horizon_days=10, max_rows=3, seed=1)
    # a and b exist on all three days (6 rows); three of them are kept, each standing for two,
    # with their profile columns joined after the draw.
    assert every.height == 6 and sample.height == 3
    assert sample["weight"].to_list() == [2.0, 2.0, 2.0]
    assert set(sample.columns) == set(every.columns) | {"weight"}
    assert sample.join(every, on=["lead_id", "snapshot"], how="anti").is_empty()


def test_drawing_the_sample_snapshot_by_snapshot_draws_the_sample_of_all_rows():
    """`snapshot_frame` draws its sample one snapshot at a time (never holding every snapshot's
    rows); it keeps the rows, and gives the weights, that `downsample` keeps of all of them."""
    n = 300
    ids = [f"L{i:04d}" for i in range(n)]
    leads = pl.DataFrame(
        {
            "lead_id": ids,
            "account_id": ["x"] * n,
            "email": [f"u{i}@acme.com" for i in range(n)],
            "title": ["VP Sales"] * n,
            "country": ["US"] * n,
            "state": ["CA"] * n,
            "lead_source": ["referral"] * n,
            "status": ["open"] * n,
            "created_at": [ts(1 + i % 25, i % 24) for i in range(n)],
            "updated_at": [ts(1 + i % 25, i % 24) for i in range(n)],
        }
    )
    p = features.profile(leads, tiny()["accounts"])
    # Every seventh lead is worked, then disqualified three days later: scorable, then not.
    worked = range(0, n, 7)
    changes = pl.DataFrame(
        {
            "lead_id": [ids[i] for i in worked for _ in (0, 1)],
            "status": ["working", "disqualified"] * len(worked),
            "changed_at": [ts(5 + i % 20 + later) for i in worked for later in (0, 3)],
        }
    )
    won = range(0, n, 11)
    opps = pl.DataFrame(
        {
            "lead_id": [ids[i] for i in won],
            "stage": ["closed_won"] * len(won),
            "created_at": [ts(12 + i % 10) for i in won],
            "closed_at": [ts(14 + i % 10) for i in won],
        }
    )
    days = [dt.date(2026, 6, d) for d in (8, 12, 16, 20)]
    every = features.snapshot_frame(p, changes, opps, days, horizon_days=5)
    assert every["label"].sum() > 5 and every.height > 200  # both labels, several snapshots
    assert every["status"].n_unique() == 2  # open and working
    for max_rows in (40, 120, 10_000):
        drawn = features.snapshot_frame(p, changes, opps, days, 5, max_rows, seed=3)
        expected = features.downsample(every, max_rows, seed=3)
        assert drawn.equals(expected.select(drawn.columns))


@pytest.mark.parametrize(("size", "keep", "seed"), [(10, 3, 7), (1000, 137, 0), (97, 96, 12345)])
def test_the_systematic_sample_rule_is_the_same_in_sql(size, keep, seed):
    """`features.keeps` (polars) and `sqlgen.keeps` (the warehouse path) keep the same rows:
    exactly `keep` of `size`, evenly spaced."""
    import itertools
    import sqlite3

    from leadscore.sqlgen import keeps

    local = (
        pl.DataFrame({"i": range(size)})
        .filter(features.keeps(pl.col("i"), size, keep, seed))["i"]
        .to_list()
    )
    conn = sqlite3.connect(":memory:")
    conn.execute("create table r (i integer)")
    conn.executemany("insert into r values (?)", [(i,) for i in range(size)])
    in_sql = [i for (i,) in conn.execute(f"select i from r where {keeps('i', size, keep, seed)}")]
    assert local == in_sql and len(local) == keep
    # Evenly spaced along the rotated order: every gap is size / keep, rounded down or up.
    rotated = sorted((i + seed % size) % size for i in local)
    gaps = {b - a for a, b in itertools.pairwise(rotated)}
    assert gaps <= {size // keep, -(-size // keep)}


def test_the_warehouse_reads_seniority_as_the_features_do(warehouse_url):
    """`sqlgen.seniority_case` (the warehouse path and the lifecycle) gives each title the level
    `features.seniority` gives it, on each dialect."""
    from leadscore import warehouse
    from leadscore.sqlgen import seniority_case, text

    wh = warehouse.connect(warehouse_url)
    rows = " union all ".join(
        f"select {i} as i, {'null' if t is None else text(t)} as title"
        for i, t in enumerate(TITLES)
    )
    key = wh.sql_lower(wh.sql_strip("title"))
    got = wh.read_sql(f"select i, {seniority_case(wh, key)} as s from ({rows}) t order by i")
    expected = pl.DataFrame({"t": TITLES}).select(features.seniority(pl.col("t")))
    assert got["s"].to_list() == expected.to_series().to_list()
