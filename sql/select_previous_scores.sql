select
    lead_id,
    sdr_ready,
    sdr_ready_since
from lead_score_history
where score_date = :score_date
