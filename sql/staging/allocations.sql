-- Which enrolled child is expected at which partner programme in which term.
select
    upper(trim(wlz_id)) as wlz_id,
    upper(trim(partner_id)) as partner_id,
    trim(programme) as programme,
    trim(academic_year) as academic_year,
    lower(trim(term)) as term,
    r._file_hash,
    r._row_number
from raw.ref_allocations as r
join meta.current_files as f on f.file_hash = r._file_hash
