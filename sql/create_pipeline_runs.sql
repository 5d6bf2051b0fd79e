create table if not exists pipeline_runs (
    run_id text primary key,
    run_date date not null,
    status text not null,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    model_version text,
    scores_changed boolean,
    timings text not null,
    row_counts text not null,
    validation text not null,
    message text not null,
    settings text not null
)
