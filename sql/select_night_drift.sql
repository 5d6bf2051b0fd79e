select
    feature,
    psi,
    moved_bin,
    training_share,
    night_share
from drift_daily
where run_date = :run_date
order by psi desc
