-- Stored in key order (see SQLiteWarehouse.CLUSTERED): the night reads it by date.
create table if not exists lead_lifecycle (
    lead_id text not null,
    score_date date not null,
    lifecycle_stage text not null,
    journey_stage text not null,
    nurture_track text not null,
    track_rule text not null,
    segment text not null,
    persona text not null,
    vertical text not null,
    lead_source text,
    reason text not null,
    entered_on date not null,
    previous_track text,
    track_change text not null,
    primary key (score_date, lead_id)
) without rowid
