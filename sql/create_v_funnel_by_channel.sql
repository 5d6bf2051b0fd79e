create view v_funnel_by_channel as
with latest as (
    select max(run_date) as run_date from funnel_daily
),

ranked as (
    select
        funnel.*,
        row_number() over (
            partition by funnel.lead_source order by funnel.cohort_month desc
        ) as cohort_rank
    from funnel_daily as funnel
    inner join latest on funnel.run_date = latest.run_date
),

final as (
    select * from ranked
    where cohort_rank <= 12
)

select * from final
