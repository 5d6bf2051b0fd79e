delete from lead_activity_daily
where activity_date >= :from_day and activity_date <= :to_day
