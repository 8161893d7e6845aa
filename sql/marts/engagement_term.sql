-- One row per enrolled child, academic year and term: the weeks of engagement_weekly
-- added up (holiday weeks belong to the term before them), so every figure is the sum
-- of the child's weekly rows. support_attendance_rate = attended / (attended + missed)
-- partner sessions (rules.md §9), NULL when no session was counted. Partner figures
-- cover returned templates only: support_programmes_not_returned says how many of the
-- child's programmes that term have no template yet.
{%- set e = engagement() %}
with

weekly as (
    select *
    from marts.engagement_weekly
),

allocated as (
    select wlz_id, academic_year, term, count(distinct (partner_id, programme)) as programmes
    from staging.allocations
    group by all
),

terms as (
    select
        academic_year,
        term,
        min(day) filter (where is_term_time) as term_start,
        max(day) filter (where is_term_time) as term_end,
        -- the term's figures can change until the holiday after it ends
        max(day) as term_period_end
    from marts.engagement_calendar_days
    group by academic_year, term
),

children as (
    select wlz_id, enrolment_end_on
    from marts.engagement_children
),

settings as (
    select as_of_date
    from marts.engagement_settings
),

totals as (
    select
        wlz_id,
        academic_year,
        term,
        any_value(lw_id) as lw_id,
        any_value(anchor_urn) as anchor_urn,
        any_value(cohort) as cohort,
        count(*) as weeks,
        count(*) filter (where school_week) as school_weeks,
        count(checkin_met) as school_weeks_judged,
        count(*) filter (where checkin_met) as weeks_with_checkin,
        cast(sum(lw_interactions) as bigint) as lw_interactions,
        cast(sum(lw_minutes) as bigint) as lw_minutes,
        {%- for w in e.with_whom %}
        cast(sum(lw_interactions_with_{{ w }}) as bigint) as lw_interactions_with_{{ w }},
        cast(sum(lw_minutes_with_{{ w }}) as bigint) as lw_minutes_with_{{ w }},
        {%- endfor %}
        {%- for k in e.kinds %}
        cast(sum(lw_interactions_{{ k }}) as bigint) as lw_interactions_{{ k }},
        cast(sum(lw_minutes_{{ k }}) as bigint) as lw_minutes_{{ k }},
        {%- endfor %}
        cast(sum(checkin_interactions) as bigint) as checkin_interactions,
        cast(sum(support_sessions_attended) as bigint) as support_sessions_attended,
        cast(sum(support_sessions_missed) as bigint) as support_sessions_missed,
        cast(sum(support_sessions_unrecorded) as bigint) as support_sessions_unrecorded,
        cast(sum(support_sessions_minutes_unknown) as bigint) as support_sessions_minutes_unknown,
        sum(partner_hours) as partner_hours,
        sum(lw_support_hours) as lw_support_hours,
        sum(support_hours) as support_hours,
        max(support_programmes_not_returned) as support_programmes_not_returned
    from weekly
    group by wlz_id, academic_year, term
)

select
    t.wlz_id,
    t.lw_id,
    t.anchor_urn,
    t.cohort,
    t.academic_year,
    t.term,
    d.term_start,
    d.term_end,
    s.as_of_date >= least(d.term_period_end, c.enrolment_end_on) as term_complete,
    t.weeks,
    t.school_weeks,
    t.school_weeks_judged,
    t.weeks_with_checkin,
    t.lw_interactions,
    t.lw_minutes,
    {%- for w in e.with_whom %}
    t.lw_interactions_with_{{ w }},
    t.lw_minutes_with_{{ w }},
    {%- endfor %}
    {%- for k in e.kinds %}
    t.lw_interactions_{{ k }},
    t.lw_minutes_{{ k }},
    {%- endfor %}
    t.checkin_interactions,
    t.support_sessions_attended,
    t.support_sessions_missed,
    t.support_sessions_unrecorded,
    t.support_sessions_minutes_unknown,
    t.support_sessions_attended + t.support_sessions_missed as support_sessions_counted,
    t.support_sessions_attended
        / nullif(t.support_sessions_attended + t.support_sessions_missed, 0) as support_attendance_rate,
    t.partner_hours,
    t.lw_support_hours,
    t.support_hours,
    coalesce(a.programmes, 0) as support_programmes_allocated,
    t.support_programmes_not_returned
from totals as t
cross join settings as s
join children as c on c.wlz_id = t.wlz_id
join terms as d on d.academic_year = t.academic_year and d.term = t.term
left join allocated as a
    on a.wlz_id = t.wlz_id and a.academic_year = t.academic_year and a.term = t.term
order by t.wlz_id, t.academic_year, d.term_start
