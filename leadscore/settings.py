"""One settings object, resolved once at flow or command start.

Precedence: explicit overrides (CLI flags, deployment parameters) > `LEADSCORE_*` environment
variables > defaults. A value that cannot be parsed fails at once with the variable's name.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from leadscore.errors import LeadscoreError

DEFAULT_URL = "sqlite:///leadscore.db"
ENV_PREFIX = "LEADSCORE_"


@dataclass(frozen=True)
class Settings:
    warehouse_url: str = DEFAULT_URL
    # The sales cycle: a lead "closes" when its opportunity is won within this many days.
    horizon_days: int = 90
    # Close rate that SDR-ready leads should reach within the horizon (practice: 10-15%).
    target_close_rate: float = 0.125
    # The score at which a lead becomes SDR-ready. Scores are scaled so this is a round number.
    threshold_points: float = 100.0
    # Training snapshots: one every N days, as many as history allows, up to max_snapshots.
    snapshot_every_days: int = 7
    max_snapshots: int = 26
    # Share of the snapshots (the latest ones) kept out of training to evaluate the model.
    holdout_share: float = 0.25
    # Caps the training snapshot rows and the holdout's: a weighted sample is drawn before the
    # features are computed (positives kept, negatives down-sampled; calibration holds).
    max_training_rows: int = 200_000
    max_holdout_rows: int = 100_000
    # Caps the sample the baselines (fit-only model, gradient boosting) learn from, likewise.
    baseline_rows: int = 50_000
    # Threads the model fits may use (gradient boosting's OpenMP loops, BLAS); 0: one per core.
    # One by default: the fits are bounded in size, and OpenMP threads that share their cores
    # with the warehouse or another job wait on each other (gradient boosting on a test demo:
    # 75 s with two threads on a busy 2-core machine, 5.7 s with one).
    train_threads: int = 1
    # The estimator's choice (how numbers enter the scorecard, on forward-in-time folds) and the
    # yardsticks it is judged against (a fit-only model, gradient boosting) are made afresh when
    # the last night that made them is this many days back or more; the nights between reuse
    # them and fit the scorecard alone (0: every night).
    choices_every_days: int = 7
    # A challenger replaces the champion unless its holdout log loss is worse by more than this.
    promotion_tolerance: float = 0.002
    # Below either minimum in the training snapshots (Salesforce Einstein's: 120 won deals, 1,000
    # leads), no model is fitted: the night keeps the champion, or scores with the points rule.
    min_won_deals: int = 120
    min_training_leads: int = 1000
    # The SDR-ready threshold follows SDR capacity (tasks/threshold.py): a target close rate of
    # 8-20% chosen each night; false: the model's threshold, at target_close_rate.
    capacity_threshold: bool = True
    seed: int = 7
    # Routing.
    routing_file: str = ""
    # Nurture track rules (default: leadscore/tracks.toml).
    tracks_file: str = ""
    sla_hours: int = 48
    reroute_after_days: int = 30
    # Re-aggregate this many trailing days of events each night, to catch late-arriving rows.
    late_event_days: int = 3
    # Validation rules and thresholds (default: leadscore/validation.toml), and where each night's
    # Great Expectations Data Docs go (a folder per run date).
    validation_file: str = ""
    data_docs_dir: str = "data_docs"
    # Where the per-lead work runs: "local" (polars, in this process) or "warehouse" (SQL inside
    # the warehouse; this process holds the training sample and the newly SDR-ready leads).
    compute: str = "local"
    # The Prefect global concurrency limit every night takes a slot of, so the nightly run and a
    # backfill take turns (create it once: `prefect gcl create leadscore-night --limit 1`).
    concurrency_limit: str = "leadscore-night"

    @property
    def routing_path(self) -> Path:
        if self.routing_file:
            return Path(self.routing_file)
        return Path(__file__).with_name("routing.toml")

    @property
    def tracks_path(self) -> Path:
        default = Path(__file__).with_name("tracks.toml")
        return Path(self.tracks_file) if self.tracks_file else default

    @property
    def validation_path(self) -> Path:
        return (
            Path(self.validation_file)
            if self.validation_file
            else Path(__file__).with_name("validation.toml")
        )

    def docs_dir(self, run_date: Any) -> str | None:
        return (
            str((Path(self.data_docs_dir) / str(run_date)).resolve())
            if self.data_docs_dir
            else None
        )

    def flow_parameters(self) -> dict[str, Any]:
        """The settings a flow takes as parameters, as this object holds them."""
        return {
            "warehouse_url": self.warehouse_url,
            "horizon_days": self.horizon_days,
            "routing_file": self.routing_file or None,
            "compute": self.compute,
        }

    def public(self) -> dict[str, Any]:
        """The settings as recorded in pipeline_runs (the URL without its password)."""
        values = dataclasses.asdict(self)
        values["warehouse_url"] = redact_url(self.warehouse_url)
        return values


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A configuration file, or one clear error naming it."""
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LeadscoreError(f"{what} file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise LeadscoreError(f"{what} file {path}: {exc}") from None


def redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (whatever the parser raised, the message shows no secret)
        return "<unparseable url>"


def _coerce(name: str, kind: type, raw: Any) -> Any:
    if isinstance(raw, kind):
        return raw
    try:
        if kind is bool:
            lowered = str(raw).strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return lowered in {"1", "true", "yes"}
        return kind(raw)
    except (TypeError, ValueError):
        raise LeadscoreError(f"setting {name}: cannot read {raw!r} as {kind.__name__}") from None


def load_settings(**overrides: Any) -> Settings:
    """Resolve settings from overrides, then `LEADSCORE_<NAME>` variables, then defaults."""
    kinds = {f.name: type(f.default) for f in fields(Settings)}
    unknown = set(overrides) - set(kinds)
    if unknown:
        raise LeadscoreError(f"unknown settings: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, kind in kinds.items():
        env_name = ENV_PREFIX + ("WAREHOUSE_URL" if name == "warehouse_url" else name.upper())
        if overrides.get(name) is not None:
            values[name] = _coerce(name, kind, overrides[name])
        elif os.environ.get(env_name):
            values[name] = _coerce(env_name, kind, os.environ[env_name])
    settings = Settings(**values)
    if not 0 < settings.target_close_rate < 1:
        raise LeadscoreError("setting target_close_rate must be between 0 and 1")
    if settings.min_won_deals < 1 or settings.min_training_leads < 1:
        raise LeadscoreError("settings min_won_deals and min_training_leads must be at least 1")
    if settings.horizon_days < 1 or settings.snapshot_every_days < 1:
        raise LeadscoreError("settings horizon_days and snapshot_every_days must be positive")
    if settings.train_threads < 0:
        raise LeadscoreError(
            "setting train_threads (LEADSCORE_TRAIN_THREADS) must be 0 (one per core) or more"
        )
    if settings.choices_every_days < 0:
        raise LeadscoreError(
            "setting choices_every_days (LEADSCORE_CHOICES_EVERY_DAYS) must be 0 (every night) "
            "or more"
        )
    if settings.compute not in COMPUTE:
        raise LeadscoreError(
            f"setting compute (LEADSCORE_COMPUTE, --compute): {settings.compute!r} is not one of "
            + ", ".join(COMPUTE)
        )
    return settings


COMPUTE = ("local", "warehouse")


__all__ = ["DEFAULT_URL", "Settings", "load_settings"]
