"""Report: the night's Prefect artifacts (what a person reads in the UI), with what SDRs made of
the leads routed to them; the night's HTML report with its charts; the events an automation
alerts on.

Entry points: `report_night`, after the night is published; `on_failure`, around a night.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from leadscore.errors import ValidationFailed
from leadscore.run import RunLog, logger
from leadscore.settings import Settings, redact_url
from leadscore.tasks import html_report, monitor
from leadscore.tasks.lifecycle import STEPS, funnel_losses
from leadscore.tasks.publish import Night
from leadscore.tasks.train import Candidate
from leadscore.tasks.train import warnings as train_warnings
from leadscore.tasks.validate import Runner
from leadscore.warehouse import Warehouse

AT_ROUTING_SCHEMA = {
    "lead_id": pl.String,
    "score_date": pl.Date,
    "fit_score": pl.Float64,
    "engagement_score": pl.Float64,
}


# The CRM tables the report reads.
TABLES = ("crm_lead_status_changes", "crm_opportunities")


def report_night(
    wh: Warehouse,
    night: Night,
    candidate: Candidate,
    tables: dict[str, pl.DataFrame],
    counts: dict[str, Any],
    settings: Settings,
) -> dict[str, Any]:
    """Leave the night's artifacts on its Prefect run; return the run summary. `tables`: the
    CRM tables as of the run date (status changes and opportunities are read)."""
    # Every routing up to the run date, with the lead's points on its routing date.
    routed = wh.read(
        "select_routed_at_routing", {"run_date": night.run_date.isoformat()}, AT_ROUTING_SCHEMA
    )
    fb = feedback(
        routed,
        routed,
        tables["crm_lead_status_changes"],
        tables["crm_opportunities"],
        night.run_date,
        settings.horizon_days,
    )
    day = {"score_date": night.run_date.isoformat(), "ready": True}
    tally = wh.read("select_night_tally", day, {"scored": pl.Int64, "sdr_ready": pl.Int64})
    counts = counts | {k: int(v or 0) for k, v in tally.row(0, named=True).items()}
    queue = wh.read("select_night_queue", day, QUEUE_SCHEMA)
    funnel = wh.read(
        "select_night_funnel",
        {"run_date": night.run_date.isoformat()},
        {"lead_source": pl.String, "cohort_month": pl.Date} | dict.fromkeys(STEPS, pl.Int64),
    )
    losses = funnel_losses(funnel)
    watch = watching(wh, night.run_date)
    page = write_html_report(wh, night, candidate, counts, funnel, settings, watch)
    summary = publish_artifacts(night, candidate, counts, fb, queue, losses, page, watch)
    announce_published(summary, settings)
    return summary


@dataclass(frozen=True)
class Watch:
    """Tonight's drift and live calibration rows, and their warnings."""

    drift: pl.DataFrame
    calibration: pl.DataFrame
    warnings: list[str]


def watching(wh: Warehouse, day: dt.date) -> Watch:
    params = {"run_date": day.isoformat()}
    drift = wh.read(
        "select_night_drift",
        params,
        {
            "feature": pl.String,
            "psi": pl.Float64,
            "moved_bin": pl.String,
            "training_share": pl.Float64,
            "night_share": pl.Float64,
        },
    )
    calibration = wh.read(
        "select_night_calibration",
        params,
        {"band": pl.String, "scores": pl.Int64, "predicted": pl.Float64, "observed": pl.Float64},
    )
    found = monitor.drift_warnings(drift) + monitor.calibration_warnings(calibration)
    for warning in found:
        logger().warning(warning)
    return Watch(drift, calibration, found)


def watch_markdown(watch: Watch) -> list[str]:
    lines = ["", "## Drift and live calibration", ""]
    lines += [f"**Warning:** {w}\n" for w in watch.warnings]
    if watch.drift.height:
        top = watch.drift.head(5)
        lines.append(
            "Largest drift against the training window (PSI; above 0.25 is a shift): "
            + "; ".join(
                f"{r['feature']} {r['psi']:.3f} ({r['moved_bin']}: {r['training_share']:.0%} -> "
                f"{r['night_share']:.0%})"
                for r in top.iter_rows(named=True)
            )
            + ". All features: `drift_daily`."
        )
    if watch.calibration.height:
        lines += [
            "",
            "Scores whose outcome window has closed (`calibration_daily`):",
            "",
            "| band | scores | predicted | observed |",
            "|---|---|---|---|",
            *[
                f"| {b} | {n:,} | {p:.1%} | {o:.1%} |"
                for b, n, p, o in watch.calibration.iter_rows()
            ],
        ]
    else:
        lines.append("No scored night is old enough yet for its outcomes to be known.")
    return lines


