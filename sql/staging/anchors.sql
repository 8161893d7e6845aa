-- Anchors (schools, nurseries, children's centres) from the current reference file.
select
    trim(urn) as urn,
    trim(name) as name,
    lower(trim(phase)) as phase,
    trim(borough) as borough,
    lower(trim(mis_profile)) as mis_profile,
    r._file_hash,
    r._row_number
from raw.ref_anchors as r
join meta.current_files as f on f.file_hash = r._file_hash
