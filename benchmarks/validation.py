"""Benchmark: validation at 1M leads and 10M new events, in the warehouse and as frames.

    .venv/bin/python benchmarks/validation.py --leads 1000000 --events 10000000 \\
        --url "postgresql+psycopg://postgres@127.0.0.1:5432/test"

Writes the CRM tables of a demo of --leads leads and --events product events on the run date
(plus a trailing week at the same daily volume) into a scratch schema, then times:
1. the CRM suites on the extracted frames (what the night does);
2. the event suites in the warehouse through GX SQL assets (what the night does);
3. the alternative for events: pulling the night's rows into a frame and validating them there
   (measured on a slice of --frame-events rows; the full pull scales linearly from it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import uuid

import numpy as np
import polars as pl
import sqlalchemy as sa

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from leadscore import warehouse
from leadscore.contract import FRAME_TABLES, PRODUCT_EVENTS, SOURCE_COLUMNS
from leadscore.demo import DemoSpec, generate
from leadscore.settings import load_settings
from leadscore.tasks import validate

END = dt.date(2026, 6, 30)


def events(n: int, users: list[str], day: dt.date, start_id: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    base = np.datetime64(dt.datetime.combine(day, dt.time()), "us")
    return pl.DataFrame(
        {
            "event_id": pl.int_range(start_id, start_id + n, eager=True).cast(pl.String),
            "user_id": pl.Series(users).gather(rng.integers(0, len(users), n)),
            "event_name": pl.Series(PRODUCT_EVENTS).gather(rng.integers(0, len(PRODUCT_EVENTS), n)),
            "occurred_at": pl.Series(
                base + rng.integers(0, 86_400_000_000, n).astype("timedelta64[us]")
            ),
        }
    )


def load(wh: warehouse.Warehouse, tables: dict[str, pl.DataFrame], n_events: int) -> int:
    """The tables event validation reads, with `n_events` events on END and as many over the week
    before."""
    users = tables["product_users"]["user_id"].to_list()
    written = 0
    with wh.session() as s, s.transaction():
        s.create(["product_users", "product_events", "marketing_events", "crm_leads"])
        for table in ("product_users", "crm_leads", "marketing_events"):
            s.append(table, tables[table])
        for back in range(7, -1, -1):
            day = END - dt.timedelta(days=back)
            n = n_events if back == 0 else n_events // 7
            s.append("product_events", events(n, users, day, written, back))
            written += n
        s.create(["ix_product_events_occurred_at", "ix_marketing_events_occurred_at"])
    # Autovacuum has long visited a real warehouse's older events; here it runs once.
    with wh.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("vacuum analyze")
    return written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--frame-events", type=int, default=2_000_000)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", help="load into (or reuse, if loaded) this schema and keep it")
    args = parser.parse_args()

    schema = args.schema or f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"create schema if not exists {schema}"))
        loaded = sa.inspect(conn).has_table("product_events", schema=schema)
    url = f"{args.url}?options=-csearch_path%3D{schema}"
    wh = warehouse.connect(url)
    try:
        t = time.perf_counter()
        crm: dict[str, list[pl.DataFrame]] = {}
        keep = {*FRAME_TABLES, "marketing_events"}
        for table, frame in generate(DemoSpec(leads=args.leads, days=270, seed=7, end_date=END)):
            if table in keep:
                crm.setdefault(table, []).append(frame)
        tables = {t: pl.concat(f) for t, f in crm.items()}
        print(f"generated {args.leads:,} leads in {time.perf_counter() - t:.0f}s")

        t = time.perf_counter()
        if loaded:
            written = wh.query("select count(*) as n from product_events")["n"][0]
        else:
            written = load(wh, tables, args.events)
        print(
            f"{'reused' if loaded else 'loaded'} {written:,} product events "
            f"({args.events:,} on {END}) in {time.perf_counter() - t:.0f}s"
        )

        rules = validate.load_rules(load_settings().validation_path)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        t = time.perf_counter()
        typed = {
            t_: warehouse.coerce(f, SOURCE_COLUMNS[t_])
            for t_, f in tables.items()
            if t_ != "marketing_events"
        }
        frames = validate.check_types(typed, tables).merge(
            validate.validate_frames(typed, now, rules, validate.Runner(None))
        )
        crm_seconds = time.perf_counter() - t

        columns = {t_: wh.columns(t_) for t_ in ("product_events", "marketing_events")}
        enforced = frozenset(t_ for t_ in columns if wh.enforces_unique(t_, "event_id"))

        t = time.perf_counter()
        in_db = validate.validate_events(
            wh, columns, END, now, rules, validate.Runner(None), 1, enforced
        )
        event_seconds = time.perf_counter() - t

        t = time.perf_counter()
        pulled = wh.query(
            "select * from product_events where occurred_at >= :day limit :n",
            {"day": END.isoformat(), "n": args.frame_events},
        )
        pull_seconds = time.perf_counter() - t
        t = time.perf_counter()
        runner = validate.Runner(None)
        source = runner.context.data_sources.add_pandas("pulled")
        import great_expectations.expectations as gxe

        batch = source.add_dataframe_asset("events").add_batch_definition_whole_dataframe("b")
        runner.run(
            "pulled",
            batch,
            [
                gxe.ExpectColumnValuesToBeUnique(column="event_id"),
                gxe.ExpectColumnValuesToNotBeNull(column="occurred_at"),
                gxe.ExpectColumnValuesToBeInSet(column="event_name", value_set=PRODUCT_EVENTS),
            ],
            {"dataframe": pulled.to_pandas()},
            "product_events",
            rules,
        )
        frame_gx_seconds = time.perf_counter() - t
        scale = args.events / max(pulled.height, 1)

        print("| what | rows | seconds |\n|---|---|---|")
        print(
            f"| CRM suites on frames (chosen) | {args.leads:,} leads + accounts, opportunities, "
            f"users | {crm_seconds:.1f} |"
        )
        print(
            f"| event suites in the warehouse (chosen) | {args.events:,} new product events + "
            f"marketing | {event_seconds:.1f} |"
        )
        print(
            f"| events pulled into a frame: read | {pulled.height:,} | {pull_seconds:.1f} "
            f"(~{pull_seconds * scale:.0f} for {args.events:,}) |"
        )
        print(
            f"| events pulled into a frame: GX on pandas | {pulled.height:,} | "
            f"{frame_gx_seconds:.1f} "
            f"(~{frame_gx_seconds * scale:.0f} for {args.events:,}) |"
        )
        print(f"errors: {[f.line() for f in frames.errors + in_db.errors]}")
    finally:
        if not args.schema:
            with admin.begin() as conn:
                conn.execute(sa.text(f"drop schema {schema} cascade"))


if __name__ == "__main__":
    main()
