-- Monday-to-Sunday weeks of the school calendar (rules.md §1). A school week has at
-- least one term day (a weekday inside a half-term). Each week belongs to one half-term
-- and term: a school week to that of its first term day, a holiday week to the
-- half-term before it (see engagement_calendar_days), so term totals add up week by week.
with

calendar_days as (
    select day, academic_year, term, half_term, is_term_day, week_start
    from marts.engagement_calendar_days
)

select
    week_start,
    cast(week_start + interval 6 day as date) as week_end,
    coalesce(
        min_by(academic_year, day) filter (where is_term_day), min_by(academic_year, day)
    ) as academic_year,
    coalesce(min_by(term, day) filter (where is_term_day), min_by(term, day)) as term,
    coalesce(min_by(half_term, day) filter (where is_term_day), min_by(half_term, day)) as half_term,
    count(*) filter (where is_term_day) as term_days,
    count(*) filter (where is_term_day) > 0 as school_week,
    min(day) filter (where is_term_day) as first_term_day,
    max(day) filter (where is_term_day) as last_term_day
from calendar_days
group by week_start
order by week_start
