select
    lead_id,
    activity_date,
    event,
    events
from lead_activity_daily
where
    activity_date >= :from_day and activity_date < :to_day
    and lead_id in (select jsonb_array_elements_text(cast(:lead_ids as jsonb)))
