-- Identification (rules.md §7) per anchor and academic year, from the autumn (screening)
-- wave of the risk profiles: children with an EHC plan (sen = E) or on the statutory-
-- support list (config) are excluded; the rest with at least 2 true outcome factors
-- (multiple needs) are ranked by need_score desc, risk_count desc, attendance_rate asc
-- (unknown attendance last), WLZ ID asc (children without one after), UPN asc; the top
-- ceil(20% of the anchor's screened children) are identified, or fewer if fewer
-- qualify. Identification recommends; the register records what was decided
-- (identification_differences).
with

profiles as (
    select
        anchor_urn, upn, wlz_id, enrolled, academic_year, phase, year_group, gender,
        sen_value, risk_count, need_score, outcome_factors_known, outcome_factors_unknown,
        attendance_below_96_value as attendance_rate
    from marts.risk_profile
    where wave = 'autumn'
),

parameter_rows as (
    select parameter, key, number
    from marts.risk_parameters
),

settings as (
    select
        max(number) filter (where parameter = 'identification_share') as share,
        max(number) filter (where parameter = 'identification_min_outcome_factors')
            as min_outcome_factors
    from parameter_rows
),

excluded_sen as (
    select coalesce(list(key), []) as codes
    from parameter_rows
    where parameter = 'exclude_sen'
),

statutory_support as (
    select distinct key as upn
    from parameter_rows
    where parameter = 'statutory_support_upn'
),

screened_counts as (
    select anchor_urn, academic_year, count(*) as screened
    from profiles
    group by anchor_urn, academic_year
),

assessed as (
    select
        p.*,
        case
            when list_contains(e.codes, p.sen_value)
                then case when p.sen_value = 'E' then 'ehc_plan'
                          else 'sen_' || lower(p.sen_value) end
            when t.upn is not null then 'statutory_support'
        end as exclusion_reason,
        p.risk_count >= s.min_outcome_factors as multiple_needs,
        -- ceil of share x screened; rounding first keeps e.g. 0.07 x 100 = 7.000000000000001
        -- (floating point) from giving 8 places
        cast(ceil(round(s.share * c.screened, 9)) as integer) as places,
        c.screened
    from profiles as p
    cross join settings as s
    cross join excluded_sen as e
    join screened_counts as c
        on c.anchor_urn = p.anchor_urn and c.academic_year = p.academic_year
    left join statutory_support as t on t.upn = p.upn
),

ranked as (
    select
        *,
        case when exclusion_reason is null and multiple_needs then
            row_number() over (
                partition by anchor_urn, academic_year,
                             exclusion_reason is null and multiple_needs
                order by need_score desc, risk_count desc, attendance_rate asc nulls last,
                         wlz_id asc nulls last, upn asc
            )
        end as rank
    from assessed
)

select
    anchor_urn,
    academic_year,
    upn,
    wlz_id,
    enrolled,
    phase,
    year_group,
    gender,
    risk_count,
    need_score,
    attendance_rate,
    outcome_factors_known,
    outcome_factors_unknown,
    exclusion_reason,
    multiple_needs,
    rank,
    screened,
    places,
    coalesce(rank <= places, false) as identified,
    case
        when exclusion_reason is not null then 'excluded'
        when not multiple_needs then 'not_multiple_needs'
        when rank <= places then 'identified'
        else 'qualified_not_identified'
    end as status
from ranked
order by anchor_urn, academic_year, rank nulls last, upn
