create table if not exists crm_lead_status_changes (
    lead_id text not null,
    status text not null,
    changed_at timestamptz not null
)