def write_html_report(
    wh: Warehouse,
    night: Night,
    candidate: Candidate,
    counts: dict[str, Any],
    funnel: pl.DataFrame,
    settings: Settings,
    watch: Watch,
) -> Path | None:
    """The night's HTML report beside its Data Docs (none when Data Docs are off)."""
    folder = settings.docs_dir(night.run_date)
    if not folder:
        return None
    day = night.run_date
    scores = wh.read("select_night_scores", {"score_date": day.isoformat()}, {"score": pl.Float64})
    team_nights = wh.read(
        "select_team_nights",
        {"from_day": (day - dt.timedelta(days=30)).isoformat(), "run_date": day.isoformat()},
        {"score_date": pl.Date, "team": pl.String, "sdr_ready": pl.Int64, "routed": pl.Int64},
    )
    m = candidate.metrics
    scored, ready = counts.get("scored", 0), counts.get("sdr_ready", 0)
    summary = [
        (
            f"{scored:,} leads scored, {ready:,} SDR-ready ({ready / max(scored, 1):.1%}), "
            f"{counts.get('lead_routing', 0):,} newly routed, {counts.get('overflow', 0):,} "
            "waiting for a rep with room."
        ),
        (
            f"Challenger {candidate.scorer.version}: "
            f"{night.registry.status if night.registry else '-'}; holdout ROC AUC "
            f"{m['roc_auc']:.3f}, ECE {m['ece']:.3f}, top-decile lift {m['top_decile_lift']:.1f}x."
            if "baselines" in m
            else f"Scored with {night.model_version}: "
            f"{night.registry.status_reason if night.registry else m['kind_choice']}."
        ),
        (
            f"At the model's own threshold ({settings.threshold_points:g} points), holdout leads "
            f"close at {m.get('sdr_ready_close_rate', 0):.1%} within {settings.horizon_days} days "
            "(target 10-15%)."
        ),
        *[f"Warning: {w}" for w in watch.warnings],
    ]
    if night.threshold:
        summary.insert(1, night.threshold.summary + ".")
    data = html_report.ReportData(
        run_date=day,
        model_version=night.model_version,
        metrics=m,
        points_table=candidate.points_table,
        scores=scores,
        threshold_points=(
            night.threshold.threshold_points if night.threshold else settings.threshold_points
        ),
        team_nights=team_nights,
        funnel=funnel,
        drift=watch.drift,
        summary=summary,
    )
    return html_report.write_report(Path(folder) / "report.html", data)


def warehouse_resource(settings: Settings) -> dict[str, str]:
    """The Prefect event resource of a warehouse: one id per warehouse, whatever the night."""
    url = redact_url(settings.warehouse_url)
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return {"prefect.resource.id": f"leadscore.warehouse.{digest}", "prefect.resource.name": url}


def announce_published(summary: dict[str, Any], settings: Settings) -> None:
    """Emit `leadscore.night.published` (an automation alerts when none came for 26 hours)."""
    from prefect.events import emit_event

    emit_event(
        event="leadscore.night.published",
        resource=warehouse_resource(settings),
        payload={
            k: summary[k]
            for k in (
                "run_date",
                "run_id",
                "model_version",
                "scored",
                "sdr_ready",
                "routed",
                "overflow",
            )
        },
    )


@contextlib.contextmanager
def on_failure(run: RunLog, checks: Runner, settings: Settings) -> Iterator[None]:
    """Around a night: a failed or refused night leaves a markdown artifact (its validation
    failures, or its error) and a `leadscore.night.failed` event; then the failure goes on."""
    try:
        yield
    except Exception as exc:
        try:
            failure_artifact(run, exc, checks, settings)
        except Exception:  # noqa: BLE001 (never hide the night's own failure behind this one)
            logger().exception("could not leave the failed night's artifact")
        raise


def failure_markdown(run: RunLog, exc: BaseException, checks: Runner) -> str:
    refused = isinstance(exc, ValidationFailed)
    lines = [
        f"# leadscore night {run.run_date}: {'refused' if refused else 'failed'}",
        "",
        (
            "Nothing was published: the morning tables still hold the previous night. "
            f"Run `{run.run_id}`."
        ),
        "",
    ]
    if refused:
        lines += [
            (
                f"{len(exc.failures)} validation errors (fix the source rows, or the rule in the "
                "validation file, then rerun the date):"
            ),
            "",
            "| table | column | rule | observed | examples |",
            "|---|---|---|---|---|",
            *[
                f"| {f.table} | {f.column or ''} | {f.rule} | "
                f"{'' if f.observed is None else f.observed} "
                f"| {', '.join(map(str, f.examples[:3]))} |"
                for f in exc.failures
            ],
        ]
    else:
        lines += [f"Error: `{one_line(exc)}`"]
    warnings = checks.report.warnings
    if warnings:
        lines += ["", "Warnings before the failure:", *[f"- {f.line()}" for f in warnings]]
    done = ", ".join(f"{k} {v:.0f} s" for k, v in run.timings.items())
    lines += ["", f"Steps that ran: {done or 'none'}.", f"Data Docs: {checks.docs_dir or 'off'}"]
    return "\n".join(lines)


