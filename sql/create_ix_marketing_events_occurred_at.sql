create index if not exists ix_marketing_events_occurred_at on marketing_events (occurred_at)
