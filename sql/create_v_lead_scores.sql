create view v_lead_scores as
with scores as (
    select * from lead_scores
),

leads as (
    select
        lead_id,
        account_id,
        email,
        title,
        country,
        status,
        created_at
    from crm_leads
),

accounts as (
    select
        account_id,
        name,
        industry,
        employee_count
    from crm_accounts
),

final as (
    select
        scores.score_date,
        scores.lead_id,
        leads.email,
        leads.title,
        leads.country,
        leads.status as lead_status,
        accounts.account_id,
        accounts.name as account_name,
        accounts.industry,
        accounts.employee_count,
        scores.close_probability,
        scores.score,
        scores.fit_score,
        scores.engagement_score,
        scores.velocity,
        scores.priority,
        scores.sdr_ready,
        scores.sdr_ready_since,
        scores.days_to_sdr_ready,
        scores.team,
        scores.top_reasons,
        scores.model_version
    from scores
    inner join leads on scores.lead_id = leads.lead_id
    left join accounts on leads.account_id = accounts.account_id
)

select * from final
