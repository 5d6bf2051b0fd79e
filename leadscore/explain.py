"""`leadscore explain LEAD_ID`: a lead's score, its parts, its reasons and its last 30 nights."""
from __future__ import annotations

from sqlalchemy.engine import Engine

import sql
from leadscore import warehouse
from leadscore.errors import LeadscoreError


def render(engine: Engine, lead_id: str) -> str:
    with engine.connect() as conn:
        if not warehouse.has_table(conn, "lead_score_history"):
            raise LeadscoreError("no scores yet: run `leadscore run` first")
        nights = warehouse.read_frame(conn, sql.load("select_lead_explain"), {"lead_id": lead_id})
        routing = warehouse.read_optional(conn, "lead_routing", "select team, rep_id, rule, routed_at, sla_due_at "
                                          "from lead_routing where lead_id = :lead_id order by routed_at desc",
                                          {"lead_id": lead_id}, {})
    if nights.is_empty():
        raise LeadscoreError(f"lead {lead_id} has no scores (not scorable, or not scored yet)")
    last = nights.row(0, named=True)
    ready = "SDR-ready" if last["sdr_ready"] else "not SDR-ready"
    lines = [
        f"lead {lead_id} on {str(last['score_date'])[:10]}: score {last['score']:.1f} "
        f"= fit {last['fit_score']:.1f} + engagement {last['engagement_score']:.1f} ({ready}; threshold 100)",
        f"close probability within the sales cycle: {last['close_probability']:.1%}; "
        f"velocity {last['velocity']:+.1f} points/day; model {last['model_version']}",
        "why:",
        *[f"  {reason}" for reason in str(last["top_reasons"]).split("; ")],
    ]
    if routing.height:
        r = routing.row(0, named=True)
        lines.append(f"routed to {r['rep_id']} ({r['team']}, {r['rule']}) at {str(r['routed_at'])[:16]}, "
                     f"follow up by {str(r['sla_due_at'])[:16]}")
    lines.append("last nights:")
    for row in nights.iter_rows(named=True):
        bar = "#" * max(0, min(60, int(row["score"] / 4)))
        lines.append(f"  {str(row['score_date'])[:10]}  {row['score']:>6.1f}  {bar}")
    return "\n".join(lines)
