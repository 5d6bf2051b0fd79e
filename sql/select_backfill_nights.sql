-- The nights published by a backfill (its key is kept in the run's settings JSON).
select
    run_date,
    settings
from pipeline_runs
where status = 'succeeded' and settings like :pattern
