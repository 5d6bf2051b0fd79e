delete from drift_daily
where run_date = :run_date
