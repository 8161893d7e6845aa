-- School attendance per child (anchor and UPN) and academic year (rules.md §2). The
-- year is the sum of the child's term rows (school_attendance, where marks already won
-- over summaries); a child-year with no term row at all is taken from the summaries
-- that span several terms (e.g. a CTF's whole-year figures), the widest one when they
-- overlap. A separate table, not a `term = 'year'` row, so that summing school_attendance
-- over terms never double counts.
-- partitioned by: upn
with

term_rows as (
    select
        anchor_urn, upn, academic_year, term, source, period_start, period_end,
        possible_sessions, attended_sessions, authorised_absences, unauthorised_absences,
        invalid_marks
    from marts.school_attendance
),

summary_rows as (
    select
        anchor_urn, upn, period_start, period_end, possible_sessions, attended_sessions,
        authorised_absences, unauthorised_absences, _file_hash, _row_number
    from staging.attendance_summary
    where upn is not null and period_start is not null and period_end is not null
      and possible_sessions >= 0 and attended_sessions >= 0
),

calendar_half_terms as (
    select academic_year, term, start_date, end_date
    from staging.calendar
    where start_date is not null and end_date is not null
),

register as (
    select upn, wlz_id
    from marts.child_register
),

parameters as (
    select parameter, number
    from marts.risk_parameters
),

term_spans as (
    select academic_year, term, min(start_date) as term_start, max(end_date) as term_end
    from calendar_half_terms
    group by academic_year, term
),

from_terms as (
    select
        anchor_urn, upn, academic_year,
        case when count(distinct source) = 1 then min(source) else 'mixed' end as source,
        count(*) as terms,
        min(period_start) as period_start,
        max(period_end) as period_end,
        sum(possible_sessions)::BIGINT as possible_sessions,
        sum(attended_sessions)::BIGINT as attended_sessions,
        sum(authorised_absences)::BIGINT as authorised_absences,
        sum(unauthorised_absences)::BIGINT as unauthorised_absences,
        sum(invalid_marks)::BIGINT as invalid_marks
    from term_rows
    group by anchor_urn, upn, academic_year
),

multi_term_summaries as (
    select
        s.anchor_urn, s.upn, s.period_start, s.period_end, s.possible_sessions,
        s.attended_sessions, s.authorised_absences, s.unauthorised_absences,
        min(t.academic_year) as academic_year,
        count(*) as terms_overlapped,
        count(distinct t.academic_year) as years_overlapped
    from summary_rows as s
    join term_spans as t on s.period_start <= t.term_end and s.period_end >= t.term_start
    group by all
),

widest_summaries as (
    select
        *,
        row_number() over (
            partition by anchor_urn, upn, academic_year
            order by period_end - period_start desc, period_end desc, period_start
        ) as width_rank
    from multi_term_summaries
    -- several terms of one academic year; a summary across two years has no year
    where terms_overlapped > 1 and years_overlapped = 1
),

from_summaries as (
    select
        w.anchor_urn, w.upn, w.academic_year,
        'year_summary' as source,
        0 as terms,
        w.period_start, w.period_end, w.possible_sessions, w.attended_sessions,
        w.authorised_absences, w.unauthorised_absences,
        cast(null as bigint) as invalid_marks
    from widest_summaries as w
    where w.width_rank = 1
      and not exists (
          select 1 from from_terms as f
          where f.anchor_urn = w.anchor_urn and f.upn = w.upn
            and f.academic_year = w.academic_year
      )
),

years as (
    select * from from_terms
    union all by name
    select * from from_summaries
),

thresholds as (
    select
        max(number) filter (where parameter = 'attendance_persistent_absence_below')
            as persistent_below,
        max(number) filter (where parameter = 'attendance_wlz_risk_below') as wlz_below
    from parameters
),

rated as (
    select
        y.*,
        case when y.possible_sessions > 0
             then y.attended_sessions / y.possible_sessions end as attendance_rate
    from years as y
)

select
    r.anchor_urn,
    r.upn,
    g.wlz_id,
    r.academic_year,
    r.source,
    r.terms,
    r.period_start,
    r.period_end,
    r.possible_sessions,
    r.attended_sessions,
    r.authorised_absences,
    r.unauthorised_absences,
    r.invalid_marks,
    r.attendance_rate,
    r.attendance_rate < h.persistent_below as persistent_absence,
    r.attendance_rate < h.wlz_below as below_96,
    h.persistent_below as persistent_absence_threshold,
    h.wlz_below as below_96_threshold
from rated as r
cross join thresholds as h
left join register as g on g.upn = r.upn
order by r.anchor_urn, r.upn, r.academic_year
