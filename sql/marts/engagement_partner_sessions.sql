-- One row per partner programme session on a returned template, up to the as-of date
-- (rules.md §9, §12). A session ran when at least one child has an attendance mark
-- (P, L, A or E); it did not run when its only marks are X; it is unrecorded when no
-- child has any mark. ran_sessions_from_last numbers the sessions that ran from the
-- programme's latest (1) backwards: "the last 3 sessions that ran" are 1-3.
with

settings as (
    select as_of_date
    from marts.engagement_settings
),

marks as (
    select
        m.partner_id, m.programme, m.academic_year, m.term, m.session_date, m.wlz_id,
        m.planned_minutes, m.mark, m.attended, m.missed, m.session_not_run
    from staging.partner_marks as m
    cross join settings as s
    where m.session_date is not null and m.session_date <= s.as_of_date
),

sessions as (
    select
        partner_id,
        programme,
        academic_year,
        term,
        session_date,
        max(planned_minutes) as planned_minutes,
        count(distinct wlz_id) as children_on_template,
        count(*) filter (where attended) as marks_attended,
        count(*) filter (where missed) as marks_missed,
        count(*) filter (where session_not_run) as marks_not_run,
        count(*) filter (where mark is null) as marks_blank
    from marks
    group by all
),

classified as (
    select
        *,
        case
            when marks_attended + marks_missed > 0 then 'ran'
            when marks_not_run > 0 then 'not_run'
            else 'unrecorded'
        end as session_status
    from sessions
)

select
    partner_id,
    programme,
    academic_year,
    term,
    session_date,
    planned_minutes,
    children_on_template,
    marks_attended,
    marks_missed,
    marks_not_run,
    marks_blank,
    session_status,
    row_number() over (
        partition by partner_id, programme, academic_year, term order by session_date
    ) as session_number,
    case when session_status = 'ran' then row_number() over (
        partition by partner_id, programme, academic_year, term, session_status = 'ran'
        order by session_date desc
    ) end as ran_sessions_from_last
from classified
order by partner_id, programme, academic_year, term, session_date
