"""Benchmark: a first night and a later night of the job on demo data, stage by stage.

    .venv/bin/python benchmarks/run_night.py --leads 1000000 --url sqlite:////tmp/bench-1m.db
    .venv/bin/python benchmarks/run_night.py --leads 1000000 --reuse --url sqlite:////tmp/bench-1m.db
    .venv/bin/python benchmarks/run_night.py --leads 1000000 --compute warehouse --url URL

Writes a demo warehouse of --leads leads over --days days ending --end-date (unless --reuse, which
keeps a demo already there and drops only the job's output tables), then runs the night before
the end date (the first night: the whole event history goes into the daily roll-up) and the end
date (a later night), each in a process of its own. For each night it prints the seconds of
every stage, the stage's peak resident memory (sampled every 50 ms), and the peak resident
memory of the whole night's process (from the kernel, `wait4`). The temporary Prefect server of
each process is started before the night's clock starts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
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


def night(url: str, day: str, compute: str) -> None:
    """Run one night in this process; print its stages as one JSON line."""
    from prefect.testing.utilities import prefect_test_harness

    from leadscore.flows import nightly
    from leadscore.run import RunLog

    memory = PeakMemory()
    stages: list[tuple[str, float, float]] = []
    original = RunLog.timed

    def timed(run, name, step, *a, **kw):  # type: ignore[no-untyped-def]
        memory.reset()
        start = time.perf_counter()
        try:
            return original(run, name, step, *a, **kw)
        finally:
            stages.append((name, time.perf_counter() - start, memory.peak))

    RunLog.timed = timed  # type: ignore[method-assign]
    with prefect_test_harness(server_startup_timeout=120):
        start = time.perf_counter()
        result = nightly.nightly_rescore(day, url, compute=compute)
        total = time.perf_counter() - start
    print(json.dumps({"stages": stages, "total": total, "result": result}, default=str))


def run_child(url: str, day: str, compute: str) -> tuple[dict, float]:
    """One night in a child process: its output and its peak RSS in MB."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--night", day, "--url", url, "--compute", compute],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"the night of {day} failed (exit {child.returncode})")
    return json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=270)
    parser.add_argument("--end-date", default="2026-06-30")
    parser.add_argument("--url", default="sqlite:////tmp/leadscore-bench.db")
    parser.add_argument("--reuse", action="store_true", help="keep the demo data already at --url")
    parser.add_argument("--compute", choices=["local", "warehouse"], default="local")
    parser.add_argument("--night", help=argparse.SUPPRESS)  # internal: run one night, in a child
    args = parser.parse_args()
    if args.night:
        night(args.url, args.night, args.compute)
        return

    from leadscore import sql, warehouse
    from leadscore.demo import DemoSpec, load_demo

    end = dt.date.fromisoformat(args.end_date)
    wh = warehouse.connect(args.url)
    if args.reuse:
        with wh.session() as s, s.transaction():
            for name in [*reversed(sql.VIEWS), *sql.OUTPUT_TABLES]:
                s.conn.exec_driver_sql(
                    f"drop {'view' if name in sql.VIEWS else 'table'} if exists {name}"
                )
        counts = {
            t: int(wh.query(f"select count(*) as n from {t}")["n"][0]) for t in sql.SOURCE_TABLES
        }
        print(f"reused the demo at {wh.display_url}")
    else:
        start = time.perf_counter()
        counts = load_demo(
            wh, DemoSpec(leads=args.leads, days=args.days, seed=7, end_date=end), replace=True
        )
        print(f"demo data written in {time.perf_counter() - start:.0f}s")
    print(
        f"leadscore benchmark: {args.leads:,} leads, {args.days} days, {wh.dialect}, "
        f"compute {args.compute}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("source rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    for label, day in (("first night", end - dt.timedelta(days=1)), ("later night", end)):
        out, peak = run_child(args.url, day.isoformat(), args.compute)
        print(f"\n{label} ({day}): {out['total']:.1f} s, peak RSS of the process {peak:,.0f} MB")
        print("| stage | seconds | peak RSS (MB) |\n|---|---|---|")
        for name, seconds, stage_peak in out["stages"]:
            print(f"| {name} | {seconds:.1f} | {stage_peak:,.0f} |")
        print(f"| **whole night** | **{out['total']:.1f}** | **{peak:,.0f}** |")
        r = out["result"]
        print(
            f"scored {r['scored']:,}, SDR-ready {r['sdr_ready']:,}, routed {r['routed']:,}, "
            f"holdout AUC {r['roc_auc_holdout']}, validation {r['validation']['seconds']}s"
        )


if __name__ == "__main__":
    main()
