-- SDR-ready and routed leads per team and night, over the 30 nights up to the run date.
with nights as (
    select
        score_date,
        coalesce(team, '(no team)') as team,
        1 as sdr_ready,
        0 as routed
    from lead_score_history
    where sdr_ready and score_date > :from_day and score_date <= :run_date
    union all
    select
        score_date,
        team,
        0 as sdr_ready,
        1 as routed
    from lead_routing
    where score_date > :from_day and score_date <= :run_date
)

select
    score_date,
    team,
    sum(sdr_ready) as sdr_ready,
    sum(routed) as routed
from nights
group by score_date, team
order by score_date, team
