-- Every routing up to the night: a lead's first SDR-ready night and first routing (the funnel).
select
    lead_id,
    score_date,
    routed_at
from lead_routing
where score_date <= :score_date
