-- Postcode -> LSOA -> IMD decile (1 = most deprived 10%). Postcodes are matched
-- upper-case without spaces (domain_facts §7).
select
    upper(replace(trim(postcode), ' ', '')) as postcode_key,
    upper(trim(postcode)) as postcode,
    upper(trim(lsoa_code)) as lsoa_code,
    wlz_int(imd_decile) as imd_decile,
    imd_decile as imd_decile__raw,
    r._file_hash,
    r._row_number
from raw.ref_imd as r
join meta.current_files as f on f.file_hash = r._file_hash
