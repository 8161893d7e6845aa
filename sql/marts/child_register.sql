-- The programme register by UPN: one row per child with a register record, so marts
-- keyed by anchor and UPN can carry the child's WLZ ID. A child registered twice (e.g.
-- declined in one cohort, identified again in the next) keeps the latest cohort's row.
with

register as (
    select
        wlz_id, upn, anchor_urn, cohort, identified_on, approached_on, consent_on,
        declined_on, exit_on, exit_reason, lw_id
    from staging.enrolments
    where upn is not null and wlz_id is not null
),

ranked as (
    select
        *,
        count(*) over (partition by upn) as register_rows,
        row_number() over (partition by upn order by cohort desc, wlz_id) as row_rank
    from register
)

select
    upn,
    wlz_id,
    anchor_urn,
    cohort,
    identified_on,
    approached_on,
    consent_on,
    declined_on,
    exit_on,
    exit_reason,
    lw_id,
    -- enrolled = signed up (consent recorded); identified or approached children are on
    -- the register too but not enrolled
    consent_on is not null as enrolled,
    register_rows
from ranked
where row_rank = 1
order by upn
