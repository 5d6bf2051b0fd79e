"""`leadscore explain LEAD_ID`: a lead's score, its parts, its reasons, its lifecycle stage and
nurture track, and its last 30 nights."""

from __future__ import annotations

import polars as pl

from leadscore.errors import LeadscoreError
from leadscore.warehouse import Warehouse


def render(wh: Warehouse, lead_id: str) -> str:
    if not wh.has_table("lead_score_history"):
        raise LeadscoreError("no scores yet: run `leadscore run` first")
    nights = wh.read("select_lead_explain", {"lead_id": lead_id}, {"score_date": pl.Date})
    routing = wh.read_if_exists(
        "lead_routing",
        "select_lead_routings",
        {"lead_id": lead_id},
        {"routed_at": pl.Datetime, "sla_due_at": pl.Datetime},
    )
    if nights.is_empty():
        raise LeadscoreError(f"lead {lead_id} has no scores (not scorable, or not scored yet)")
    last = nights.row(0, named=True)
    ready = "SDR-ready" if last["sdr_ready"] else "not SDR-ready"
    lines = [
        (
            f"lead {lead_id} on {last['score_date']}: score {last['score']:.1f} "
            f"= fit {last['fit_score']:.1f} + engagement {last['engagement_score']:.1f} ({ready}; "
            "threshold 100)"
        ),
        (
            f"close probability within the sales cycle: {last['close_probability']:.1%}; "
            f"velocity {last['velocity']:+.1f} points/day; model {last['model_version']}"
        ),
        "why:",
        *[f"  {reason}" for reason in str(last["top_reasons"]).split("; ")],
    ]
    stage = wh.read_if_exists(
        "lead_lifecycle",
        "select_lead_lifecycle",
        {"lead_id": lead_id, "score_date": str(last["score_date"])},
        {"entered_on": pl.Date},
    )
    if stage.height:
        s = stage.row(0, named=True)
        lines.append(
            f"lifecycle: {s['lifecycle_stage']} ({s['journey_stage']}); nurture track "
            f"{s['nurture_track']} ({s['segment']}) since {s['entered_on']}: {s['reason']}"
        )
    if routing.height:
        r = routing.row(0, named=True)
        lines.append(
            f"routed to {r['rep_id']} ({r['team']}, {r['rule']}) "
            f"at {r['routed_at']:%Y-%m-%d %H:%M}, follow up by {r['sla_due_at']:%Y-%m-%d %H:%M}"
        )
    lines.append("last nights:")
    for row in nights.iter_rows(named=True):
        bar = "#" * max(0, min(60, int(row["score"] / 4)))
        lines.append(f"  {row['score_date']}  {row['score']:>6.1f}  {bar}")
    return "\n".join(lines)
