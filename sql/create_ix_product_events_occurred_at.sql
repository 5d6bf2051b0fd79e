create index if not exists ix_product_events_occurred_at on product_events (occurred_at)
