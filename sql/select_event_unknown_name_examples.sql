select distinct {name_column} as example
from {events}
where
    occurred_at >= :window_start and occurred_at < :window_end
    and {name_column} not in :known_events
order by example
limit 3
