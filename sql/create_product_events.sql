create table if not exists product_events (
    event_id text primary key,
    user_id text not null,
    event_name text not null,
    occurred_at timestamptz not null
)
