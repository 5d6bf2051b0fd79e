"""Benchmark: the warehouse compute path's SQL so far (scorable leads, feature rows, scores with
velocity and SDR-ready episodes) on a demo warehouse, step by step, and the Python process's peak
resident memory. The path is not wired into the night yet (see RESULTS.md).

    .venv/bin/python benchmarks/warehouse_sql.py WAREHOUSE_URL TRAIN_URL

WAREHOUSE_URL: a demo warehouse (`leadscore demo-data`, end date 2026-06-30). TRAIN_URL: a small
demo warehouse with the same features, whose training snapshots fit the scorer whose SQL is
timed (its daily activity in a table `work_activity`, as the integration test leaves it).
"""

import datetime as dt
import resource
import sys
import time

import polars as pl

from leadscore import warehouse
from leadscore.settings import load_settings
from leadscore.tasks import features, train
from leadscore.tasks.in_warehouse import (
    QUARANTINE_SCHEMA,
    NightSql,
    replace_table,
    scores_statement,
)
from leadscore.warehouse import cutoff

url, train_url = sys.argv[1], sys.argv[2]
day = dt.date(2026, 6, 29)
# A scorer fitted on a small demo (same features): only its SQL's cost is measured here.
tw = warehouse.connect(train_url)
ts = NightSql(tw, day, "work_activity")
ts.scorable("work_keys", [dt.date(2026, 2, 1) + dt.timedelta(days=7 * i) for i in range(8)], 90)
ts.feature_rows("work_rows", "work_keys", ["label"])
rows = ts.read_features("work_rows").with_columns(pl.lit(1.0).alias("weight"))
scorer = train.fit_candidate(rows, day, load_settings(warehouse_url=train_url)).scorer
wh = warehouse.connect(url)
wh.init_db()
night = NightSql(wh, day, "work_activity")


def step(name, fn):
    t0 = time.perf_counter()
    fn()
    print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)


step("quarantine + user_leads", lambda: night.prepare(pl.DataFrame(schema=QUARANTINE_SCHEMA)))
since = features.first_activity_day(day, load_settings())
window = {"from_cutoff": cutoff(since), "to_cutoff": cutoff(day + dt.timedelta(days=1))}


def daily(name):
    s = wh.statement(name)
    for k, v in window.items():
        s = s.replace(":" + k, f"'{v}'")
    return s


act = f"""select u.lead_id, p.activity_date, p.event, sum(p.events) as events
from ({daily("select_daily_product_activity")}) p join work_user_leads u on u.user_id = p.user_id
group by u.lead_id, p.activity_date, p.event
union all select lead_id, activity_date, event, events
from ({daily("select_daily_marketing_activity")}) m"""
step(
    "daily activity from raw events (stands in for the roll-up)",
    lambda: replace_table(wh, "work_activity", act, ["lead_id"]),
)
step("scorable tonight", lambda: night.scorable("work_keys_today", [day]))
step("features tonight", lambda: night.feature_rows("work_today", "work_keys_today"))
step("scorable week ago", lambda: night.scorable("work_keys_week", [day - dt.timedelta(days=7)]))
step("features week ago", lambda: night.feature_rows("work_week", "work_keys_week"))
step(
    "scores",
    lambda: replace_table(
        wh, "work_scores", scores_statement(wh, scorer, "work_today", "work_week", day, "bench")
    ),
)
print(
    "rows",
    wh.query("select count(*) as n from work_scores")["n"][0],
    "sdr_ready",
    wh.query("select count(*) as n from work_scores where sdr_ready")["n"][0],
)
print(f"python peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
