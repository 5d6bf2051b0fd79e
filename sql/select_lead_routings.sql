select
    team,
    rep_id,
    rule,
    routed_at,
    sla_due_at
from lead_routing
where lead_id = :lead_id
order by routed_at desc
