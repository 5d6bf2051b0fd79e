-- How many leads the active reps can take a day.
select
    count(*) as reps,
    sum(daily_capacity) as per_day
from sdr_reps
where active
