-- Pre/post outcome scores per child from the current returned templates' Outcomes sheet.
with

raw_rows as (
    select r.*
    from raw.partner_outcomes as r
    join meta.current_files as f on f.file_hash = r._file_hash
)

select
    partner_id,
    programme,
    academic_year,
    term,
    wlz_id,
    measure,
    try_cast(pre_score as double) as pre_score,
    cast(pre_date as date) as pre_date,
    try_cast(post_score as double) as post_score,
    cast(post_date as date) as post_date,
    try_cast(scale_min as double) as scale_min,
    try_cast(scale_max as double) as scale_max,
    wlz_flag(higher_is_better) as higher_is_better,
    sheet,
    cell,
    _file_hash,
    _row_number
from raw_rows
