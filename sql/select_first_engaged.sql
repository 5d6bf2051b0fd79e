-- Each lead's first day with one of the funnel's engaged events, from the activity roll-up.
select
    lead_id,
    min(activity_date) as engaged_on
from lead_activity_daily
where activity_date >= :from_day and activity_date < :to_day and event in :engaged_events
group by lead_id
