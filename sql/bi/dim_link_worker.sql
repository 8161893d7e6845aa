-- Link workers and the anchor each works in (name: see link_worker_names in
-- config/publication.yaml).
select lw_id, name, anchor_urn, start_date, end_date
from staging.link_workers
order by lw_id
