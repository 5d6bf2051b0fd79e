drop view if exists v_nurture_audience
