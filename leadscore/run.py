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
    def start(
        cls,
        run_date: dt.date,
        settings: Settings,
        run_id: str | None = None,
        backfill: str | None = None,
    ) -> RunLog:
        """`backfill`: the key of the backfill the night belongs to (kept with its settings in
        pipeline_runs, so a rerun of that backfill knows which nights it already published)."""
        recorded = settings.public() | ({"backfill": backfill} if backfill else {})
        return cls(
            run_id=run_id or uuid.uuid4().hex,
            run_date=run_date,
            settings=recorded,
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


def night_to_score(run_date: str | dt.date | None, scheduled_start: dt.datetime | None) -> dt.date:
    """The night a run scores: `run_date` when given; else the day before the run's scheduled
    start, in UTC. A scheduled run that waited in the queue, or was retried, past midnight still
    scores the night it was scheduled for; a run without a schedule is scheduled when it starts."""
    if run_date not in (None, ""):
        return resolve_date(run_date)
    if scheduled_start is None:
        return resolve_date(None)
    if scheduled_start.tzinfo is not None:
        scheduled_start = scheduled_start.astimezone(dt.UTC)
    return scheduled_start.date() - dt.timedelta(days=1)


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


def backfill_key(first: dt.date, last: dt.date, settings: Settings) -> str:
    """What makes two backfills "the same" (a rerun of a stopped one): their dates and the
    settings that change what a night publishes."""
    import hashlib
    import json

    recorded = settings.public()
    for volatile in ("concurrency_limit", "data_docs_dir"):
        recorded.pop(volatile, None)
    digest = hashlib.sha256(json.dumps(recorded, sort_keys=True).encode()).hexdigest()[:12]
    return f"{first.isoformat()}..{last.isoformat()}/{digest}"


# Called with each BackfillProgress after a night (the CLI's progress bar listens here).
PROGRESS_LISTENERS: list[Callable[[BackfillProgress], None]] = []


@dataclass
class BackfillProgress:
    """How far a backfill is: the dates it must run, those done, seconds per night, an ETA. Kept
    as a Prefect progress artifact on the backfill's run, logged, and told to listeners."""

    days: list[dt.date]
    skipped: list[dt.date]
    todo: list[dt.date]
    started: float = field(default_factory=lambda: time.monotonic())
    seconds: list[float] = field(default_factory=list)
    artifact_id: Any = None

    @classmethod
    def start(cls, days: list[dt.date], done: set[dt.date]) -> BackfillProgress:
        progress = cls(
            days=days,
            skipped=[d for d in days if d in done],
            todo=[d for d in days if d not in done],
        )
        if progress.skipped:
            logger().info(
                "backfill: %d of %d dates already published by an earlier attempt of this "
                "backfill, skipped (%s); --force reruns them",
                len(progress.skipped),
                len(days),
                ", ".join(d.isoformat() for d in progress.skipped),
            )
        progress.artifact_id = _progress_artifact(progress)
        progress._tell()
        return progress

    @property
    def done(self) -> int:
        return len(self.seconds)

    @property
    def total(self) -> int:
        return len(self.todo)

    @property
    def eta_seconds(self) -> float | None:
        if not self.seconds:
            return None
        return sum(self.seconds) / len(self.seconds) * (self.total - self.done)

    def night_done(self, day: dt.date) -> None:
        now = time.monotonic()
        self.seconds.append(now - self.started - sum(self.seconds))
        eta = self.eta_seconds or 0.0
        logger().info(
            "backfill: night %s done in %.0f s (%d/%d); about %s left",
            day,
            self.seconds[-1],
            self.done,
            self.total,
            _duration(eta),
        )
        _progress_artifact(self)
        self._tell()

    def line(self) -> str:
        last = f"; last night {self.seconds[-1]:.0f} s" if self.seconds else ""
        eta = self.eta_seconds
        left = f"; about {_duration(eta)} left" if eta is not None else ""
        return f"{self.done}/{self.total} nights{last}{left}"

    def _tell(self) -> None:
        for listener in PROGRESS_LISTENERS:
            listener(self)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _progress_artifact(progress: BackfillProgress) -> Any:
    """Create (first call) or update the backfill's progress artifact; None outside a flow run."""
    from prefect.artifacts import create_progress_artifact, update_progress_artifact
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return None
    percent = 100.0 * progress.done / progress.total if progress.total else 100.0
    if progress.artifact_id is None:
        first, last = progress.days[0], progress.days[-1]
        return create_progress_artifact(
            percent,
            key="leadscore-backfill",
            description=f"leadscore backfill {first}..{last}: {progress.line()}",
        )
    update_progress_artifact(progress.artifact_id, percent, description=progress.line())
    return progress.artifact_id
