-- Terms and half-terms of each academic year (one row per half-term).
select
    trim(academic_year) as academic_year,
    lower(trim(term)) as term,
    lower(trim(half_term)) as half_term,
    wlz_date(start_date) as start_date,
    start_date as start_date__raw,
    wlz_date(end_date) as end_date,
    end_date as end_date__raw,
    r._file_hash,
    r._row_number
from raw.ref_calendar as r
join meta.current_files as f on f.file_hash = r._file_hash
