create index if not exists ix_lead_score_history_lead on lead_score_history (lead_id, score_date)
