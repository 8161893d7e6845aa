-- Follow-up alerts for link workers (rules.md §11), opened and closed by date: each
-- condition is replayed over the dated evidence up to the as-of date (engagement_settings;
-- default the newest evidence date), so the table is the alerts' history and an alert
-- is open when its condition still holds on the as-of date.
--   missed_partner_sessions  the child's last N recorded marks of a partner programme
--       and term (P/L/A/E; X = did not run and blank = not recorded are skipped, so an X
--       between two absences leaves them consecutive) are A/E. Opens on the date of the
--       N-th miss in a row; closes on the next session the child attends, the day after
--       the programme's term ends, or when the child's enrolment ends.
--   no_checkin  no check-in with the child for N term-time days: days from a half-term's
--       first to its last day, weekends included, holidays not counted (nor do they
--       reset the count). Counted from the last check-in (or from consent). Opens on the
--       N-th such day without one; closes on the next check-in.
--   low_school_attendance  the child's attendance in the current half-term to date
--       (staging.attendance_marks; holidays belong to the half-term before) below the
--       threshold, judged on each day with marks once the half-term has the minimum
--       possible sessions; closes on the first day it is back at or above it.
--   partner_template_missing  a programme the child is allocated to (enrolled during its
--       term) has no returned template the day after its due date (term end + grace);
--       closes the day a template arrives (engagement_partner_returns).
-- Every alert also closes when the child's enrolment ends. One alert per child and type
-- at a time: conditions of the same type that overlap (two programmes) are one alert
-- listing each in its evidence. alert_id = md5 of type, child and opened_on: the same
-- alert keeps its id from run to run while it stays open.
with

settings as (
    select
        as_of_date, rule_version, checkin_kinds, checkin_with_whom, missed_sessions_in_a_row,
        no_checkin_term_time_days, attendance_below, attendance_min_possible_sessions,
        partner_return_grace_days
    from marts.engagement_settings
),

children as (
    select wlz_id, upn, lw_id, anchor_urn, consent_on, enrolment_end_on
    from marts.engagement_children
),

calendar_days as (
    select day, academic_year, term, half_term, is_term_time, term_time_days_through
    from marts.engagement_calendar_days
),

returns as (
    select
        partner_id, programme, academic_year, term, term_start, term_end, due_on,
        template_returned, returned_on
    from marts.engagement_partner_returns
),

allocated as (
    select distinct wlz_id, partner_id, programme, academic_year, term
    from staging.allocations
),

-- 1. missed partner sessions ---------------------------------------------------------

recorded_marks as (
    select m.wlz_id, m.partner_id, m.programme, m.academic_year, m.term, m.session_date, m.mark,
           m.mark in ('P', 'L') as attended
    from staging.partner_marks as m
    cross join settings as s
    join children as c
        on c.wlz_id = m.wlz_id
        and m.session_date between c.consent_on and least(c.enrolment_end_on, s.as_of_date)
    where m.mark in ('P', 'L', 'A', 'E')
),

mark_runs as (
    -- attended_count: attended marks so far; the misses after the k-th attendance share k
    select
        *,
        sum(case when attended then 1 else 0 end) over (
            partition by wlz_id, partner_id, programme, academic_year, term
            order by session_date rows unbounded preceding
        ) as attended_count
    from recorded_marks
),

miss_streaks as (
    select
        wlz_id, partner_id, programme, academic_year, term, attended_count,
        count(*) as missed_in_a_row,
        list(session_date order by session_date) as missed_on,
        list(mark order by session_date) as missed_marks
    from mark_runs
    where not attended
    group by all
),

missed_intervals as (
    select
        'missed_partner_sessions' as alert_type,
        m.wlz_id,
        m.missed_on[s.missed_sessions_in_a_row] as opened_on,
        least(a.session_date, cast(r.term_end + interval 1 day as date), c.enrolment_end_on) as cleared_on,
        case least(a.session_date, cast(r.term_end + interval 1 day as date), c.enrolment_end_on)
            when a.session_date then 'attended'
            when c.enrolment_end_on then 'enrolment_ended'
            else 'programme_term_ended'
        end as clear_reason,
        m.partner_id || '|' || m.programme || '|' || m.academic_year || '|' || m.term as subject,
        json_object(
            'partner_id', m.partner_id,
            'programme', m.programme,
            'academic_year', m.academic_year,
            'term', m.term,
            'missed_on', m.missed_on,
            'marks', m.missed_marks,
            'missed_in_a_row', m.missed_in_a_row,
            'next_attended_on', a.session_date
        ) as item
    from miss_streaks as m
    cross join settings as s
    join children as c on c.wlz_id = m.wlz_id
    left join returns as r
        on r.partner_id = m.partner_id and r.programme = m.programme
        and r.academic_year = m.academic_year and r.term = m.term
    left join mark_runs as a
        on a.wlz_id = m.wlz_id and a.partner_id = m.partner_id and a.programme = m.programme
        and a.academic_year = m.academic_year and a.term = m.term
        and a.attended and a.attended_count = m.attended_count + 1
    where m.missed_in_a_row >= s.missed_sessions_in_a_row
),

