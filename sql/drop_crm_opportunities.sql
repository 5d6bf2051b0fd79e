drop table if exists crm_opportunities
