"""The warehouse contract, as the job reads it (../shared/CONTRACT.md): source tables and their
columns, keys and time columns, allowed values, known event names, how product users match leads,
and which countries make a region. Validation, features and routing all read these from here."""

from __future__ import annotations

import polars as pl

SOURCE_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "crm_accounts": {
        "account_id": pl.String,
        "name": pl.String,
        "domain": pl.String,
        "industry": pl.String,
        "employee_count": pl.Int64,
        "sales_team_size": pl.Int64,
        "country": pl.String,
        "is_target_account": pl.Boolean,
        "owner_id": pl.String,
        "created_at": pl.Datetime,
        "updated_at": pl.Datetime,
    },
    "crm_leads": {
        "lead_id": pl.String,
        "account_id": pl.String,
        "email": pl.String,
        "title": pl.String,
        "country": pl.String,
        "state": pl.String,
        "lead_source": pl.String,
        "status": pl.String,
        "created_at": pl.Datetime,
        "updated_at": pl.Datetime,
    },
    "crm_lead_status_changes": {
        "lead_id": pl.String,
        "status": pl.String,
        "changed_at": pl.Datetime,
    },
    "crm_opportunities": {
        "opportunity_id": pl.String,
        "account_id": pl.String,
        "lead_id": pl.String,
        "stage": pl.String,
        "amount": pl.Float64,
        "created_at": pl.Datetime,
        "closed_at": pl.Datetime,
    },
    "product_users": {"user_id": pl.String, "email": pl.String, "signed_up_at": pl.Datetime},
    "sdr_reps": {
        "rep_id": pl.String,
        "name": pl.String,
        "team": pl.String,
        "daily_capacity": pl.Int64,
        "active": pl.Boolean,
    },
    "product_events": {
        "event_id": pl.String,
        "user_id": pl.String,
        "event_name": pl.String,
        "occurred_at": pl.Datetime,
    },
    "marketing_events": {
        "event_id": pl.String,
        "lead_id": pl.String,
        "event_type": pl.String,
        "occurred_at": pl.Datetime,
    },
}
# Read whole into frames each night; the event tables are only ever aggregated in the warehouse.
FRAME_TABLES = [
    "crm_accounts",
    "crm_leads",
    "crm_lead_status_changes",
    "crm_opportunities",
    "product_users",
    "sdr_reps",
]
EVENT_TABLES = {"product_events": "event_name", "marketing_events": "event_type"}
KEYS = {
    "crm_accounts": "account_id",
    "crm_leads": "lead_id",
    "crm_opportunities": "opportunity_id",
    "product_users": "user_id",
    "sdr_reps": "rep_id",
    "product_events": "event_id",
    "marketing_events": "event_id",
}
TIME_COLUMNS = {
    "crm_accounts": "created_at",
    "crm_leads": "created_at",
    "crm_lead_status_changes": "changed_at",
    "crm_opportunities": "created_at",
    "product_users": "signed_up_at",
    "product_events": "occurred_at",
    "marketing_events": "occurred_at",
}
LEAD_STATUSES = ["open", "working", "nurture", "disqualified", "qualified"]
LEAD_SOURCES = [
    "organic_search",
    "paid_search",
    "paid_social",
    "referral",
    "webinar",
    "content",
    "outbound",
    "event",
    "partner",
    "other",
]
ALLOWED_VALUES = {
    ("crm_leads", "status"): LEAD_STATUSES,
    ("crm_lead_status_changes", "status"): LEAD_STATUSES,
    ("crm_opportunities", "stage"): ["open", "closed_won", "closed_lost"],
    ("crm_leads", "lead_source"): LEAD_SOURCES,
}

# A lead is scored while it is in one of these statuses and has no opportunity yet.
SCORABLE_STATUSES = ["open", "working", "nurture"]
PRODUCT_EVENTS = [
    "login",
    "document_created",
    "document_sent",
    "document_signed",
    "template_created",
    "teammate_invited",
    "integration_connected",
    "billing_page_viewed",
]
MARKETING_EVENTS = [
    "whitepaper_download",
    "webinar_registration",
    "webinar_attended",
    "pricing_page_view",
    "docs_page_view",
    "demo_request",
    "email_open",
    "email_click",
    "website_visit",
]
KNOWN_EVENTS = PRODUCT_EVENTS + MARKETING_EVENTS
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"

# Countries (ISO 3166-1 alpha-2) by sales region; the routing file may add or override countries.
REGIONS = {
    "NA": ["US", "CA"],
    "LATAM": ["MX", "BR", "AR", "CL", "CO", "PE", "UY", "CR", "PA", "EC"],
    "EMEA": [
        "GB",
        "IE",
        "DE",
        "FR",
        "NL",
        "BE",
        "LU",
        "ES",
        "PT",
        "IT",
        "CH",
        "AT",
        "SE",
        "NO",
        "DK",
        "FI",
        "PL",
        "CZ",
        "RO",
        "GR",
        "IL",
        "SA",
        "AE",
        "QA",
        "KW",
        "EG",
        "ZA",
        "NG",
        "KE",
        "TR",
        "HU",
    ],
    "APAC": [
        "IN",
        "CN",
        "JP",
        "KR",
        "AU",
        "NZ",
        "SG",
        "HK",
        "TW",
        "MY",
        "TH",
        "ID",
        "PH",
        "VN",
        "PK",
    ],
}
COUNTRY_REGION = {c: region for region, codes in REGIONS.items() for c in codes}


def email_key(email: pl.Expr) -> pl.Expr:
    """The key product users are joined to leads on: case- and space-insensitive."""
    return email.str.replace_all(r"\s", "").str.to_lowercase()
