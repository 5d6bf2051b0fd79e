"""Benchmark: the two statements publishing adds for lead_lifecycle and funnel_daily, on a
warehouse with a published night.

    .venv/bin/python benchmarks/lifecycle.py --night 2026-06-30 --url URL

Runs `lifecycle.replace_night` as publishing runs it, in a transaction that is rolled back
(nothing is changed), and prints the rows and seconds of each statement, as one JSON line.
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
    tracks = lifecycle.load_tracks(settings.tracks_path)
    out: dict[str, object] = {"url": wh.display_url, "night": args.night}
    seconds: dict[str, float] = {}
    with wh.session() as s:
        transaction = s.conn.begin()
        try:
            start = time.perf_counter()
            rows = lifecycle.replace_night(s, day, tracks, settings.horizon_days, seconds)
            out["replace_night_seconds"] = round(time.perf_counter() - start, 2)
            out["statements"] = {t: {"rows": rows[t], "seconds": seconds[t]} for t in rows}
        finally:
            transaction.rollback()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
