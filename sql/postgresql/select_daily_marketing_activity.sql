select
    lead_id,
    cast(occurred_at at time zone 'UTC' as date) as activity_date,
    event_type as event,
    count(*) as events
from marketing_events
where occurred_at >= :from_cutoff and occurred_at < :to_cutoff
group by lead_id, cast(occurred_at at time zone 'UTC' as date), event_type
