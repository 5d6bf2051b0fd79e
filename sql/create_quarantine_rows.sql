create table if not exists quarantine_rows (
    run_id text not null,
    run_date date not null,
    source_table text not null,
    row_key text,
    rule text not null,
    row_data text not null
)
