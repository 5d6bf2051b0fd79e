drop table if exists product_events
