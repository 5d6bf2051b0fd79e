-- Only for an event table whose event_id the warehouse does not itself keep unique.
select count(event_id) - count(distinct event_id) as duplicate_keys
from {events}
where occurred_at >= :window_start and occurred_at < :window_end
