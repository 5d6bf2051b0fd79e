delete from quarantine_rows
where run_date = :run_date
