select
    band,
    scores,
    predicted,
    observed
from calibration_daily
where run_date = :run_date
order by band_order
