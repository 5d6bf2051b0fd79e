delete from funnel_daily
where run_date = :run_date
