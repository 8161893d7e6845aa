-- Partner charities and the rate-card outcome areas they work on.
select
    upper(trim(partner_id)) as partner_id,
    trim(name) as name,
    list_transform(string_split(trim(outcome_areas), '|'), lambda x: lower(trim(x))) as outcome_areas,
    r._file_hash,
    r._row_number
from raw.ref_partners as r
join meta.current_files as f on f.file_hash = r._file_hash
