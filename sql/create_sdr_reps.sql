create table if not exists sdr_reps (
    rep_id text primary key,
    name text not null,
    team text not null,
    daily_capacity integer not null,
    active boolean not null
)
