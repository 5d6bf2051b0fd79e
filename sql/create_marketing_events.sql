create table if not exists marketing_events (
    event_id text primary key,
    lead_id text not null,
    event_type text not null,
    occurred_at timestamptz not null
)
