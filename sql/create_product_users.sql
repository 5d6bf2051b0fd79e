create table if not exists product_users (
    user_id text primary key,
    email text not null,
    signed_up_at timestamptz not null
)
