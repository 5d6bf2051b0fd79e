select
    model_version,
    trained_for_date,
    horizon_days,
    seed,
    code_version,
    metrics
from model_registry
where trained_for_date < :run_date and trained_for_date >= :from_date
order by trained_for_date desc, created_at desc
