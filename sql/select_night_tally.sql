select
    count(*) as scored,
    sum(case when sdr_ready = :ready then 1 else 0 end) as sdr_ready
from lead_score_history
where score_date = :score_date
