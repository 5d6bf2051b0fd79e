drop table if exists crm_accounts
