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
