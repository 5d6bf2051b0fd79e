"""Benchmark: tonight's training step alone (`train.fit_candidate`), on a demo warehouse's
training sample, with the parts the time goes to.

    .venv/bin/leadscore demo-data --leads 20000 --days 270 --end-date 2026-06-30 --url URL
    .venv/bin/python benchmarks/train_fit.py --url URL --date 2026-06-30 [--threads 1]

Builds the night's training sample as the local path does (extract, validate, features; the
settings from the environment: `LEADSCORE_MAX_TRAINING_ROWS` and the rest), then fits tonight's
challenger once under a profiler and prints the seconds of the whole fit and of its parts (the
estimator's choice, its yardsticks, gradient boosting, logistic fits). Run it on an otherwise
idle machine: single runs on a shared 2-core machine vary by a third.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import time

# What the time goes to: (end of the function's file name, function name).
PARTS = {
    "estimator's choice (forward folds)": ("close_probability.py", "_choose_scorecard"),
    "yardsticks (fit-only, hand rule, boosting)": ("train.py", "baselines"),
    "gradient boosting fits": ("gradient_boosting.py", "fit"),
    "scorecard fits": ("close_probability.py", "_fit_scorecard"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--threads", type=int, default=None, help="LEADSCORE_TRAIN_THREADS")
    args = parser.parse_args()

    from leadscore import warehouse
    from leadscore.settings import load_settings
    from leadscore.tasks import extract, features, train, validate

    settings = load_settings(warehouse_url=args.url, train_threads=args.threads)
    wh = warehouse.connect(args.url)
    tables = validate.check_sources(
        wh, extract.read_sources(wh), args.date, settings, validate.Runner(None), None
    )
    since = features.first_activity_day(args.date, settings)
    inputs = extract.read_inputs(wh, tables, args.date, since, settings)
    training = features.build_night(inputs, args.date, settings).training

    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    candidate = train.fit_candidate(training, args.date, settings)  # on train_threads threads
    profile.disable()
    seconds = time.perf_counter() - start
    print(f"training rows {training.height:,}; threads {settings.train_threads or 'all'}")
    print(f"fit_candidate: {seconds:.2f} s; holdout ROC AUC {candidate.metrics['roc_auc']:.4f}")
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for part, (file_end, function) in PARTS.items():
        calls = [
            v
            for (file, _, func), v in stats.items()
            if file.endswith(file_end) and func == function
        ]
        seconds = sum(v[3] for v in calls)
        print(f"  {part}: {seconds:.2f} s in {sum(v[1] for v in calls)} calls")


if __name__ == "__main__":
    main()
