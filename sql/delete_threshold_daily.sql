delete from threshold_daily
where run_date = :run_date
