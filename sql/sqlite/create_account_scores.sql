-- Stored in key order (see SQLiteWarehouse.CLUSTERED): the night reads it by date.
create table if not exists account_scores (
    account_id text not null,
    score_date date not null,
    close_probability double precision not null,
    best_lead_id text not null,
    best_lead_score double precision not null,
    scored_leads integer not null,
    sdr_ready_leads integer not null,
    engagement_score double precision not null,
    engagement_trend double precision not null,
    run_id text not null,
    primary key (score_date, account_id)
) without rowid
