select max(score_date) as score_date
from lead_scores
