-- Enrolled children (consent recorded in the programme register) and the window in
-- which the programme's promises apply to them: from the day of consent to the day they
-- exit early or, at the latest, the end of the programme's second academic year
-- (31 August; rules.md §1: year 1 and year 2 are the cohort's first academic year and
-- the next one).
with

register as (
    select wlz_id, upn, anchor_urn, cohort, consent_on, exit_on, exit_reason, lw_id
    from staging.enrolments
    where wlz_id is not null and consent_on is not null
),

programme as (
    select
        *,
        make_date(
            cast(left(coalesce(cohort, wlz_academic_year(consent_on)), 4) as integer) + 2, 8, 31
        ) as programme_end_on
    from register
)

select
    wlz_id,
    upn,
    anchor_urn,
    cohort,
    lw_id,
    consent_on,
    exit_on,
    exit_reason,
    programme_end_on,
    least(coalesce(exit_on, programme_end_on), programme_end_on) as enrolment_end_on
from programme
order by wlz_id
