-- Who is a WLZ child and who a matched comparison child in each academic year, for the
-- summaries (risk_change_summary, summary_constructs). A cohort starting in year Y is
-- in the programme in Y and Y+1 (rules.md §1: year 1 and year 2); a WLZ child is one
-- who consented (intention to treat: children who exited early stay in); a comparison
-- child is the match of a WLZ child of the same cohort (comparison_matches).
with

register_rows as (
    select wlz_id, upn, cohort
    from staging.enrolments
    where consent_on is not null and upn is not null and cohort is not null
),

match_rows as (
    select academic_year as cohort, wlz_id, comparison_upn
    from marts.comparison_matches
    where matched
),

members as (
    select upn, cohort, wlz_id, 'wlz' as population
    from register_rows
    union all
    select comparison_upn as upn, cohort, wlz_id, 'comparison' as population
    from match_rows
),

programme_years as (
    select
        m.*,
        unnest([
            m.cohort,
            (cast(left(m.cohort, 4) as integer) + 1)::varchar || '/'
                || right((cast(left(m.cohort, 4) as integer) + 2)::varchar, 2)
        ]) as academic_year
    from members as m
)

select
    academic_year,
    population,
    upn,
    cohort,
    -- the WLZ child, or for a comparison child the WLZ child it was matched to
    wlz_id,
    case when academic_year = cohort then 1 else 2 end as programme_year
from programme_years
order by academic_year, population, upn
