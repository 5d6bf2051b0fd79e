select
    model_version,
    artifact,
    artifact_sha256
from model_registry
where status = 'champion' and trained_for_date < :run_date
order by trained_for_date desc, created_at desc
limit 1
