create table if not exists threshold_daily (
    run_date date primary key,
    model_version text not null,
    capacity_threshold boolean not null,
    close_rate double precision not null,
    threshold_points double precision not null,
    wanted_close_rate double precision not null,
    active_reps integer not null,
    capacity_48h double precision not null,
    waiting integer not null,
    new_per_day double precision not null,
    demand_48h double precision not null,
    reason text not null,
    overflow integer not null
)
