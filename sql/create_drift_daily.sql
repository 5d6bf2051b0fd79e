create table if not exists drift_daily (
    run_date date not null,
    feature text not null,
    psi double precision not null,
    moved_bin text not null,
    training_share double precision not null,
    night_share double precision not null,
    training_rows integer not null,
    night_rows integer not null,
    primary key (run_date, feature)
)
