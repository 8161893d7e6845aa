-- Risk change within the academic year (rules.md §8, the pilot's measure), per child
-- (anchor and UPN): the true outcome factors among those known at both the autumn and
-- the summer wave; improved (fewer at the end), no_change, declined (more), or
-- not_assessable when no outcome factor is known at both waves.
with

factor_rows as (
    select anchor_urn, upn, academic_year, wave, factor, at_risk, sort_order
    from marts.risk_factors
    where kind = 'outcome'
),

children as (
    select distinct anchor_urn, upn, wlz_id, enrolled, academic_year, phase, year_group
    from marts.risk_profile
),

paired as (
    select
        s.anchor_urn, s.upn, s.academic_year, s.factor, s.sort_order,
        s.at_risk as at_risk_start,
        e.at_risk as at_risk_end
    from factor_rows as s
    join factor_rows as e
        on e.anchor_urn = s.anchor_urn and e.upn = s.upn
       and e.academic_year = s.academic_year and e.factor = s.factor and e.wave = 'summer'
    where s.wave = 'autumn' and s.at_risk is not null and e.at_risk is not null
),

per_child as (
    select
        anchor_urn, upn, academic_year,
        count(*) as factors_compared,
        count(*) filter (where at_risk_start) as risk_count_start,
        count(*) filter (where at_risk_end) as risk_count_end,
        list(factor order by sort_order) as compared_factors,
        coalesce(list(factor order by sort_order)
                     filter (where at_risk_start and not at_risk_end), []) as factors_resolved,
        coalesce(list(factor order by sort_order)
                     filter (where at_risk_end and not at_risk_start), []) as factors_new
    from paired
    group by anchor_urn, upn, academic_year
)

select
    c.anchor_urn,
    c.upn,
    c.wlz_id,
    c.enrolled,
    c.academic_year,
    c.phase,
    c.year_group,
    coalesce(p.factors_compared, 0) as factors_compared,
    p.risk_count_start,
    p.risk_count_end,
    case
        when coalesce(p.factors_compared, 0) = 0 then 'not_assessable'
        when p.risk_count_end < p.risk_count_start then 'improved'
        when p.risk_count_end > p.risk_count_start then 'declined'
        else 'no_change'
    end as change,
    coalesce(p.compared_factors, []) as compared_factors,
    coalesce(p.factors_resolved, []) as factors_resolved,
    coalesce(p.factors_new, []) as factors_new
from children as c
left join per_child as p
    on p.anchor_urn = c.anchor_urn and p.upn = c.upn and p.academic_year = c.academic_year
order by c.anchor_urn, c.academic_year, c.upn
