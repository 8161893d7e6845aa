-- One row per enrolled child and Monday-to-Sunday week of the calendar while enrolled
-- (consent to exit or programme end), up to the as-of date (rules.md §9). Holiday weeks
-- are included (school_week false) so that term totals add up week by week; checkin_met
-- is judged in school weeks only: at least one check-in interaction (config: check_in,
-- one_to_one or formal_review with the child); NULL in a week still running on the
-- as-of date that has no check-in yet. Interactions and partner sessions count
-- when they fall inside the child's enrolment. Support hours = planned minutes of
-- attended partner sessions / 60 + LW-led group interaction minutes / 60. Zero partner
-- sessions in a week mean none were recorded: support_programmes_not_returned counts the
-- child's programmes of the term whose template has not come back.
{%- set e = engagement() %}
with

settings as (
    select as_of_date, checkin_kinds, checkin_with_whom, support_kinds
    from marts.engagement_settings
),

children as (
    select wlz_id, lw_id, anchor_urn, cohort, consent_on, enrolment_end_on
    from marts.engagement_children
),

calendar_days as (
    select day, is_term_day, week_start
    from marts.engagement_calendar_days
),

weeks as (
    select week_start, week_end, academic_year, term, half_term, term_days
    from marts.engagement_weeks
),

interaction_rows as (
    select wlz_id, cast(started_at as date) as interaction_on, duration_minutes, with_whom, kind
    from staging.interactions
    where wlz_id is not null and started_at is not null
),

sessions as (
    select partner_id, programme, academic_year, term, session_date, session_status
    from marts.engagement_partner_sessions
),

marks as (
    select
        m.wlz_id, m.partner_id, m.programme, m.academic_year, m.term, m.session_date,
        m.planned_minutes, m.mark, m.attended, m.missed, m.session_not_run, s.session_status
    from staging.partner_marks as m
    join sessions as s using (partner_id, programme, academic_year, term, session_date)
),

returns as (
    select partner_id, programme, academic_year, term, template_returned
    from marts.engagement_partner_returns
),

allocated as (
    select distinct wlz_id, partner_id, programme, academic_year, term
    from staging.allocations
),

child_days as (
    select c.wlz_id, d.day, d.is_term_day, d.week_start
    from children as c
    cross join settings as s
    join calendar_days as d
        on d.day between c.consent_on and least(c.enrolment_end_on, s.as_of_date)
),

child_weeks as (
    select
        wlz_id,
        week_start,
        count(*) as enrolled_days,
        count(*) filter (where is_term_day) as enrolled_term_days
    from child_days
    group by wlz_id, week_start
),

child_interactions as (
    select
        i.wlz_id,
        cast(date_trunc('week', i.interaction_on) as date) as week_start,
        count(*) as lw_interactions,
        cast(sum(i.duration_minutes) as bigint) as lw_minutes,
        {%- for w in e.with_whom %}
        count(*) filter (where i.with_whom = '{{ w }}') as lw_interactions_with_{{ w }},
        cast(coalesce(sum(i.duration_minutes) filter (where i.with_whom = '{{ w }}'), 0) as bigint) as lw_minutes_with_{{ w }},
        {%- endfor %}
        {%- for k in e.kinds %}
        count(*) filter (where i.kind = '{{ k }}') as lw_interactions_{{ k }},
        cast(coalesce(sum(i.duration_minutes) filter (where i.kind = '{{ k }}'), 0) as bigint) as lw_minutes_{{ k }},
        {%- endfor %}
        count(*) filter (
            where list_contains(s.checkin_kinds, i.kind) and list_contains(s.checkin_with_whom, i.with_whom)
        ) as checkin_interactions,
        coalesce(sum(i.duration_minutes) filter (where list_contains(s.support_kinds, i.kind)), 0)
            as lw_support_minutes
    from interaction_rows as i
    cross join settings as s
    join children as c
        on c.wlz_id = i.wlz_id
        and i.interaction_on between c.consent_on and least(c.enrolment_end_on, s.as_of_date)
    group by all
),

