insert into activity_rollup_state (id, rolled_through) values (1, :rolled_through)
