-- The close rate of the latest night before the run date.
select close_rate
from threshold_daily
where run_date < :run_date
order by run_date desc
limit 1
