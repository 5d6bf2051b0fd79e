"""Benchmark: where a local night's memory goes, step by step, on a warehouse with a demo.

    .venv/bin/python benchmarks/night_memory.py --night 2026-06-30 \
        --url sqlite:////work/bench/bench-1m.db

Runs the local path's steps in this process, without Prefect and without publishing (nothing is
written): validation, the activity read, features, training, scoring. For each step it prints
the resident memory before it, its peak (sampled every 20 ms) and after it, and the size of
each frame the night holds after features (`estimated_size`), so that the process's memory can be
told apart from its frames'.
"""

from __future__ import annotations

import argparse
import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

from leadscore import warehouse
from leadscore.settings import load_settings
from leadscore.tasks import extract, features, score, train, validate


def rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


class Peak:
    def __init__(self) -> None:
        self.value = rss_mb()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.value = max(self.value, rss_mb())
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--night", required=True)
    parser.add_argument("--docs", default="/tmp/leadscore-memory-docs")
    args = parser.parse_args()
    day = dt.date.fromisoformat(args.night)
    settings = load_settings(warehouse_url=args.url)
    wh = warehouse.connect(args.url)
    peak = Peak()
    print("| step | seconds | RSS before (MB) | peak | after |\n|---|---|---|---|---|")

    def step(name: str, function: Any, *a: Any) -> Any:
        before = rss_mb()
        peak.value = before
        start = time.perf_counter()
        out = function(*a)
        seconds = time.perf_counter() - start
        line = f"| {name} | {seconds:.1f} | {before:,} | {peak.value:,} | {rss_mb():,} |"
        print(line, flush=True)
        return out

    runner = validate.Runner(args.docs)
    sources = step("extract", extract.read_sources, wh)
    tables = step("validate", validate.check_sources, wh, sources, day, settings, runner)
    since = features.first_activity_day(day, settings)
    inputs = step("activity", extract.read_inputs, wh, tables, day, since, settings)
    del tables
    feats = step("features", features.build_night, inputs, day, settings)
    frames = {
        "daily counts": inputs.activity.daily,
        **{f"table {t}": f for t, f in inputs.tables.items()},
        **{k: getattr(feats, k) for k in ("profiles", "training", "today", "week_ago")},
    }
    sizes = [(name, f.height, f.estimated_size() / 2**20) for name, f in frames.items()]
    del inputs, frames  # as the flow does: the daily counts go before training
    model = step("train", train.train_night, wh, feats.training, day, settings)
    step("score", score.score_leads, wh, feats, model, day, "memory", settings)
    print("\n| frame | rows | MB |\n|---|---|---|")
    for name, rows, mb in sizes:
        print(f"| {name} | {rows:,} | {mb:,.0f} |")


if __name__ == "__main__":
    main()
