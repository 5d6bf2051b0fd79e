select
    lead_source,
    cohort_month,
    leads,
    signed_up,
    engaged,
    sdr_ready,
    routed,
    qualified,
    opportunity,
    won
from funnel_daily
where run_date = :run_date
order by lead_source, cohort_month
