"""Benchmark: the two statements publishing adds for lead_lifecycle and funnel_daily, on a
warehouse with a published night.

    .venv/bin/python benchmarks/lifecycle.py --night 2026-06-30 --url URL

Runs each statement as it runs inside the publishing transaction, but in a transaction that is
rolled back (nothing is changed), and prints its rows and seconds, as one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from leadscore import warehouse
from leadscore.settings import load_settings
from leadscore.tasks import lifecycle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--night", required=True, help="a night already published (YYYY-MM-DD)")
    args = parser.parse_args()
    settings = load_settings(warehouse_url=args.url)
    day = dt.date.fromisoformat(args.night)
    wh = warehouse.connect(args.url)
    night = lifecycle.LifecycleSql(
        wh, day, lifecycle.load_tracks(settings.tracks_path), settings.horizon_days
    )
    out: dict[str, object] = {"url": wh.display_url, "night": args.night}
    with wh.session() as s:
        transaction = s.conn.begin()
        try:
            for table, statement, columns in (
                ("lead_lifecycle", night.lifecycle_statement(), lifecycle.LIFECYCLE_COLUMNS),
                ("funnel_daily", night.funnel_statement(), lifecycle.FUNNEL_COLUMNS),
            ):
                s.execute(
                    f"delete_{table}",
                    **({"score_date": args.night} if table == "lead_lifecycle" else {}),
                    **({"run_date": args.night} if table == "funnel_daily" else {}),
                )
                start = time.perf_counter()
                rows = wh.insert_select(
                    s.conn, table, columns, f"({wh.sql_generated(statement)}) q"
                )
                out[table] = {"rows": rows, "seconds": round(time.perf_counter() - start, 2)}
        finally:
            transaction.rollback()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
