-- Children's feedback (1-5) per child and programme from the current returned templates.
with

raw_rows as (
    select r.*
    from raw.partner_feedback as r
    join meta.current_files as f on f.file_hash = r._file_hash
)

select
    partner_id,
    programme,
    academic_year,
    term,
    wlz_id,
    wlz_int(enjoyment) as enjoyment,
    wlz_int(usefulness) as usefulness,
    wlz_int(would_recommend) as would_recommend,
    sheet,
    cell,
    _file_hash,
    _row_number
from raw_rows
