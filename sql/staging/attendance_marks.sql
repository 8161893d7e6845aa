-- One row per pupil and session (half-day) from register marks. Where two current
-- files cover the same session, the newest file wins.
with

raw_rows as (
    select r.*, f.as_of as _file_as_of, f.arrived_at as _arrived_at, f.path as _path
    from raw.attendance_marks as r
    join meta.current_files as f on f.file_hash = r._file_hash
),

typed as (
    select
        _anchor_urn as anchor_urn,
        upper(replace(trim(upn), ' ', '')) as upn,
        wlz_date(date) as date,
        date as date__raw,
        case when upper(trim(session)) in ('AM', 'A', 'MORNING') then 'AM'
             when upper(trim(session)) in ('PM', 'P', 'AFTERNOON') then 'PM' end as session,
        session as session__raw,
        -- register codes are case-sensitive only for '/' and '\'; letters are upper-case
        upper(trim(code)) as code,
        code as code__raw,
        _file_hash, _row_number, _file_as_of, _arrived_at, _path
    from raw_rows
),

classified as (
    -- the DfE code table (config/attendance_codes.yaml) says what each code means on
    -- the session's date; codes changed on 2024-08-19
    select t.*, c.category as code_category
    from typed as t
    left join meta.attendance_codes as c
        on c.code = t.code
       and t.date between coalesce(c.valid_from, date '0001-01-01')
                      and coalesce(c.valid_to, date '9999-12-31')
),

ranked as (
    select
        *,
        row_number() over (
            partition by anchor_urn, upn, date, session
            order by _file_as_of desc, _arrived_at desc, _path desc, _row_number desc
        ) as _rank
    from classified
)

select
    anchor_urn, upn, date, session, code, code_category,
    wlz_academic_year(date) as academic_year,
    _file_hash, _row_number, date__raw, session__raw, code__raw
from ranked
where _rank = 1 or date is null or session is null
