-- School attendance per child (anchor and UPN), academic year and term (rules.md §2),
-- from session marks and from summaries. Marks win: for a term, a child with any
-- session mark in that term is counted from marks only; otherwise from the summaries
-- whose period overlaps that term and no other (a summary spanning several terms is
-- used at year level only, see school_attendance_year). Where a child's summaries for a
-- term overlap each other (an older file's shorter period), the widest period is kept.
-- partitioned by: upn
with

marks_half_terms as (
    select
        anchor_urn, upn, academic_year, term, possible_sessions, attended_sessions,
        authorised_absences, unauthorised_absences, invalid_marks, first_mark_on, last_mark_on
    from marts.attendance_marks_half_term
),

calendar_half_terms as (
    select academic_year, term, start_date, end_date
    from staging.calendar
    where start_date is not null and end_date is not null
),

summary_rows as (
    select
        anchor_urn, upn, period_start, period_end, possible_sessions, attended_sessions,
        authorised_absences, unauthorised_absences, _file_hash, _row_number
    from staging.attendance_summary
    where upn is not null and period_start is not null and period_end is not null
      and possible_sessions >= 0 and attended_sessions >= 0
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

marks_terms as (
    select
        anchor_urn, upn, academic_year, term,
        sum(possible_sessions)::BIGINT as possible_sessions,
        sum(attended_sessions)::BIGINT as attended_sessions,
        sum(authorised_absences)::BIGINT as authorised_absences,
        sum(unauthorised_absences)::BIGINT as unauthorised_absences,
        sum(invalid_marks)::BIGINT as invalid_marks,
        min(first_mark_on) as period_start,
        max(last_mark_on) as period_end
    from marks_half_terms
    group by anchor_urn, upn, academic_year, term
),

summary_terms as (
    -- the terms each summary's period overlaps
    select
        s.*,
        t.academic_year,
        t.term,
        count(*) over (partition by s._file_hash, s._row_number) as terms_overlapped
    from summary_rows as s
    join term_spans as t on s.period_start <= t.term_end and s.period_end >= t.term_start
),

single_term_summaries as (
    select
        *,
        row_number() over (
            partition by anchor_urn, upn, academic_year, term
            order by period_end - period_start desc, period_end desc, _file_hash, _row_number
        ) as width_rank
    from summary_terms
    where terms_overlapped = 1
),

kept_summaries as (
    -- drop a summary that overlaps a wider one for the same child and term
    select s.*
    from single_term_summaries as s
    where not exists (
        select 1
        from single_term_summaries as o
        where o.anchor_urn = s.anchor_urn and o.upn = s.upn
          and o.academic_year = s.academic_year and o.term = s.term
          and o.width_rank < s.width_rank
          and o.period_start <= s.period_end and o.period_end >= s.period_start
    )
),

summary_totals as (
    select
        anchor_urn, upn, academic_year, term,
        sum(possible_sessions)::BIGINT as possible_sessions,
        sum(attended_sessions)::BIGINT as attended_sessions,
        sum(authorised_absences)::BIGINT as authorised_absences,
        sum(unauthorised_absences)::BIGINT as unauthorised_absences,
        min(period_start) as period_start,
        max(period_end) as period_end,
        count(*) as summaries
    from kept_summaries
    group by anchor_urn, upn, academic_year, term
),

combined as (
    select
        coalesce(m.anchor_urn, s.anchor_urn) as anchor_urn,
        coalesce(m.upn, s.upn) as upn,
        coalesce(m.academic_year, s.academic_year) as academic_year,
        coalesce(m.term, s.term) as term,
        case when m.upn is not null then 'marks' else 'summary' end as source,
        case when m.upn is not null then m.possible_sessions else s.possible_sessions end
            as possible_sessions,
        case when m.upn is not null then m.attended_sessions else s.attended_sessions end
            as attended_sessions,
        case when m.upn is not null then m.authorised_absences else s.authorised_absences end
            as authorised_absences,
        case when m.upn is not null then m.unauthorised_absences
             else s.unauthorised_absences end as unauthorised_absences,
        m.invalid_marks,
        case when m.upn is not null then m.period_start else s.period_start end as period_start,
        case when m.upn is not null then m.period_end else s.period_end end as period_end,
        -- summaries for the same child and term that the marks replaced (evidence)
        case when m.upn is not null then coalesce(s.summaries, 0) else 0 end
            as summaries_replaced_by_marks
    from marks_terms as m
    full join summary_totals as s
        on s.anchor_urn = m.anchor_urn and s.upn = m.upn
       and s.academic_year = m.academic_year and s.term = m.term
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
        c.*,
        case when c.possible_sessions > 0
             then c.attended_sessions / c.possible_sessions end as attendance_rate
    from combined as c
)

select
    r.anchor_urn,
    r.upn,
    g.wlz_id,
    r.academic_year,
    r.term,
    t.term_start,
    t.term_end,
    r.source,
    r.period_start,
    r.period_end,
    r.possible_sessions,
    r.attended_sessions,
    r.authorised_absences,
    r.unauthorised_absences,
    r.invalid_marks,
    r.summaries_replaced_by_marks,
    r.attendance_rate,
    r.attendance_rate < h.persistent_below as persistent_absence,
    r.attendance_rate < h.wlz_below as below_96,
    h.persistent_below as persistent_absence_threshold,
    h.wlz_below as below_96_threshold
from rated as r
cross join thresholds as h
left join term_spans as t on t.academic_year = r.academic_year and t.term = r.term
left join register as g on g.upn = r.upn
order by r.anchor_urn, r.upn, r.academic_year, t.term_start
