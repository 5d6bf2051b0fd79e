"""The warehouse contract's source tables, as the job reads them (../shared/CONTRACT.md)."""
from __future__ import annotations

import polars as pl

SOURCE_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "crm_accounts": {
        "account_id": pl.String, "name": pl.String, "domain": pl.String, "industry": pl.String,
        "employee_count": pl.Int64, "sales_team_size": pl.Int64, "country": pl.String,
        "is_target_account": pl.Boolean, "owner_id": pl.String, "created_at": pl.Datetime,
        "updated_at": pl.Datetime,
    },
    "crm_leads": {
        "lead_id": pl.String, "account_id": pl.String, "email": pl.String, "title": pl.String,
        "country": pl.String, "state": pl.String, "lead_source": pl.String, "status": pl.String,
        "created_at": pl.Datetime, "updated_at": pl.Datetime,
    },
    "crm_lead_status_changes": {"lead_id": pl.String, "status": pl.String, "changed_at": pl.Datetime},
    "crm_opportunities": {
        "opportunity_id": pl.String, "account_id": pl.String, "lead_id": pl.String, "stage": pl.String,
        "amount": pl.Float64, "created_at": pl.Datetime, "closed_at": pl.Datetime,
    },
    "product_users": {"user_id": pl.String, "email": pl.String, "signed_up_at": pl.Datetime},
    "sdr_reps": {
        "rep_id": pl.String, "name": pl.String, "team": pl.String, "daily_capacity": pl.Int64,
        "active": pl.Boolean,
    },
    "product_events": {"event_id": pl.String, "user_id": pl.String, "event_name": pl.String,
                       "occurred_at": pl.Datetime},
    "marketing_events": {"event_id": pl.String, "lead_id": pl.String, "event_type": pl.String,
                         "occurred_at": pl.Datetime},
}
# Read whole into frames each night; the event tables are only ever aggregated in the warehouse.
FRAME_TABLES = ["crm_accounts", "crm_leads", "crm_lead_status_changes", "crm_opportunities",
                "product_users", "sdr_reps"]
EVENT_TABLES = {"product_events": "event_name", "marketing_events": "event_type"}
KEYS = {"crm_accounts": "account_id", "crm_leads": "lead_id", "crm_opportunities": "opportunity_id",
        "product_users": "user_id", "sdr_reps": "rep_id", "product_events": "event_id",
        "marketing_events": "event_id"}
TIME_COLUMNS = {"crm_accounts": "created_at", "crm_leads": "created_at", "crm_lead_status_changes": "changed_at",
                "crm_opportunities": "created_at", "product_users": "signed_up_at",
                "product_events": "occurred_at", "marketing_events": "occurred_at"}
ALLOWED_VALUES = {
    ("crm_leads", "status"): ["open", "working", "nurture", "disqualified", "qualified"],
    ("crm_lead_status_changes", "status"): ["open", "working", "nurture", "disqualified", "qualified"],
    ("crm_opportunities", "stage"): ["open", "closed_won", "closed_lost"],
    ("crm_leads", "lead_source"): ["organic_search", "paid_search", "paid_social", "referral", "webinar",
                                   "content", "outbound", "event", "partner", "other"],
}
