-- Risk change per anchor and academic year (rules.md §8: n and % in each class), for the
-- WLZ children, their matched comparison children and every screened child. pct is of
-- all the group's children; pct_of_assessable leaves out the not_assessable ones (the
-- pilot's 36 / 55 / 20 are counts of assessable children).
with

change_rows as (
    select anchor_urn, upn, academic_year, change
    from marts.risk_change
),

group_rows as (
    select academic_year, population, upn
    from marts.programme_groups
),

classes as (
    select unnest(['improved', 'no_change', 'declined', 'not_assessable']) as change,
           generate_subscripts(['improved', 'no_change', 'declined', 'not_assessable'], 1)
               as class_order
),

populations as (
    select unnest(['wlz', 'comparison', 'screened']) as population
),

members as (
    select c.anchor_urn, c.academic_year, c.upn, c.change, 'screened' as population
    from change_rows as c
    union all
    select c.anchor_urn, c.academic_year, c.upn, c.change, g.population
    from change_rows as c
    join group_rows as g on g.upn = c.upn and g.academic_year = c.academic_year
),

anchor_years as (
    select distinct anchor_urn, academic_year
    from change_rows
),

grid as (
    select a.anchor_urn, a.academic_year, p.population, k.change, k.class_order
    from anchor_years as a
    cross join populations as p
    cross join classes as k
),

counts as (
    select anchor_urn, academic_year, population, change, count(*) as n
    from members
    group by all
),

totals as (
    select
        anchor_urn, academic_year, population,
        count(*) as n_children,
        count(*) filter (where change <> 'not_assessable') as n_assessable
    from members
    group by all
)

select
    g.anchor_urn,
    g.academic_year,
    g.population,
    g.class_order,
    g.change,
    coalesce(c.n, 0) as n,
    coalesce(t.n_children, 0) as n_children,
    coalesce(t.n_assessable, 0) as n_assessable,
    round(coalesce(c.n, 0) / nullif(t.n_children, 0), 4) as pct,
    case when g.change <> 'not_assessable'
         then round(coalesce(c.n, 0) / nullif(t.n_assessable, 0), 4) end as pct_of_assessable
from grid as g
left join counts as c
    on c.anchor_urn = g.anchor_urn and c.academic_year = g.academic_year
   and c.population = g.population and c.change = g.change
left join totals as t
    on t.anchor_urn = g.anchor_urn and t.academic_year = g.academic_year
   and t.population = g.population
order by g.anchor_urn, g.academic_year, g.population, g.class_order
