insert into routing_state (team, last_rep_id, score_date) values (:team, :last_rep_id, :score_date)
