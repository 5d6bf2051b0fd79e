"""The run's bookkeeping and its small rules: run dates, backfill ranges, which failures retry."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from leadscore import run
from leadscore.errors import LeadscoreError
from leadscore.settings import load_settings


def test_a_run_date_is_a_date_or_yesterday():
    assert run.resolve_date("2026-06-30") == dt.date(2026, 6, 30)
    assert run.resolve_date(None) == dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with pytest.raises(LeadscoreError, match="not a date"):
        run.resolve_date("30/06/2026")


def test_a_backfill_range_is_every_day_in_order_and_never_backwards():
    assert run.date_range(dt.date(2026, 6, 29), dt.date(2026, 7, 1)) == [
        dt.date(2026, 6, 29),
        dt.date(2026, 6, 30),
        dt.date(2026, 7, 1),
    ]
    with pytest.raises(LeadscoreError, match="before start"):
        run.date_range(dt.date(2026, 7, 1), dt.date(2026, 6, 30))


def failed_with(exc: Exception) -> SimpleNamespace:
    def result() -> None:
        raise exc

    return SimpleNamespace(result=result)


def test_a_warehouse_step_retries_a_dropped_connection_but_not_a_users_mistake():
    assert run.retry_unless_user_error(None, None, failed_with(ConnectionError("server closed")))
    assert not run.retry_unless_user_error(
        None, None, failed_with(LeadscoreError("no table crm_leads"))
    )


def test_each_step_leaves_its_seconds_even_when_it_fails():
    log = run.RunLog.start(dt.date(2026, 6, 30), load_settings(warehouse_url="sqlite:///x.db"))
    assert log.timed("features", lambda a, b=0: a + b, 1, b=2) == 3
    with pytest.raises(ZeroDivisionError):
        log.timed("train", lambda: 1 / 0)
    assert set(log.timings) == {"features", "train"}
    assert len(log.run_id) == 32 and log.settings["warehouse_url"] == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("scheduled", "night"),
    [
        # The default schedule (02:00 UTC), retried the next night at 00:30: still that night.
        (dt.datetime(2026, 7, 1, 2, 0, tzinfo=dt.UTC), dt.date(2026, 6, 30)),
        # Scheduled at 23:45 UTC, started 30 minutes late, after midnight: the scheduled night,
        # not the day before the moment it started.
        (dt.datetime(2026, 6, 30, 23, 45, tzinfo=dt.UTC), dt.date(2026, 6, 29)),
        # A schedule in another time zone counts in UTC: 01:30 in Paris is 23:30 UTC the day before.
        (
            dt.datetime(2026, 7, 1, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            dt.date(2026, 6, 29),
        ),
        # A naive time is UTC.
        (dt.datetime(2026, 7, 1, 0, 10), dt.date(2026, 6, 30)),
    ],
)
def test_a_scheduled_run_scores_the_day_before_its_scheduled_start(scheduled, night):
    assert run.night_to_score(None, scheduled) == night
    # An explicit run date wins over the schedule.
    assert run.night_to_score("2026-05-01", scheduled) == dt.date(2026, 5, 1)


def test_the_nightly_flow_takes_its_night_from_the_runs_scheduled_start(monkeypatch):
    from leadscore.flows import nightly

    nights = []
    monkeypatch.setattr(nightly, "run_night", lambda _s, day, _b=None: nights.append(day))
    monkeypatch.setattr(nightly.orchestration, "on_temporary_server", lambda: True)
    # What Prefect's runtime gives a run scheduled at 23:45 UTC on 30 June (it started at 00:15).
    scheduled = dt.datetime(2026, 6, 30, 23, 45, tzinfo=dt.UTC)
    monkeypatch.setattr(nightly, "flow_run", SimpleNamespace(scheduled_start_time=scheduled))
    nightly.nightly_rescore.fn()
    nightly.nightly_rescore.fn(run_date="2026-06-01")
    assert nights == [dt.date(2026, 6, 29), dt.date(2026, 6, 1)]


def test_a_backfills_key_follows_its_dates_and_the_settings_that_change_its_rows():
    settings = load_settings(warehouse_url="sqlite:///w.db")
    june = run.backfill_key(dt.date(2026, 6, 1), dt.date(2026, 6, 7), settings)
    assert june == run.backfill_key(dt.date(2026, 6, 1), dt.date(2026, 6, 7), settings)
    assert june.startswith("2026-06-01..2026-06-07/")
    assert june != run.backfill_key(dt.date(2026, 6, 1), dt.date(2026, 6, 8), settings)
    longer_cycle = load_settings(warehouse_url="sqlite:///w.db", horizon_days=120)
    assert june != run.backfill_key(dt.date(2026, 6, 1), dt.date(2026, 6, 7), longer_cycle)
    # Where the Data Docs go does not change what a night publishes.
    docs = load_settings(warehouse_url="sqlite:///w.db", data_docs_dir="elsewhere")
    assert june == run.backfill_key(dt.date(2026, 6, 1), dt.date(2026, 6, 7), docs)


def test_backfill_progress_counts_nights_and_estimates_the_rest(monkeypatch):
    clock = iter([100.0, 130.0, 150.0])
    monkeypatch.setattr(run.time, "monotonic", lambda: next(clock))
    seen = []
    monkeypatch.setattr(run, "PROGRESS_LISTENERS", [lambda p: seen.append(p.line())])
    days = run.date_range(dt.date(2026, 6, 1), dt.date(2026, 6, 4))
    progress = run.BackfillProgress.start(days, done={dt.date(2026, 6, 1)})
    assert progress.todo == days[1:] and progress.skipped == days[:1]
    progress.night_done(days[1])  # 30 s
    progress.night_done(days[2])  # 20 s
    assert progress.seconds == [30.0, 20.0]
    assert progress.eta_seconds == 25.0  # one night left, at the mean
    assert seen == ["0/3 nights", "1/3 nights; last night 30 s; about 60 s left", seen[2]]
    assert seen[2] == "2/3 nights; last night 20 s; about 25 s left"
