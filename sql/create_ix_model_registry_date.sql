create index if not exists ix_model_registry_date on model_registry (trained_for_date, status)
