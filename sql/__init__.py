"""SQL statements, one per file, named verb_object.

A statement whose text differs between dialects lives in `sql/<dialect>/<name>.sql`; the
portable version in `sql/<name>.sql` is used otherwise.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

HERE = Path(__file__).parent

# The DDL, in creation order (views after the tables they read).
SOURCE_TABLES = [
    "crm_accounts",
    "crm_leads",
    "crm_lead_status_changes",
    "crm_opportunities",
    "product_users",
    "product_events",
    "marketing_events",
    "sdr_reps",
]
SOURCE_INDEXES = [
    "ix_product_events_occurred_at",
    "ix_marketing_events_occurred_at",
    "ix_status_changes_lead",
    "ix_opportunities_lead",
]
OUTPUT_TABLES = [
    "lead_scores",
    "lead_score_history",
    "lead_routing",
    "routing_state",
    "account_scores",
    "model_registry",
    "pipeline_runs",
    "lead_activity_daily",
    "activity_rollup_state",
    "quarantine_rows",
    "lead_lifecycle",
    "funnel_daily",
    "drift_daily",
    "calibration_daily",
    "threshold_daily",
]
OUTPUT_INDEXES = [
    "ix_lead_score_history_lead",
    "ix_lead_routing_score_date",
    "ix_model_registry_date",
]
VIEWS = ["v_lead_scores", "v_sdr_queue", "v_nurture_audience", "v_funnel_by_channel"]


@cache
def load(name: str, dialect: str = "") -> str:
    """The text of statement `name` for `dialect` (sqlite or postgresql)."""
    specific = HERE / dialect / f"{name}.sql"
    path = specific if dialect and specific.exists() else HERE / f"{name}.sql"
    return path.read_text(encoding="utf-8").strip().rstrip(";")
