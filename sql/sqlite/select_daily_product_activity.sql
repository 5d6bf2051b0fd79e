select
    user_id,
    substr(occurred_at, 1, 10) as activity_date,
    event_name as event,
    count(*) as events
from product_events
where occurred_at >= :from_cutoff and occurred_at < :to_cutoff
group by user_id, substr(occurred_at, 1, 10), event_name
