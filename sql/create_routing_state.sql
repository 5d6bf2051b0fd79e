create table if not exists routing_state (
    team text primary key,
    last_rep_id text not null,
    score_date date not null
)
