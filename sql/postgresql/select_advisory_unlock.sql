select pg_advisory_unlock(:key, hashtext(current_schema()))
