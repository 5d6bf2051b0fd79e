-- The tracks of the latest night before the given one (what tonight's track changes compare with).
with previous_night as (
    select max(earlier.score_date) as score_date
    from lead_lifecycle as earlier
    where earlier.score_date < :score_date
),

final as (
    select
        l.lead_id,
        l.nurture_track,
        l.segment,
        l.entered_on
    from lead_lifecycle as l
    inner join previous_night as p on l.score_date = p.score_date
)

select * from final
