-- School attendance of each child (UPN, across the Zone's anchors) at each wave
-- (rules.md §1): the summer wave uses the academic year just ending; the autumn wave the
-- previous academic year, falling back to the current year to date (the first
-- half-term: marks, else summaries ending on or before the cut-off) when the child has
-- no attendance in the previous year. A later summary (e.g. the whole autumn term) is
-- not "as of" the autumn cut-off and is not used.
-- partitioned by: upn
with

year_rows as (
    select upn, anchor_urn, academic_year, period_start, period_end, possible_sessions,
           attended_sessions
    from marts.school_attendance_year
),

first_half_term_marks as (
    select m.upn, m.anchor_urn, m.academic_year, m.first_mark_on, m.last_mark_on,
           m.possible_sessions, m.attended_sessions, m.half_term
    from marts.attendance_marks_half_term as m
),

summary_rows as (
    select anchor_urn, upn, academic_year, period_start, period_end, possible_sessions,
           attended_sessions
    from staging.attendance_summary
    where upn is not null and period_start is not null and period_end is not null
      and possible_sessions >= 0 and attended_sessions >= 0
),

waves as (
    select academic_year, wave, cut_off, attendance_year
    from marts.wave_dates
),

first_half_terms as (
    select academic_year, arg_min(half_term, start_date) as half_term
    from staging.calendar
    where term = 'autumn'
    group by academic_year
),

whole_years as (
    -- the year named by the wave (the previous year for autumn, the year itself for
    -- summer), summed over the anchors the child attended
    select
        w.academic_year,
        w.wave,
        y.upn,
        w.attendance_year,
        case when w.wave = 'autumn' then 'previous_year' else 'year' end as source,
        min(y.period_start) as period_start,
        max(y.period_end) as period_end,
        sum(y.possible_sessions)::BIGINT as possible_sessions,
        sum(y.attended_sessions)::BIGINT as attended_sessions,
        count(*) as anchors
    from waves as w
    join year_rows as y on y.academic_year = w.attendance_year
    group by all
    having sum(y.possible_sessions) > 0
),

to_date_marks as (
    select
        w.academic_year,
        w.wave,
        m.upn,
        w.academic_year as attendance_year,
        'year_to_date_marks' as source,
        min(m.first_mark_on) as period_start,
        max(m.last_mark_on) as period_end,
        sum(m.possible_sessions)::BIGINT as possible_sessions,
        sum(m.attended_sessions)::BIGINT as attended_sessions,
        count(*) as anchors
    from waves as w
    join first_half_terms as f on f.academic_year = w.academic_year
    join first_half_term_marks as m
        on m.academic_year = w.academic_year and m.half_term = f.half_term
    where w.wave = 'autumn'
    group by all
    having sum(m.possible_sessions) > 0
),

to_date_summary_candidates as (
    select
        w.academic_year,
        w.wave,
        w.cut_off,
        s.*  exclude (academic_year),
        row_number() over (
            partition by w.academic_year, s.anchor_urn, s.upn
            order by s.period_end - s.period_start desc, s.period_end desc
        ) as width_rank
    from waves as w
    join summary_rows as s
        on s.academic_year = w.academic_year and s.period_end <= w.cut_off
    where w.wave = 'autumn'
),

to_date_summaries as (
    select
        academic_year,
        wave,
        upn,
        academic_year as attendance_year,
        'year_to_date_summary' as source,
        min(period_start) as period_start,
        max(period_end) as period_end,
        sum(possible_sessions)::BIGINT as possible_sessions,
        sum(attended_sessions)::BIGINT as attended_sessions,
        count(*) as anchors
    from to_date_summary_candidates
    where width_rank = 1
    group by all
    having sum(possible_sessions) > 0
),

candidates as (
    select *, 1 as preference from whole_years
    union all by name
    select *, 2 as preference from to_date_marks
    union all by name
    select *, 3 as preference from to_date_summaries
),

chosen as (
    select *
    from candidates
    qualify row_number() over (
        partition by academic_year, wave, upn order by preference
    ) = 1
)

select
    upn,
    academic_year,
    wave,
    attendance_year,
    source,
    period_start,
    period_end,
    possible_sessions,
    attended_sessions,
    attended_sessions / possible_sessions as attendance_rate,
    anchors
from chosen
order by upn, academic_year, wave
