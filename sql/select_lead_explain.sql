select
    history.score_date,
    history.score,
    history.fit_score,
    history.engagement_score,
    history.velocity,
    history.close_probability,
    history.sdr_ready,
    history.top_reasons,
    history.model_version
from lead_score_history as history
where history.lead_id = :lead_id
order by history.score_date desc
limit 30
