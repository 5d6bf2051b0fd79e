create index if not exists ix_opportunities_lead on crm_opportunities (lead_id)
