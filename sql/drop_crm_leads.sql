drop table if exists crm_leads
