delete from lead_lifecycle
where score_date = :score_date
