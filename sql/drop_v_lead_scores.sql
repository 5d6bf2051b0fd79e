drop view if exists v_lead_scores
