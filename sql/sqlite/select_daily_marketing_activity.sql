select
    lead_id,
    substr(occurred_at, 1, 10) as activity_date,
    event_type as event,
    count(*) as events
from marketing_events
where occurred_at >= :from_cutoff and occurred_at < :to_cutoff
group by lead_id, substr(occurred_at, 1, 10), event_type
