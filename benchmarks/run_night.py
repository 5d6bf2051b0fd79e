"""Benchmark: generate N demo leads, run one night, print each stage's time and peak memory.

    .venv/bin/python benchmarks/run_night.py --leads 100000 --url sqlite:////tmp/bench.db

Peak memory is the process's resident set size, sampled every 50 ms during each stage.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import threading
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.05)

    def reset(self) -> None:
        self.peak = rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=270)
    parser.add_argument("--end-date", default="2026-06-30")
    parser.add_argument("--url", default="sqlite:////tmp/leadscore-bench.db")
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    import flows.nightly as nightly
    from leadscore import warehouse
    from leadscore.demo import DemoSpec, load_demo

    memory = PeakMemory()
    stages: list[tuple[str, float, float]] = []
    original = nightly.timed

    def timed(run, name, step, *a):
        memory.reset()
        start = time.perf_counter()
        try:
            return original(run, name, step, *a)
        finally:
            stages.append((name, time.perf_counter() - start, memory.peak))

    nightly.timed = timed
    end = dt.date.fromisoformat(args.end_date)
    if args.url.startswith("sqlite:///"):
        Path(args.url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    engine = warehouse.connect(args.url)
    memory.reset()
    start = time.perf_counter()
    counts = load_demo(engine, DemoSpec(leads=args.leads, days=args.days, seed=7, end_date=end), replace=True)
    stages.append(("demo_data (not part of a night)", time.perf_counter() - start, memory.peak))
    with prefect_test_harness(server_startup_timeout=120):
        start = time.perf_counter()
        result = nightly.nightly_rescore(end.isoformat(), args.url)
        total = time.perf_counter() - start

    print(f"leadscore benchmark: {args.leads:,} leads, {args.days} days, {warehouse.dialect(engine)}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"source rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    print(f"| stage | seconds | peak RSS (MB) |\n|---|---|---|")
    for name, seconds, peak in stages:
        print(f"| {name} | {seconds:.1f} | {peak:,.0f} |")
    print(f"| whole night (flow) | {total:.1f} | {max(p for _, _, p in stages[1:]):,.0f} |")
    print(f"scored {result['scored']:,}, SDR-ready {result['sdr_ready']:,}, routed {result['routed']:,}, "
          f"holdout AUC {result['roc_auc_holdout']}, validation {result['validation']['seconds']}s")


if __name__ == "__main__":
    main()
