-- One row per child and partner session from the current returned templates: the mark
-- (P present, L late = present, A absent, E excused, X session did not run, NULL not
-- recorded) and the engagement rating. A corrected re-send of a template for the same
-- programme and term supersedes the earlier file (meta.file_registry).
with

raw_rows as (
    select r.*
    from raw.partner_marks as r
    join meta.current_files as f on f.file_hash = r._file_hash
)

select
    partner_id,
    programme,
    academic_year,
    term,
    wlz_id,
    cast(session_date as date) as session_date,
    wlz_int(planned_minutes) as planned_minutes,
    mark,
    wlz_int(engagement) as engagement,
    -- rules.md §9: P/L attended, A/E missed, X and blank not counted
    mark in ('P', 'L') as attended,
    mark in ('A', 'E') as missed,
    mark = 'X' as session_not_run,
    sheet,
    cell,
    _file_hash,
    _row_number
from raw_rows
