-- One row per survey response. Exports overlap: the same response_id may arrive again,
-- possibly corrected; the later export wins (the file with the latest submission in it,
-- then the later arrival, then the file name).
with

raw_rows as (
    select r.*, f.as_of as _file_as_of, f.arrived_at as _arrived_at, f.path as _path
    from raw.survey_responses as r
    join meta.current_files as f on f.file_hash = r._file_hash
),

ranked as (
    select
        *,
        row_number() over (
            partition by trim(response_id)
            order by _file_as_of desc, _arrived_at desc, _path desc, _row_number desc
        ) as _rank
    from raw_rows
)

select
    trim(response_id) as response_id,
    wlz_timestamp(submitted_at) as submitted_at,
    submitted_at as submitted_at__raw,
    upper(trim(wlz_id)) as wlz_id,
    upper(replace(trim(upn), ' ', '')) as upn,
    trim(anchor_urn) as anchor_urn,
    lower(trim(informant)) as informant,
    informant as informant__raw,
    wlz_academic_year(cast(wlz_timestamp(submitted_at) as date)) as academic_year,
    _file_hash,
    _row_number
from ranked
where _rank = 1 or response_id is null
