-- Stored in key order (see SQLiteWarehouse.CLUSTERED): the night reads it by date.
create table if not exists lead_score_history (
    lead_id text not null,
    score_date date not null,
    close_probability double precision not null,
    score double precision not null,
    fit_score double precision not null,
    engagement_score double precision not null,
    velocity double precision not null,
    priority double precision not null,
    sdr_ready boolean not null,
    sdr_ready_since date,
    days_to_sdr_ready integer,
    team text,
    top_reasons text not null,
    model_version text not null,
    run_id text not null,
    primary key (score_date, lead_id)
) without rowid
