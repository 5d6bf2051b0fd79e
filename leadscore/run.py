"""One run's bookkeeping for `pipeline_runs`: its id and date, the settings it ran with, and how
long each step took. The flow times its steps here; publish writes the row."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from leadscore import memory
from leadscore.crash import crash_point
from leadscore.errors import LeadscoreError
from leadscore.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class RunLog:
    run_id: str
    run_date: dt.date
    settings: dict[str, Any]
    started_at: dt.datetime
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, run_date: dt.date, settings: Settings, run_id: str | None = None) -> RunLog:
        return cls(
            run_id=run_id or uuid.uuid4().hex,
            run_date=run_date,
            settings=settings.public(),
            started_at=utc_now(),
        )

    def timed(self, name: str, step: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run one step of the night, its seconds kept under `name` (a crash point for tests).
        What the step let go of is given back to the system before the next one starts."""
        crash_point(name)
        start = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            memory.release()
            self.timings[name] = round(time.perf_counter() - start, 2)


def utc_now() -> dt.datetime:
    """Now, as the naive UTC timestamp the warehouse tables hold."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Inside a Prefect flow or task run, its logger (lines reach the UI); else leadscore's."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("leadscore")


def resolve_date(value: str | dt.date | None) -> dt.date:
    """The run date: a date or YYYY-MM-DD; by default yesterday (UTC)."""
    if value is None or value == "":
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise LeadscoreError(f"run date {value!r} is not a date (YYYY-MM-DD)") from None


def retry_unless_user_error(_task: Any, _run: Any, state: Any) -> bool:
    """Prefect's retry condition for warehouse steps: retry unless the user must fix something."""
    try:
        state.result()
    except LeadscoreError:
        return False
    except Exception:  # noqa: BLE001 (any other failure may be a dropped connection: worth a retry)
        return True
    return True


def date_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from `first` to `last`, in order; refuses a range that ends before it starts."""
    if last < first:
        raise LeadscoreError(f"backfill: end {last} is before start {first}")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