def one_line(exc: BaseException) -> str:
    """The error's type and the first line of its message."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"


def failure_artifact(run: RunLog, exc: BaseException, checks: Runner, settings: Settings) -> None:
    from prefect.artifacts import create_markdown_artifact
    from prefect.context import FlowRunContext
    from prefect.events import emit_event

    if FlowRunContext.get() is not None:
        create_markdown_artifact(
            markdown=failure_markdown(run, exc, checks),
            key="leadscore-night-failed",
            description=f"leadscore night {run.run_date}: not published",
        )
    emit_event(
        event="leadscore.night.failed",
        resource=warehouse_resource(settings),
        payload={
            "run_date": run.run_date.isoformat(),
            "run_id": run.run_id,
            "refused": isinstance(exc, ValidationFailed),
            "error": one_line(exc),
        },
    )


QUEUE_SCHEMA = {
    "lead_id": pl.String,
    "team": pl.String,
    "score": pl.Float64,
    "velocity": pl.Float64,
    "priority": pl.Float64,
    "top_reasons": pl.String,
}


def summary_markdown(
    night: Night,
    candidate: Candidate,
    counts: dict[str, Any],
    fb: dict[str, Any],
    losses: list[str] | None = None,
) -> str:
    registry, validation = night.registry, night.validation
    m = candidate.metrics
    scored, ready = counts.get("scored", 0), counts.get("sdr_ready", 0)
    lines = [
        f"# leadscore night {night.run_date}",
        "",
        f"- run `{night.run_id}`; scoring model `{night.model_version}`",
        (
            f"- challenger `{candidate.scorer.version}`: **{registry.status if registry else '-'}**"
            f" — {registry.status_reason if registry else ''}"
        ),
        (
            f"- scored leads: {scored:,}; SDR-ready: {ready:,} "
            f"({ready / max(scored, 1):.1%});"
            f" newly routed: {counts.get('lead_routing', 0):,}; overflow: "
            f"{counts.get('overflow', 0):,}"
        ),
        (
            f"- validation: {validation.expectations} expectations, {len(validation.errors)} "
            "errors,"
            f" {len(validation.warnings)} warnings, "
            f"{sum(f.height for f in validation.quarantine):,} rows quarantined"
            f" ({validation.seconds:.1f}s); Data Docs: {validation.docs or 'off'}"
        ),
        *[f"  - warning: {f.line()}" for f in validation.warnings],
        "",
        *model_markdown(m),
        f"Kind: {m['kind_choice']}.",
        *[f"\n**Warning:** {w}" for w in train_warnings(candidate)],
        "",
        "## Points table (top actions and attributes)",
        "",
        "| feature | value | points | lift at threshold | worth scoring |",
        "|---|---|---|---|---|",
    ]
    table = sorted(candidate.points_table, key=lambda r: -r["points"])[:25]
    for r in table:
        lines.append(
            f"| {r['feature']} | {r['value']} | {r['points']:+.0f} | {r['lift_pp']:+.1f} pp |"
            f" {'yes' if r['worth_scoring'] else 'no'} |"
        )
    overflow = night.routed.overflow.group_by("team").len().sort("team")
    lines += [
        "",
        "## Routing",
        "",
        *threshold_markdown(night),
        f"{counts.get('lead_routing', 0):,} leads routed tonight; overflow (no rep with room): "
        + (", ".join(f"{t} {n}" for t, n in overflow.iter_rows()) or "none")
        + ".",
    ]
    lines += feedback_markdown(fb)
    lines += [
        "",
        "## Funnel by channel (where each channel loses its leads)",
        "",
        *([f"- {line}" for line in losses] if losses else ["No leads in the funnel yet."]),
        "",
        "Per cohort: `v_funnel_by_channel`; tonight's nurture audiences: `v_nurture_audience`.",
    ]
    return "\n".join(lines)


def threshold_markdown(night: Night) -> list[str]:
    """Tonight's SDR-ready threshold and why (`threshold.choose`)."""
    t = night.threshold
    if t is None:
        return []
    on = "on" if t.capacity_threshold else "off"
    return [
        (
            f"SDR-ready at **{t.threshold_points:g} points**, a close rate of {t.close_rate:.1%} "
            f"(capacity threshold {on}): {t.reason}."
        ),
        "",
    ]


