-- The night's window of one event table in one scan: keys, owners, names, references, and the
-- run date's volume. {events}, {owner}, {parent}, {name_column}: the contract's names.
with owners as (
    select distinct {owner} as owner_id from {parent}
),

night as (
    select
        events.event_id,
        events.{owner} as owner_id,
        events.{name_column} as event_name,
        events.occurred_at
    from {events} as events
    where events.occurred_at >= :window_start and events.occurred_at < :window_end
),

final as (
    select
        count(*) as rows_in_window,
        sum(case when night.occurred_at >= :run_date then 1 else 0 end) as today,
        count(*) - count(night.event_id) as no_key,
        count(*) - count(night.owner_id) as no_owner,
        sum(case when night.event_name not in :known_events then 1 else 0 end) as unknown_names,
        case
            when count(*) = 0 then 1.0
            else sum(case when owners.owner_id is not null then 1 else 0 end) * 1.0 / count(*)
        end as owner_found_share
    from night
    left join owners on night.owner_id = owners.owner_id
)

select * from final
