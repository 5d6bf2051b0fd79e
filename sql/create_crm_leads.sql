create table if not exists crm_leads (
    lead_id text primary key,
    account_id text,
    email text not null,
    title text,
    country text,
    state text,
    lead_source text not null,
    status text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
)
