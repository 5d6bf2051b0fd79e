drop table if exists demo_truth