def model_markdown(m: dict[str, Any]) -> list[str]:
    """The challenger's holdout metrics against its baselines; a points rule (no model fitted)
    is measured on the labelled snapshots there are, when they hold closes."""
    if "baselines" not in m:
        if "roc_auc" not in m:
            return ["## Points rule", "", "No closed deal yet to measure it on."]
        return [
            "## Points rule on the labelled snapshots",
            "",
            (
                f"ROC AUC {m['roc_auc']:.3f}; ECE {m['ece']:.4f} over {m['rows']:,} snapshot rows "
                f"with {m['positives']:,} closes. SDR-ready: {m.get('sdr_ready_share', 0):.1%} of "
                f"leads, closing at {m.get('sdr_ready_close_rate', 0):.1%}."
            ),
        ]
    b = m["baselines"]
    return [
        "## Model on the time-ordered holdout",
        "",
        "| metric | challenger | fit only | hand rule | boosting |",
        "|---|---|---|---|---|",
        (
            f"| ROC AUC | {m['roc_auc']:.3f} | {b['fit_only']['roc_auc']:.3f} | "
            f"{b['hand_rule']['roc_auc']:.3f} |"
            f" {b['boosting']['roc_auc']:.3f} |"
        ),
        (
            f"| log loss | {m['log_loss']:.4f} | {b['fit_only']['log_loss']:.4f} | - | "
            f"{b['boosting']['log_loss']:.4f} |"
        ),
        "",
        (
            f"PR AUC {m['pr_auc']:.3f}; Brier {m['brier']:.4f}; ECE {m['ece']:.4f}; top-decile lift"
            f" {m['top_decile_lift']:.1f}x (captures {m['top_decile_capture']:.0%} of closes)."
        ),
        (
            f"At the model's own threshold, on the holdout: {m.get('sdr_ready_share', 0):.1%} of "
            "leads, closing at"
            f" {m.get('sdr_ready_close_rate', 0):.1%}. Reaching the threshold on fit alone:"
            f" {m['fit_only_ready_share']:.1%} (practice: about 5%)."
        ),
        *(
            [
                "",
                (
                    f"Numbers enter the scorecard as {m['numeric']}; this choice and the "
                    "yardsticks (fit only, boosting: on their own holdout) are those of model "
                    f"{m['choices_from']['model_version']}, trained for "
                    f"{m['choices_from']['trained_for']} (made afresh every "
                    "`LEADSCORE_CHOICES_EVERY_DAYS` days)."
                ),
            ]
            if "choices_from" in m
            else []
        ),
    ]


