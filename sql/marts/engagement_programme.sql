-- One row per child and partner programme and term (allocated, or on a returned
-- template): the child's sessions as the partner recorded them, up to the as-of date,
-- and their engagement status (rules.md §9). Marks: P/L attended, A/E missed, X and
-- blank not counted. The child's sessions that ran are the programme's sessions that ran
-- (engagement_partner_sessions) where the child is not marked X. Status: dropped_out
-- when the child exited by the end of the term or attended none of the last 3 sessions
-- that ran (judged once 3 have run); completed in the child's final term of the
-- programme, once the term has ended, when they attended one of its last 2 sessions
-- that ran; otherwise active. Figures are NULL while the template is not returned.
-- Every mark counts here, as on the partner's own template; engagement_weekly counts
-- only the sessions inside the child's enrolment.
with

settings as (
    select as_of_date, retained_last_sessions, completed_last_sessions
    from marts.engagement_settings
),

sessions as (
    select partner_id, programme, academic_year, term, session_date, session_status
    from marts.engagement_partner_sessions
),

returns as (
    select partner_id, programme, academic_year, term, term_start, term_end, template_returned
    from marts.engagement_partner_returns
),

children as (
    select wlz_id, lw_id, exit_on
    from marts.engagement_children
),

allocated as (
    select distinct wlz_id, partner_id, programme, academic_year, term
    from staging.allocations
    where wlz_id is not null
),

marks as (
    select
        m.wlz_id, m.partner_id, m.programme, m.academic_year, m.term, m.session_date,
        m.planned_minutes, m.mark, m.engagement, m.attended, m.missed, m.session_not_run,
        s.session_status
    from staging.partner_marks as m
    join sessions as s using (partner_id, programme, academic_year, term, session_date)
),

child_ran_sessions as (
    -- the sessions that ran for this child, numbered from the latest
    select
        *,
        row_number() over (
            partition by wlz_id, partner_id, programme, academic_year, term
            order by session_date desc
        ) as from_last
    from marks
    where session_status = 'ran' and not coalesce(session_not_run, false)
),

child_marks as (
    select
        wlz_id,
        partner_id,
        programme,
        academic_year,
        term,
        count(*) as sessions_ran,
        count(*) filter (where attended) as sessions_attended,
        count(*) filter (where missed) as sessions_missed,
        count(*) filter (where mark is null) as sessions_unrecorded,
        sum(planned_minutes) filter (where attended) as minutes_attended,
        count(*) filter (where attended and planned_minutes is null) as attended_minutes_unknown,
        count(engagement) filter (where attended) as engagement_ratings,
        avg(engagement) filter (where attended) as mean_engagement,
        count(*) filter (where attended and from_last <= s.retained_last_sessions)
            as recent_sessions_attended,
        count(*) filter (where attended and from_last <= s.completed_last_sessions)
            as closing_sessions_attended,
        min(session_date) filter (where attended) as first_attended_on,
        max(session_date) filter (where attended) as last_attended_on
    from child_ran_sessions
    cross join settings as s
    group by all
),

x_marks as (
    select wlz_id, partner_id, programme, academic_year, term,
           count(*) filter (where session_not_run and session_status = 'ran') as sessions_marked_x
    from marks
    group by all
),

child_programmes as (
    select wlz_id, partner_id, programme, academic_year, term from allocated
    union
    select distinct wlz_id, partner_id, programme, academic_year, term from marks
),

later_terms as (
    -- is there a later term of the same programme for the child? (final term or not)
    select
        c.*,
        count(*) over (
            partition by c.wlz_id, c.partner_id, c.programme
            order by c.academic_year, r.term_start
            rows between 1 following and unbounded following
        ) as later_terms_allocated
    from child_programmes as c
    left join returns as r using (partner_id, programme, academic_year, term)
),

assembled as (
    select
        c.wlz_id,
        ch.lw_id,
        c.partner_id,
        c.programme,
        c.academic_year,
        c.term,
        a.wlz_id is not null as allocated,
        coalesce(r.template_returned, false) as template_returned,
        r.term_start,
        r.term_end,
        coalesce(s.as_of_date >= r.term_end, false) as term_ended,
        c.later_terms_allocated = 0 as final_term,
        ch.exit_on is not null and ch.exit_on <= least(r.term_end, s.as_of_date) as exited,
        m.*  exclude (wlz_id, partner_id, programme, academic_year, term),
        coalesce(x.sessions_marked_x, 0) as sessions_marked_x,
        s.retained_last_sessions,
        s.completed_last_sessions
    from later_terms as c
    cross join settings as s
    left join children as ch on ch.wlz_id = c.wlz_id
    left join allocated as a
        on a.wlz_id = c.wlz_id and a.partner_id = c.partner_id and a.programme = c.programme
        and a.academic_year = c.academic_year and a.term = c.term
    left join returns as r
        on r.partner_id = c.partner_id and r.programme = c.programme
        and r.academic_year = c.academic_year and r.term = c.term
    left join child_marks as m
        on m.wlz_id = c.wlz_id and m.partner_id = c.partner_id and m.programme = c.programme
        and m.academic_year = c.academic_year and m.term = c.term
    left join x_marks as x
        on x.wlz_id = c.wlz_id and x.partner_id = c.partner_id and x.programme = c.programme
        and x.academic_year = c.academic_year and x.term = c.term
)

select
    wlz_id,
    lw_id,
    partner_id,
    programme,
    academic_year,
    term,
    allocated,
    template_returned,
    term_end,
    term_ended,
    final_term,
    case when template_returned then coalesce(sessions_ran, 0) end as sessions_ran,
    case when template_returned then coalesce(sessions_attended, 0) end as sessions_attended,
    case when template_returned then coalesce(sessions_missed, 0) end as sessions_missed,
    case when template_returned then coalesce(sessions_unrecorded, 0) end as sessions_unrecorded,
    case when template_returned then sessions_marked_x end as sessions_marked_x,
    case when template_returned
        then sessions_attended / nullif(sessions_attended + sessions_missed, 0) end as attendance_rate,
    case when template_returned then coalesce(minutes_attended, 0) / 60.0 end as hours_attended,
    case when template_returned then coalesce(attended_minutes_unknown, 0) end as attended_minutes_unknown,
    case when template_returned then coalesce(engagement_ratings, 0) end as engagement_ratings,
    mean_engagement,
    case when template_returned then coalesce(recent_sessions_attended, 0) end as recent_sessions_attended,
    case when template_returned then coalesce(closing_sessions_attended, 0) end as closing_sessions_attended,
    first_attended_on,
    last_attended_on,
    case when template_returned then coalesce(sessions_attended, 0) >= 1 end as started,
    case when template_returned then coalesce(recent_sessions_attended, 0) >= 1 end as retained,
    case
        when exited then 'dropped_out'
        when not template_returned then null
        when final_term and term_ended and coalesce(closing_sessions_attended, 0) >= 1
            then 'completed'
        when coalesce(sessions_ran, 0) >= retained_last_sessions
            and coalesce(recent_sessions_attended, 0) = 0 then 'dropped_out'
        else 'active'
    end as status
from assembled
order by wlz_id, partner_id, programme, academic_year, term
