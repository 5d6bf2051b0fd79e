select pg_try_advisory_lock(:key, hashtext(current_schema()))
