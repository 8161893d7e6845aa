-- One row per child known to the programme: every child in the enrolment register
-- (keyed by WLZ ID) and every screened pupil who is not (keyed by anchor and UPN).
-- Pupil attributes come from the child's newest register extract. The identity columns
-- (wlz_id, upn) are replaced by child_key when published.
with

pupils_ranked as (
    select
        p.*,
        row_number() over (
            partition by p.anchor_urn, p.upn
            order by p.extract_date desc, p.academic_year desc, p._file_hash, p._row_number
        ) as rank_at_anchor,
        row_number() over (
            partition by p.upn
            order by p.extract_date desc, p.academic_year desc, p.anchor_urn, p._file_hash,
                     p._row_number
        ) as rank_overall
    from staging.pupils as p
    where p.upn is not null
),

register as (
    select *
    from staging.enrolments
    where wlz_id is not null
    qualify row_number() over (partition by wlz_id order by _file_hash, _row_number) = 1
),

enrolled as (
    select
        r.wlz_id,
        r.upn,
        r.anchor_urn,
        p.year_group,
        p.gender,
        p.fsm,
        p.sen,
        p.eal,
        p.postcode,
        r.cohort,
        case
            when r.exit_on is not null then 'exited'
            when r.consent_on is not null then 'enrolled'
            when r.declined_on is not null then 'declined'
            when r.approached_on is not null then 'approached'
            else 'identified'
        end as enrolment_status,
        r.lw_id
    from register as r
    left join pupils_ranked as p on p.upn = r.upn and p.rank_overall = 1
),

screened as (
    select
        cast(null as varchar) as wlz_id,
        p.upn,
        p.anchor_urn,
        p.year_group,
        p.gender,
        p.fsm,
        p.sen,
        p.eal,
        p.postcode,
        cast(null as varchar) as cohort,
        'not_in_register' as enrolment_status,
        cast(null as varchar) as lw_id
    from pupils_ranked as p
    where p.rank_at_anchor = 1
      and not exists (select 1 from register as r where r.upn = p.upn)
),

children as (
    select * from enrolled
    union all by name
    select * from screened
),

imd as (
    select postcode_key, min(imd_decile) as imd_decile
    from staging.imd
    group by postcode_key
)

select
    c.wlz_id,
    c.upn,
    c.anchor_urn,
    a.phase,
    c.year_group,
    c.gender,
    c.fsm,
    c.sen,
    c.eal,
    i.imd_decile,
    c.cohort,
    c.enrolment_status,
    c.lw_id
from children as c
left join staging.anchors as a on a.urn = c.anchor_urn
left join imd as i on i.postcode_key = upper(replace(c.postcode, ' ', ''))
order by c.anchor_urn, c.wlz_id nulls last, c.upn
