delete from calibration_daily
where run_date = :run_date
