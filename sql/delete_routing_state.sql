delete from routing_state
where team = :team