-- 2. no check-in for N term-time days ------------------------------------------------

checkins as (
    select distinct i.wlz_id, cast(i.started_at as date) as checkin_on
    from staging.interactions as i
    cross join settings as s
    join children as c
        on c.wlz_id = i.wlz_id
        and cast(i.started_at as date) between c.consent_on and least(c.enrolment_end_on, s.as_of_date)
    where list_contains(s.checkin_kinds, i.kind) and list_contains(s.checkin_with_whom, i.with_whom)
),

checkin_anchors as (
    -- the count starts again at each check-in; before the first, at consent
    select wlz_id, anchor_on, bool_or(is_checkin) as is_checkin
    from (
        select wlz_id, consent_on as anchor_on, false as is_checkin from children
        union all
        select wlz_id, checkin_on, true from checkins
    )
    group by all
),

checkin_gaps as (
    select
        a.wlz_id,
        a.anchor_on,
        a.is_checkin,
        lead(a.anchor_on) over (partition by a.wlz_id order by a.anchor_on) as next_checkin_on,
        d.term_time_days_through as anchor_days_through
    from checkin_anchors as a
    join calendar_days as d on d.day = a.anchor_on
),

checkin_intervals as (
    select
        'no_checkin' as alert_type,
        g.wlz_id,
        d.day as opened_on,
        least(g.next_checkin_on, c.enrolment_end_on) as cleared_on,
        case when g.next_checkin_on <= c.enrolment_end_on then 'checked_in' else 'enrolment_ended' end
            as clear_reason,
        'check_in' as subject,
        json_object(
            'last_checkin_on', case when g.is_checkin then g.anchor_on end,
            'counted_from', case when g.is_checkin then 'last_check_in' else 'consent' end,
            'counted_from_on', g.anchor_on,
            'term_time_days_without_checkin', s.no_checkin_term_time_days,
            'next_checkin_on', g.next_checkin_on
        ) as item
    from checkin_gaps as g
    cross join settings as s
    join children as c on c.wlz_id = g.wlz_id
    -- the N-th term-time day after the anchor: the day the alert opens
    join calendar_days as d
        on d.is_term_time
        and d.term_time_days_through = g.anchor_days_through + s.no_checkin_term_time_days
    where d.day < coalesce(g.next_checkin_on, date '9999-12-31')
      and d.day <= least(s.as_of_date, c.enrolment_end_on)
),

-- 3. school attendance in the current half-term ----------------------------------------

attendance_days as (
    select
        c.wlz_id,
        a.date,
        d.academic_year,
        d.half_term,
        count(*) filter (
            where a.code_category in ('present', 'approved_activity', 'authorised', 'unauthorised')
        ) as possible_sessions,
        count(*) filter (where a.code_category in ('present', 'approved_activity')) as attended_sessions
    from staging.attendance_marks as a
    cross join settings as s
    join children as c on c.upn = a.upn
    join calendar_days as d on d.day = a.date
    where a.date <= s.as_of_date
    group by all
),

attendance_to_date as (
    select
        *,
        sum(possible_sessions) over half_term_so_far as possible_to_date,
        sum(attended_sessions) over half_term_so_far as attended_to_date
    from attendance_days
    window half_term_so_far as (
        partition by wlz_id, academic_year, half_term order by date rows unbounded preceding
    )
),

attendance_states as (
    -- judged on the enrolled days whose half-term has enough possible sessions so far
    select
        t.*,
        t.attended_to_date / t.possible_to_date as rate_to_date,
        t.attended_to_date / t.possible_to_date < s.attendance_below as below
    from attendance_to_date as t
    cross join settings as s
    join children as c on c.wlz_id = t.wlz_id and t.date between c.consent_on and c.enrolment_end_on
    where t.possible_to_date >= s.attendance_min_possible_sessions
),

attendance_runs as (
    select
        *,
        sum(case when below then 0 else 1 end) over (
            partition by wlz_id order by date rows unbounded preceding
        ) as recovered_count
    from attendance_states
),

attendance_intervals as (
    select
        'low_school_attendance' as alert_type,
        b.wlz_id,
        min(b.date) as opened_on,
        least(min(r.date), any_value(c.enrolment_end_on)) as cleared_on,
        case when min(r.date) <= any_value(c.enrolment_end_on) then 'attendance_recovered'
             else 'enrolment_ended' end as clear_reason,
        'attendance' as subject,
        json_object(
            'academic_year', arg_min(b.academic_year, b.date),
            'half_term', arg_min(b.half_term, b.date),
            'attended_sessions', arg_min(b.attended_to_date, b.date),
            'possible_sessions', arg_min(b.possible_to_date, b.date),
            'attendance_rate', round(arg_min(b.rate_to_date, b.date), 4),
            'recovered_on', min(r.date),
            'recovered_rate', round(arg_min(r.rate_to_date, r.date), 4)
        ) as item
    from attendance_runs as b
    join children as c on c.wlz_id = b.wlz_id
    left join attendance_runs as r
        on r.wlz_id = b.wlz_id and not r.below and r.recovered_count = b.recovered_count + 1
    where b.below
    group by b.wlz_id, b.recovered_count
),

