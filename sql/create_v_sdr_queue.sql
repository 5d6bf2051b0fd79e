create view v_sdr_queue as
with ready as (
    select * from v_lead_scores
    where sdr_ready
),

routing as (
    select
        lead_id,
        team,
        rep_id,
        rule,
        routed_at,
        sla_due_at,
        score_date as routed_on,
        row_number() over (partition by lead_id order by routed_at desc) as recency
    from lead_routing
),

reps as (
    select
        rep_id,
        name
    from sdr_reps
),

joined as (
    select
        ready.score_date,
        coalesce(routing.team, ready.team) as team,
        routing.rep_id,
        reps.name as rep_name,
        case
            when routing.rep_id is null then 'overflow'
            when routing.routed_on = ready.score_date then 'new'
            else 'assigned'
        end as queue_status,
        ready.lead_id,
        ready.email,
        ready.title,
        ready.account_name,
        ready.score,
        ready.close_probability,
        ready.velocity,
        ready.days_to_sdr_ready,
        ready.priority,
        ready.top_reasons,
        routing.rule as routing_rule,
        routing.routed_at,
        routing.sla_due_at
    from ready
    left join routing on ready.lead_id = routing.lead_id and routing.recency = 1
    left join reps on routing.rep_id = reps.rep_id
),

final as (
    select
        *,
        row_number() over (partition by team order by priority desc, lead_id asc) as queue_rank
    from joined
)

select * from final
