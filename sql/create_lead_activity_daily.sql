create table if not exists lead_activity_daily (
    lead_id text not null,
    activity_date date not null,
    event text not null,
    events integer not null,
    primary key (activity_date, lead_id, event)
)
