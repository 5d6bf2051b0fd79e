select
    lifecycle_stage,
    journey_stage,
    nurture_track,
    segment,
    reason,
    entered_on
from lead_lifecycle
where lead_id = :lead_id and score_date = :score_date
