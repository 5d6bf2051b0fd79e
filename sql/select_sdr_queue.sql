select
    score_date,
    team,
    queue_rank,
    lead_id,
    title,
    account_name,
    score,
    velocity,
    close_probability,
    top_reasons,
    rep_name,
    queue_status,
    sla_due_at
from v_sdr_queue
where (cast(:team as text) is null or team = cast(:team as text)) and queue_rank <= :limit
order by team, queue_rank
