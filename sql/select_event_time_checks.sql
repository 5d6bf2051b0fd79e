-- Index lookups on one event table's time column; freshness looks only at rows the run
-- date can see.
select
    (
        select count(*) from {events}
        where occurred_at is null
    ) as no_time,
    (
        select max(occurred_at) from {events}
        where occurred_at < :window_end
    ) as newest,
    (select min(occurred_at) from {events}) as oldest,
    (
        select count(*) from {events}
        where occurred_at > :now
    ) as future,
    (
        select count(*) from {events}
        where occurred_at >= :week_start and occurred_at < :run_date
    ) / 7.0 as trailing_mean
