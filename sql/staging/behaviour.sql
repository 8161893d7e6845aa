-- One row per recorded incident. Incidents have no id in MIS exports, so overlapping
-- files are resolved by supersede at file level, not by row.
with

raw_rows as (
    select r.*
    from raw.behaviour as r
    join meta.current_files as f on f.file_hash = r._file_hash
)

select
    _anchor_urn as anchor_urn,
    upper(replace(trim(upn), ' ', '')) as upn,
    wlz_date(incident_date) as incident_date,
    wlz_academic_year(wlz_date(incident_date)) as academic_year,
    trim(incident_type) as incident_type,
    wlz_int(points) as points,
    _file_hash,
    _row_number,
    incident_date as incident_date__raw,
    points as points__raw
from raw_rows
