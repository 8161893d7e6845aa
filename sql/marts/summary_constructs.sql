-- The WLZ summary table (rules.md §12): for each academic year, wave and construct
-- (school attendance, school attainment, the SDQ scales and total, WEMWBS, every
-- survey construct; config/risk.yaml `summary`), the % at risk among WLZ children,
-- matched comparison children and all screened children, each with n = the children
-- with a known value (the denominator). A construct reported as one (school
-- attainment) is at risk when any of the child's applicable factors is, not at risk
-- when all are known and false, unknown otherwise. Children are counted once per year
-- and wave even when on two anchors' registers.
with

factor_rows as (
    select upn, academic_year, wave, factor, at_risk
    from marts.risk_factors
),

rule_rows as (
    select factor, summary_construct, sort_order
    from marts.risk_rules
    where summary_construct is not null
),

group_rows as (
    select academic_year, population, upn
    from marts.programme_groups
),

wave_rows as (
    select academic_year, wave
    from marts.wave_dates
),

constructs as (
    select summary_construct as construct, min(sort_order) as construct_order
    from rule_rows
    group by summary_construct
),

per_child as (
    select
        f.upn, f.academic_year, f.wave, r.summary_construct as construct,
        case when bool_or(f.at_risk) then true
             when count(*) filter (where f.at_risk is null) = 0 then false
        end as at_risk
    from factor_rows as f
    join rule_rows as r on r.factor = f.factor
    group by f.upn, f.academic_year, f.wave, r.summary_construct
),

members as (
    select upn, academic_year, wave, construct, at_risk, 'population' as population
    from per_child
    union all
    select distinct p.upn, p.academic_year, p.wave, p.construct, p.at_risk, g.population
    from per_child as p
    join group_rows as g on g.upn = p.upn and g.academic_year = p.academic_year
),

counts as (
    select
        academic_year, wave, construct, population,
        count(at_risk) as n,
        count(*) filter (where at_risk) as n_at_risk,
        count(*) filter (where at_risk is null) as n_unknown
    from members
    group by all
),

grid as (
    select w.academic_year, w.wave, c.construct, c.construct_order
    from wave_rows as w
    cross join constructs as c
),

pivoted as (
    select
        g.academic_year, g.wave, g.construct, g.construct_order,
        coalesce(max(c.n) filter (where c.population = 'wlz'), 0) as wlz_n,
        coalesce(max(c.n_at_risk) filter (where c.population = 'wlz'), 0) as wlz_at_risk,
        coalesce(max(c.n_unknown) filter (where c.population = 'wlz'), 0) as wlz_unknown,
        coalesce(max(c.n) filter (where c.population = 'comparison'), 0) as comparison_n,
        coalesce(max(c.n_at_risk) filter (where c.population = 'comparison'), 0)
            as comparison_at_risk,
        coalesce(max(c.n_unknown) filter (where c.population = 'comparison'), 0)
            as comparison_unknown,
        coalesce(max(c.n) filter (where c.population = 'population'), 0) as population_n,
        coalesce(max(c.n_at_risk) filter (where c.population = 'population'), 0)
            as population_at_risk,
        coalesce(max(c.n_unknown) filter (where c.population = 'population'), 0)
            as population_unknown
    from grid as g
    left join counts as c
        on c.academic_year = g.academic_year and c.wave = g.wave and c.construct = g.construct
    group by all
)

select
    academic_year,
    wave,
    -- the config order (first factor of the construct); the table is sorted by it
    construct_order,
    construct,
    round(wlz_at_risk / nullif(wlz_n, 0), 4) as wlz_pct,
    wlz_n,
    wlz_at_risk,
    wlz_unknown,
    round(comparison_at_risk / nullif(comparison_n, 0), 4) as comparison_pct,
    comparison_n,
    comparison_at_risk,
    comparison_unknown,
    round(population_at_risk / nullif(population_n, 0), 4) as population_pct,
    population_n,
    population_at_risk,
    population_unknown
from pivoted
order by academic_year, wave, construct_order
