create table if not exists calibration_daily (
    run_date date not null,
    band text not null,
    band_order integer not null,
    first_night date not null,
    last_night date not null,
    scores integer not null,
    predicted double precision not null,
    observed double precision not null,
    primary key (run_date, band)
)
