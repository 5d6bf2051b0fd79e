-- Stored in key order (see SQLiteWarehouse.CLUSTERED): the night reads it by date.
create table if not exists lead_activity_daily (
    lead_id text not null,
    activity_date date not null,
    event text not null,
    events integer not null,
    primary key (activity_date, lead_id, event)
) without rowid
