select score
from lead_score_history
where score_date = :score_date
