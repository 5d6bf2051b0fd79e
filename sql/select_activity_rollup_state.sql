select rolled_through from activity_rollup_state
where id = 1
