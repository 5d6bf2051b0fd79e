create table if not exists lead_routing (
    lead_id text not null,
    routed_at timestamptz not null,
    score_date date not null,
    account_id text,
    team text not null,
    rep_id text not null,
    rule text not null,
    score double precision not null,
    sla_due_at timestamptz not null,
    run_id text not null,
    primary key (lead_id, routed_at)
)
