-- One row per pupil, subject, assessment date and measure type. The value stays text:
-- its meaning depends on the measure type (score, grade, code), scored in the marts.
with

raw_rows as (
    select r.*, f.as_of as _file_as_of, f.arrived_at as _arrived_at, f.path as _path
    from raw.attainment as r
    join meta.current_files as f on f.file_hash = r._file_hash
),

mapped as (
    select
        r.*,
        coalesce(m.canonical, lower(trim(r.measure_type))) as measure_type_mapped,
        coalesce(s.canonical, lower(trim(r.subject))) as subject_mapped
    from raw_rows as r
    left join meta.value_map as m
        on m.profile = r._profile and m.field = 'measure_type'
       and m.source_value = lower(trim(r.measure_type))
    left join meta.value_map as s
        on s.profile = r._profile and s.field = 'subject' and s.source_value = lower(trim(r.subject))
),

typed as (
    select
        _anchor_urn as anchor_urn,
        upper(replace(trim(upn), ' ', '')) as upn,
        subject_mapped as subject,
        subject as subject__raw,
        wlz_date(assessed_on) as assessed_on,
        assessed_on as assessed_on__raw,
        measure_type_mapped as measure_type,
        measure_type as measure_type__raw,
        trim(value) as value,
        _profile, _file_hash, _row_number, _file_as_of, _arrived_at, _path
    from mapped
),

ranked as (
    select
        *,
        row_number() over (
            partition by anchor_urn, upn, subject, assessed_on, measure_type
            order by _file_as_of desc, _arrived_at desc, _path desc, _row_number desc
        ) as _rank
    from typed
)

select
    anchor_urn, upn, subject, assessed_on, measure_type, value,
    wlz_academic_year(assessed_on) as academic_year,
    _profile, _file_hash, _row_number, subject__raw, assessed_on__raw, measure_type__raw
from ranked
where _rank = 1 or assessed_on is null
