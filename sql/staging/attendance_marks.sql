-- One row per pupil and session (half-day) from register marks. Where two current
-- files cover the same session, the newest file wins.
-- An anchor's rows come only from its own files, so when only marks files changed, the
-- anchors they belong to are rebuilt and no other (models.build_model):
-- incremental: raw.attendance_marks._anchor_urn -> anchor_urn
with

marks as not materialized (
    -- typed straight from the raw table, and recomputed by each reader below rather
    -- than buffered: on the stored (dictionary-encoded) columns the parsing is done
    -- once per distinct value (under a second for the zone's 22 million marks), on
    -- buffered rows once per row (over ten seconds)
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
        _file_hash, _row_number
    from raw.attendance_marks
    where {{ partition('_anchor_urn') }}
),

monthly_marks as not materialized (
    select *, date_trunc('month', date) as _month
    from marks
),

receipts as (
    -- a file current under two names counts twice, as in the join to current_files
    select file_hash, count(*) as receipts
    from meta.current_files
    group by file_hash
),

repeated_months as (
    -- only a session marked more than once (two current files, or a file repeating a
    -- session) needs ranking, and at zone scale there is none or a handful. A pupil's
    -- AM (or PM) sessions of one month hold a repeat exactly when they count more marks
    -- than distinct days (one bit per day of the month); grouping by month instead of
    -- by session keeps this cheap. Grouping treats NULLs as equal, as the ranking's
    -- partitions do.
    select m.anchor_urn, m.upn, m.session, m._month
    from monthly_marks as m
    join receipts as f on f.file_hash = m._file_hash
    where m.date is not null and m.session is not null
    group by m.anchor_urn, m.upn, m.session, m._month
    having sum(f.receipts) > bit_count(bit_or(1::bigint << dayofmonth(m.date)))
),

single_marks as (
    -- every mark outside those months, and every mark without a date or session (kept
    -- for the row rules), goes through as it is
    select m.*, f.as_of as _file_as_of, f.arrived_at as _arrived_at, f.path as _path
    from monthly_marks as m
    join meta.current_files as f on f.file_hash = m._file_hash
    anti join repeated_months as b
        on b.anchor_urn is not distinct from m.anchor_urn
       and b.upn is not distinct from m.upn
       and b.session = m.session
       and b._month = m._month
),

newest_marks as (
    -- marks in those months: the newest file's mark of each session
    select m.*, f.as_of as _file_as_of, f.arrived_at as _arrived_at, f.path as _path
    from monthly_marks as m
    semi join repeated_months as b
        on b.anchor_urn is not distinct from m.anchor_urn
       and b.upn is not distinct from m.upn
       and b.session = m.session
       and b._month = m._month
    join meta.current_files as f on f.file_hash = m._file_hash
    qualify row_number() over (
        partition by m.anchor_urn, m.upn, m.date, m.session
        order by f.as_of desc, f.arrived_at desc, f.path desc, m._row_number desc
    ) = 1
),

deduplicated as (
    select * from single_marks
    union all
    select * from newest_marks
),

classified as (
    -- the DfE code table (config/attendance_codes.yaml) says what each code means on
    -- the session's date; codes changed on 2024-08-19. The config allows one row per
    -- code and date, so this join neither adds nor drops marks.
    select t.*, c.category as code_category
    from deduplicated as t
    left join meta.attendance_codes as c
        on c.code = t.code
       and t.date between coalesce(c.valid_from, date '0001-01-01')
                      and coalesce(c.valid_to, date '9999-12-31')
)

select
    anchor_urn, upn, date, session, code, code_category,
    wlz_academic_year(date) as academic_year,
    _file_hash, _row_number, date__raw, session__raw, code__raw
from classified
