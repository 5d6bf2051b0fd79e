create table if not exists crm_opportunities (
    opportunity_id text primary key,
    account_id text not null,
    lead_id text,
    stage text not null,
    amount numeric,
    created_at timestamptz not null,
    closed_at timestamptz
)