def publish_artifacts(
    night: Night,
    candidate: Candidate,
    counts: dict[str, Any],
    fb: dict[str, Any],
    queue: pl.DataFrame,
    losses: list[str] | None = None,
    page: Path | None = None,
    watch: Watch | None = None,
) -> dict[str, Any]:
    """Create the run's Prefect artifacts (`queue`: the top of tonight's SDR queue; `page`: the
    HTML report); return the run summary."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    registry, validation = night.registry, night.validation
    markdown = summary_markdown(night, candidate, counts, fb, losses)
    if watch:
        markdown += "\n".join(watch_markdown(watch))
    if page:
        markdown += (
            "\n\nCharts (calibration, gain and lift, score distribution, points, teams, drift, "
            f"funnel): [report.html]({page.resolve().as_uri()})"
        )
    create_markdown_artifact(
        markdown=markdown,
        key="leadscore-night",
        description=f"leadscore night {night.run_date}",
    )
    create_table_artifact(
        table=queue.to_dicts(), key="leadscore-queue", description="Top of tonight's SDR queue"
    )
    return {
        "run_id": night.run_id,
        "run_date": str(night.run_date),
        "model_version": night.model_version,
        "challenger": candidate.scorer.version,
        "challenger_status": registry.status if registry else None,
        "scored": counts["scored"],
        "sdr_ready": counts["sdr_ready"],
        "routed": counts.get("lead_routing", 0),
        "overflow": counts.get("overflow", 0),
        "threshold_points": night.threshold.threshold_points if night.threshold else None,
        "target_close_rate": night.threshold.close_rate if night.threshold else None,
        "scores_changed": counts.get("scores_changed"),
        # None for a points rule: no model was fitted, and there is no holdout.
        "roc_auc_holdout": (
            round(candidate.metrics["roc_auc"], 4) if "baselines" in candidate.metrics else None
        ),
        "fallback": candidate.metrics.get("fallback"),
        "validation": validation.summary() | {"failures": len(validation.failures)},
        "feedback": fb,
        "funnel_losses": losses or [],
        "report": str(page) if page else None,
        "warnings": watch.warnings if watch else [],
    }


def feedback(
    routed: pl.DataFrame,
    at_routing: pl.DataFrame,
    status_changes: pl.DataFrame,
    opportunities: pl.DataFrame,
    run_date: dt.date,
    horizon_days: int,
) -> dict[str, Any]:
    """What SDRs made of the leads routed to them, as of the run date.

    `routed`: lead_routing rows (lead_id, score_date); `at_routing`: lead_score_history rows of
    those leads on their routing date (lead_id, score_date, fit_score, engagement_score);
    `status_changes` and `opportunities`: as of the run date. "Poor fit and low engagement" means
    below the median of routed leads on both: if SDRs disqualify many of those, the points weigh
    the wrong things.
    """
    if routed.is_empty():
        return {"routed": 0}
    latest = status_changes.sort("changed_at").group_by("lead_id").agg(pl.col("status").last())
    won = (
        opportunities.filter(pl.col("stage") == "closed_won")
        .group_by("lead_id")
        .agg(pl.col("closed_at").min().alias("won_at"))
    )
    frame = (
        routed.select("lead_id", "score_date")
        .unique("lead_id", keep="first")
        .join(latest, on="lead_id", how="left")
        .with_columns(pl.col("status").fill_null("open"))
        .join(won, on="lead_id", how="left")
        .join(
            at_routing.select("lead_id", "score_date", "fit_score", "engagement_score"),
            on=["lead_id", "score_date"],
            how="left",
        )
    )
    shares = {
        s: round(float((frame["status"] == s).mean()), 4)
        for s in ("open", "working", "qualified", "nurture", "disqualified")
    }
    matured = frame.filter(
        pl.col("score_date") <= pl.lit(run_date) - pl.duration(days=horizon_days)
    )
    closed_in_cycle = matured.filter(
        pl.col("won_at").is_not_null()
        & (
            pl.col("won_at")
            < pl.col("score_date").cast(pl.Datetime("us")) + pl.duration(days=horizon_days + 1)
        )
    )
    fit_median = frame["fit_score"].median()
    eng_median = frame["engagement_score"].median()
    weak = frame.filter(
        (pl.col("fit_score") < fit_median) & (pl.col("engagement_score") < eng_median)
    )
    weak_disqualified = (
        float((weak["status"] == "disqualified").sum() / frame.height) if frame.height else 0.0
    )
    out = {
        "routed": frame.height,
        "status_shares": shares,
        "matured": matured.height,
        "close_rate_in_cycle": round(closed_in_cycle.height / matured.height, 4)
        if matured.height
        else None,
        "disqualified_poor_fit_low_engagement": round(weak_disqualified, 4),
    }
    warnings = []
    if out["close_rate_in_cycle"] is not None and not 0.10 <= out["close_rate_in_cycle"] <= 0.15:
        warnings.append(
            f"routed leads close at {out['close_rate_in_cycle']:.1%} within {horizon_days} days "
            f"(target 10-15%)"
        )
    if weak_disqualified > 0.05:
        warnings.append(
            f"{weak_disqualified:.1%} of routed leads were poor fit and low engagement and were "
            f"disqualified by SDRs (above 5%): scoring needs retuning"
        )
    out["warnings"] = warnings
    return out


def feedback_markdown(fb: dict[str, Any]) -> list[str]:
    if not fb.get("routed"):
        return ["", "## SDR feedback", "", "No routed leads yet."]
    shares = ", ".join(f"{k} {v:.0%}" for k, v in fb["status_shares"].items())
    rate = (
        f"{fb['close_rate_in_cycle']:.1%}"
        if fb["close_rate_in_cycle"] is not None
        else "not known yet"
    )
    return [
        "",
        "## SDR feedback",
        "",
        f"{fb['routed']:,} routed leads: {shares}.",
        (
            f"Close rate within the cycle of the {fb['matured']:,} routed long enough ago: {rate} "
            "(target 10-15%)."
        ),
        (
            "Disqualified although poor fit and low engagement: "
            f"{fb['disqualified_poor_fit_low_engagement']:.1%}"
            f" of routed leads (warning above 5%)."
        ),
        *[f"\n**Warning:** {w}" for w in fb["warnings"]],
    ]
