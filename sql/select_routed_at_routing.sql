select
    routing.lead_id,
    routing.score_date,
    history.fit_score,
    history.engagement_score
from lead_routing as routing
left join lead_score_history as history
    on routing.lead_id = history.lead_id and routing.score_date = history.score_date
where routing.score_date <= :run_date
