-- One row per pupil and reported period from summary extracts (and CTF YearData).
-- Where a file gives a percentage instead of attended sessions (e.g. "94.5%"),
-- attended = round(possible x percentage).
with

raw_rows as (
    select r.*, f.as_of as _file_as_of, f.arrived_at as _arrived_at, f.path as _path
    from raw.attendance_summary as r
    join meta.current_files as f on f.file_hash = r._file_hash
),

typed as (
    select
        _anchor_urn as anchor_urn,
        upper(replace(trim(upn), ' ', '')) as upn,
        wlz_date(period_start) as period_start,
        period_start as period_start__raw,
        wlz_date(period_end) as period_end,
        period_end as period_end__raw,
        wlz_int(possible_sessions) as possible_sessions,
        possible_sessions as possible_sessions__raw,
        coalesce(
            wlz_int(attended_sessions),
            cast(round(wlz_int(possible_sessions) * wlz_pct(attendance_pct)) as bigint)
        ) as attended_sessions,
        coalesce(attended_sessions, attendance_pct) as attended_sessions__raw,
        wlz_int(authorised_absences) as authorised_absences,
        wlz_int(unauthorised_absences) as unauthorised_absences,
        attended_sessions is null and attendance_pct is not null as attended_from_percentage,
        _profile, _file_hash, _row_number, _file_as_of, _arrived_at, _path
    from raw_rows
),

ranked as (
    select
        *,
        row_number() over (
            partition by anchor_urn, upn, period_start, period_end
            order by _file_as_of desc, _arrived_at desc, _path desc, _row_number desc
        ) as _rank
    from typed
)

select
    anchor_urn, upn, period_start, period_end, wlz_academic_year(period_start) as academic_year,
    possible_sessions, attended_sessions, authorised_absences, unauthorised_absences,
    attended_from_percentage, _profile, _file_hash, _row_number,
    period_start__raw, period_end__raw, possible_sessions__raw, attended_sessions__raw
from ranked
where _rank = 1 or period_start is null or period_end is null
