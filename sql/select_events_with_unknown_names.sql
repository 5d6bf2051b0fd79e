select * from {events}
where
    occurred_at >= :window_start and occurred_at < :window_end
    and {name_column} not in :known_events
