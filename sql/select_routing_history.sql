select
    lead_id,
    account_id,
    rep_id,
    team,
    score_date,
    routed_at
from lead_routing
