select
    team,
    last_rep_id
from routing_state
