drop table if exists marketing_events
