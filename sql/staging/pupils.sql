-- One row per anchor, academic year and pupil: the school's register as of its newest
-- current extract for that year (CSV profiles and CTF alike). Values are conformed
-- through the profile's value map (meta.value_map) and the parsing macros.
with

raw_rows as (
    select r.*, f.as_of as _file_as_of, f.arrived_at as _arrived_at, f.path as _path
    from raw.pupils as r
    join meta.current_files as f on f.file_hash = r._file_hash
),

mapped as (
    select
        r.*,
        coalesce(g.canonical, trim(r.gender)) as gender_mapped,
        coalesce(s.canonical, upper(trim(r.sen))) as sen_mapped
    from raw_rows as r
    left join meta.value_map as g
        on g.profile = r._profile and g.field = 'gender' and g.source_value = lower(trim(r.gender))
    left join meta.value_map as s
        on s.profile = r._profile and s.field = 'sen' and s.source_value = lower(trim(r.sen))
),

typed as (
    select
        _anchor_urn as anchor_urn,
        upper(replace(trim(upn), ' ', '')) as upn,
        trim(forename) as forename,
        trim(surname) as surname,
        wlz_date(date_of_birth) as date_of_birth,
        date_of_birth as date_of_birth__raw,
        case when gender_mapped in ('F', 'M') then gender_mapped
             when gender_mapped is not null then 'other' end as gender,
        gender as gender__raw,
        wlz_year_group(year_group) as year_group,
        year_group as year_group__raw,
        wlz_flag(fsm) as fsm,
        fsm as fsm__raw,
        case when sen_mapped in ('N', 'K', 'E') then sen_mapped end as sen,
        sen as sen__raw,
        wlz_flag(eal) as eal,
        eal as eal__raw,
        upper(trim(postcode)) as postcode,
        -- an extract without a snapshot date speaks for the day it arrived
        coalesce(wlz_date(extract_date), _file_as_of, cast(_arrived_at as date)) as extract_date,
        extract_date as extract_date__raw,
        _profile,
        _file_hash,
        _row_number,
        _file_as_of,
        _arrived_at,
        _path
    from mapped
),

ranked as (
    select
        *,
        wlz_academic_year(extract_date) as academic_year,
        row_number() over (
            partition by anchor_urn, wlz_academic_year(extract_date), upn
            order by extract_date desc, _file_as_of desc, _arrived_at desc, _path desc,
                     _row_number desc
        ) as _rank
    from typed
)

select
    anchor_urn, academic_year, upn, forename, surname, date_of_birth, gender, year_group,
    fsm, sen, eal, postcode, extract_date, _profile, _file_hash, _row_number,
    date_of_birth__raw, gender__raw, year_group__raw, fsm__raw, sen__raw, eal__raw,
    extract_date__raw
from ranked
where _rank = 1
