select
    rep_id,
    team,
    daily_capacity,
    active
from sdr_reps
