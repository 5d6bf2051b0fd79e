delete from lead_scores
