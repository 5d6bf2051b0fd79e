select * from {events}
where occurred_at is null
