select
    lead_id,
    team,
    score,
    velocity,
    priority,
    top_reasons
from lead_score_history
where score_date = :score_date and sdr_ready = :ready
order by priority desc, lead_id asc
limit 50
