drop view if exists v_funnel_by_channel
