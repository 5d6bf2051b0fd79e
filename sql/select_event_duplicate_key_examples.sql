select event_id as example
from {events}
where occurred_at >= :window_start and occurred_at < :window_end
group by event_id
having count(*) > 1
order by example
limit 3
