drop view if exists v_sdr_queue
