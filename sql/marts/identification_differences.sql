-- Where the register (enrolments.csv) differs from the recommendation (rules.md §7):
-- children identified but never approached, and children enrolled (consent recorded)
-- who were not identified, with what the recommendation said, so the team can explain
-- each one. One row per child, academic year and difference.
with

identification_rows as (
    select anchor_urn, academic_year, upn, wlz_id, identified, rank, places, screened,
           exclusion_reason, multiple_needs, risk_count, need_score, status
    from marts.identification
),

register_rows as (
    select wlz_id, upn, anchor_urn, cohort, identified_on, approached_on, consent_on,
           declined_on
    from staging.enrolments
    where upn is not null
),

identified_not_approached as (
    select
        i.anchor_urn, i.academic_year, i.upn,
        coalesce(i.wlz_id, r.wlz_id) as wlz_id,
        'identified_not_approached' as difference,
        i.identified, i.status, i.rank, i.places, i.exclusion_reason, i.risk_count,
        i.need_score, r.identified_on, r.approached_on, r.consent_on, r.declined_on,
        case when r.upn is null then 'no register record for the academic year'
             else 'on the register but no approach recorded' end as explanation
    from identification_rows as i
    left join register_rows as r on r.upn = i.upn and r.cohort = i.academic_year
    where i.identified and r.approached_on is null
),

enrolled_not_identified as (
    select
        coalesce(i.anchor_urn, r.anchor_urn) as anchor_urn,
        r.cohort as academic_year,
        r.upn,
        r.wlz_id,
        'enrolled_not_identified' as difference,
        coalesce(i.identified, false) as identified,
        coalesce(i.status, 'not_screened') as status,
        i.rank, i.places, i.exclusion_reason, i.risk_count, i.need_score,
        r.identified_on, r.approached_on, r.consent_on, r.declined_on,
        case
            when i.upn is null then 'not on an anchor register in the academic year'
            when i.exclusion_reason is not null then 'excluded: ' || i.exclusion_reason
            when not i.multiple_needs
                then 'fewer true outcome factors than multiple needs requires ('
                     || i.risk_count || ')'
            else 'ranked ' || i.rank || ' with ' || i.places || ' places'
        end as explanation
    from register_rows as r
    left join identification_rows as i on i.upn = r.upn and i.academic_year = r.cohort
    where r.consent_on is not null
    -- a child screened at two anchors in the year: identified at either counts; else the
    -- register's anchor explains
    qualify row_number() over (
        partition by r.wlz_id
        order by coalesce(i.identified, false) desc, (i.anchor_urn = r.anchor_urn) desc nulls last,
                 i.anchor_urn
    ) = 1
)

select
    anchor_urn, academic_year, upn, wlz_id, difference, identified, status, rank, places,
    exclusion_reason, risk_count, need_score, identified_on, approached_on, consent_on,
    declined_on, explanation
from identified_not_approached
union all
select
    anchor_urn, academic_year, upn, wlz_id, difference, identified, status, rank, places,
    exclusion_reason, risk_count, need_score, identified_on, approached_on, consent_on,
    declined_on, explanation
from enrolled_not_identified
where not identified
order by anchor_urn, academic_year, difference, upn
