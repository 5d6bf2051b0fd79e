drop table if exists sdr_reps
