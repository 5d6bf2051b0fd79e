create view v_nurture_audience as
with latest as (
    select max(score_date) as score_date from lead_lifecycle
),

tonight as (
    select lifecycle.*
    from lead_lifecycle as lifecycle
    inner join latest on lifecycle.score_date = latest.score_date
),

leads as (
    select
        lead_id,
        email
    from crm_leads
),

final as (
    select
        tonight.score_date,
        case
            when tonight.track_change = 'left' then tonight.previous_track
            else tonight.nurture_track
        end as nurture_track,
        tonight.segment,
        tonight.persona,
        tonight.vertical,
        tonight.lead_id,
        leads.email,
        tonight.lifecycle_stage,
        tonight.entered_on,
        tonight.track_change,
        tonight.track_change <> 'left' as in_audience,
        tonight.track_change <> 'unchanged' as changed,
        tonight.reason
    from tonight
    left join leads on tonight.lead_id = leads.lead_id
    where tonight.nurture_track <> 'none' or tonight.track_change = 'left'
)

select * from final
