select
    user_id,
    cast(occurred_at at time zone 'UTC' as date) as activity_date,
    event_name as event,
    count(*) as events
from product_events
where occurred_at >= :from_cutoff and occurred_at < :to_cutoff
group by user_id, cast(occurred_at at time zone 'UTC' as date), event_name
