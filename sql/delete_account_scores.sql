delete from account_scores
where score_date = :score_date
