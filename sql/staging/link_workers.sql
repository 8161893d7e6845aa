-- Link workers and the anchor each works in; end_date is null while in post.
select
    upper(trim(lw_id)) as lw_id,
    trim(name) as name,
    trim(anchor_urn) as anchor_urn,
    wlz_date(start_date) as start_date,
    start_date as start_date__raw,
    wlz_date(end_date) as end_date,
    end_date as end_date__raw,
    r._file_hash,
    r._row_number
from raw.ref_link_workers as r
join meta.current_files as f on f.file_hash = r._file_hash
