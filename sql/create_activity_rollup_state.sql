create table if not exists activity_rollup_state (
    id integer primary key,
    rolled_through date not null
)
