create table if not exists demo_truth (
    lead_id text primary key,
    true_probability double precision not null
)
