select
    routing.lead_id,
    routing.score_date,
    history.fit_score,
    history.engagement_score
from lead_routing as routing
left join lead_score_history as history
    on history.lead_id = routing.lead_id and history.score_date = routing.score_date
where routing.score_date <= :run_date