-- 4. partner templates not returned ------------------------------------------------------

template_intervals as (
    select
        'partner_template_missing' as alert_type,
        a.wlz_id,
        cast(r.due_on + interval 1 day as date) as opened_on,
        least(case when r.template_returned then r.returned_on end, c.enrolment_end_on) as cleared_on,
        case when r.template_returned and r.returned_on <= c.enrolment_end_on then 'template_returned'
             else 'enrolment_ended' end as clear_reason,
        r.partner_id || '|' || r.programme || '|' || r.academic_year || '|' || r.term as subject,
        json_object(
            'partner_id', r.partner_id,
            'programme', r.programme,
            'academic_year', r.academic_year,
            'term', r.term,
            'term_end', r.term_end,
            'due_on', r.due_on,
            'returned_on', r.returned_on
        ) as item
    from allocated as a
    cross join settings as s
    join children as c on c.wlz_id = a.wlz_id
    join returns as r
        on r.partner_id = a.partner_id and r.programme = a.programme
        and r.academic_year = a.academic_year and r.term = a.term
    where c.consent_on <= r.term_end and c.enrolment_end_on >= r.term_start
      and r.due_on + interval 1 day <= least(s.as_of_date, c.enrolment_end_on)
      -- returned by the due date: no alert; arrived after the as-of date (history
      -- re-run on data loaded later): when it was sent is unknown, no alert
      and not (r.template_returned and (r.returned_on <= r.due_on or r.returned_on > s.as_of_date))
),

-- one alert per child and type at a time -------------------------------------------------

intervals as (
    select alert_type, wlz_id, opened_on, cleared_on, clear_reason, subject, item from missed_intervals
    union all
    select alert_type, wlz_id, opened_on, cleared_on, clear_reason, subject, item from checkin_intervals
    union all
    select alert_type, wlz_id, opened_on, cleared_on, clear_reason, subject, item from attendance_intervals
    union all
    select alert_type, wlz_id, opened_on, cleared_on, clear_reason, subject, item from template_intervals
),

reach as (
    select
        *,
        max(coalesce(cleared_on, date '9999-12-31')) over (
            partition by wlz_id, alert_type order by opened_on, cleared_on, subject
            rows between unbounded preceding and 1 preceding
        ) as open_until_before
    from intervals
),

episodes as (
    select
        *,
        sum(case when open_until_before is null or opened_on > open_until_before then 1 else 0 end)
            over (
                partition by wlz_id, alert_type order by opened_on, cleared_on, subject
                rows unbounded preceding
            ) as episode
    from reach
),

merged as (
    select
        wlz_id,
        alert_type,
        min(opened_on) as opened_on,
        case when count(*) = count(cleared_on) then max(cleared_on) end as cleared_on,
        -- the reason of the condition that cleared last; when several clear on that day,
        -- the enrolment ending (it closes them all), then the last in the items' order
        arg_max(clear_reason, (cleared_on, clear_reason = 'enrolment_ended', subject))
            as clear_reason,
        count(*) as conditions,
        list(item order by opened_on, subject) as items
    from episodes
    group by wlz_id, alert_type, episode
)

select
    md5(m.alert_type || '|' || m.wlz_id || '|' || cast(m.opened_on as varchar)) as alert_id,
    m.wlz_id,
    c.lw_id,
    c.anchor_urn,
    m.alert_type,
    m.opened_on,
    case when m.cleared_on <= s.as_of_date then m.cleared_on end as closed_on,
    m.cleared_on is null or m.cleared_on > s.as_of_date as is_open,
    case when m.cleared_on <= s.as_of_date then m.clear_reason end as close_reason,
    m.conditions,
    cast(json_object(
        'rule', case m.alert_type
            when 'missed_partner_sessions' then 'missed the ' || s.missed_sessions_in_a_row
                || ' most recent consecutive sessions that ran of a partner programme'
            when 'no_checkin' then 'no check-in with the child for '
                || s.no_checkin_term_time_days || ' term-time days'
            when 'low_school_attendance' then 'school attendance in the current half-term below '
                || s.attendance_below
            else 'no partner template returned ' || s.partner_return_grace_days
                || ' days after the term ended'
        end,
        'threshold', case m.alert_type
            when 'missed_partner_sessions' then json_object('missed_sessions_in_a_row', s.missed_sessions_in_a_row)
            when 'no_checkin' then json_object('term_time_days', s.no_checkin_term_time_days)
            when 'low_school_attendance' then json_object(
                'attendance_below', s.attendance_below,
                'min_possible_sessions', s.attendance_min_possible_sessions)
            else json_object('grace_days', s.partner_return_grace_days)
        end,
        'conditions', m.items
    ) as varchar) as evidence,
    s.as_of_date,
    s.rule_version
from merged as m
cross join settings as s
join children as c on c.wlz_id = m.wlz_id
order by m.wlz_id, m.alert_type, m.opened_on
