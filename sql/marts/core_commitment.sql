-- The programme's promise to every enrolled child, per child and term (rules.md §10),
-- each part with its numerator and denominator:
--   1. a check-in every week: weeks_with_checkin / school_weeks >= checkin_share_min;
--      school_weeks = the term's school weeks with at least one term day inside the
--      child's enrolment (engagement_weekly judges each week);
--   2. a formal review every half-term: reviews_held / half_terms (every half-term of
--      the term with an enrolled term day had one; a review in the holiday after a
--      half-term counts for it);
--   3. support_hours >= support_hours_min (partner + LW-led group hours, engagement_term).
-- all_met = all three. A part is TRUE once met and FALSE once it can no longer be met;
-- it is NULL while undecided: the term (or a half-term) is still running on the as-of
-- date, or hours are short but a partner template is missing or an attended session has
-- no planned minutes (missing data is never a silent "not met").
with

settings as (
    select
        as_of_date, rule_version, checkin_share_min, reviews_per_half_term,
        support_hours_min, review_kinds
    from marts.engagement_settings
),

children as (
    select wlz_id, consent_on, enrolment_end_on
    from marts.engagement_children
),

calendar_days as (
    select day, academic_year, term, half_term, is_term_day, week_start
    from marts.engagement_calendar_days
),

weeks as (
    select week_start, academic_year, term
    from marts.engagement_weeks
),

term_totals as (
    select
        wlz_id, lw_id, anchor_urn, cohort, academic_year, term, term_complete,
        school_weeks_judged, weeks_with_checkin, support_hours, partner_hours,
        lw_support_hours, support_programmes_not_returned, support_sessions_minutes_unknown
    from marts.engagement_term
),

interaction_rows as (
    select wlz_id, cast(started_at as date) as interaction_on, kind
    from staging.interactions
    where wlz_id is not null and started_at is not null
),

half_term_periods as (
    -- the days that count for a half-term: from its start to the day before the next
    select academic_year, half_term, max(day) as period_end
    from calendar_days
    group by academic_year, half_term
),

enrolled_term_days as (
    -- the whole enrolment, also after the as-of date: the term's full denominators
    select c.wlz_id, d.day, d.academic_year, d.term, d.half_term, d.week_start
    from children as c
    join calendar_days as d
        on d.day between c.consent_on and c.enrolment_end_on and d.is_term_day
),

planned_weeks as (
    select d.wlz_id, w.academic_year, w.term, count(distinct d.week_start) as school_weeks
    from enrolled_term_days as d
    join weeks as w on w.week_start = d.week_start
    group by all
),

reviews as (
    select i.wlz_id, d.academic_year, d.half_term, count(*) as reviews
    from interaction_rows as i
    cross join settings as s
    join children as c
        on c.wlz_id = i.wlz_id
        and i.interaction_on between c.consent_on and least(c.enrolment_end_on, s.as_of_date)
    join calendar_days as d on d.day = i.interaction_on
    where list_contains(s.review_kinds, i.kind)
    group by all
),

child_half_terms as (
    select
        h.wlz_id,
        h.academic_year,
        h.term,
        h.half_term,
        coalesce(r.reviews, 0) >= s.reviews_per_half_term as review_held,
        s.as_of_date >= least(p.period_end, c.enrolment_end_on) as period_over
    from (select distinct wlz_id, academic_year, term, half_term from enrolled_term_days) as h
    cross join settings as s
    join children as c on c.wlz_id = h.wlz_id
    join half_term_periods as p on p.academic_year = h.academic_year and p.half_term = h.half_term
    left join reviews as r
        on r.wlz_id = h.wlz_id and r.academic_year = h.academic_year and r.half_term = h.half_term
),

half_term_totals as (
    select
        wlz_id,
        academic_year,
        term,
        count(*) as half_terms,
        count(*) filter (where review_held) as reviews_held,
        count(*) filter (where period_over and not review_held) as half_terms_without_review
    from child_half_terms
    group by all
),

assembled as (
    select
        t.*,
        p.school_weeks,
        h.half_terms,
        h.reviews_held,
        h.half_terms_without_review,
        s.checkin_share_min,
        s.reviews_per_half_term,
        s.support_hours_min,
        s.as_of_date,
        s.rule_version
    from term_totals as t
    cross join settings as s
    join planned_weeks as p
        on p.wlz_id = t.wlz_id and p.academic_year = t.academic_year and p.term = t.term
    join half_term_totals as h
        on h.wlz_id = t.wlz_id and h.academic_year = t.academic_year and h.term = t.term
    where p.school_weeks > 0
),

judged as (
    select
        *,
        case
            -- 1e-9: 4 of 5 weeks is exactly 80% whatever the float rounding
            when weeks_with_checkin >= checkin_share_min * school_weeks - 1e-9 then true
            when weeks_with_checkin + (school_weeks - school_weeks_judged)
                < checkin_share_min * school_weeks - 1e-9 then false
        end as checkin_met,
        case
            when reviews_held = half_terms then true
            when half_terms_without_review > 0 then false
        end as review_met,
        case
            when support_hours >= support_hours_min - 1e-9 then true
            when term_complete and support_programmes_not_returned = 0
                and support_sessions_minutes_unknown = 0 then false
        end as hours_met
    from assembled
)

select
    wlz_id,
    lw_id,
    anchor_urn,
    cohort,
    academic_year,
    term,
    term_complete,
    weeks_with_checkin,
    school_weeks,
    school_weeks_judged as school_weeks_to_date,
    weeks_with_checkin / school_weeks as checkin_share,
    checkin_share_min,
    checkin_met,
    reviews_held,
    half_terms,
    half_terms_without_review,
    reviews_per_half_term,
    review_met,
    support_hours,
    partner_hours,
    lw_support_hours,
    support_hours_min,
    support_programmes_not_returned,
    support_sessions_minutes_unknown,
    hours_met,
    checkin_met and review_met and hours_met as all_met,
    as_of_date,
    rule_version
from judged
order by wlz_id, academic_year, term
