delete from model_registry
where model_version = :model_version
