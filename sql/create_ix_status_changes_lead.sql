create index if not exists ix_status_changes_lead on crm_lead_status_changes (lead_id, changed_at)