child_sessions as (
    select
        m.wlz_id,
        cast(date_trunc('week', m.session_date) as date) as week_start,
        count(*) filter (where m.attended) as support_sessions_attended,
        count(*) filter (where m.missed) as support_sessions_missed,
        count(*) filter (where m.mark is null and m.session_status = 'ran') as support_sessions_unrecorded,
        coalesce(sum(m.planned_minutes) filter (where m.attended), 0) as partner_minutes_attended,
        count(*) filter (where m.attended and m.planned_minutes is null) as attended_minutes_unknown
    from marks as m
    cross join settings as s
    join children as c
        on c.wlz_id = m.wlz_id
        and m.session_date between c.consent_on and least(c.enrolment_end_on, s.as_of_date)
    group by all
),

not_returned as (
    select a.wlz_id, a.academic_year, a.term, count(*) as support_programmes_not_returned
    from allocated as a
    join returns as r using (partner_id, programme, academic_year, term)
    where not r.template_returned
    group by all
)

select
    cw.wlz_id,
    c.lw_id,
    c.anchor_urn,
    c.cohort,
    w.academic_year,
    w.term,
    w.half_term,
    cw.week_start,
    w.week_end,
    least(w.week_end, c.enrolment_end_on) <= s.as_of_date as week_complete,
    w.term_days,
    cw.enrolled_term_days,
    cw.enrolled_term_days > 0 as school_week,
    coalesce(i.lw_interactions, 0) as lw_interactions,
    coalesce(i.lw_minutes, 0) as lw_minutes,
    {%- for w in e.with_whom %}
    coalesce(i.lw_interactions_with_{{ w }}, 0) as lw_interactions_with_{{ w }},
    coalesce(i.lw_minutes_with_{{ w }}, 0) as lw_minutes_with_{{ w }},
    {%- endfor %}
    {%- for k in e.kinds %}
    coalesce(i.lw_interactions_{{ k }}, 0) as lw_interactions_{{ k }},
    coalesce(i.lw_minutes_{{ k }}, 0) as lw_minutes_{{ k }},
    {%- endfor %}
    coalesce(i.checkin_interactions, 0) as checkin_interactions,
    case
        when cw.enrolled_term_days = 0 then null
        when coalesce(i.checkin_interactions, 0) >= 1 then true
        -- a week still running on the as-of date is not failed yet
        when least(w.week_end, c.enrolment_end_on) <= s.as_of_date then false
    end as checkin_met,
    coalesce(p.support_sessions_attended, 0) as support_sessions_attended,
    coalesce(p.support_sessions_missed, 0) as support_sessions_missed,
    coalesce(p.support_sessions_unrecorded, 0) as support_sessions_unrecorded,
    coalesce(p.attended_minutes_unknown, 0) as support_sessions_minutes_unknown,
    coalesce(p.partner_minutes_attended, 0) / 60.0 as partner_hours,
    coalesce(i.lw_support_minutes, 0) / 60.0 as lw_support_hours,
    (coalesce(p.partner_minutes_attended, 0) + coalesce(i.lw_support_minutes, 0)) / 60.0 as support_hours,
    coalesce(n.support_programmes_not_returned, 0) as support_programmes_not_returned
from child_weeks as cw
cross join settings as s
join children as c on c.wlz_id = cw.wlz_id
join weeks as w on w.week_start = cw.week_start
left join child_interactions as i on i.wlz_id = cw.wlz_id and i.week_start = cw.week_start
left join child_sessions as p on p.wlz_id = cw.wlz_id and p.week_start = cw.week_start
left join not_returned as n
    on n.wlz_id = cw.wlz_id and n.academic_year = w.academic_year and n.term = w.term
order by cw.wlz_id, cw.week_start
