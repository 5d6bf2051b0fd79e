drop table if exists product_users
