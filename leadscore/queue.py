"""The morning queue as text: what `leadscore queue` and `leadscore demo` print."""

from __future__ import annotations

import polars as pl

from leadscore.errors import LeadscoreError
from leadscore.warehouse import Warehouse


def read(wh: Warehouse, team: str | None, limit: int) -> pl.DataFrame:
    if not wh.has_table("lead_scores"):
        raise LeadscoreError("no lead_scores yet: run `leadscore run` first")
    return wh.read(
        "select_sdr_queue",
        {"team": team, "limit": limit},
        {"score_date": pl.Date, "sla_due_at": pl.Datetime},
    )


def render(wh: Warehouse, team: str | None = None, limit: int = 20) -> str:
    frame = read(wh, team, limit)
    if frame.is_empty():
        return "the SDR queue is empty" + (f" for team {team}" if team else "")
    lines = [f"SDR queue for {frame['score_date'][0]}" + (f", team {team}" if team else "")]
    for (name,), rows in frame.group_by("team", maintain_order=True):
        lines.append(f"\n{name}")
        for r in rows.iter_rows(named=True):
            rep = r["rep_name"] or "OVERFLOW (no rep with room)"
            due = f"{r['sla_due_at']:%Y-%m-%d %H:%M}" if r["sla_due_at"] else "-"
            lines.append(
                f"  {r['queue_rank']:>3}. {r['lead_id']}  score {r['score']:>6.1f}  "
                f"velocity {r['velocity']:>+6.1f}/day  p(close) {r['close_probability']:.0%}  "
                f"-> {rep}  due {due}"
            )
            lines.append(
                f"       {r['title'] or '(no title)'} at {r['account_name'] or '(no account)'}: "
                f"{r['top_reasons']}"
            )
    return "\n".join(lines)
