create index if not exists ix_lead_routing_score_date on lead_routing (score_date, rep_id)
