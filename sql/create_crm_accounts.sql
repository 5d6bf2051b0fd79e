create table if not exists crm_accounts (
    account_id text primary key,
    name text not null,
    domain text,
    industry text,
    employee_count integer,
    sales_team_size integer,
    country text,
    is_target_account boolean not null,
    owner_id text,
    created_at timestamptz not null,
    updated_at timestamptz not null
)
