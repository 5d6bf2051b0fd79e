drop table if exists crm_lead_status_changes
